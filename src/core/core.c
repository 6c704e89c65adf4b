/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "core-apply-place.h"
#include "core-internal.h"
#include "log.h"
#include "strutil.h"

#define KEY_MAX 4096u

static const BackendVTable *const backend_tables[] = {
        &backend_overlayfs, &backend_native, &backend_btrfs,
};

static int mkdir_p_mode(const char *path, mode_t mode) {
        _cleanup_free_ char *copy = strdup(path);

        if (!copy)
                return -ENOMEM;
        for (char *p = copy + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(copy, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int read_boot_id(char ret[static 33]) {
        _cleanup_close_ int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
        char buf[64];
        ssize_t n;
        size_t j = 0;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof buf - 1);
        if (n < 0)
                return -errno;
        for (ssize_t i = 0; i < n && j < 32; i++)
                if (buf[i] != '-' && buf[i] != '\n')
                        ret[j++] = buf[i];
        ret[j] = 0;
        return j == 32 ? 0 : -EIO;
}

static CoreSnapshotter *core_snapshotter_free(CoreSnapshotter *s) {
        if (!s)
                return NULL;
        core_reclaim_stop(s);
        backend_free(s->backend);
        store_free(s->store);
        mount_sb_watch_free(s->sb_watch);
        apply_place_free(s->placement);
        pthread_mutex_destroy(&s->lock);
        free(s->busy_ids);
        strv_free(s->building);
        free(s);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(CoreSnapshotter *, core_snapshotter_free);

static int core_snapshotter_open(Core *c, const BackendVTable *vt, const CoreOptions *opts,
                                 CoreSnapshotter **ret) {
        _cleanup_(core_snapshotter_freep) CoreSnapshotter *s = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *path = NULL;
        StoreOptions so = { .initial_map_size = opts->initial_map_size };
        int r;

        s = calloc(1, sizeof *s);
        path = strdup_printf("%s/%s", c->state_dir, vt->name);
        if (!s || !path)
                return -ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        s->core = c;
        s->name = vt->name;
        r = mount_sb_watch_new(&s->sb_watch);
        if (r < 0)
                return log_error_errno(r, "%s: cannot watch the filesystems of overlays: %m", vt->name);

        if (mkdirat(c->state_fd, vt->name, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "%s: cannot create %s: %m", vt->name, path);
        fd = openat(c->state_fd, vt->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "%s: cannot open %s: %m", vt->name, path);
        if (fchmod(fd, 0700) < 0)
                return log_error_errno(errno, "%s: cannot set the mode of %s: %m", vt->name, path);

        r = store_open(path, &so, &s->store);
        if (r < 0)
                return log_error_errno(r, "%s: cannot open the metadata in %s: %m", vt->name, path);
        r = backend_open(vt, fd, path, &s->backend);
        if (r < 0)
                return log_error_errno(r, "%s: cannot set up %s: %m", vt->name, path);
        s->backend->cancel = &s->stopping;
        core_quota_probe(s);
        r = core_reclaim_start(s);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

int core_new(const CoreOptions *opts, Core **ret) {
        _cleanup_(core_freep) Core *c = NULL;
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->state_fd = -EBADF;
        c->state_dir = strdup(opts->state_dir ?: LAMINA_STATE_DIR);
        c->runtime_dir = strdup(opts->runtime_dir ?: LAMINA_RUNTIME_DIR);
        c->apply_limits = (LayerLimits) {
                .max_entries = opts->apply_max_entries,
                .max_bytes = opts->apply_max_bytes,
                .max_name_len = opts->apply_max_name_len,
                .max_memory = opts->apply_max_memory,
                .max_cpu_sec = opts->apply_max_cpu_sec,
                .max_wall_sec = opts->apply_max_wall_sec,
        };
        if (!c->state_dir || !c->runtime_dir)
                return -ENOMEM;

        r = read_boot_id(c->boot_id);
        if (r < 0)
                return log_error_errno(r, "cannot read the boot ID: %m");
        r = mkdir_p_mode(c->state_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "cannot create the state directory %s: %m", c->state_dir);
        c->state_fd = open(c->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (c->state_fd < 0)
                return log_error_errno(errno, "cannot open the state directory %s: %m", c->state_dir);

        r = core_quota_init(c, opts->quota);
        if (r < 0)
                return r;

        for (size_t i = 0; i < ELEMENTSOF(backend_tables); i++) {
                const BackendVTable *vt = backend_tables[i];

                if (vt->available && vt->available(c->state_fd) <= 0) {
                        log_debug("%s: not available on the filesystem of %s", vt->name, c->state_dir);
                        continue;
                }
                r = core_snapshotter_open(c, vt, opts, &c->snapshotters[c->n_snapshotters]);
                if (r < 0)
                        return r;
                (void) core_apply_recover(c->snapshotters[c->n_snapshotters]);
                c->n_snapshotters++;
        }
        for (size_t i = 0; i < c->n_snapshotters; i++)
                core_quota_start_pass(c->snapshotters[i]);

        *ret = TAKE_PTR(c);
        return 0;
}

Core *core_free(Core *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_snapshotters; i++)
                core_quota_stop_pass(c->snapshotters[i]);
        for (size_t i = 0; i < c->n_snapshotters; i++)
                core_snapshotter_free(c->snapshotters[i]);
        safe_close(c->state_fd);
        core_quota_done(c);
        free(c->state_dir);
        free(c->runtime_dir);
        free(c);
        return NULL;
}

bool core_derived_missing(Core *c) {
        for (size_t i = 0; i < c->n_snapshotters; i++)
                if (store_derived_missing(c->snapshotters[i]->store))
                        return true;
        return false;
}

size_t core_n_snapshotters(Core *c) {
        return c->n_snapshotters;
}

CoreSnapshotter *core_snapshotter_by_index(Core *c, size_t i) {
        return i < c->n_snapshotters ? c->snapshotters[i] : NULL;
}

CoreSnapshotter *core_snapshotter_by_name(Core *c, const char *name) {
        for (size_t i = 0; i < c->n_snapshotters; i++)
                if (streq(c->snapshotters[i]->name, name))
                        return c->snapshotters[i];
        return NULL;
}

const char *core_snapshotter_name(CoreSnapshotter *s) {
        return s->name;
}

const char *core_state_dir(Core *c) {
        return c->state_dir;
}

int core_validate_key(const char *what, const char *key, Error *e) {
        size_t n = key ? strlen(key) : 0;

        if (n == 0)
                return error_setf(e, EINVAL, "the %s must not be empty", what);
        if (n > KEY_MAX)
                return error_setf(e, EINVAL, "the %s %s is %zu bytes long; the limit is %u bytes",
                                  what, QUOTE(key), n, KEY_MAX);
        if (!utf8_is_printable(key))
                return error_setf(e, EINVAL, "the %s %s must be UTF-8 without control characters",
                                  what, QUOTE(key));
        return 0;
}

int core_data_error(Error *e, int r, const char *key) {
        int code = e && e->code ? e->code : -r;

        if (code != ENOSPC && code != EDQUOT && code != ENOENT && code != EACCES && code != EPERM)
                return r;
        if (e) {
                log_debug("snapshot %s: %s", QUOTE(key), e->message);
                *e = ERROR_NULL;
        }
        switch (code) {
        case ENOSPC:
        case EDQUOT:
                return error_setf(e, code, "snapshot %s: no space left for its data: %s; free space and try again",
                                  QUOTE(key),
                                  code == ENOSPC ? "the filesystem holding the snapshots is full"
                                                 : "the disk quota on the filesystem holding the snapshots is exhausted");
        case ENOENT:
                return error_setf(e, EWRONGKIND, "snapshot %s: its data is missing on disk; remove the snapshot and create it again",
                                  QUOTE(key));
        default:
                return error_setf(e, EWRONGKIND,
                                  "snapshot %s: the filesystem refuses access to its data (%s: an immutable file?); ask the administrator to check it",
                                  QUOTE(key), strerror(code));
        }
}

int core_read_begin(CoreSnapshotter *s, StoreTxn **ret, Error *e) {
        int r = store_read_begin(s->store, ret);

        if (r < 0)
                return error_set_errno(e, r, "cannot read the metadata of %s", s->name);
        return 0;
}

int core_busy_acquire(CoreSnapshotter *s, uint64_t id, const char *key, Error *e) {
        int r = 0;

        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n_busy; i++)
                if (s->busy_ids[i] == id) {
                        r = error_setf(e, EBUSY, "snapshot %s is busy with another operation; try again when it is done",
                                       QUOTE(key));
                        break;
                }
        if (r == 0) {
                uint64_t *ids = realloc(s->busy_ids, (s->n_busy + 1) * sizeof(uint64_t));
                if (ids) {
                        s->busy_ids = ids;
                        s->busy_ids[s->n_busy++] = id;
                } else
                        r = error_set_errno(e, ENOMEM, "snapshot %s", QUOTE(key));
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

void core_busy_release(CoreSnapshotter *s, uint64_t id) {
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n_busy; i++)
                if (s->busy_ids[i] == id) {
                        s->busy_ids[i] = s->busy_ids[--s->n_busy];
                        break;
                }
        pthread_mutex_unlock(&s->lock);
}

bool core_is_busy(CoreSnapshotter *s, uint64_t id) {
        bool busy = false;

        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n_busy && !busy; i++)
                busy = s->busy_ids[i] == id;
        pthread_mutex_unlock(&s->lock);
        return busy;
}

int core_not_own(StoreTxn *t, uid_t ns, const char *key, int r, Error *e) {
        _cleanup_(snapshot_info_clear) SnapshotInfo root = {};

        if (r != -ENOENT || ns == 0 || store_get_info(t, 0, key, &root, NULL) < 0 || root.kind != SNAPSHOT_COMMITTED)
                return r;
        /* The caller sees it (List, Stat), so "does not exist" would be a riddle. */
        if (e)
                *e = ERROR_NULL;
        return error_setf(e, ENOENT, "snapshot %s belongs to root (its committed snapshots are shared with every user); "
                          "only root can change or remove it", QUOTE(key));
}

int core_lookup_own(StoreTxn *t, uid_t ns, const char *key, SnapshotInfo *ret, Error *e) {
        return core_not_own(t, ns, key, store_get_info(t, ns, key, ret, e), e);
}

int core_read_own(CoreSnapshotter *s, uid_t ns, const char *key, StoreTxn **ret_txn, SnapshotInfo *ret, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        int r;

        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        r = core_lookup_own(t, ns, key, ret, e);
        if (r < 0)
                return r;
        *ret_txn = TAKE_PTR(t);
        return 0;
}

int core_lookup_visible(StoreTxn *t, uid_t ns, const char *key, SnapshotInfo *ret, Error *e) {
        Error own = ERROR_NULL;
        int r;

        r = store_get_info(t, ns, key, ret, &own);
        if (r != -ENOENT || ns == 0) {
                if (r < 0 && e)
                        *e = own;
                return r;
        }
        r = store_get_info(t, 0, key, ret, NULL);
        if (r >= 0 && ret->kind == SNAPSHOT_COMMITTED)
                return 0;
        if (r >= 0)
                snapshot_info_clear(ret);
        if (e)
                *e = own;
        return -ENOENT;
}
