/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "core-mount.h"
#include "log.h"
#include "strutil.h"

/* Mounts that laminad makes. A mount is known by the kernel's unique 64-bit mount ID,
 * never by its path (a caller may rename the target's parents) nor by the reusable
 * 32-bit ID. Its record is durable before it can be reached: the mount is built
 * detached (outside the store's write lock, the snapshot marked busy), its ID recorded and
 * committed, and only then attached; a kill in between
 * leaves a record of a mount that vanished with laminad's fd, which the next start
 * drops. A record lives until the kernel has really let go of the mount: while it is in
 * the mount table, and after a forced (lazy) unmount while any process still holds it;
 * core_check_not_mounted_pre() (core-mount-state.c) refuses Commit, Apply, Remove and Mount
 * meanwhile. */

static char *daemon_mount_dir(CoreSnapshotter *s) {
        return strdup_printf("%s/mounts/%s", s->core->runtime_dir, s->name);
}

/* What one run of mount_in_txn did outside the store (store_write may run it again). */
static void mount_args_reset(MountArgs *a) {
        if (a->made_dir) {
                int r;

                a->target_fd = safe_close(a->target_fd);
                r = mount_point_remove(a->path);
                if (r < 0)
                        log_warning_errno(r, "cannot remove mount point %s: %m", a->path);
                a->made_dir = false;
                free(a->path);
                a->path = NULL;
        }
        if (a->id != 0)
                core_busy_release(a->s, CORE_MOUNT_ATTACHING(a->id));
        a->id = 0;
}

void core_mount_args_undo(MountArgs *a) {
        mount_args_reset(a);
        a->mnt_fd = safe_close(a->mnt_fd); /* a detached mount vanishes with its last fd */
        if (a->busy_id != 0)
                core_busy_release(a->s, a->busy_id);
        a->busy_id = 0;
        a->target_fd = safe_close(a->target_fd);
        a->prepared.userns_fd = safe_close(a->prepared.userns_fd);
        free(a->path);
        a->path = NULL;
}

