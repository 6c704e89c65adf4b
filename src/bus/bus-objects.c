/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-error.h"
#include "bus-objects-internal.h"
#include "bus-util.h"
#include "bus-watch.h"
#include "bus-work.h"
#include "bus.h"
#include "log.h"
#include "strutil.h"

typedef SnapshotObject Object;

/* --- Paths: <snapshotter>/snapshot/<uid>/<escaped key> --- */

char *bus_object_snapshot_path(BusSnapshotter *s, uid_t uid, const char *key) {
        _cleanup_free_ char *prefix = strdup_printf("%s/snapshot/%u", s->path, (unsigned) uid);
        char *path = NULL;

        if (!prefix || sd_bus_path_encode(prefix, key, &path) < 0)
                return NULL;
        return path;
}

static int object_path_parse(BusSnapshotter *s, const char *path, uid_t *ret_uid, char **ret_key) {
        _cleanup_free_ char *head = NULL, *key = NULL;
        int r;

        r = bus_object_path_split(s, "snapshot", path, ret_uid, &head);
        if (r < 0)
                return r;
        r = sd_bus_path_decode(path, head, &key);
        if (r <= 0 || !key || !*key)
                return -EINVAL;
        *ret_key = TAKE_PTR(key);
        return 0;
}

/* The path where laminad mounted uid's key, or "". */
static int find_mount_path(BusSnapshotter *s, uid_t uid, const char *key, char **ret) {
        Error e = ERROR_NULL;

        return core_mount_path(s->core, uid, key, ret, &e);
}

/* --- Properties of org.lamina.snapshot1.Snapshot --- */

static int append_labels(sd_bus_message *m, const void *object) {
        const Object *o = object;
        int r;

        r = sd_bus_message_open_container(m, 'a', "{ss}");
        for (size_t i = 0; r >= 0 && i < o->info->labels.n; i++)
                r = sd_bus_message_append(m, "{ss}", o->info->labels.items[i].key, o->info->labels.items[i].value);
        return r < 0 ? r : sd_bus_message_close_container(m);
}

static int append_snapshotter(sd_bus_message *m, const void *object) {
        const Object *o = object;

        return sd_bus_message_append_basic(m, 's', core_snapshotter_name(o->s->core));
}
static int append_key(sd_bus_message *m, const void *object) {
        const Object *o = object;

        return sd_bus_message_append_basic(m, 's', o->info->name);
}
static int append_owner(sd_bus_message *m, const void *object) {
        const Object *o = object;

        return sd_bus_message_append(m, "u", (uint32_t) o->info->owner);
}
static int append_kind(sd_bus_message *m, const void *object) {
        const Object *o = object;

        return sd_bus_message_append_basic(m, 's', snapshot_kind_to_string(o->info->kind));
}
static int append_parent(sd_bus_message *m, const void *object) {
        const Object *o = object;

        return sd_bus_message_append_basic(m, 's', o->info->parent ?: "");
}
static int append_created(sd_bus_message *m, const void *object) {
        const Object *o = object;

        return sd_bus_message_append_basic(m, 't', &o->info->created_usec);
}
static int append_updated(sd_bus_message *m, const void *object) {
        const Object *o = object;

        return sd_bus_message_append_basic(m, 't', &o->info->updated_usec);
}
static int append_size(sd_bus_message *m, const void *object) {
        const Object *o = object;

        return sd_bus_message_append_basic(m, 't', &o->info->size);
}
static int append_inodes(sd_bus_message *m, const void *object) {
        const Object *o = object;

        return sd_bus_message_append_basic(m, 't', &o->info->inodes);
}
static int append_mount_path(sd_bus_message *m, const void *object) {
        const Object *o = object;

        return sd_bus_message_append_basic(m, 's', o->mount_path);
}

