/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "core-internal.h"
#include "log.h"
#include "mount-api.h"
#include "strutil.h"

/* Mounts that laminad makes. A mount is known by the kernel's unique 64-bit mount ID,
 * never by its path (a caller may rename the target's parents) nor by the reusable
 * 32-bit ID. Its record is durable before it can be reached: the mount is built
 * detached, its ID recorded and committed, and only then attached; a kill in between
 * leaves a record of a mount that vanished with laminad's fd, which the next start
 * drops. A record lives until the kernel has really let go of the mount: while it is in
 * the mount table, and after a forced (lazy) unmount while any process still holds it;
 * core_check_not_mounted() (core-mount-state.c) refuses Commit, Apply, Remove and Mount
 * meanwhile. */

static char *daemon_mount_dir(CoreSnapshotter *s) {
        return strdup_printf("%s/mounts/%s", s->core->runtime_dir, s->name);
}

typedef struct MountArgs {
        CoreSnapshotter *s;
        uid_t ns;
        const char *key, *target; /* target NULL: a daemon-made directory */
        bool hand_out; /* core_mount_fd: attached in root's own directory, only to be cloned */
        uint64_t attrs;
        const CoreMountOptions *o;
        MountIdmapping idmap; /* userns_fd -EBADF: not idmapped */

        /* What mount_in_txn did outside the store, for mount_attach or undo. */
        char *path;
        bool made_dir;
        uint64_t id; /* of the snapshot, marked ATTACHING when != 0 */
        uint64_t mnt_id;
        int target_fd, mnt_fd;
        uint64_t sb_dev; /* once attached (record_identity) */
        char *mnt_root;
} MountArgs;

static void mount_args_undo(MountArgs *a) {
        a->mnt_fd = safe_close(a->mnt_fd); /* a detached mount vanishes with its last fd */
        a->target_fd = safe_close(a->target_fd);
        a->idmap.userns_fd = safe_close(a->idmap.userns_fd);
        if (a->made_dir) {
                int r = mount_point_remove(a->path);
                if (r < 0)
                        log_warning_errno(r, "cannot remove mount point %s: %m", a->path);
                a->made_dir = false;
        }
        if (a->id != 0)
                core_busy_release(a->s, CORE_MOUNT_ATTACHING(a->id));
        a->id = 0;
        free(a->path);
        a->path = NULL;
}

/* Opens the mount point: the caller's target or a new directory of our own. */
static int mount_args_open_target(MountArgs *a, Error *e) {
        _cleanup_free_ char *dir = NULL;
        int r;

        if (a->target) {
                a->path = strdup(a->target);
                if (!a->path)
                        return error_set_errno(e, ENOMEM, "snapshot %s", QUOTE(a->key));
                return mount_open_target(a->target, &a->target_fd, e);
        }

        dir = daemon_mount_dir(a->s);
        if (!dir)
                return error_set_errno(e, ENOMEM, "snapshot %s", QUOTE(a->key));
        r = mount_point_create(dir, a->hand_out ? 0 : a->ns, &a->path, &a->target_fd, e);
        if (r < 0)
                return r;
        a->made_dir = true;
        return 0;
}

/* A writable mount the kernel could only make read-only (overlayfs without a work dir,
 * e.g. on a full filesystem) is refused, never handed out as writable. */
static int check_writable(MountArgs *a, Error *e) {
        struct statvfs sv;
        int r;

        if (a->attrs & MOUNT_ATTR_RDONLY)
                return 0;
        r = mount_sb_is_read_only(a->mnt_fd);
        if (r < 0)
                return error_set_errno(e, r, "cannot check the new mount of snapshot %s", QUOTE(a->key));
        if (r == 0)
                return 0;
        if (fstatvfs(a->mnt_fd, &sv) >= 0 && (sv.f_bavail == 0 || sv.f_favail == 0))
                return error_setf(e, EDQUOT,
                                  "snapshot %s could only be mounted read-only: the filesystem holding its data is full; free space and mount it again",
                                  QUOTE(a->key));
        return error_setf(e, EOPNOTSUPP,
                          "snapshot %s could only be mounted read-only (its filesystem refused the overlay's work directory); mount it with \"ro\"",
                          QUOTE(a->key));
}

/* The idmapping of the namespace's uid for an idmapped mount (see CoreMountOptions): its
 * user namespace lives in a->idmap until the mount is made. */
