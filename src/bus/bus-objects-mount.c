/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <linux/mount.h>
#include <stdlib.h>

#include "bus-objects-internal.h"
#include "bus-watch.h"
#include "bus.h"
#include "strutil.h"

/* One object per mount laminad made (Mount, or MountFd until it is found released):
 * <snapshotter>/mount/<uid>/<ID of the snapshot> (a snapshot has one mount at most). */

static int append_snapshotter(sd_bus_message *m, const void *object) {
        const MountObject *o = object;

        return sd_bus_message_append_basic(m, 's', core_snapshotter_name(o->s->core));
}
static int append_key(sd_bus_message *m, const void *object) {
        const MountObject *o = object;

        return sd_bus_message_append_basic(m, 's', o->mount->key);
}
static int append_snapshot(sd_bus_message *m, const void *object) {
        const MountObject *o = object;

        return sd_bus_message_append_basic(m, 'o', o->snapshot_path);
}
static int append_owner(sd_bus_message *m, const void *object) {
        const MountObject *o = object;

        return sd_bus_message_append(m, "u", (uint32_t) o->mount->owner);
}
static int append_path(sd_bus_message *m, const void *object) {
        const MountObject *o = object;

        return sd_bus_message_append_basic(m, 's', o->mount->path);
}
static int append_detached(sd_bus_message *m, const void *object) {
        const MountObject *o = object;

        return sd_bus_message_append(m, "b", isempty(o->mount->path));
}
static int append_options(sd_bus_message *m, const void *object) {
        static const struct {
                uint64_t attr;
                const char *name;
        } table[] = {
                { MOUNT_ATTR_RDONLY, "ro" },     { MOUNT_ATTR_NOEXEC, "noexec" }, { MOUNT_ATTR_NOSUID, "nosuid" },
                { MOUNT_ATTR_NODEV, "nodev" },   { MOUNT_ATTR_IDMAP, "idmap" },
        };
        const MountObject *o = object;
        int r;

        r = sd_bus_message_open_container(m, 'a', "s");
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(table); i++)
                if (o->mount->attrs & table[i].attr)
                        r = sd_bus_message_append_basic(m, 's', table[i].name);
        return r < 0 ? r : sd_bus_message_close_container(m);
}
static int append_idmap(sd_bus_message *m, const void *object) {
        const MountObject *o = object;

        return sd_bus_message_append(m, "b", !!(o->mount->attrs & MOUNT_ATTR_IDMAP));
}
static int append_options_known(sd_bus_message *m, const void *object) {
        const MountObject *o = object;

        return sd_bus_message_append(m, "b", o->mount->attrs_known);
}
static int append_mounted(sd_bus_message *m, const void *object) {
        const MountObject *o = object;

        return sd_bus_message_append_basic(m, 't', &o->mount->mounted_usec);
}

static const BusObjectProperty properties[] = {
        { "Snapshotter",  "s",  append_snapshotter },
        { "Key",          "s",  append_key },
        { "Snapshot",     "o",  append_snapshot },
        { "Owner",        "u",  append_owner },
        { "Path",         "s",  append_path },
        { "Detached",     "b",  append_detached },
        { "Options",      "as", append_options },
        { "Idmap",        "b",  append_idmap },
        { "OptionsKnown", "b",  append_options_known },
        { "Mounted",      "t",  append_mounted },
};

static const BusObjectKind mount_kind = { BUS_MOUNT_OBJECT_INTERFACE, properties, ELEMENTSOF(properties) };

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return bus_object_append_property(reply, &mount_kind, property, userdata);
}

const sd_bus_vtable bus_mount_object_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Snapshotter", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Key", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Snapshot", "o", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Owner", "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        /* Where it is now (followed when moved or its parents renamed); "" when handed out as a fd. */
        SD_BUS_PROPERTY("Path", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Detached", "b", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        /* ro, noexec, nosuid, nodev, idmap: what it was made with. */
        SD_BUS_PROPERTY("Options", "as", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Idmap", "b", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        /* false: made by an older laminad, which did not record them (Options empty). */
        SD_BUS_PROPERTY("OptionsKnown", "b", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Mounted", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

/* Only the owner and root find a mount object; for anyone else it does not exist. */
int bus_mount_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                          sd_bus_error *error) {
        BusSnapshotter *s = userdata;
        BusObjects *o = s->context->objects;
        Error e = ERROR_NULL;
        uint64_t id;
        uid_t uid;

        if (bus_object_id_path_parse(s, "mount", path, &uid, &id) < 0 || !bus_object_caller_may_see(s, bus, uid))
                return 0;
        if (core_mount_info(s->core, uid, id, &o->current_mount, &e) < 0)
                return 0;
        free(o->current_snapshot_path);
        o->current_snapshot_path = bus_object_snapshot_path(s, uid, o->current_mount.key);
        if (!o->current_snapshot_path)
                return -ENOMEM;
        o->current.mount = (MountObject) { s, &o->current_mount, o->current_snapshot_path };
        *found = &o->current.mount;
        return 1;
}

int bus_mount_objects_append(sd_bus_message *m, BusSnapshotter *s, const CoreMountInfoList *l) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < l->n; i++) {
                const CoreMountInfo *mount = &l->items[i];
                _cleanup_free_ char *path = bus_object_id_path(s, "mount", mount->owner, mount->snapshot_id),
                                    *snapshot_path = bus_object_snapshot_path(s, mount->owner, mount->key);

                if (!path || !snapshot_path)
                        return -ENOMEM;
                r = sd_bus_message_open_container(m, 'e', "oa{sa{sv}}");
                if (r >= 0)
                        r = bus_object_append(m, &mount_kind, path, &(MountObject) { s, mount, snapshot_path });
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        return r;
}

/* --- Signals, after Mounted and Unmounted --- */

static int snapshot_id(BusSnapshotter *s, uid_t ns, const char *key, uint64_t *ret) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        Error e = ERROR_NULL;
        int r;

        r = core_stat(s->core, ns, key, &info, &e);
        if (r < 0)
                return r;
        if (info.owner != ns)
                return -ENOENT;
        *ret = info.id;
        return 0;
}

void bus_mount_object_added(BusSnapshotter *s, uid_t ns, const char *key) {
        _cleanup_(core_mount_info_clear) CoreMountInfo mount = {};
        _cleanup_free_ char *path = NULL, *snapshot_path = NULL;
        Error e = ERROR_NULL;
        uint64_t id;

        if (snapshot_id(s, ns, key, &id) < 0 || core_mount_info(s->core, ns, id, &mount, &e) < 0)
                return;
        path = bus_object_id_path(s, "mount", ns, id);
        snapshot_path = bus_object_snapshot_path(s, ns, key);
        if (path && snapshot_path)
                bus_object_send_added(s, ns, &mount_kind, path, &(MountObject) { s, &mount, snapshot_path });
}

void bus_mount_object_removed(BusSnapshotter *s, uid_t ns, const char *key) {
        _cleanup_free_ char *path = NULL;
        uint64_t id;

        if (snapshot_id(s, ns, key, &id) < 0)
                return;
        path = bus_object_id_path(s, "mount", ns, id);
        if (path)
                bus_object_send_removed(s, ns, &mount_kind, path);
}