static const BusObjectProperty properties[] = {
        { "Snapshotter", "s",     append_snapshotter },
        { "Key",         "s",     append_key },
        { "Owner",       "u",     append_owner },
        { "Kind",        "s",     append_kind },
        { "Parent",      "s",     append_parent },
        { "Labels",      "a{ss}", append_labels },
        { "Created",     "t",     append_created },
        { "Updated",     "t",     append_updated },
        { "Size",        "t",     append_size },
        { "Inodes",      "t",     append_inodes },
        { "MountPath",   "s",     append_mount_path },
};

static const BusObjectKind snapshot_kind = { BUS_SNAPSHOT_INTERFACE, properties, ELEMENTSOF(properties) };

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return bus_object_append_property(reply, &snapshot_kind, property, userdata);
}

static const sd_bus_vtable snapshot_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Snapshotter", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Key", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Owner", "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Kind", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Parent", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Labels", "a{ss}", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Created", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Updated", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* Stored at Commit (bytes and inodes the snapshot holds); 0 for active ones and views. */
        SD_BUS_PROPERTY("Size", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Inodes", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MountPath", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

/* Only the owner and root find an object; for anyone else it does not exist. */
static int find_object(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                       sd_bus_error *error) {
        BusSnapshotter *s = userdata;
        BusObjects *o = s->context->objects;
        _cleanup_free_ char *key = NULL;
        Error e = ERROR_NULL;
        uid_t uid;

        if (object_path_parse(s, path, &uid, &key) < 0 || !bus_object_caller_may_see(s, bus, uid))
                return 0;

        snapshot_info_clear(&o->current_info);
        free(o->current_mount_path);
        o->current_mount_path = NULL;
        if (core_stat(s->core, uid, key, &o->current_info, &e) < 0 || o->current_info.owner != uid)
                return 0; /* gone, or root's committed snapshot seen from uid's namespace */
        if (find_mount_path(s, uid, key, &o->current_mount_path) < 0)
                return 0;
        o->current.snapshot = (Object) { s, path, &o->current_info, o->current_mount_path };
        *found = &o->current.snapshot;
        return 1;
}

/* --- GetManagedObjects: the caller's namespace, listed on a worker thread --- */

typedef struct Query {
        BusContext *c;
        uid_t uid; /* the caller: its namespace, or every one for root */
        char *sender; /* while set, the caller's watch waits for this call's answer */
        SnapshotInfoList *lists;     /* per snapshotter */
        CoreMountInfoList *mounts;   /* per snapshotter */
        CoreImageObjectList *images; /* per snapshotter */
} Query;

static void query_free(void *data) {
        Query *q = data;

        if (q && q->sender) /* refused or failed: the caller does not become a watcher */
                bus_watchers_end_pending(q->c->watchers, q->sender, false);
        for (size_t i = 0; q && i < q->c->n_snapshotters; i++) {
                snapshot_info_list_clear(&q->lists[i]);
                core_mount_info_list_clear(&q->mounts[i]);
                core_image_object_list_clear(&q->images[i]);
        }
        if (q) {
                free(q->sender);
                free(q->lists);
                free(q->mounts);
                free(q->images);
        }
        free(q);
}

static size_t info_size(const SnapshotInfo *info) {
        size_t n = 3 * strlen(info->name) + (info->parent ? strlen(info->parent) : 0) + 512;

        for (size_t i = 0; i < info->labels.n; i++)
                n += strlen(info->labels.items[i].key) + strlen(info->labels.items[i].value) + 16;
        return n;
}

static int objects_too_big(Error *e, uid_t uid) {
        return error_setf(e, EUSERS,
                          "the snapshots, images and mounts of uid %u would take more than %u MiB as objects; page "
                          "through them with ListPage(filters, cursor, limit) and ListImages",
                          (unsigned) uid, BUS_LIST_BYTES_MAX / 1024u / 1024u);
}

static int query_run(BusJob *job, void *data, Error *e) {
        Query *q = data;
        size_t bytes = 0;
        int r;

        for (size_t i = 0; i < q->c->n_snapshotters; i++) {
                CoreSnapshotter *core = q->c->snapshotters[i].core;
                uid_t ns = q->uid == 0 ? CORE_NS_ALL : q->uid;
                bool more = false;

                /* A user's list is read only up to what the reply may still take (its
                 * labels could be its whole LabelBytes= quota); root's walk of every
                 * namespace reads all. */
                if (q->uid == 0)
                        r = core_list(core, ns, NULL, &q->lists[i], e);
                else
                        r = core_list_limited(core, ns, NULL,
                                              &(CoreListLimit) { SIZE_MAX, BUS_LIST_BYTES_MAX - bytes,
                                                                 info_size },
                                              &q->lists[i], &more, e);
                if (r < 0)
                        return r;
                if (more)
                        return objects_too_big(e, q->uid);
                r = core_list_mounts(core, ns, &q->mounts[i], e);
                if (r >= 0)
                        r = core_image_objects(core, ns, 0, &q->images[i], e);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < q->lists[i].n; j++)
                        bytes += info_size(&q->lists[i].items[j]);
                for (size_t j = 0; j < q->mounts[i].n; j++)
                        bytes += 2 * strlen(q->mounts[i].items[j].key) + strlen(q->mounts[i].items[j].path) + 768;
                bytes += bus_image_objects_size(&q->images[i]);
                if (bytes > BUS_LIST_BYTES_MAX)
                        return objects_too_big(e, q->uid);
        }
        return 0;
}

