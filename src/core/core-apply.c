/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "core-apply-clone.h"
#include "core-internal.h"
#include "layer-unpack.h"
#include "layer.h"
#include "log.h"
#include "mount-api.h"

/* Apply: unpacks a layer into an active snapshot of the caller that nobody has mounted.
 * The snapshot is marked busy for the whole call, so Mount, Commit and Remove refuse it
 * meanwhile. The layer goes into a clone of the data that replaces it in one atomic
 * exchange (core-apply-clone.h): whatever fails or is killed, the data is as it was or
 * has the whole layer. */

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

/* Filesystems whose reads a server (maybe the caller's own) answers, or never does. */
static const char *remote_fs_name(uint64_t magic) {
        switch (magic) {
        case FUSE_SUPER_MAGIC:
                return "FUSE";
        case NFS_SUPER_MAGIC:
                return "NFS";
        case SMB_SUPER_MAGIC:
        case 0xFF534D42: /* CIFS */
        case 0xFE534D42: /* SMB2 */
                return "SMB";
        case V9FS_MAGIC:
                return "9P";
        case 0x00c36400: /* Ceph */
                return "Ceph";
        case AFS_SUPER_MAGIC:
        case AFS_FS_MAGIC:
                return "AFS";
        case CODA_SUPER_MAGIC:
                return "Coda";
        case 0x19920119: /* OrangeFS */
                return "OrangeFS";
        default:
                return NULL;
        }
}

int core_check_layer_fd(int fd, uid_t caller, bool may_ask_fs, Error *e) {
        struct statx sx = {};
        struct statfs sfs;
        uint64_t magic;
        const char *remote;
        int flags, r;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return error_set_errno(e, errno, "cannot use the layer descriptor");
        if (flags & O_PATH)
                return error_setf(e, EINVAL, "the layer is an O_PATH descriptor; pass one opened for reading");
        if ((flags & O_ACCMODE) == O_WRONLY)
                return error_setf(e, EINVAL, "the layer descriptor is write-only; pass one opened for reading");
        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE, &sx) < 0)
                return error_set_errno(e, errno, "cannot use the layer descriptor");
        if (S_ISFIFO(sx.stx_mode) || S_ISSOCK(sx.stx_mode))
                return 0;
        if (!S_ISREG(sx.stx_mode))
                return error_setf(e, EINVAL, "the layer must be a regular file, pipe or socket");
        if (caller == 0)
                return 1;

        r = mount_fs_magic_of_fd(fd, &magic);
        if (r == -ENOENT || r == -EOPNOTSUPP) {
                /* On a mount of another namespace (a user's own), or without statmount:
                 * statfs asks a FUSE server when it lets laminad in (allow_other), so only
                 * where waiting holds up no one but the caller. */
                if (!may_ask_fs)
                        return 1;
                if (fstatfs(fd, &sfs) < 0)
                        return error_set_errno(e, errno, "cannot use the layer descriptor");
                magic = (uint64_t) sfs.f_type;
        } else if (r < 0)
                return error_set_errno(e, r, "cannot use the layer descriptor");
        remote = remote_fs_name(magic);
        if (remote)
                return error_setf(e, EINVAL,
                                  "the layer is a file on a %s filesystem, whose server could hold its reads up; pass it through a pipe instead (e.g. cat FILE | ...)",
                                  remote);
        return 1;
}

typedef struct ApplyCheck {
        CoreSnapshotter *s;
        uid_t ns;
        const char *key;
        Snapshot snap; /* ID and parents, nearest first */
        MountPrecheck pre; /* core_mount_precheck(), before the write transactions */
} ApplyCheck;

