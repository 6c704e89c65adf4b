/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>

#include "core-internal.h"
#include "log.h"
#include "mount-api.h"
#include "strutil.h"

/* Mounts that laminad makes: done inside the store's write transaction that records
 * them, so Remove and Commit (which check the records in theirs) never race a Mount.
 * Every record carries the mount ID and the boot ID, so that records of mounts that
 * vanished (reboot, someone else's umount) are recognised and dropped. */

static char *daemon_mount_dir(CoreSnapshotter *s) {
        return strdup_printf("%s/mounts/%s", s->core->runtime_dir, s->name);
}

typedef struct MountArgs {
        CoreSnapshotter *s;
        uid_t ns;
        const char *key, *target; /* target NULL: a daemon-made directory */
        uint64_t attrs;

        /* What fn did outside the store, so that it can be undone. */
        char *path;
        bool made_dir;
        bool mounted;
        uint64_t mnt_id;
} MountArgs;

static void mount_args_undo(MountArgs *a) {
        if (a->mounted) {
                Error e = ERROR_NULL;
                if (mount_detach(a->path, a->mnt_id, &e) < 0)
                        log_warning("cannot undo the mount at %s: %s", a->path, e.message);
                a->mounted = false;
        }
        if (a->made_dir) {
                int r = mount_point_remove(a->path);
                if (r < 0)
                        log_warning_errno(r, "cannot remove mount point %s: %m", a->path);
                a->made_dir = false;
        }
        free(a->path);
        a->path = NULL;
}

/* Opens the mount point for snapshot id: the caller's target or our own directory. */
static int mount_args_open_target(MountArgs *a, uint64_t id, int *ret_fd, Error *e) {
        _cleanup_free_ char *dir = NULL;
        char name[21];
        int r;

        if (a->target) {
                a->path = strdup(a->target);
                if (!a->path)
                        return error_set_errno(e, ENOMEM, "snapshot %s", QUOTE(a->key));
                return mount_open_target(a->target, ret_fd, e);
        }

        snprintf(name, sizeof name, "%" PRIu64, id);
        dir = daemon_mount_dir(a->s);
        a->path = strdup_printf("%s/%s", dir ?: "", name);
        if (!dir || !a->path)
                return error_set_errno(e, ENOMEM, "snapshot %s", QUOTE(a->key));
        r = mount_point_create(dir, name, ret_fd, e);
        if (r < 0)
                return r;
        a->made_dir = true;
        return 0;
}

static int mount_in_txn_unguarded(StoreTxn *t, MountArgs *a, Error *e) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_(snapshot_clear) Snapshot snap = {};
        _cleanup_close_ int target_fd = -EBADF;
        MountRecord rec = {};
        int r;

        r = core_lookup_own(t, a->ns, a->key, &info, e);
        if (r < 0)
                return r;
        if (info.kind == SNAPSHOT_COMMITTED)
                return error_setf(e, EWRONGKIND,
                                  "snapshot %s is committed and cannot be mounted; make a View of it and mount that instead",
                                  QUOTE(a->key));
        r = store_get_snapshot(t, a->ns, a->key, &snap, e);
        if (r < 0)
                return r;
        if (snap.n_parents > CORE_MAX_LAYERS)
                return error_setf(e, EINVAL,
                                  "snapshot %s stacks %zu layers; the kernel stacks at most %d layers",
                                  QUOTE(a->key), snap.n_parents, CORE_MAX_LAYERS);
        r = core_check_not_mounted(t, snap.id, a->key, e);
        if (r < 0)
                return r;
        if (core_is_busy(a->s, snap.id))
                return error_setf(e, EBUSY, "snapshot %s is busy with another operation; try again when it is done",
                                  QUOTE(a->key));

        r = mount_args_open_target(a, snap.id, &target_fd, e);
        if (r < 0)
                return r;
        r = a->s->backend->vtable->mount(a->s->backend, &snap, target_fd,
                                         a->attrs | (snap.kind == SNAPSHOT_VIEW ? MOUNT_ATTR_RDONLY : 0),
                                         &a->mnt_id, e);
        if (r < 0)
                return r;
        a->mounted = true;

        rec = (MountRecord) {
                .snapshot_id = snap.id,
                .owner = a->ns,
                .target = a->path,
                .mnt_id = a->mnt_id,
                .daemon_made_target = !a->target,
                .mounted_usec = now_usec(),
        };
        memcpy(rec.boot_id, a->s->core->boot_id, sizeof rec.boot_id);
        r = store_mount_put(t, &rec);
        if (r < 0)
                return error_set_errno(e, r, "cannot record the mount of snapshot %s", QUOTE(a->key));
        return 0;
}

