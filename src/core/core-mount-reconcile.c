/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* At start, before serving anyone: the mount records against the kernel's mount table,
 * both ways. A record whose mount is in the table, or detached but still held, stays;
 * one whose mount is gone for good goes (with its directory), as far as the searches for
 * that fit in RECONCILE_SEARCH_USEC (the rest when next used). A mount below our own
 * mount directory that no record knows is unmounted: a record is always durable before
 * its mount exists, so only a laminad of before that could have left one. Empty mount
 * points left by kills go. A mount at a recorded caller target that is not the recorded
 * mount is someone else's and is left alone. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core-internal.h"
#include "dir-util.h"
#include "log.h"
#include "mount-api.h"
#include "strutil.h"

/* What the searches of start-up may take together (may_search()). */
#define RECONCILE_SEARCH_USEC (200u * 1000u)

typedef struct ReconcileArgs {
        CoreSnapshotter *s;
        uint64_t search_until_usec; /* CLOCK_MONOTONIC, see may_search() */
        MountRecord *stale, *adopted;
        size_t n_stale, n_adopted;
        uint64_t *live_ids;
        size_t n_live;
        char **live_targets;
} ReconcileArgs;

static void records_free(MountRecord *r, size_t n) {
        for (size_t i = 0; i < n; i++)
                mount_record_clear(&r[i]);
        free(r);
}

static void reconcile_args_done(ReconcileArgs *a) {
        records_free(a->stale, a->n_stale);
        records_free(a->adopted, a->n_adopted);
        free(a->live_ids);
        strv_free(a->live_targets);
        *a = (ReconcileArgs) { .s = a->s, .search_until_usec = a->search_until_usec };
}

static int records_push(MountRecord **list, size_t *n, const MountRecord *r) {
        MountRecord *grown = realloc(*list, (*n + 1) * sizeof *grown);
        char *target = strdup(r->target), *root = r->mnt_root ? strdup(r->mnt_root) : NULL;

        if (grown)
                *list = grown;
        if (!grown || !target || (r->mnt_root && !root)) {
                free(target);
                free(root);
                return -ENOMEM;
        }
        grown[*n] = *r;
        grown[*n].target = target;
        grown[(*n)++].mnt_root = root;
        return 0;
}

/* Whether the state of m may be found out now. For a mount of this boot that is no longer
 * in the mount table it takes a search for its holders (every open file of the machine)
 * and copies (other mount namespaces), up to seconds each on a busy machine, and laminad
 * serves no one until this is done: with many such records it would never serve (D-Bus
 * gives an activation 25 s). Past RECONCILE_SEARCH_USEC the rest are kept as they are, as
 * if still held, and found out when next used (core_check_not_mounted_pre(), Unmount),
 * at the cost of that call. */
static bool may_search(const ReconcileArgs *a, const MountRecord *m) {
        if (!streq(m->boot_id, a->s->core->boot_id) || m->legacy_mnt_id ||
            clock_usec(CLOCK_MONOTONIC) < a->search_until_usec)
                return true;
        return mount_find(m->mnt_id, NULL) != 0; /* in the table (or unknown): no search */
}

static int reconcile_one(const MountRecord *r, void *userdata) {
        ReconcileArgs *a = userdata;
        MountRecord m = *r;
        uint64_t *ids;
        int k;

        if (m.legacy_mnt_id && streq(m.boot_id, a->s->core->boot_id)) {
                k = mount_adopt_legacy(m.target, m.mnt_id, &m.mnt_id);
                if (k == 0)
                        return records_push(&a->stale, &a->n_stale, &m);
                if (k < 0) /* kept as it is: a passing failure must never lose a record */
                        log_warning_errno(k, "%s: cannot check the mount at %s: %m", a->s->name, QUOTE(m.target));
                else {
                        m.legacy_mnt_id = false;
                        if (records_push(&a->adopted, &a->n_adopted, &m) < 0)
                                return -ENOMEM;
                }
        }

        if (may_search(a, &m) && core_mount_record_state(a->s, &m, NULL, NULL) == MOUNT_RELEASED) {
                log_info("%s: the mount of snapshot %" PRIu64 " at %s is gone; dropping its record", a->s->name,
                         m.snapshot_id, QUOTE(m.target));
                return records_push(&a->stale, &a->n_stale, &m);
        }
        ids = realloc(a->live_ids, (a->n_live + 1) * sizeof *ids);
        if (!ids)
                return -ENOMEM;
        a->live_ids = ids;
        ids[a->n_live++] = m.mnt_id;
        return strv_extend(&a->live_targets, m.target);
}