/* Active, the caller's own, and not mounted by laminad. */
static int apply_check_in_txn(StoreTxn *t, void *userdata, Error *e) {
        ApplyCheck *a = userdata;
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        int r;

        snapshot_clear(&a->snap);
        r = core_lookup_own(t, a->ns, a->key, &info, e);
        if (r < 0)
                return r;
        if (info.kind != SNAPSHOT_ACTIVE)
                return error_setf(e, EWRONGKIND, "snapshot %s is %s, not active; layers can only be applied to active snapshots",
                                  QUOTE(a->key), snapshot_kind_to_string(info.kind));
        r = store_get_snapshot(t, a->ns, a->key, &a->snap, e);
        if (r < 0)
                return r;
        return core_check_not_mounted_pre(a->s, t, a->snap.id, a->key, &a->pre, e);
}

static void apply_check_done(ApplyCheck *a) {
        snapshot_clear(&a->snap);
}

typedef struct ApplyCloneRef {
        CoreSnapshotter *s;
        ApplyClone c;
} ApplyCloneRef;

static void apply_clone_done_p(ApplyCloneRef *r) {
        apply_clone_done(r->s, &r->c);
}

static void close_fds(int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                safe_close(fds[i]);
        free(fds);
}

/* The parents' data directories, topmost first, for the parents a layer dir lacks. */
static int open_lowers(CoreSnapshotter *s, const Snapshot *snap, int **ret, Error *e) {
        int *fds = calloc(snap->n_parents + 1, sizeof(int));

        if (!fds)
                return -ENOMEM;
        for (size_t i = 0; i < snap->n_parents; i++) {
                int r = s->backend->vtable->open_data(s->backend, snap->parent_ids[i], &fds[i], e);
                if (r < 0) {
                        close_fds(fds, i);
                        return r;
                }
        }
        *ret = fds;
        return 0;
}

/* quota: ns's reservation, taken once the layer is unpacked (core-quota-apply.c). */
static int apply_locked(CoreSnapshotter *s, uid_t ns, const char *key, const Snapshot *snap, int layer_fd,
                        const LayerApplyOptions *lo, QuotaReservation *quota, CoreApplyResult *ret, Error *e) {
        _cleanup_(apply_clone_done_p) ApplyCloneRef clone = { .s = s, .c = APPLY_CLONE_NULL };
        LayerApplyOptions o = *lo;
        LayerApplyResult res;
        int *lowers = NULL, r;

        /* Only a layered snapshot holds its own changes alone; a full tree has its parents. */
        if (s->backend->vtable->layered && snap->n_parents == 0) {
                r = core_rebase_apply_check(s, snap->id, key, &o.mark_implicit, e);
                if (r < 0)
                        return core_data_error(e, r, key);
        } else if (s->backend->vtable->layered) {
                r = open_lowers(s, snap, &lowers, e);
                if (r < 0)
                        return core_data_error(e, r, key);
                o.lower_fds = lowers;
                o.n_lower_fds = snap->n_parents;
        }
        /* The backend's failures name the key, not paths; the layer's keep their own. */
        r = apply_clone_begin(s, ns, snap, &clone.c, e);
        if (r < 0)
                r = core_data_error(e, r, key);
        else
                r = layer_unpack(layer_fd, clone.c.fd, &o, &res, e);
        if (lowers)
                close_fds(lowers, snap->n_parents);
        if (r >= 0 && res.marked_implicit)
                r = core_rebase_applied(clone.c.fd, key, e);
        if (r >= 0)
                r = core_quota_apply_reserve(s, ns, key, lo->cancel_fd, snap->id, clone.c.fd, quota, e);
        if (r >= 0) {
                r = apply_clone_commit(s, snap->id, &clone.c, e);
                if (r < 0)
                        r = core_data_error(e, r, key);
        }
        if (r < 0)
                return log_debug_errno(r, "%s: apply to %s failed: %s", s->name, QUOTE(key), e ? e->message : "");

        memcpy(ret->diff_id, res.diff_id, sizeof ret->diff_id);
        ret->bytes = res.bytes;
        ret->entries = res.entries;
        log_debug("%s: applied %s (%" PRIu64 " bytes, %" PRIu64 " entries) to %s", s->name, ret->diff_id,
                  ret->bytes, ret->entries, QUOTE(key));
        return 0;
}