/* A new directory of our own as the mount point, when the caller named none. */
static int mount_args_make_target(MountArgs *a, Error *e) {
        _cleanup_free_ char *dir = NULL;
        int r;

        if (a->target)
                return 0; /* opened before the transaction (mount_args_open_caller_target) */
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

/* The caller's target, resolved once before the store's write lock is taken: it may lie
 * on a slow or hung filesystem of the caller's, and no one else should wait for that. A
 * caller other than root must name an empty directory of its own, which laminad looks up
 * with the caller's uid and groups (mount_open_target_as): every component is searched
 * with the caller's rights, not root's. Every outcome but a stalled filesystem is one
 * refusal: the caller learns nothing (there, missing, empty, whose) it could not learn
 * by looking itself. */
static int mount_args_open_caller_target(MountArgs *a, Error *e) {
        uid_t owner = a->o ? a->o->target_owner : 0;
        int r;

        if (!a->target)
                return 0;
        a->path = strdup(a->target);
        if (!a->path)
                return error_set_errno(e, ENOMEM, "snapshot %s", QUOTE(a->key));
        if (owner == 0)
                return mount_open_target(a->target, &a->target_fd, e);

        r = mount_open_target_as(a->target, owner, a->o->target_gids, a->o->n_target_gids, &a->target_fd);
        if (r >= 0)
                return 0;
        log_debug_errno(r, "%s: mount target %s refused for uid %u: %m", a->s->name, QUOTE(a->target),
                        (unsigned) owner);
        if (r == -ETIMEDOUT || r == -EBUSY)
                return error_setf(e, EBUSY,
                                  "cannot mount snapshot %s on %s: %s; try again once the filesystem answers",
                                  QUOTE(a->key), QUOTE(a->target),
                                  r == -EBUSY ? "an earlier lookup of a target of yours is still waiting on its filesystem"
                                              : "its lookup did not end within 5 s");
        if (r != -EACCES && r != -EINVAL)
                return error_set_errno(e, r, "cannot look up the target %s of snapshot %s", QUOTE(a->target),
                                       QUOTE(a->key));
        return error_setf(e, EACCES,
                          "cannot mount snapshot %s on %s: not an empty directory of yours (uid %u) that you can reach "
                          "without following symbolic links; give the full path of an empty directory you own",
                          QUOTE(a->key), QUOTE(a->target), (unsigned) owner);
}

bool core_mount_lookups_pending(void) {
        return mount_target_lookups_stuck();
}

/* A user's mounts, mount fds and force-unmounted mounts still held each cost a record, a
 * look at every Busy check and kernel mounts (an overlay one per layer): at most
 * CORE_MOUNTS_PER_USER_MAX per user and snapshotter, together at most
 * CORE_KERNEL_MOUNTS_PER_USER_MAX kernel mounts; root has no limit. */
static int check_mounts_per_user(StoreTxn *t, MountArgs *a, Error *e) {
        StoreOwnerTotals held;
        int r;

        if (a->ns == 0)
                return 0;
        r = store_owner_totals(t, a->ns, &held, e);
        if (r < 0)
                return r;
        if (held.mounts >= CORE_MOUNTS_PER_USER_MAX)
                return error_setf(e, EUSERS,
                                  "cannot mount snapshot %s: uid %u has %" PRIu64 " mounts of snapshotter %s, the most a user may have (%u, mount fds and force-unmounted mounts still in use included); unmount one first",
                                  QUOTE(a->key), (unsigned) a->ns, held.mounts, a->s->name, CORE_MOUNTS_PER_USER_MAX);
        if (held.kernel_mounts + a->kernel_mounts > CORE_KERNEL_MOUNTS_PER_USER_MAX)
                return error_setf(e, EUSERS,
                                  "cannot mount snapshot %s: it costs %" PRIu64 " kernel mounts (one per layer, its upper and itself) and uid %u's mounts of snapshotter %s cost %" PRIu64 " already, of the %u a user may have (mount fds and force-unmounted mounts still in use included); unmount one first, or mount a snapshot with fewer layers",
                                  QUOTE(a->key), a->kernel_mounts, (unsigned) a->ns, a->s->name, held.kernel_mounts,
                                  CORE_KERNEL_MOUNTS_PER_USER_MAX);
        return 0;
}

/* Makes the mount, detached, before the store's write lock is taken: stacking up to 500
 * layers (idmapped, each a mount of its own) takes a while, and no other writer should wait
 * for it. The snapshot is marked busy meanwhile (Commit, Apply, Remove refuse it), so the
 * mount shows what the record will name; a detached mount nothing records vanishes with
 * laminad's fd. */
static int mount_make(MountArgs *a, Error *e) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_(snapshot_clear) Snapshot snap = {};
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        int r;

        r = core_read_own(a->s, a->ns, a->key, &t, &info, e);
        if (r < 0)
                return r;
        if (info.kind == SNAPSHOT_COMMITTED)
                return error_setf(e, EWRONGKIND,
                                  "snapshot %s is committed and cannot be mounted; make a View of it and mount that instead",
                                  QUOTE(a->key));
        r = store_get_snapshot(t, a->ns, a->key, &snap, e);
        if (r < 0)
                return r;
        /* Refused before any work when it would be in the write transaction (asked again there). */
        r = core_check_not_mounted_pre(a->s, t, snap.id, a->key, &a->pre, e);
        if (r < 0)
                return r;
        a->kernel_mounts = core_mount_cost(a->s, &snap, a->attrs);
        r = check_mounts_per_user(t, a, e);
        if (r < 0)
                return r;
        store_read_end(TAKE_PTR(t));
        if (snap.n_parents > CORE_MAX_LAYERS)
                return error_setf(e, EINVAL,
                                  "snapshot %s stacks %zu layers; the kernel stacks at most %d layers",
                                  QUOTE(a->key), snap.n_parents, CORE_MAX_LAYERS);
        r = core_busy_acquire(a->s, snap.id, a->key, e);
        if (r < 0)
                return r;
        a->busy_id = snap.id;

        if (snap.kind == SNAPSHOT_VIEW)
                a->attrs |= MOUNT_ATTR_RDONLY;
        r = core_mount_build(a->s, &snap, a->attrs, a->prepared.userns_fd >= 0 ? &a->prepared : NULL, &a->mnt_fd,
                             e);
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
        return 0;
}

