/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "bus-objects-internal.h"
#include "bus-watch.h"
#include "bus.h"
#include "strutil.h"

/* One object per image of a namespace: <snapshotter>/image/<uid>/<ID of the top snapshot>,
 * with every name uid gives that top (core_image_objects). The path says nothing of the
 * names: snapshot IDs are numbers, never reused. */

static int append_snapshotter(sd_bus_message *m, const void *object) {
        const ImageObject *o = object;

        return sd_bus_message_append_basic(m, 's', core_snapshotter_name(o->s->core));
}
static int append_owner(sd_bus_message *m, const void *object) {
        const ImageObject *o = object;

        return sd_bus_message_append(m, "u", (uint32_t) o->image->owner);
}
static int append_names(sd_bus_message *m, const void *object) {
        const ImageObject *o = object;

        return sd_bus_message_append_strv(m, o->image->names);
}
static int append_top(sd_bus_message *m, const void *object) {
        const ImageObject *o = object;

        return sd_bus_message_append_basic(m, 's', o->image->top);
}
static int append_top_owner(sd_bus_message *m, const void *object) {
        const ImageObject *o = object;

        return sd_bus_message_append(m, "u", (uint32_t) o->image->top_owner);
}
static int append_config_digest(sd_bus_message *m, const void *object) {
        const ImageObject *o = object;

        return sd_bus_message_append_basic(m, 's', o->image->config_digest);
}
static int append_config_size(sd_bus_message *m, const void *object) {
        const ImageObject *o = object;

        return sd_bus_message_append_basic(m, 't', &o->image->config_size);
}
static int append_created(sd_bus_message *m, const void *object) {
        const ImageObject *o = object;

        return sd_bus_message_append_basic(m, 't', &o->image->created_usec);
}
static int append_updated(sd_bus_message *m, const void *object) {
        const ImageObject *o = object;

        return sd_bus_message_append_basic(m, 't', &o->image->updated_usec);
}

static const BusObjectProperty properties[] = {
        { "Snapshotter",  "s",  append_snapshotter },
        { "Owner",        "u",  append_owner },
        { "Names",        "as", append_names },
        { "Top",          "s",  append_top },
        { "TopOwner",     "u",  append_top_owner },
        { "ConfigDigest", "s",  append_config_digest },
        { "ConfigSize",   "t",  append_config_size },
        { "Created",      "t",  append_created },
        { "Updated",      "t",  append_updated },
};

static const BusObjectKind image_kind = { BUS_IMAGE_OBJECT_INTERFACE, properties, ELEMENTSOF(properties) };

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return bus_object_append_property(reply, &image_kind, property, userdata);
}

const sd_bus_vtable bus_image_object_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Snapshotter", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Owner", "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Names", "as", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Top", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("TopOwner", "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        /* Of the config of the name updated last: "sha256:<hex>" of its bytes, "" for none. */
        SD_BUS_PROPERTY("ConfigDigest", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ConfigSize", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Created", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Updated", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

/* Only the owner and root find an image object; for anyone else it does not exist. */
int bus_image_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                          sd_bus_error *error) {
        BusSnapshotter *s = userdata;
        BusObjects *o = s->context->objects;
        Error e = ERROR_NULL;
        uint64_t top_id;
        uid_t uid;

        if (bus_object_id_path_parse(s, "image", path, &uid, &top_id) < 0 || !bus_object_caller_may_see(s, bus, uid))
                return 0;
        if (core_image_objects(s->core, uid, top_id, &o->current_images, &e) < 0 || o->current_images.n != 1)
                return 0;
        o->current.image = (ImageObject) { s, &o->current_images.items[0] };
        *found = &o->current.image;
        return 1;
}

size_t bus_image_objects_size(const CoreImageObjectList *l) {
        size_t n = 0;

        for (size_t i = 0; i < l->n; i++) {
                n += strlen(l->items[i].top) + 768;
                for (char **name = l->items[i].names; name && *name; name++)
                        n += strlen(*name) + 8;
        }
        return n;
}

int bus_image_objects_append(sd_bus_message *m, BusSnapshotter *s, const CoreImageObjectList *l) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < l->n; i++) {
                _cleanup_free_ char *path = bus_object_id_path(s, "image", l->items[i].owner, l->items[i].top_id);

                if (!path)
                        return -ENOMEM;
                r = sd_bus_message_open_container(m, 'e', "oa{sa{sv}}");
                if (r >= 0)
                        r = bus_object_append(m, &image_kind, path, &(ImageObject) { s, &l->items[i] });
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        return r;
}

/* --- Signals --- */

uint64_t bus_objects_image_top(BusSnapshotter *s, uid_t ns, const char *name) {
        _cleanup_(snapshot_info_clear) SnapshotInfo top = {};
        _cleanup_(core_image_clear) CoreImage image = {};
        Error e = ERROR_NULL;

        if (!bus_watchers_any(s->context->watchers))
                return 0;
        if (core_image_get(s->core, ns, name, &image, &e) < 0 || image.owner != ns) /* none, or root's */
                return 0;
        if (core_stat(s->core, image.top_owner, image.top, &top, &e) < 0)
                return 0;
        return top.id;
}

/* The image object of top_id in ns after a change: added (new: it has only the changed
 * name now), removed (none left) or changed. */
static void image_signal(BusSnapshotter *s, uid_t ns, uint64_t top_id, bool new) {
        _cleanup_(core_image_object_list_clear) CoreImageObjectList l = {};
        _cleanup_free_ char *path = bus_object_id_path(s, "image", ns, top_id);
        Error e = ERROR_NULL;

        if (!path || core_image_objects(s->core, ns, top_id, &l, &e) < 0)
                return;
        if (l.n == 0)
                bus_object_send_removed(s, ns, &image_kind, path);
        else if (new && strv_length(l.items[0].names) == 1)
                bus_object_send_added(s, ns, &image_kind, path, &(ImageObject) { s, &l.items[0] });
        else
                bus_object_send_changed(s, ns, &image_kind, path, &(ImageObject) { s, &l.items[0] },
                                        STRV_MAKE("Names", "ConfigDigest", "ConfigSize", "Created", "Updated"));
}

void bus_objects_image_changed(BusSnapshotter *s, uid_t ns, const char *name, uint64_t old_top_id,
                               char *const *removed) {
        uint64_t new_top_id;

        if (!bus_watchers_any(s->context->watchers))
                return;
        new_top_id = bus_objects_image_top(s, ns, name);
        if (old_top_id != 0)
                image_signal(s, ns, old_top_id, false);
        if (new_top_id != 0 && new_top_id != old_top_id)
                image_signal(s, ns, new_top_id, true);
        for (char *const *key = removed; key && *key; key++)
                bus_objects_snapshot_removed(s, ns, *key);
}