/* apply_locked() within what ns's Bytes= and Inodes= quotas leave: the layer's byte and
 * entry limits are lowered to that, and a layer refused by a limit is QuotaExceeded that
 * also names the quota. */
static int apply_quota(CoreSnapshotter *s, uid_t ns, const char *key, const Snapshot *snap, int layer_fd,
                       const LayerApplyOptions *lo, CoreApplyResult *ret, Error *e) {
        LayerApplyOptions o = *lo;
        QuotaReservation reservation;
        QuotaLimits max;
        QuotaUse used;
        Error le = ERROR_NULL;
        bool lowered;
        int r;

        r = core_quota_apply_limits(s, ns, key, lo->cancel_fd, &o.limits, &used, &max, &reservation, e);
        if (r < 0)
                return r;
        lowered = o.limits.max_bytes != lo->limits.max_bytes || o.limits.max_entries != lo->limits.max_entries;
        r = apply_locked(s, ns, key, snap, layer_fd, &o, &reservation, ret, &le);
        core_quota_applied(s, ns, snap->id, &reservation);
        if (r >= 0)
                core_quota_fs_limit(s->core, ns);
        if (r == -EDQUOT && lowered && le.code == EDQUOT && !le.internal && !reservation.refused) {
                char b[32], i[32];

                /* The layer's own message names the limit it passed first: any of a lowered
                 * one, or memory and time, which no quota lowers. */
                return error_setf(e, EDQUOT,
                                  "snapshot %s: %s (uid %u's quota lowered this Apply's byte and entry limits: %" PRIu64
                                  " of Bytes=%s, %" PRIu64 " of Inodes=%s in use; laminad.conf)",
                                  QUOTE(key), le.message, (unsigned) ns, used.used[QUOTA_BYTES],
                                  quota_value_to_string(max.max[QUOTA_BYTES], b), used.used[QUOTA_INODES],
                                  quota_value_to_string(max.max[QUOTA_INODES], i));
        }
        if (r < 0 && e)
                *e = le;
        return r;
}

int core_apply(CoreSnapshotter *s, uid_t ns, const char *key, int layer_fd,
               const CoreApplyOptions *o, CoreApplyResult *ret, Error *e) {
        _cleanup_(apply_check_done) ApplyCheck a = { .s = s, .ns = ns, .key = key };
        LayerApplyOptions lo = {
                .overlay_whiteouts = s->backend->vtable->layered,
                .allow_devices = o->allow_devices,
                .write_uid = ns,
                .expected_diff_id = o->expected_diff_id,
                .limits = s->core->apply_limits,
                .progress = o->progress,
                .userdata = o->userdata,
                .cancel_fd = o->cancel_fd,
        };
        uint64_t id;
        int r;

        assert(s);
        assert(o);
        assert(ret);

        r = core_validate_key("key", key, e);
        if (r < 0)
                return r;
        if (o->media_type) {
                r = layer_media_type_from_string(o->media_type);
                if (r < 0)
                        return error_setf(e, EINVAL, "media-type %s is not one of tar, tar+gzip or tar+zstd",
                                          QUOTE(o->media_type));
                lo.media_type = r;
        }

        /* Look the snapshot up, mark it busy, then check again under the store's write
         * lock: a Mount that started before the mark is then either recorded or refused.
         * Whether a force-unmounted mount of it is still held is asked before (walking /proc
         * for holders may take a while; no other writer should wait for it). */
        core_mount_precheck(s, ns, key, &a.pre);
        r = store_write(s->store, apply_check_in_txn, &a, e);
        if (r < 0)
                return r;
        id = a.snap.id;
        r = core_busy_acquire(s, id, key, e);
        if (r < 0)
                return r;
        r = store_write(s->store, apply_check_in_txn, &a, e);
        if (r >= 0 && a.snap.id != id)
                r = error_setf(e, EBUSY, "snapshot %s changed while the layer was being prepared; try again", QUOTE(key));
        if (r >= 0)
                r = apply_quota(s, ns, key, &a.snap, layer_fd, &lo, ret, e);
        core_busy_release(s, id);
        return r;
}