static int make_idmap(MountArgs *a, Error *e) {
        MountIdmap map;
        int r;

        r = mount_idmap_for_caller(a->ns, (gid_t) -1, a->o->subuid_path ?: "/etc/subuid",
                                   a->o->subgid_path ?: "/etc/subgid", &map);
        if (r < 0)
                return error_set_errno(e, r, "cannot read the id ranges of uid %u for the idmapped mount of snapshot %s",
                                       (unsigned) a->ns, QUOTE(a->key));
        r = mount_userns_new(&map, &a->idmap.userns_fd);
        if (r < 0)
                return error_set_errno(e, r, "cannot make the idmapping for snapshot %s", QUOTE(a->key));
        a->idmap.uid = map.uid[0].outside;
        a->idmap.gid = map.gid[0].outside;
        return 0;
}

static int mount_in_txn_unguarded(StoreTxn *t, MountArgs *a, Error *e) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_(snapshot_clear) Snapshot snap = {};
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
        if (core_is_busy(a->s, snap.id))
                return error_setf(e, EBUSY, "snapshot %s is busy with another operation; try again when it is done",
                                  QUOTE(a->key));
        r = core_check_not_mounted(a->s, t, snap.id, a->key, e);
        if (r < 0)
                return r;
        r = core_busy_acquire(a->s, CORE_MOUNT_ATTACHING(snap.id), a->key, e);
        if (r < 0)
                return r;
        a->id = snap.id;

        r = mount_args_open_target(a, e);
        if (r < 0)
                return r;
        if (snap.kind == SNAPSHOT_VIEW)
                a->attrs |= MOUNT_ATTR_RDONLY;
        if (a->o && a->o->idmap) {
                r = make_idmap(a, e);
                if (r < 0)
                        return r;
        }
        r = a->s->backend->vtable->mount(a->s->backend, &snap, a->attrs, a->idmap.userns_fd >= 0 ? &a->idmap : NULL,
                                         &a->mnt_fd, e);
        if (r < 0)
                return core_data_error(e, r, a->key);
        r = check_writable(a, e);
        if (r < 0)
                return r;
        r = mount_id_of_fd(a->mnt_fd, &a->mnt_id);
        if (r == -EOPNOTSUPP)
                return error_setf(e, EOPNOTSUPP,
                                  "snapshot %s cannot be mounted by laminad on this kernel: it needs unique mount IDs (Linux 6.8); use the mounts that Mounts returns",
                                  QUOTE(a->key));
        if (r < 0)
                return error_set_errno(e, r, "cannot read the mount ID of the new mount of snapshot %s", QUOTE(a->key));

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

static int forget_in_txn(StoreTxn *t, void *userdata, Error *e) {
        MountArgs *a = userdata;
        int r = store_mount_delete(t, a->id);

        if (r < 0 && r != -ENOENT)
                return error_set_errno(e, r, "cannot delete the mount record of snapshot %s", QUOTE(a->key));
        return 0;
}

/* Adds to the record what the attached mount shows, to recognise copies of it later. */
static int identity_in_txn(StoreTxn *t, void *userdata, Error *e) {
        MountArgs *a = userdata;
        _cleanup_(mount_record_clear) MountRecord m = {};
        int r;

        r = store_mount_get(t, a->id, &m);
        if (r < 0)
                return error_set_errno(e, r, "cannot read the mount record of snapshot %s", QUOTE(a->key));
        m.sb_dev = a->sb_dev;
        m.mnt_root = strdup(a->mnt_root);
        if (!m.mnt_root)
                return error_set_errno(e, ENOMEM, "snapshot %s", QUOTE(a->key));
        r = store_mount_put(t, &m);
        if (r < 0)
                return error_set_errno(e, r, "cannot record the mount of snapshot %s", QUOTE(a->key));
        return 0;
}

/* Without it copies of the mount in users' namespaces would never be found: a failure
 * undoes the mount (the caller tells it). */