static const char *mount_path_of(const CoreMountInfoList *mounts, uid_t uid, const char *key) {
        for (size_t i = 0; i < mounts->n; i++)
                if (mounts->items[i].owner == uid && streq(mounts->items[i].key, key))
                        return mounts->items[i].path;
        return "";
}

static int append_snapshot_objects(sd_bus_message *reply, const Query *q, size_t i) {
        int r = 0;

        for (size_t j = 0; r >= 0 && j < q->lists[i].n; j++) {
                const SnapshotInfo *info = &q->lists[i].items[j];
                _cleanup_free_ char *path = NULL;

                if (q->uid != 0 && info->owner != q->uid) /* root's committed ones, seen from uid */
                        continue;
                path = bus_object_snapshot_path(&q->c->snapshotters[i], info->owner, info->name);
                if (!path)
                        return -ENOMEM;
                r = sd_bus_message_open_container(reply, 'e', "oa{sa{sv}}");
                if (r >= 0)
                        r = bus_object_append(reply, &snapshot_kind, path,
                                              &(Object) { &q->c->snapshotters[i], path, info,
                                                          mount_path_of(&q->mounts[i], info->owner, info->name) });
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        return r;
}

static int query_reply(sd_bus_message *m, void *data) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Query *q = data;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "{oa{sa{sv}}}");
        for (size_t i = 0; r >= 0 && i < q->c->n_snapshotters; i++) {
                r = append_snapshot_objects(reply, q, i);
                if (r >= 0)
                        r = bus_image_objects_append(reply, &q->c->snapshotters[i], &q->images[i]);
                if (r >= 0)
                        r = bus_mount_objects_append(reply, &q->c->snapshotters[i], &q->mounts[i]);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0)
                return r;
        bus_watchers_end_pending(q->c->watchers, q->sender, true);
        free(q->sender);
        q->sender = NULL;
        return 0;
}

static const BusJobOps query_ops = { .run = query_run, .reply = query_reply, .free = query_free };

/* The caller becomes a watcher only when it is answered with the objects: a call refused
 * (LimitsExceeded when the caller has too many running or too many objects) or failed leaves
 * it none. It gets the signals from the start, so that no change after the listing is missed. */
