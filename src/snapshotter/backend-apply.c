/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "backend-apply.h"
#include "copy.h"
#include "fs-quota.h"
#include "fs-util.h"
#include "log.h"
#include "tree-util.h"

int backend_exchange_data(Backend *b, uint64_t id, int dir_fd, const char *name, Error *e) {
        _cleanup_close_ int parent = -EBADF, fd = -EBADF;
        char data[32];
        int r;

        r = b->vtable->open_data_parent(b, id, &parent, data, e);
        if (r < 0)
                return r;
        /* The clone's content reaches the disk before the name that makes it the data. */
        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || syncfs(fd) < 0)
                return error_set_errno(e, errno, "cannot write the new data of %s/%" PRIu64 " to disk",
                                       b->snapshots_path, id);
        if (renameat2(dir_fd, name, parent, data, RENAME_EXCHANGE) < 0)
                return error_set_errno(e, errno, "cannot move the new data of %s/%" PRIu64 " into place",
                                       b->snapshots_path, id);
        /* Done: the data is the new tree now, so this call succeeds whatever follows. Both
         * directories changed; only a power loss could still undo the exchange, whole. */
        if (fsync(parent) < 0 || fsync(dir_fd) < 0)
                log_debug_errno(errno, "cannot write the exchange of %s/%" PRIu64 " to disk: %m",
                                b->snapshots_path, id);
        return 0;
}

/* A data directory with a project ID (project quotas, core-quota.c) gives it to its clone
 * before anything is copied: what the copy makes inherits it, and the exchange, which the
 * filesystem refuses (EXDEV) into a directory of another project, works. */
static int clone_project(int src, int dst) {
        uint32_t projid;
        bool inherit;

        if (fsquota_get_project(src, &projid, &inherit) < 0 || projid == 0)
                return 0; /* no project (or no such ioctl): nothing to keep */
        return fsquota_set_project(dst, projid);
}

int backend_clone_copy(Backend *b, uint64_t id, int dir_fd, const char *prefix, BackendCharge *charge,
                       char **ret_name, Error *e) {
        _cleanup_close_ int src = -EBADF, dst = -EBADF;
        _cleanup_free_ char *name = NULL;
        int r;

        r = b->vtable->open_data(b, id, &src, e);
        if (r < 0)
                return r;
        r = fs_mkdtemp_at(dir_fd, prefix, 0700, &name);
        if (r < 0)
                return error_set_errno(e, r, "cannot make a directory for the new data of %s/%" PRIu64,
                                       b->snapshots_path, id);
        dst = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = dst < 0 ? -errno : clone_project(src, dst);
        if (r >= 0)
                r = copy_tree(src, dst);
        if (r < 0) {
                (void) rm_rf_at(dir_fd, name, NULL);
                return error_set_errno(e, r, "cannot copy %s/%" PRIu64 " for the layer", b->snapshots_path, id);
        }
        *ret_name = TAKE_PTR(name);
        return 0;
}

int backend_open_data_parent_id(Backend *b, uint64_t id, int *ret_fd, char ret_name[static 32], Error *e) {
        int fd = fcntl(b->snapshots_fd, F_DUPFD_CLOEXEC, 3);

        if (fd < 0)
                return error_set_errno(e, errno, "cannot open %s", b->snapshots_path);
        snprintf(ret_name, 32, "%" PRIu64, id);
        *ret_fd = fd;
        return 0;
}

int backend_remove_clone_tree(int dir_fd, const char *name) {
        return rm_rf_at(dir_fd, name, NULL);
}