/* store_write may run this again after growing the map: each run starts clean. */
static int mount_in_txn(StoreTxn *t, void *userdata, Error *e) {
        MountArgs *a = userdata;
        int r;

        mount_args_undo(a);
        r = mount_in_txn_unguarded(t, a, e);
        if (r < 0)
                mount_args_undo(a);
        return r;
}

static uint64_t mount_attrs(uid_t ns, const CoreMountOptions *o) {
        uint64_t attrs = 0;

        if (o && o->read_only)
                attrs |= MOUNT_ATTR_RDONLY;
        if (o && o->noexec)
                attrs |= MOUNT_ATTR_NOEXEC;
        /* set-id bits and device nodes of a user's layers must mean nothing */
        if (ns != 0 || (o && o->nosuid))
                attrs |= MOUNT_ATTR_NOSUID;
        if (ns != 0 || (o && o->nodev))
                attrs |= MOUNT_ATTR_NODEV;
        return attrs;
}

int core_mount(CoreSnapshotter *s, uid_t ns, const char *key, const char *target,
               const CoreMountOptions *o, char **ret_path, Error *e) {
        MountArgs a = {
                .s = s,
                .ns = ns,
                .key = key,
                .target = isempty(target) ? NULL : target,
                .attrs = mount_attrs(ns, o),
        };
        int r;

        assert(s);

        r = core_validate_key("key", key, e);
        if (r < 0)
                return r;

        r = store_write(s->store, mount_in_txn, &a, e);
        if (r < 0) {
                mount_args_undo(&a); /* the commit itself failed */
                return r;
        }

        log_debug("%s: mounted %s of uid %u at %s", s->name, QUOTE(key), (unsigned) ns, a.path);
        if (ret_path)
                *ret_path = TAKE_PTR(a.path);
        free(a.path);
        return 0;
}

typedef struct UnmountArgs {
        uid_t ns;
        const char *key;
        MountRecord rec;
} UnmountArgs;

static int unmount_in_txn(StoreTxn *t, void *userdata, Error *e) {
        UnmountArgs *a = userdata;
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        Error detach = ERROR_NULL;
        int r;

        mount_record_clear(&a->rec);
        r = core_lookup_own(t, a->ns, a->key, &info, e);
        if (r < 0)
                return r;
        r = store_mount_get(t, info.id, &a->rec);
        if (r == -ENOENT)
                return error_setf(e, ENOENT, "snapshot %s is not mounted; nothing to unmount", QUOTE(a->key));
        if (r < 0)
                return error_set_errno(e, r, "cannot read the mount record of snapshot %s", QUOTE(a->key));

        /* Gone already (someone else unmounted it) is fine: the record goes either way. */
        r = mount_detach(a->rec.target, a->rec.mnt_id, &detach);
        if (r == -ENOENT)
                log_info("the mount of %s at %s was gone already", QUOTE(a->key), a->rec.target);
        else if (r < 0) {
                *e = detach;
                return r;
        }
        if (a->rec.daemon_made_target) {
                r = mount_point_remove(a->rec.target);
                if (r < 0)
                        log_warning_errno(r, "cannot remove mount point %s: %m", a->rec.target);
        }

        r = store_mount_delete(t, info.id);
        if (r < 0)
                return error_set_errno(e, r, "cannot delete the mount record of snapshot %s", QUOTE(a->key));
        return 0;
}

static void unmount_args_done(UnmountArgs *a) {
        mount_record_clear(&a->rec);
}

int core_unmount(CoreSnapshotter *s, uid_t ns, const char *key, char **ret_path, Error *e) {
        _cleanup_(unmount_args_done) UnmountArgs a = { .ns = ns, .key = key };
        int r;

        assert(s);

        r = core_validate_key("key", key, e);
        if (r < 0)
                return r;
        r = store_write(s->store, unmount_in_txn, &a, e);
        if (r < 0)
                return r;

        log_debug("%s: unmounted %s of uid %u from %s", s->name, QUOTE(key), (unsigned) ns, a.rec.target);
        if (ret_path)
                *ret_path = TAKE_PTR(a.rec.target);
        return 0;
}

void core_mount_info_list_clear(CoreMountInfoList *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].key);
                free(l->items[i].path);
        }
        free(l->items);
        *l = (CoreMountInfoList) {};
}

typedef struct ListArgs {
        StoreTxn *t;
        uid_t ns;
        CoreMountInfoList *list;
} ListArgs;