static int get_managed_objects(BusContext *c, sd_bus_message *m, sd_bus_error *error) {
        const char *sender = sd_bus_message_get_sender(m);
        Query *q;
        uid_t uid;
        int r;

        r = bus_caller_uid(c, m, &uid, error);
        if (r < 0)
                return r;
        q = calloc(1, sizeof *q);
        if (!q)
                return -ENOMEM;
        *q = (Query) { c, uid, NULL, calloc(c->n_snapshotters, sizeof *q->lists),
                       calloc(c->n_snapshotters, sizeof *q->mounts), calloc(c->n_snapshotters, sizeof *q->images) };
        if (!q->lists || !q->mounts || !q->images) {
                query_free(q);
                return -ENOMEM;
        }
        r = bus_watchers_begin_pending(c->watchers, m, uid, error);
        if (r < 0) {
                query_free(q);
                return r;
        }
        q->sender = strdup(sender); /* not NULL: a watcher has a name */
        if (!q->sender) {
                bus_watchers_end_pending(c->watchers, sender, false);
                query_free(q);
                return -ENOMEM;
        }
        return bus_job_start(c->queries, m, uid, &query_ops, q, error);
}

/* No object of ours has more components than <snapshotter>/snapshot/<uid>/<key> below
 * BUS_PATH. sd-bus looks a call's object up once for its path and once for each prefix,
 * copying and hashing the path each time, before anyone is authorized: quadratic in the
 * path's length (a path of 32 000 components cost ~400 ms of the loop). */
#define OBJECT_PATH_DEPTH_MAX 7u

static bool path_too_deep(const char *path) {
        size_t n = 0;

        for (const char *p = path; *p; p++)
                if (*p == '/' && ++n > OBJECT_PATH_DEPTH_MAX)
                        return true;
        return false;
}

/* sd-bus answers ObjectManager calls itself (from node enumerators, on the loop); this one
 * is ours. A call on a path deeper than any object is answered here, in time linear in the
 * path. Every other message goes on. */
static int filter_object_manager(sd_bus_message *m, void *userdata, sd_bus_error *unused) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *path = sd_bus_message_get_path(m);
        int r;

        if (sd_bus_message_is_method_call(m, NULL, NULL) && path && path_too_deep(path)) {
                (void) sd_bus_reply_method_errorf(m, SD_BUS_ERROR_UNKNOWN_OBJECT,
                                                  "Unknown object: no object of laminad's has more than %u "
                                                  "components in its path.",
                                                  OBJECT_PATH_DEPTH_MAX);
                return 1;
        }
        if (!sd_bus_message_is_method_call(m, OBJECT_MANAGER_INTERFACE, "GetManagedObjects") || !path ||
            !streq(path, BUS_PATH))
                return 0;
        r = get_managed_objects(userdata, m, &error);
        if (r < 0)
                (void) sd_bus_reply_method_errno(m, bus_error_ensure(&error, r), &error);
        return 1;
}

/* --- Signals --- */

static void object_added(BusSnapshotter *s, uid_t ns, const char *key) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_free_ char *path = bus_object_snapshot_path(s, ns, key), *mount_path = NULL;
        Error e = ERROR_NULL;

        if (!path || core_stat(s->core, ns, key, &info, &e) < 0 || info.owner != ns ||
            find_mount_path(s, ns, key, &mount_path) < 0)
                return;
        bus_object_send_added(s, ns, &snapshot_kind, path, &(Object) { s, path, &info, mount_path });
}

void bus_objects_snapshot_removed(BusSnapshotter *s, uid_t ns, const char *key) {
        _cleanup_free_ char *path = bus_object_snapshot_path(s, ns, key);

        if (path)
                bus_object_send_removed(s, ns, &snapshot_kind, path);
}

static void object_mount_path(BusSnapshotter *s, uid_t ns, const char *key, const char *mount_path) {
        _cleanup_free_ char *path = bus_object_snapshot_path(s, ns, key);

        if (path)
                bus_object_send_changed(s, ns, &snapshot_kind, path,
                                        &(Object) { s, path, &(SnapshotInfo) {}, mount_path },
                                        STRV_MAKE("MountPath"));
}

