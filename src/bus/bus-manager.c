/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <stdlib.h>

#include "bus-error.h"
#include "bus-image.h"
#include "bus-quota.h"
#include "bus-util.h"
#include "bus.h"
#include "config.h"
#include "log.h"
#include "strutil.h"

static int append_snapshotter(sd_bus_message *reply, const void *items, size_t i) {
        const BusSnapshotter *s = (const BusSnapshotter *) items + i;

        return sd_bus_message_append(reply, "(so)", core_snapshotter_name(s->core), s->path);
}

static int method_list_snapshotters(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusContext *c = userdata;

        return bus_reply_array(m, "(so)", c->n_snapshotters, append_snapshotter, c->snapshotters);
}

/* Every error a caller gets is a documented name (bus_error_ensure()). */
BUS_DEFINE_METHOD(safe_list_snapshotters, method_list_snapshotters)
BUS_DEFINE_METHOD(safe_get_disk_usage, bus_method_get_disk_usage)

const sd_bus_vtable bus_manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", NULL, offsetof(BusContext, version), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("StateDirectory", "s", NULL, offsetof(BusContext, state_dir),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("DefaultSnapshotter", "s", NULL, offsetof(BusContext, default_snapshotter),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("ListSnapshotters",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(so)", snapshotters),
                                safe_list_snapshotters, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetDiskUsage",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ustttt)", usage, "a(utttt)", quotas, "s", enforcement),
                                safe_get_disk_usage, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* /org/lamina/snapshot1/<name>/user/<uid>: the same interface on uid's namespace. */
static int find_user_object(sd_bus *bus, const char *path, const char *interface, void *userdata,
                            void **ret_found, sd_bus_error *error) {
        BusSnapshotter *s = userdata;
        uid_t uid;

        if (bus_parse_user_path(s->user_path, path, &uid) < 0)
                return 0;
        *ret_found = s;
        return 1;
}

/* /org/lamina/snapshot1/default/user/<uid>: the same, on the default snapshotter. */
static int find_default_user_object(sd_bus *bus, const char *path, const char *interface, void *userdata,
                                    void **ret_found, sd_bus_error *error) {
        uid_t uid;

        if (bus_parse_user_path(BUS_DEFAULT_USER_PATH, path, &uid) < 0)
                return 0;
        *ret_found = userdata;
        return 1;
}

/* Lists the caller's own user object; other uids exist but are not enumerable. */
static int enumerate_user_objects(sd_bus *bus, const char *prefix, void *userdata, char ***ret_nodes,
                                  sd_bus_error *error) {
        _cleanup_strv_free_ char **nodes = NULL;
        BusSnapshotter *s = userdata;
        sd_bus_message *m = sd_bus_get_current_message(bus);
        uid_t uid;
        char *path;
        int r;

        if (m && bus_caller_uid(s->context, m, &uid, NULL) >= 0) {
                path = strdup_printf("%s/%u", s->user_path, (unsigned) uid);
                if (!path)
                        return -ENOMEM;
                r = strv_push(&nodes, path);
                if (r < 0) {
                        free(path);
                        return r;
                }
        }
        *ret_nodes = TAKE_PTR(nodes);
        return 0;
}

static int bus_snapshotter_register(BusContext *c, BusSnapshotter *s, CoreSnapshotter *core) {
        int r;

        s->context = c;
        s->core = core;
        s->path = strdup_printf("%s/%s", BUS_PATH, core_snapshotter_name(core));
        s->user_path = strdup_printf("%s/%s/user", BUS_PATH, core_snapshotter_name(core));
        if (!s->path || !s->user_path)
                return -ENOMEM;

        r = sd_bus_add_object_vtable(c->bus, &s->object_slot, s->path, BUS_SNAPSHOTTER_INTERFACE, bus_snapshotter_vtable, s);
        if (r < 0)
                return log_error_errno(r, "failed to register %s: %m", s->path);
        r = sd_bus_add_fallback_vtable(c->bus, &s->user_slot, s->user_path, BUS_SNAPSHOTTER_INTERFACE,
                                       bus_snapshotter_vtable, find_user_object, s);
        if (r < 0)
                return log_error_errno(r, "failed to register %s/*: %m", s->user_path);
        r = sd_bus_add_object_vtable(c->bus, &s->images_slot, s->path, BUS_IMAGES_INTERFACE, bus_images_vtable, s);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(c->bus, &s->images_user_slot, s->user_path, BUS_IMAGES_INTERFACE,
                                               bus_images_vtable, find_user_object, s);
        if (r < 0)
                return log_error_errno(r, "failed to register the images of %s: %m", s->path);
        r = sd_bus_add_node_enumerator(c->bus, &s->enumerator_slot, s->user_path, enumerate_user_objects, s);
        if (r < 0)
                return log_error_errno(r, "failed to register the enumerator of %s: %m", s->user_path);
        return 0;
}

