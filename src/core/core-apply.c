/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core-internal.h"
#include "dir-util.h"
#include "layer.h"
#include "log.h"

/* Apply: unpacks a layer into an active snapshot of the caller that nobody has mounted.
 * The snapshot is marked busy for the whole call, so Mount, Commit and Remove refuse it
 * meanwhile; the layer code leaves the data as it was when anything goes wrong. */

typedef struct ApplyCheck {
        CoreSnapshotter *s;
        uid_t ns;
        const char *key;
        Snapshot snap; /* ID and parents, nearest first */
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
        return core_check_not_mounted(a->s, t, a->snap.id, a->key, e);
}

static void apply_check_done(ApplyCheck *a) {
        snapshot_clear(&a->snap);
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

/* A journal of applies in progress: <state>/<snapshotter>/applying/<id> holds the name
 * of the hidden staging directory that apply works in, inside that snapshot's data. A
 * daemon that died during an apply left that directory behind; the next start removes
 * it, and only it (core_apply_recover): a layer may well have its own entries named like
 * a staging directory. */
#define APPLY_JOURNAL "applying"

static int journal_open(CoreSnapshotter *s) {
        if (mkdirat(s->backend->state_fd, APPLY_JOURNAL, 0700) < 0 && errno != EEXIST)
                return -errno;
        return RET_NERRNO(openat(s->backend->state_fd, APPLY_JOURNAL,
                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

/* Writes name to applying/<id>, durably, before the apply creates the directory. */
static int journal_write(CoreSnapshotter *s, uint64_t id, const char *staging_name) {
        _cleanup_close_ int dfd = journal_open(s), fd = -EBADF;
        char name[32];
        size_t len = strlen(staging_name);

        if (dfd < 0)
                return dfd;
        snprintf(name, sizeof name, "%" PRIu64, id);
        fd = openat(dfd, name, O_CREAT | O_TRUNC | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (write(fd, staging_name, len) != (ssize_t) len)
                return -EIO;
        if (fsync(fd) < 0 || close(TAKE_FD(fd)) < 0 || fsync(dfd) < 0)
                return -errno;
        return 0;
}

static int journal_begin(CoreSnapshotter *s, uint64_t id, const char *staging_name, Error *e) {
        int r = journal_write(s, id, staging_name);

        if (r < 0)
                return error_set_errno(e, r, "cannot record the apply to snapshot %" PRIu64, id);
        return 0;
}

static void journal_end(CoreSnapshotter *s, uint64_t id) {
        _cleanup_close_ int dfd = journal_open(s);
        char name[32];

        snprintf(name, sizeof name, "%" PRIu64, id);
        if (dfd < 0 || unlinkat(dfd, name, 0) < 0)
                log_warning_errno(dfd < 0 ? dfd : errno, "%s: cannot clear the apply journal of %s: %m", s->name, name);
}

/* The staging name in journal entry name of dir_fd; "" if the entry is empty (the
 * daemon died before the apply began). */
static int journal_read(int dir_fd, const char *name, char ret[static LAYER_STAGING_NAME_SIZE]) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, ret, LAYER_STAGING_NAME_SIZE);
        if (n < 0)
                return -errno;
        if (n == LAYER_STAGING_NAME_SIZE)
                return -EBADMSG;
        ret[n] = 0;
        return 0;
}

/* Removes the staging directory named in journal entry de_name of dir_fd from the
 * snapshot's data, if the snapshot still has data. */
static void recover_one(CoreSnapshotter *s, int dir_fd, const char *de_name) {
        _cleanup_close_ int fd = -EBADF;
        char staging[LAYER_STAGING_NAME_SIZE];
        uint64_t id;
        char *end;
        int r;

        errno = 0;
        id = strtoull(de_name, &end, 10);
        if (errno != 0 || *end != 0 || end == de_name) {
                log_warning("%s: ignoring %s/%s, not a snapshot ID", s->name, APPLY_JOURNAL, de_name);
                return;
        }
        r = journal_read(dir_fd, de_name, staging);
        if (r < 0) {
                log_warning_errno(r, "%s: cannot read the apply journal of snapshot %" PRIu64 ": %m", s->name, id);
                return;
        }
        /* A snapshot removed since has no data left to clean. */
        if (staging[0] == 0 || s->backend->vtable->open_data(s->backend, id, &fd, NULL) < 0)
                return;
        r = layer_remove_staging(fd, staging);
        if (r < 0)
                log_warning_errno(r, "%s: cannot remove %s that an interrupted apply left in snapshot %" PRIu64 ": %m",
                                  s->name, staging, id);
        else if (r > 0)
                log_info("%s: removed %s that an interrupted apply left in snapshot %" PRIu64, s->name, staging, id);
}

int core_apply_recover(CoreSnapshotter *s) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_close_ int dfd = journal_open(s);
        struct dirent *de;
        int r;

        if (dfd < 0)
                return log_error_errno(dfd, "%s: cannot open the apply journal: %m", s->name);
        r = dir_open_fd(dfd, &d);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read the apply journal: %m", s->name);
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                recover_one(s, dirfd(d), de->d_name);
                (void) unlinkat(dirfd(d), de->d_name, 0);
        }
        return 0;
}

static int apply_locked(CoreSnapshotter *s, const char *key, const Snapshot *snap, int layer_fd,
                        const LayerApplyOptions *lo, CoreApplyResult *ret, Error *e) {
        _cleanup_close_ int target_fd = -EBADF;
        char staging[LAYER_STAGING_NAME_SIZE];
        LayerApplyOptions o = *lo;
        LayerApplyResult res;
        int *lowers = NULL, r;

        r = layer_staging_name_pick(staging);
        if (r < 0)
                return error_set_errno(e, r, "cannot pick a staging directory name");
        o.staging_name = staging;

        r = s->backend->vtable->open_data(s->backend, snap->id, &target_fd, e);
        if (r < 0)
                return r;
        /* Only a layered snapshot holds its own changes alone; a full tree has its parents. */
        if (s->backend->vtable->layered) {
                r = open_lowers(s, snap, &lowers, e);
                if (r < 0)
                        return r;
                o.lower_fds = lowers;
                o.n_lower_fds = snap->n_parents;
        }

        r = journal_begin(s, snap->id, o.staging_name, e);
        if (r >= 0) {
                r = layer_apply(layer_fd, target_fd, &o, &res, e);
                journal_end(s, snap->id);
        }
        if (lowers)
                close_fds(lowers, snap->n_parents);
        if (r < 0)
                return log_debug_errno(r, "%s: apply to %s failed: %s", s->name, QUOTE(key), e ? e->message : "");

        memcpy(ret->diff_id, res.diff_id, sizeof ret->diff_id);
        ret->bytes = res.bytes;
        ret->entries = res.entries;
        log_debug("%s: applied %s (%" PRIu64 " bytes, %" PRIu64 " entries) to %s", s->name, ret->diff_id,
                  ret->bytes, ret->entries, QUOTE(key));
        return 0;
}

int core_apply(CoreSnapshotter *s, uid_t ns, const char *key, int layer_fd,
               const CoreApplyOptions *o, CoreApplyResult *ret, Error *e) {
        _cleanup_(apply_check_done) ApplyCheck a = { .s = s, .ns = ns, .key = key };
        LayerApplyOptions lo = {
                .overlay_whiteouts = s->backend->vtable->layered,
                .allow_devices = o->allow_devices,
                .expected_diff_id = o->expected_diff_id,
                .limits = s->core->apply_limits,
                .progress = o->progress,
                .userdata = o->userdata,
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
         * lock: a Mount that started before the mark is then either recorded or refused. */
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
                r = apply_locked(s, key, &a.snap, layer_fd, &lo, ret, e);
        core_busy_release(s, id);
        return r;
}
