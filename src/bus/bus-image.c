/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "bus-error.h"
#include "bus-image.h"
#include "bus-job.h"
#include "bus-objects.h"
#include "bus-request.h"
#include "bus-util.h"
#include "bus-work.h"
#include "strutil.h"

/* org.lamina.snapshot1.Images, on every Snapshotter object (and its user/<uid> children):
 * image names for top snapshots plus their OCI configs (core-image.c). Reads need no
 * authorization in the caller's own namespace; changes need manage-own, another namespace
 * manage, as for snapshots. ListImages (up to 1024 names of the caller's plus root's, in a
 * reply of megabytes) runs as a List does, RemoveImage (up to 500 layers removed, each a
 * durable write) as a slow call, on workers; the others change or read one record on the
 * loop. Changes are told to the watchers of the image objects (bus-objects-image.c). */

/* An image name, validated as the core does. */
static int read_image_name(sd_bus_message *m, char **ret, sd_bus_error *error) {
        Error e = ERROR_NULL;
        const char *s;
        int r;

        r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        r = core_image_validate_name(s, &e);
        if (r < 0)
                return bus_error_from_core(error, r, &e);
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int read_name(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        return read_image_name(m, &req->key, error);
}

static int read_create(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        const char *config;
        int r;

        r = read_name(m, req, error);
        if (r < 0)
                return r;
        r = bus_read_checked_key(m, "top snapshot", false, &req->parent, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", &config);
        if (r < 0)
                return r;
        if (strlen(config) > CORE_IMAGE_CONFIG_MAX)
                return bus_error_setf(error, EINVAL, "the config of image %s is larger than %u bytes", LOG_KEY(req->key),
                                      CORE_IMAGE_CONFIG_MAX);
        req->replace = true;
        req->config = strdup(config);
        return req->config ? 0 : -ENOMEM;
}

static int read_create_with_options(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        int r;

        r = read_create(m, req, error);
        if (r < 0)
                return r;
        return bus_read_options(m, "CreateImage", (const BusOption[]) { { "replace", 'b', &req->replace }, {} },
                                error);
}

static int read_tag(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        int r;

        r = read_name(m, req, error);
        if (r < 0)
                return r;
        return read_image_name(m, &req->name, error);
}

static int append_image(sd_bus_message *reply, const CoreImage *i) {
        return sd_bus_message_append(reply, "(ssttu)", i->name, i->top, i->created_usec, i->updated_usec,
                                     (uint32_t) i->owner);
}

static int append_image_at(sd_bus_message *reply, const void *items, size_t i) {
        return append_image(reply, (const CoreImage *) items + i);
}

static int list_images_run(BusJob *job, void *data, Error *e) {
        BusRequest *req = data;

        return core_image_list(req->snapshotter->core, req->ns, &req->images, e);
}

static int list_images_reply(sd_bus_message *m, void *data) {
        BusRequest *req = data;

        return bus_reply_array(m, "(ssttu)", req->images.n, append_image_at, req->images.items);
}

static const BusJobOps list_images_ops = { .run = list_images_run, .reply = list_images_reply,
                                           .failed = bus_work_failed, .free = bus_request_free_void };

static int method_list_images(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusRequest *req = NULL;
        int r;

        r = bus_request_begin(userdata, m, "list-images", NULL, NULL, &req, error);
        if (r != 0)
                return r;
        return bus_work_start_query(m, &list_images_ops, req, error);
}

static int method_get_image(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        _cleanup_(core_image_clear) CoreImage image = {};
        Error e = ERROR_NULL;
        int r;

        r = bus_request_begin(userdata, m, "get-image", NULL, read_name, &req, error);
        if (r != 0)
                return r;
        r = core_image_get(req->snapshotter->core, req->ns, req->key, &image, &e);
        if (r < 0)
                return bus_request_fail(req, r, &e, error);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = append_image(reply, &image);
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", image.config);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int create_image(sd_bus_message *m, void *userdata, bus_read_fn read, sd_bus_error *error) {
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        uint64_t before;
        Error e = ERROR_NULL;
        int r;

        r = bus_request_begin(userdata, m, "create-image", BUS_ACTION_MANAGE_OWN, read, &req, error);
        if (r != 0)
                return r;
        before = bus_objects_image_top(req->snapshotter, req->ns, req->key);
        r = core_image_create(req->snapshotter->core, req->ns, req->key, req->parent, req->config,
                              req->replace ? 0 : CORE_IMAGE_NO_REPLACE, &e);
        if (r < 0)
                return bus_request_fail(req, r, &e, error);
        log_request(req, LOG_INFO, " for %s", LOG_KEY(req->parent));
        r = sd_bus_reply_method_return(m, NULL);
        bus_objects_image_changed(req->snapshotter, req->ns, req->key, before, NULL);
        return r;
}

static int method_create_image(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return create_image(m, userdata, read_create, error);
}

static int method_create_image_with_options(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return create_image(m, userdata, read_create_with_options, error);
}

static int method_tag_image(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        uint64_t before;
        Error e = ERROR_NULL;
        int r;

        r = bus_request_begin(userdata, m, "tag-image", BUS_ACTION_MANAGE_OWN, read_tag, &req, error);
        if (r != 0)
                return r;
        before = bus_objects_image_top(req->snapshotter, req->ns, req->name);
        r = core_image_tag(req->snapshotter->core, req->ns, req->key, req->name, &e);
        if (r < 0)
                return bus_request_fail(req, r, &e, error);
        log_request(req, LOG_INFO, " as %s", LOG_KEY(req->name));
        r = sd_bus_reply_method_return(m, NULL);
        bus_objects_image_changed(req->snapshotter, req->ns, req->name, before, NULL);
        return r;
}

static int method_untag_image(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        uint64_t before;
        Error e = ERROR_NULL;
        int r;

        r = bus_request_begin(userdata, m, "untag-image", BUS_ACTION_MANAGE_OWN, read_name, &req, error);
        if (r != 0)
                return r;
        before = bus_objects_image_top(req->snapshotter, req->ns, req->key);
        r = core_image_untag(req->snapshotter->core, req->ns, req->key, &e);
        if (r < 0)
                return bus_request_fail(req, r, &e, error);
        log_request(req, LOG_INFO, "");
        r = sd_bus_reply_method_return(m, NULL);
        bus_objects_image_changed(req->snapshotter, req->ns, req->key, before, NULL);
        return r;
}

static int remove_image_run(BusJob *job, void *data, Error *e) {
        BusRequest *req = data;

        return core_image_remove(req->snapshotter->core, req->ns, req->key, &req->removed, e);
}

static int remove_image_reply(sd_bus_message *m, void *data) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        BusRequest *req = data;
        int r;

        log_request(req, LOG_INFO, " (%zu layers removed)", strv_length(req->removed));
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append_strv(reply, req->removed);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        bus_objects_image_changed(req->snapshotter, req->ns, req->key, req->image_top, req->removed);
        return r;
}

static const BusJobOps remove_image_ops = { .run = remove_image_run, .reply = remove_image_reply,
                                            .failed = bus_work_failed, .free = bus_request_free_void };

static int method_remove_image(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusRequest *req = NULL;
        int r;

        r = bus_request_begin(userdata, m, "remove-image", BUS_ACTION_MANAGE_OWN, read_name, &req, error);
        if (r != 0)
                return r;
        req->image_top = bus_objects_image_top(req->snapshotter, req->ns, req->key);
        return bus_work_start(m, &remove_image_ops, req, error);
}

/* Every error a caller gets is a documented name (bus_error_ensure()). */
BUS_DEFINE_METHOD(safe_list_images, method_list_images)
BUS_DEFINE_METHOD(safe_get_image, method_get_image)
BUS_DEFINE_METHOD(safe_create_image, method_create_image)
BUS_DEFINE_METHOD(safe_create_image_with_options, method_create_image_with_options)
BUS_DEFINE_METHOD(safe_tag_image, method_tag_image)
BUS_DEFINE_METHOD(safe_untag_image, method_untag_image)
BUS_DEFINE_METHOD(safe_remove_image, method_remove_image)

const sd_bus_vtable bus_images_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("ListImages",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ssttu)", images),
                                safe_list_images, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetImage",
                                SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("(ssttu)", image, "s", config),
                                safe_get_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CreateImage",
                                SD_BUS_ARGS("s", name, "s", top, "s", config),
                                SD_BUS_NO_RESULT,
                                safe_create_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CreateImageWithOptions",
                                SD_BUS_ARGS("s", name, "s", top, "s", config, "a{sv}", options),
                                SD_BUS_NO_RESULT,
                                safe_create_image_with_options, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("TagImage",
                                SD_BUS_ARGS("s", name, "s", new_name),
                                SD_BUS_NO_RESULT,
                                safe_tag_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("UntagImage",
                                SD_BUS_ARGS("s", name),
                                SD_BUS_NO_RESULT,
                                safe_untag_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveImage",
                                SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("as", removed_snapshots),
                                safe_remove_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