/* Records the mount mount_make() made: still the same snapshot (busy since: it cannot have
 * been committed, applied to or removed), not mounted, the owner under its limit. */
static int mount_in_txn_unguarded(StoreTxn *t, MountArgs *a, Error *e) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        MountRecord rec = {};
        size_t handle_size;
        int r;

        static_assert(STORE_MOUNT_POINT_HANDLE_MAX == MOUNT_POINT_HANDLE_MAX, "one size of mount point handles");
        r = core_lookup_own(t, a->ns, a->key, &info, e);
        if (r < 0)
                return r;
        if (info.id != a->busy_id) /* removed and made again before we marked it */
                return error_setf(e, EBUSY, "snapshot %s changed while it was being mounted; try again",
                                  QUOTE(a->key));
        r = core_check_not_mounted_pre(a->s, t, info.id, a->key, &a->pre, e);
        if (r < 0)
                return r;
        r = check_mounts_per_user(t, a, e);
        if (r < 0)
                return r;
        r = core_busy_acquire(a->s, CORE_MOUNT_ATTACHING(info.id), a->key, e);
        if (r < 0)
                return r;
        a->id = info.id;

        r = mount_args_make_target(a, e);
        if (r < 0)
                return r;

        rec = (MountRecord) {
                .snapshot_id = info.id,
                .owner = a->ns,
                .target = a->path,
                .mnt_id = a->mnt_id,
                .daemon_made_target = !a->target,
                .mounted_usec = now_usec(),
                .attrs = a->attrs | (a->prepared.userns_fd >= 0 ? MOUNT_ATTR_IDMAP : 0),
                .kernel_mounts = a->kernel_mounts,
        };
        memcpy(rec.boot_id, a->s->core->boot_id, sizeof rec.boot_id);
        r = mount_point_handle(a->target_fd, rec.point_handle, &handle_size);
        if (r >= 0)
                rec.point_handle_size = (uint32_t) handle_size;
        else /* a plain Unmount then goes by name (mount_unmount) */
                log_debug_errno(r, "%s: no file handle of the mount point %s: %m", a->s->name, QUOTE(a->path));
        r = store_mount_put(t, &rec);
        if (r < 0)
                return error_set_errno(e, r, "cannot record the mount of snapshot %s", QUOTE(a->key));
        return 0;
}

/* store_write may run this again after growing the map: each run starts clean. */
static int mount_in_txn(StoreTxn *t, void *userdata, Error *e) {
        MountArgs *a = userdata;
        int r;

        mount_args_reset(a);
        r = mount_in_txn_unguarded(t, a, e);
        if (r < 0)
                mount_args_reset(a);
        return r;
}