static int list_one(const MountRecord *r, void *userdata) {
        ListArgs *a = userdata;
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        CoreMountInfo *items;
        char *path;
        int k;

        if (r->owner != a->ns)
                return 0;
        k = store_get_info_by_id(a->t, r->snapshot_id, &info, NULL);
        if (k == -ENOENT)
                return 0; /* cannot happen: Remove refuses mounted snapshots */
        if (k < 0)
                return k;

        path = strdup(r->target);
        items = realloc(a->list->items, (a->list->n + 1) * sizeof *items);
        if (!path || !items) {
                free(path);
                if (items)
                        a->list->items = items;
                return -ENOMEM;
        }
        a->list->items = items;
        items[a->list->n++] = (CoreMountInfo) {
                .key = TAKE_PTR(info.name),
                .path = path,
                .owner = r->owner,
                .mounted_usec = r->mounted_usec,
        };
        return 0;
}

int core_list_mounts(CoreSnapshotter *s, uid_t ns, CoreMountInfoList *ret, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        CoreMountInfoList list = {};
        ListArgs a = { .ns = ns, .list = &list };
        int r;

        assert(s);
        assert(ret);

        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        a.t = t;
        r = store_mount_walk(t, list_one, &a);
        if (r < 0) {
                core_mount_info_list_clear(&list);
                return error_set_errno(e, r, "cannot list the mounts of %s", s->name);
        }
        *ret = list;
        return 0;
}

/* Whether the mount a record describes is still there; errors count as "there" so that a
 * passing failure never loses a record. */
static bool mount_record_is_live(Core *c, const MountRecord *r) {
        int k;

        if (!streq(r->boot_id, c->boot_id))
                return false;
        k = mount_id_exists(r->mnt_id);
        if (k < 0)
                log_warning_errno(k, "cannot read the mount table: %m");
        if (k == 0)
                return false;
        /* the ID may have been reused by another mount elsewhere */
        k = mount_is_at(r->target, r->mnt_id);
        if (k < 0)
                log_warning_errno(k, "cannot check the mount at %s: %m", r->target);
        return k != 0;
}

typedef struct ReconcileArgs {
        Core *core;
        uint64_t *stale_ids;
        size_t n_stale;
        char **dirs; /* daemon-made directories of the stale records */
} ReconcileArgs;

static void reconcile_args_done(ReconcileArgs *a) {
        free(a->stale_ids);
        a->stale_ids = NULL;
        a->n_stale = 0;
        a->dirs = strv_free(a->dirs);
}

static int reconcile_one(const MountRecord *r, void *userdata) {
        ReconcileArgs *a = userdata;
        uint64_t *ids;

        if (mount_record_is_live(a->core, r))
                return 0;
        log_info("dropping the record of the mount of snapshot %" PRIu64 " at %s: it is gone",
                 r->snapshot_id, r->target);
        ids = realloc(a->stale_ids, (a->n_stale + 1) * sizeof *ids);
        if (!ids)
                return -ENOMEM;
        a->stale_ids = ids;
        ids[a->n_stale++] = r->snapshot_id;
        if (r->daemon_made_target)
                return strv_extend(&a->dirs, r->target);
        return 0;
}

static int reconcile_in_txn(StoreTxn *t, void *userdata, Error *e) {
        ReconcileArgs *a = userdata;
        int r;

        reconcile_args_done(a);

        r = store_mount_walk(t, reconcile_one, a);
        if (r < 0)
                return error_set_errno(e, r, "cannot walk the mount records");
        for (size_t i = 0; i < a->n_stale; i++) {
                r = store_mount_delete(t, a->stale_ids[i]);
                if (r < 0)
                        return error_set_errno(e, r, "cannot delete a mount record");
        }
        return 0;
}

static int reconcile_snapshotter(CoreSnapshotter *s) {
        _cleanup_(reconcile_args_done) ReconcileArgs a = { .core = s->core };
        Error e = ERROR_NULL;
        int r;

        r = store_write(s->store, reconcile_in_txn, &a, &e);
        if (r < 0) {
                log_error("%s: cannot reconcile the mount records: %s", s->name, e.message);
                return r;
        }
        for (char **d = a.dirs; d && *d; d++) {
                r = mount_point_remove(*d);
                if (r < 0)
                        log_warning_errno(r, "%s: cannot remove the stale mount point %s: %m", s->name, *d);
        }
        return 0;
}

int core_reconcile_mounts(Core *c) {
        int r = 0;

        assert(c);

        for (size_t i = 0; i < c->n_snapshotters; i++) {
                int k = reconcile_snapshotter(c->snapshotters[i]);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}