static int record_identity(CoreSnapshotter *s, MountArgs *a, Error *e) {
        int r;

        r = mount_identity(a->mnt_id, &a->sb_dev, &a->mnt_root);
        if (r < 0)
                return error_set_errno(e, r, "cannot read what mount %" PRIu64 " shows", a->mnt_id);
        r = store_write(s->store, identity_in_txn, a, e);
        if (r < 0)
                return r;
        return 0;
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

/* The failure r (inner) of a step in src/mount, told with the key; still internal when it
 * was: what a system call said is never a kind (a seccomp filter's EPERM is no
 * AccessDenied, see error.h). */
static int mount_error_with_key(Error *e, int r, const Error *inner, const char *what, const char *key,
                                const char *where) {
        bool set = e && e->code == 0;

        r = error_setf(e, inner->code > 0 ? inner->code : -r, "cannot %s snapshot %s%s: %s", what, QUOTE(key), where,
                       inner->code > 0 ? inner->message : strerror(-r));
        if (set && (inner->internal || inner->code == 0))
                e->internal = true;
        return r;
}

/* Records the mount, makes it and attaches it; on failure everything is undone. */
static int mount_recorded(MountArgs *a, Error *e) {
        Error attach_error = ERROR_NULL;
        int r;

        r = core_validate_key("key", a->key, e);
        if (r < 0)
                return r;

        r = store_write(a->s->store, mount_in_txn, a, e);
        if (r < 0) {
                mount_args_undo(a); /* the commit itself failed */
                return r;
        }

        /* Recorded: now it may exist. */
        r = mount_attach(a->mnt_fd, a->target_fd, &attach_error);
        if (r < 0) {
                Error forget = ERROR_NULL;
                if (store_write(a->s->store, forget_in_txn, a, &forget) < 0)
                        log_warning("%s: %s", a->s->name, forget.message); /* the next start drops it */
                mount_args_undo(a);
                return mount_error_with_key(e, r, &attach_error, "mount", a->key, " at the target");
        }

        r = record_identity(a->s, a, &attach_error);
        free(a->mnt_root);
        a->mnt_root = NULL;
        if (r < 0) {
                Error undo = ERROR_NULL;
                log_warning("%s: mounted snapshot %s, but %s; unmounting it", a->s->name, QUOTE(a->key),
                            attach_error.message);
                if (mount_unmount(a->mnt_id, true, &undo) < 0)
                        log_warning("%s: cannot unmount snapshot %s again: %s", a->s->name, QUOTE(a->key),
                                    undo.message); /* the record stays: Busy until reconciled */
                else if (store_write(a->s->store, forget_in_txn, a, &undo) < 0)
                        log_warning("%s: %s", a->s->name, undo.message); /* the next start drops it */
                mount_args_undo(a);
                return mount_error_with_key(e, r, &attach_error, "record the mount of", a->key, "");
        }
        return 0;
}

int core_mount(CoreSnapshotter *s, uid_t ns, const char *key, const char *target,
               const CoreMountOptions *o, char **ret_path, Error *e) {
        MountArgs a = {
                .s = s,
                .ns = ns,
                .key = key,
                .target = isempty(target) ? NULL : target,
                .attrs = mount_attrs(ns, o),
                .o = o,
                .idmap.userns_fd = -EBADF,
                .target_fd = -EBADF,
                .mnt_fd = -EBADF,
        };
        int r;

        assert(s);

        r = mount_recorded(&a, e);
        if (r < 0)
                return r;
        log_debug("%s: mounted %s of uid %u at %s", s->name, QUOTE(key), (unsigned) ns, a.path);
        if (ret_path)
                *ret_path = TAKE_PTR(a.path);
        a.made_dir = false;
        mount_args_undo(&a);
        return 0;
}

/* The record of a handed-out mount: the clone's ID, no mount point. */
static int hand_out_in_txn(StoreTxn *t, void *userdata, Error *e) {
        MountArgs *a = userdata;
        _cleanup_(mount_record_clear) MountRecord m = {};
        int r;

        r = store_mount_get(t, a->id, &m);
        if (r < 0)
                return error_set_errno(e, r, "cannot read the mount record of snapshot %s", QUOTE(a->key));
        free(m.target);
        m.target = strdup("");
        if (!m.target)
                return error_set_errno(e, ENOMEM, "snapshot %s", QUOTE(a->key));
        m.mnt_id = a->mnt_id;
        m.daemon_made_target = false;
        r = store_mount_put(t, &m);
        if (r < 0)
                return error_set_errno(e, r, "cannot record the mount of snapshot %s", QUOTE(a->key));
        return 0;
}

/* Made like core_mount's, attached in root's own directory only so that what it shows can
 * be recorded (statmount cannot see a detached mount), then cloned: the record follows the
 * clone, the original goes. Its holders (/proc) and its copies in the owner's user
 * namespaces keep the snapshot busy like those of any mount. */
int core_mount_fd(CoreSnapshotter *s, uid_t ns, const char *key, const CoreMountOptions *o, int *ret_fd,
                  Error *e) {
        MountArgs a = {
                .s = s,
                .ns = ns,
                .key = key,
                .hand_out = true,
                .attrs = mount_attrs(ns, o),
                .o = o,
                .idmap.userns_fd = -EBADF,
                .target_fd = -EBADF,
                .mnt_fd = -EBADF,
        };
        _cleanup_close_ int clone_fd = -EBADF;
        Error inner = ERROR_NULL, umount_error = ERROR_NULL;
        uint64_t original;
        int r, k;

        assert(s);
        assert(ret_fd);

        r = mount_recorded(&a, e);
        if (r < 0)
                return r;
        original = a.mnt_id;
        r = mount_clone_detached(a.mnt_fd, &clone_fd, &inner);
        if (r >= 0) {
                r = mount_id_of_fd(clone_fd, &a.mnt_id);
                if (r < 0)
                        (void) error_set_errno(&inner, r, "reading the mount ID of the clone");
        }
        if (r >= 0)
                r = store_write(s->store, hand_out_in_txn, &a, &inner);
        if (r < 0) {
                clone_fd = safe_close(clone_fd);
                a.mnt_id = original; /* the record still names it: Unmount or the next start forget it */
        }

        /* The original is laminad's alone: nothing else can hold it once our fds are closed. */
        a.mnt_fd = safe_close(a.mnt_fd);
        a.target_fd = safe_close(a.target_fd);
        k = mount_unmount(original, false, &umount_error);
        if (k < 0 && k != -ENOENT) {
                log_warning("%s: cannot unmount the original of the handed-out mount of %s: %s", s->name, QUOTE(key),
                            umount_error.message);
                a.made_dir = false; /* still a mount point: the next start unmounts it */
        }
        if (r < 0) {
                Error forget = ERROR_NULL;

                if (a.made_dir && store_write(s->store, forget_in_txn, &a, &forget) < 0)
                        log_warning("%s: %s", s->name, forget.message); /* the next start drops it */
                mount_args_undo(&a);
                return mount_error_with_key(e, r, &inner, "hand out a mount of", key, "");
        }
        log_debug("%s: handed out a mount of %s of uid %u (mount %" PRIu64 ")", s->name, QUOTE(key), (unsigned) ns,
                  a.mnt_id);
        mount_args_undo(&a);
        *ret_fd = TAKE_FD(clone_fd);
        return 0;
}

typedef struct UnmountArgs {
        CoreSnapshotter *s;
        uid_t ns;
        const char *key;
        bool force;
        MountRecord rec;
        unsigned holders; /* still holding it after a forced unmount */
        bool held;        /* ... or copies of it */
} UnmountArgs;

static int unmount_in_txn(StoreTxn *t, void *userdata, Error *e) {
        UnmountArgs *a = userdata;
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        Error kernel = ERROR_NULL;
        MountState state;
        char buf[64];
        int r;

        mount_record_clear(&a->rec);
        a->holders = 0;
        a->held = false;
        r = core_lookup_own(t, a->ns, a->key, &info, e);
        if (r < 0)
                return r;
        r = store_mount_get(t, info.id, &a->rec);
        if (r == -ENOENT)
                return error_setf(e, ENOENT, "snapshot %s is not mounted; nothing to unmount", QUOTE(a->key));
        if (r < 0)
                return error_set_errno(e, r, "cannot read the mount record of snapshot %s", QUOTE(a->key));
        if (core_is_busy(a->s, CORE_MOUNT_ATTACHING(info.id)))
                return error_setf(e, EBUSY, "snapshot %s is being mounted; try again when that is done", QUOTE(a->key));

        r = streq(a->rec.boot_id, a->s->core->boot_id) ? mount_unmount(a->rec.mnt_id, a->force, &kernel) : -ENOENT;
        if (r == -EBUSY) {
                unsigned n = 0;
                char by[64] = "";

                if (core_mount_count_holders(a->s, a->rec.mnt_id, &n) >= 0 && n > 0)
                        snprintf(by, sizeof by, " by %u process%s", n, n == 1 ? "" : "es");
                return error_setf(e, EBUSY,
                                  "snapshot %s is in use%s (a file, a working directory or a mount in it); stop what uses it, or unmount with \"force\" (it then stays busy until that stops)",
                                  QUOTE(a->key), by);
        }
        if (r < 0 && r != -ENOENT)
                return mount_error_with_key(e, r, &kernel, "unmount", a->key, "");

        /* A plain umount succeeds only when nothing holds the mount. Detached now or
         * earlier (by someone else): whoever still holds it keeps the snapshot busy. */
        if (r == 0 && !a->force && !core_mount_has_user_ns_copies(a->s, &a->rec))
                state = MOUNT_RELEASED; /* a plain umount succeeds only when no process holds it */
        else
                state = core_mount_record_state(a->s, &a->rec, NULL, &a->holders);
        switch (state) {
        case MOUNT_MOUNTED:
                return error_setf(e, EBUSY, "snapshot %s is still mounted at %s; try again", QUOTE(a->key),
                                  a->rec.target);
        case MOUNT_HELD:
                if (!a->force)
                        return error_setf(e, EBUSY,
                                          "snapshot %s was unmounted, but %s; stop that, or unmount with \"force\" (it then stays busy until that stops)",
                                          QUOTE(a->key), core_mount_held_by(a->holders, buf));
                a->held = true;
                return 0; /* the record stays until they stop */
        case MOUNT_RELEASED:
                break;
        }
        r = core_mount_record_forget(t, &a->rec);
        if (r < 0)
                return error_set_errno(e, r, "cannot delete the mount record of snapshot %s", QUOTE(a->key));
        return 0;
}

static void unmount_args_done(UnmountArgs *a) {
        mount_record_clear(&a->rec);
}

int core_unmount(CoreSnapshotter *s, uid_t ns, const char *key, bool force, char **ret_path, Error *e) {
        _cleanup_(unmount_args_done) UnmountArgs a = { .s = s, .ns = ns, .key = key, .force = force };
        int r;

        assert(s);

        r = core_validate_key("key", key, e);
        if (r < 0)
                return r;
        r = store_write(s->store, unmount_in_txn, &a, e);
        if (r < 0)
                return r;

        if (a.held) {
                char buf[64];
                log_info("%s: detached %s of uid %u from %s, but %s", s->name, QUOTE(key), (unsigned) ns,
                         a.rec.target, core_mount_held_by(a.holders, buf));
        } else
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
        CoreSnapshotter *s;
        StoreTxn *t;
        uid_t ns;
        CoreMountInfoList *list;
        MountTable *table;
} ListArgs;

/* Lists the mounts of ns that are in the mount table now, at their current mount point. */
static int list_one(const MountRecord *r, void *userdata) {
        ListArgs *a = userdata;
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_free_ char *path = NULL;
        CoreMountInfo *items;
        int k;

        if ((a->ns != CORE_NS_ALL && r->owner != a->ns) || !streq(r->boot_id, a->s->core->boot_id) ||
            r->legacy_mnt_id)
                return 0;
        if (isempty(r->target)) { /* handed out (core_mount_fd): listed until found released */
                path = strdup("");
                if (!path)
                        return -ENOMEM;
        } else {
                k = mount_table_find(a->table, r->mnt_id, &path);
                if (k <= 0)
                        return k; /* being attached, detached, or gone */
        }
        k = store_get_info_by_id(a->t, r->snapshot_id, &info, NULL);
        if (k == -ENOENT)
                return 0; /* cannot happen: Remove refuses mounted snapshots */
        if (k < 0)
                return k;

        items = realloc(a->list->items, (a->list->n + 1) * sizeof *items);
        if (!items)
                return -ENOMEM;
        a->list->items = items;
        items[a->list->n++] = (CoreMountInfo) {
                .key = TAKE_PTR(info.name),
                .path = TAKE_PTR(path),
                .owner = r->owner,
                .mounted_usec = r->mounted_usec,
        };
        return 0;
}

int core_list_mounts(CoreSnapshotter *s, uid_t ns, CoreMountInfoList *ret, Error *e) {
        _cleanup_(mount_table_freep) MountTable *table = NULL;
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        CoreMountInfoList list = {};
        ListArgs a = { .s = s, .ns = ns, .list = &list };
        int r;

        assert(s);
        assert(ret);

        r = mount_table_load(&table);
        if (r < 0)
                return error_set_errno(e, r, "cannot read the mount table");
        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        a.t = t;
        a.table = table;
        r = store_mount_walk(t, list_one, &a);
        if (r < 0) {
                core_mount_info_list_clear(&list);
                return error_set_errno(e, r, "cannot list the mounts of %s", s->name);
        }
        *ret = list;
        return 0;
}