void bus_objects_updated(BusSnapshotter *s, const SnapshotInfo *info) {
        _cleanup_free_ char *path = NULL;

        if (!bus_watchers_any(s->context->watchers))
                return;
        path = bus_object_snapshot_path(s, info->owner, info->name);
        if (path)
                bus_object_send_changed(s, info->owner, &snapshot_kind, path, &(Object) { s, path, info, "" },
                                        STRV_MAKE("Labels", "Updated"));
}

void bus_objects_changed(BusSnapshotter *s, const char *member, uid_t ns, const char *types, va_list ap) {
        const char *a = NULL, *b = NULL;

        /* Every Snapshotter signal starts with one or two strings. */
        if (types[0] == 's')
                a = va_arg(ap, const char *);
        if (types[0] == 's' && types[1] == 's')
                b = va_arg(ap, const char *);
        if (!a)
                return;

        if (streq(member, "Prepared"))
                object_added(s, ns, a);
        else if (streq(member, "Committed") && b) { /* name, key */
                bus_objects_snapshot_removed(s, ns, b);
                object_added(s, ns, a);
        } else if (streq(member, "Removed"))
                bus_objects_snapshot_removed(s, ns, a);
        else if (streq(member, "Mounted") && b) {
                object_mount_path(s, ns, a, b);
                bus_mount_object_added(s, ns, a);
        } else if (streq(member, "Unmounted")) {
                object_mount_path(s, ns, a, "");
                bus_mount_object_removed(s, ns, a);
        }
}

/* --- Registration --- */

int bus_objects_register(BusContext *c) {
        static const struct {
                const char *what, *interface;
                const sd_bus_vtable *vtable;
                sd_bus_object_find_t find;
        } kinds[] = {
                { "snapshot", BUS_SNAPSHOT_INTERFACE, snapshot_vtable, find_object },
                { "image", BUS_IMAGE_OBJECT_INTERFACE, bus_image_object_vtable, bus_image_object_find },
                { "mount", BUS_MOUNT_OBJECT_INTERFACE, bus_mount_object_vtable, bus_mount_object_find },
        };
        BusObjects *o;
        int r;

        o = calloc(1, sizeof *o);
        if (!o)
                return -ENOMEM;
        c->objects = o;
        o->slots = calloc(c->n_snapshotters * ELEMENTSOF(kinds), sizeof *o->slots);
        if (!o->slots)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_snapshotters; i++)
                for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                        BusSnapshotter *s = &c->snapshotters[i];
                        _cleanup_free_ char *prefix = strdup_printf("%s/%s", s->path, kinds[k].what);

                        if (!prefix)
                                return -ENOMEM;
                        r = sd_bus_add_fallback_vtable(c->bus, &o->slots[o->n_slots], prefix, kinds[k].interface,
                                                       kinds[k].vtable, kinds[k].find, s);
                        if (r < 0)
                                return log_error_errno(r, "failed to register %s/*: %m", prefix);
                        o->n_slots++;
                }
        r = sd_bus_add_object_manager(c->bus, &o->manager_slot, BUS_PATH);
        if (r >= 0)
                r = sd_bus_add_filter(c->bus, &o->filter_slot, filter_object_manager, c);
        if (r < 0)
                return log_error_errno(r, "failed to register the object manager on %s: %m", BUS_PATH);
        return 0;
}

BusObjects *bus_objects_free(BusObjects *o) {
        if (!o)
                return NULL;
        for (size_t i = 0; i < o->n_slots; i++)
                sd_bus_slot_unref(o->slots[i]);
        free(o->slots);
        sd_bus_slot_unref(o->manager_slot);
        sd_bus_slot_unref(o->filter_slot);
        snapshot_info_clear(&o->current_info);
        free(o->current_mount_path);
        core_image_object_list_clear(&o->current_images);
        core_mount_info_clear(&o->current_mount);
        free(o->current_snapshot_path);
        free(o);
        return NULL;
}