static int reconcile_in_txn(StoreTxn *t, void *userdata, Error *e) {
        ReconcileArgs *a = userdata;
        int r;

        reconcile_args_done(a);
        r = store_mount_walk(t, reconcile_one, a);
        if (r < 0)
                return error_set_errno(e, r, "cannot walk the mount records");
        for (size_t i = 0; i < a->n_stale; i++) {
                r = core_mount_record_forget(a->s, t, &a->stale[i]);
                if (r < 0)
                        return error_set_errno(e, r, "cannot delete a mount record");
        }
        for (size_t i = 0; i < a->n_adopted; i++) {
                r = store_mount_put(t, &a->adopted[i]);
                if (r < 0)
                        return error_set_errno(e, r, "cannot update a mount record");
        }
        return 0;
}

static bool is_live_target(const ReconcileArgs *a, const char *path) {
        for (char **t = a->live_targets; t && *t; t++)
                if (streq(*t, path))
                        return true;
        return false;
}

static bool is_live(const ReconcileArgs *a, uint64_t mnt_id) {
        for (size_t i = 0; i < a->n_live; i++)
                if (a->live_ids[i] == mnt_id)
                        return true;
        return false;
}

/* Mounts below dir that no record knows: detached at once (gone at once when nothing uses
 * them; a plain umount would end the same way, after waiting about a second for whatever
 * uses one, before serving starts). */
static void unmount_unknown(const ReconcileArgs *a, const char *dir) {
        _cleanup_free_ uint64_t *ids = NULL;
        size_t n = 0;
        int r;

        r = mount_list_below(dir, &ids, &n);
        if (r < 0) {
                log_warning_errno(r, "%s: cannot list the mounts below %s: %m", a->s->name, dir);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                Error e = ERROR_NULL;

                if (is_live(a, ids[i]))
                        continue;
                r = mount_unmount(ids[i], true, NULL, 0, &e);
                if (r < 0 && r != -ENOENT)
                        log_warning("%s: cannot unmount the unknown mount %" PRIu64 ": %s", a->s->name, ids[i], e.message);
                else
                        log_warning("%s: unmounted mount %" PRIu64 " below %s: no record knew it", a->s->name, ids[i], dir);
        }
}

/* A user may fill its own directory with entries: the start-up sweep looks at this many
 * per directory at most, so that it never delays serving. */
#define SWEEP_MAX_ENTRIES 1024

/* Removes the empty directories in dirfd (the mount points of kills) but the live ones. */
static void remove_empty_dirs(const ReconcileArgs *a, int dirfd, const char *path, unsigned depth) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        unsigned seen = 0;

        if (dir_open_fd(dirfd, &d) < 0)
                return;
        while ((de = readdir(d)) && seen++ < SWEEP_MAX_ENTRIES) {
                _cleanup_free_ char *p = NULL;

                if (de->d_name[0] == '.')
                        continue;
                p = strdup_printf("%s/%s", path, de->d_name);
                if (!p || is_live_target(a, p))
                        continue;
                if (depth > 0) {
                        _cleanup_close_ int fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd >= 0)
                                remove_empty_dirs(a, fd, p, depth - 1);
                }
                (void) unlinkat(dirfd, de->d_name, AT_REMOVEDIR); /* fails unless empty and unmounted */
        }
}

static int reconcile_snapshotter(CoreSnapshotter *s, uint64_t search_until_usec) {
        _cleanup_(reconcile_args_done) ReconcileArgs a = { .s = s, .search_until_usec = search_until_usec };
        _cleanup_free_ char *dir = strdup_printf("%s/mounts/%s", s->core->runtime_dir, s->name);
        _cleanup_close_ int fd = -EBADF;
        Error e = ERROR_NULL;
        int r;

        if (!dir)
                return -ENOMEM;
        r = store_write_freeing(s->store, reconcile_in_txn, &a, &e);
        if (r < 0) {
                log_error("%s: cannot reconcile the mount records: %s", s->name, e.message);
                return r;
        }
        unmount_unknown(&a, dir);
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
                remove_empty_dirs(&a, fd, dir, 1); /* <uid>/<name> */
        return 0;
}

int core_reconcile_mounts(Core *c) {
        uint64_t search_until_usec = clock_usec(CLOCK_MONOTONIC) + RECONCILE_SEARCH_USEC;
        int r = 0;

        assert(c);

        for (size_t i = 0; i < c->n_snapshotters; i++) {
                int k = reconcile_snapshotter(c->snapshotters[i], search_until_usec);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}