/* BUS_DEFAULT_PATH: the default snapshotter's interfaces once more (not enumerated). */
static int bus_default_register(BusContext *c) {
        BusSnapshotter *s = NULL;
        int r;

        for (size_t i = 0; i < c->n_snapshotters; i++)
                if (streq(core_snapshotter_name(c->snapshotters[i].core), c->default_snapshotter))
                        s = &c->snapshotters[i];
        if (!s) {
                log_warning("the default snapshotter %s is not available; %s answers nothing",
                            c->default_snapshotter, BUS_DEFAULT_PATH);
                return 0;
        }

        r = sd_bus_add_object_vtable(c->bus, &c->default_slots[0], BUS_DEFAULT_PATH, BUS_SNAPSHOTTER_INTERFACE,
                                     bus_snapshotter_vtable, s);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(c->bus, &c->default_slots[1], BUS_DEFAULT_USER_PATH,
                                               BUS_SNAPSHOTTER_INTERFACE, bus_snapshotter_vtable,
                                               find_default_user_object, s);
        if (r >= 0)
                r = sd_bus_add_object_vtable(c->bus, &c->default_slots[2], BUS_DEFAULT_PATH, BUS_IMAGES_INTERFACE,
                                             bus_images_vtable, s);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(c->bus, &c->default_slots[3], BUS_DEFAULT_USER_PATH,
                                               BUS_IMAGES_INTERFACE, bus_images_vtable, find_default_user_object,
                                               s);
        if (r < 0)
                return log_error_errno(r, "failed to register %s: %m", BUS_DEFAULT_PATH);
        return 0;
}

int bus_context_new(Core *core, sd_bus *bus, sd_event *event, BusContext **ret) {
        _cleanup_(bus_context_freep) BusContext *c = NULL;
        bool same_bus = true; /* unknown: the makers' names decide, as before there was a record */
        size_t n;
        int r;

        assert(core);
        assert(bus);
        assert(event);

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->core = core;
        c->bus = sd_bus_ref(bus);
        c->version = LAMINA_VERSION;
        c->state_dir = core_state_dir(core);
        c->default_snapshotter = BUS_DEFAULT_SNAPSHOTTER;
        c->apply_stall_usec = BUS_APPLY_STALL_USEC_DEFAULT;

        r = bus_jobs_new(event, BUS_MAX_JOBS, BUS_JOBS_PER_CALLER, BUS_JOBS_ROOT_RESERVE, &c->jobs);
        if (r >= 0)
                r = bus_jobs_new(event, BUS_MAX_QUERIES, BUS_QUERIES_PER_CALLER, BUS_QUERIES_ROOT_RESERVE,
                                 &c->queries);
        if (r < 0)
                return log_error_errno(r, "failed to set up the worker jobs: %m");
        r = bus_tracks_new(bus, &c->tracks);
        if (r < 0)
                return log_error_errno(r, "failed to set up caller tracking: %m");
        r = auth_registry_new(&c->auth);
        if (r < 0)
                return r;

        r = sd_bus_add_object_vtable(bus, &c->manager_slot, BUS_PATH, BUS_MANAGER_INTERFACE, bus_manager_vtable, c);
        if (r < 0)
                return log_error_errno(r, "failed to register %s: %m", BUS_PATH);
        r = bus_watchers_register(c);
        if (r < 0)
                return r;

        n = core_n_snapshotters(core);
        c->snapshotters = calloc(n, sizeof *c->snapshotters);
        if (!c->snapshotters)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                c->n_snapshotters++; /* freed by bus_context_free() even when half set up */
                r = bus_snapshotter_register(c, &c->snapshotters[i], core_snapshotter_by_index(core, i));
                if (r < 0)
                        return r;
        }
        r = bus_default_register(c);
        if (r < 0)
                return r;

        r = bus_objects_register(c);
        if (r < 0)
                return r;
        r = bus_tracks_same_bus(bus, c->state_dir, &same_bus);
        if (r < 0)
                log_warning_errno(r, "cannot compare this bus with the one laminad last ran on, or record it (%s/bus-id); "
                                  "taking it for %s: %m",
                                  c->state_dir, same_bus ? "the same" : "another");
        for (size_t i = 0; i < c->n_snapshotters; i++)
                (void) bus_tracks_recover(c->tracks, &c->snapshotters[i], same_bus);

        r = sd_bus_error_add_map(bus_lamina_errors);
        if (r < 0)
                return log_error_errno(r, "failed to register the error names: %m");

        *ret = TAKE_PTR(c);
        return 0;
}

BusContext *bus_context_free(BusContext *c) {
        if (!c)
                return NULL;
        bus_objects_free(c->objects); /* before the snapshotters its objects point to */
        for (size_t i = 0; i < ELEMENTSOF(c->default_slots); i++)
                sd_bus_slot_unref(c->default_slots[i]);
        for (size_t i = 0; i < c->n_snapshotters; i++) {
                BusSnapshotter *s = &c->snapshotters[i];

                sd_bus_slot_unref(s->object_slot);
                sd_bus_slot_unref(s->user_slot);
                sd_bus_slot_unref(s->images_slot);
                sd_bus_slot_unref(s->images_user_slot);
                sd_bus_slot_unref(s->enumerator_slot);
                free(s->path);
                free(s->user_path);
        }
        free(c->snapshotters);
        sd_bus_slot_unref(c->manager_slot);
        bus_watchers_free(c->watchers);
        bus_jobs_free(c->jobs);
        bus_jobs_free(c->queries);
        bus_tracks_free(c->tracks); /* after the jobs, whose requests end their tracking */
        auth_registry_free(c->auth);
        sd_bus_unref(c->bus);
        free(c);
        return NULL;
}

bool bus_context_busy(BusContext *c) {
        return bus_jobs_running(c->jobs) > 0 || bus_jobs_running(c->queries) > 0 ||
               auth_registry_pending(c->auth) > 0 || auth_groups_pending() > 0;
}
