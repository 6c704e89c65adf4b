/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "fs-util.h"
#include "strutil.h"
#include "tree-util.h"

int backend_open(const BackendVTable *vt, int state_fd, const char *state_path, Backend **ret) {
        _cleanup_(backend_freep) Backend *b = NULL;
        int r;

        b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        b->vtable = vt;
        b->state_fd = b->snapshots_fd = -EBADF;
        b->snapshots_path = strdup_printf("%s/snapshots", state_path);
        if (!b->snapshots_path)
                return -ENOMEM;
        b->state_fd = fcntl(state_fd, F_DUPFD_CLOEXEC, 3);
        if (b->state_fd < 0)
                return -errno;
        r = fs_mkdir_mode_at(b->state_fd, "snapshots", 0700);
        if (r < 0 && r != -EEXIST)
                return r;
        b->snapshots_fd = openat(b->state_fd, "snapshots", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (b->snapshots_fd < 0)
                return -errno;
        if (vt->init) {
                r = vt->init(b);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(b);
        return 0;
}

Backend *backend_free(Backend *b) {
        if (!b)
                return NULL;
        if (b->vtable->done)
                b->vtable->done(b);
        safe_close(b->snapshots_fd);
        safe_close(b->state_fd);
        free(b->snapshots_path);
        free(b);
        return NULL;
}

int backend_usage_walk(Backend *b, uint64_t id, const TreeWalkBudget *budget, uint64_t *ret_size,
                       uint64_t *ret_inodes, Error *e) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = b->vtable->open_data(b, id, &fd, e);
        if (r < 0)
                return r;
        r = tree_disk_usage(fd, budget, ret_size, ret_inodes);
        if (r == -E2BIG)
                return error_setf(e, E2BIG, "the data of %s/%" PRIu64 " is more than the walk's budget",
                                  b->snapshots_path, id);
        if (r < 0)
                return error_set_errno(e, r, "cannot compute the usage of %s/%" PRIu64, b->snapshots_path, id);
        return 0;
}

int backend_prepare_in_temp(Backend *b, backend_build_fn build, SnapshotKind kind, const uint64_t *parents,
                            size_t n_parents, char **ret_tmpname, Error *e) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int tmpfd = -EBADF;
        int r;

        r = fs_mkdtemp_at(b->snapshots_fd, "new-", 0700, &tmp);
        if (r < 0)
                return error_set_errno(e, r, "cannot create a directory in %s", b->snapshots_path);
        tmpfd = openat(b->snapshots_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = tmpfd < 0 ? -errno : build(b, tmpfd, kind, parents, n_parents);
        if (r < 0) {
                (void) rm_rf_at(b->snapshots_fd, tmp, NULL);
                if (n_parents > 0)
                        return error_set_errno(e, r, "cannot build a new snapshot on %s/%" PRIu64,
                                               b->snapshots_path, parents[0]);
                return error_set_errno(e, r, "cannot build a new snapshot in %s", b->snapshots_path);
        }
        *ret_tmpname = TAKE_PTR(tmp);
        return 0;
}

int backend_remove_tree(Backend *b, const char *name, uint64_t *reclaimed, Error *e) {
        int r = rm_rf_at_until(b->snapshots_fd, name, reclaimed, b->cancel);

        if (r == -ECANCELED)
                return error_setf(e, ECANCELED, "removal of %s/%s given up: laminad is stopping",
                                  b->snapshots_path, name);
        if (r == -EXDEV)
                return error_setf(e, EXDEV, "cannot remove %s/%s: a mount or another filesystem is inside it",
                                  b->snapshots_path, name);
        if (r < 0)
                return error_set_errno(e, r, "cannot remove %s/%s", b->snapshots_path, name);
        return 0;
}