int core_mount_forget_in_txn(StoreTxn *t, void *userdata, Error *e) {
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

uint64_t core_mount_attrs(uid_t ns, const CoreMountOptions *o) {
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

int core_mount_error_with_key(Error *e, int r, const Error *inner, const char *what, const char *key,
                              const char *where) {
        bool set = e && e->code == 0;

        r = error_setf(e, inner->code > 0 ? inner->code : -r, "cannot %s snapshot %s%s: %s", what, QUOTE(key), where,
                       inner->code > 0 ? inner->message : strerror(-r));
        if (set && (inner->internal || inner->code == 0))
                e->internal = true;
        return r;
}

int core_mount_recorded(MountArgs *a, Error *e) {
        Error attach_error = ERROR_NULL;
        int r;

        r = core_validate_key("key", a->key, e);
        if (r < 0)
                return r;
        r = core_mount_idmap_prepare(a->ns, a->o, a->key, &a->prepared, e);
        if (r < 0)
                return r;
        r = mount_args_open_caller_target(a, e);
        if (r < 0) {
                core_mount_args_undo(a);
                return r;
        }
        /* Whether a force-unmounted mount of it is still held, asked before the write lock. */
        core_mount_precheck(a->s, a->ns, a->key, &a->pre);
        r = mount_make(a, e);
        if (r < 0) {
                core_mount_args_undo(a);
                return r;
        }

        r = store_write(a->s->store, mount_in_txn, a, e);
        a->prepared.userns_fd = safe_close(a->prepared.userns_fd);
        core_busy_release(a->s, a->busy_id); /* ATTACHING (a->id) keeps it busy until attached */
        a->busy_id = 0;
        if (r < 0) {
                core_mount_args_undo(a); /* the commit itself failed */
                return r;
        }

        /* Recorded: now it may exist, and its data change through it. */
        core_quota_forget(a->s, a->ns, a->id);
        r = mount_attach(a->mnt_fd, a->target_fd, &attach_error);
        if (r < 0) {
                Error forget = ERROR_NULL;
                if (store_write_freeing(a->s->store, core_mount_forget_in_txn, a, &forget) < 0)
                        log_warning("%s: %s", a->s->name, forget.message); /* the next start drops it */
                core_mount_args_undo(a);
                return core_mount_error_with_key(e, r, &attach_error, "mount", a->key, " at the target");
        }

        r = record_identity(a->s, a, &attach_error);
        free(a->mnt_root);
        a->mnt_root = NULL;
        if (r < 0) {
                Error undo = ERROR_NULL;
                log_warning("%s: mounted snapshot %s, but %s; unmounting it", a->s->name, QUOTE(a->key),
                            attach_error.message);
                /* Through our fd: what made recording fail (statmount refused) would make
                 * finding the mount by ID fail too. */
                if (mount_detach_fd(a->mnt_fd, &undo) < 0)
                        log_warning("%s: cannot unmount snapshot %s again: %s", a->s->name, QUOTE(a->key),
                                    undo.message); /* the record stays: Busy until reconciled */
                else if (store_write_freeing(a->s->store, core_mount_forget_in_txn, a, &undo) < 0)
                        log_warning("%s: %s", a->s->name, undo.message); /* the next start drops it */
                core_mount_args_undo(a);
                return core_mount_error_with_key(e, r, &attach_error, "record the mount of", a->key, "");
        }
        return 0;
}

int core_validate_mount_target(const char *target, Error *e) {
        assert(target);

        if (target[0] != '/')
                return error_setf(e, EINVAL, "target %s is not an absolute path; give the full path of an empty directory",
                                  QUOTE(target));
        for (const char *p = target; *p; p += strspn(p, "/")) {
                size_t n = strcspn(p, "/");

                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return error_setf(e, EINVAL, "target %s has a \"..\" component; give the path of the directory itself",
                                          QUOTE(target));
                p += n;
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
                .attrs = core_mount_attrs(ns, o),
                .o = o,
                .prepared.userns_fd = -EBADF,
                .target_fd = -EBADF,
                .mnt_fd = -EBADF,
        };
        int r;

        assert(s);

        if (a.target) {
                r = core_validate_mount_target(a.target, e);
                if (r < 0)
                        return r;
        }
        r = core_mount_recorded(&a, e);
        if (r < 0)
                return r;
        log_debug("%s: mounted %s of uid %u at %s", s->name, QUOTE(key), (unsigned) ns, a.path);
        if (ret_path)
                *ret_path = TAKE_PTR(a.path);
        a.made_dir = false;
        core_mount_args_undo(&a);
        return 0;
}
