/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mount table by unique mount ID: statmount(2) and listmount(2) (Linux 6.8), which
 * glibc 2.36 does not wrap and Debian 12's headers do not declare. Paths are never an
 * identity here: a mount is found by its ID and its current mount point is asked from
 * the kernel each time, so renaming a target's parents cannot misdirect an unmount. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "mount-api.h"
#include "mount-util.h"

#define NR_statmount 457 /* the same on every architecture but alpha and mips */
#define NR_listmount 458
#define STATMOUNT_MNT_POINT 0x00000010U
#define LSMT_ROOT UINT64_MAX
#define MNT_ID_REQ_SIZE_VER0 24
#define LISTMOUNT_BATCH 512

struct mnt_id_req {
        uint32_t size;
        uint32_t spare;
        uint64_t mnt_id;
        uint64_t param;
};

/* The head of struct statmount as of Linux 6.8; strings follow in str[]. */
struct statmount_head {
        uint32_t size;
        uint32_t mnt_opts;
        uint64_t mask;
        uint32_t sb_dev_major, sb_dev_minor;
        uint64_t sb_magic;
        uint32_t sb_flags;
        uint32_t fs_type;
        uint64_t mnt_id, mnt_parent_id;
        uint32_t mnt_id_old, mnt_parent_id_old;
        uint64_t mnt_attr, mnt_propagation, mnt_peer_group, mnt_master, propagate_from;
        uint32_t mnt_root;
        uint32_t mnt_point;
        uint64_t spare2[50];
        char str[];
};

/* The mount point of mnt_id: 1 and the path, 0 when it is not in this namespace. */
int mount_find(uint64_t mnt_id, char **ret_mount_point) {
        struct mnt_id_req req = {
                .size = MNT_ID_REQ_SIZE_VER0,
                .mnt_id = mnt_id,
                .param = STATMOUNT_MNT_POINT,
        };
        size_t size = sizeof(struct statmount_head) + 2 * PATH_MAX;
        _cleanup_free_ struct statmount_head *sm = malloc(size);

        if (!sm)
                return -ENOMEM;
        if (syscall(NR_statmount, &req, sm, size, 0) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!(sm->mask & STATMOUNT_MNT_POINT) || sm->mnt_point >= size - sizeof *sm)
                return -EIO;
        if (ret_mount_point) {
                char *p = strndup(sm->str + sm->mnt_point, size - sizeof *sm - sm->mnt_point);
                if (!p)
                        return -ENOMEM;
                *ret_mount_point = p;
        }
        return 1;
}

int mount_unmount(uint64_t mnt_id, bool detach, Error *e) {
        _cleanup_free_ char *point = NULL;
        _cleanup_close_ int parent_fd = -EBADF;
        char path[PROC_FD_PATH_MAX + NAME_MAX + 1];
        uint64_t id;
        char *slash;
        int r;

        r = mount_find(mnt_id, &point);
        if (r < 0)
                return error_set_errno(e, r, "looking up mount %" PRIu64, mnt_id);
        if (r == 0)
                return error_setf(e, ENOENT, "mount %" PRIu64 " is not mounted any more", mnt_id);

        slash = strrchr(point, '/');
        if (!slash || !slash[1] || strlen(slash + 1) > NAME_MAX)
                return error_setf(e, EINVAL, "mount %" PRIu64 " is at %s, which laminad does not unmount",
                                  mnt_id, QUOTE(point));
        *slash = 0;
        parent_fd = mount_openat_no_symlinks(AT_FDCWD, point[0] ? point : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (parent_fd < 0)
                return error_set_errno(e, parent_fd, "opening %s, where mount %" PRIu64 " is", QUOTE(point), mnt_id);

        /* A mount point cannot be renamed or removed while it is one, and parent_fd pins
         * its parent: the name below it is ours from this check until the umount. Only a
         * mount on top (root's doing) could change what it resolves to. */
        {
                _cleanup_close_ int fd = mount_openat_no_symlinks(parent_fd, slash + 1, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return error_set_errno(e, fd, "opening mount %" PRIu64 " at %s/%s", mnt_id, point, slash + 1);
                r = mount_id_of_fd(fd, &id);
                if (r < 0)
                        return error_set_errno(e, r, "reading the mount ID at %s/%s", point, slash + 1);
        }
        if (id != mnt_id)
                return error_setf(e, EBUSY, "mount %" PRIu64 " at %s/%s is covered by another mount; unmount that first",
                                  mnt_id, point, slash + 1);

        /* Not through an fd of the mount itself: it would count as a user, and a plain
         * umount would always be EBUSY. */
        snprintf(path, sizeof path, "/proc/self/fd/%d/%s", parent_fd, slash + 1);
        if (umount2(path, UMOUNT_NOFOLLOW | (detach ? MNT_DETACH : 0)) < 0) {
                if (errno == EBUSY)
                        return error_setf(e, EBUSY, "mount %" PRIu64 " at %s/%s is in use", mnt_id, point, slash + 1);
                return error_set_errno(e, errno, "unmounting %s/%s", point, slash + 1);
        }
        log_debug("%s mount %" PRIu64 " at %s/%s", detach ? "detached" : "unmounted", mnt_id, point, slash + 1);
        return 0;
}

static bool path_is_below(const char *path, const char *dir) {
        size_t n = strlen(dir);

        while (n > 1 && dir[n - 1] == '/')
                n--;
        return strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1];
}

int mount_list_below(const char *dir, uint64_t **ret_ids, size_t *ret_n) {
        _cleanup_free_ uint64_t *all = NULL, *found = NULL;
        size_t n_all = 0, n_found = 0;

        assert(dir);
        assert(ret_ids);
        assert(ret_n);

        for (uint64_t last = 0;;) {
                struct mnt_id_req req = { .size = MNT_ID_REQ_SIZE_VER0, .mnt_id = LSMT_ROOT, .param = last };
                uint64_t *grown = realloc(all, (n_all + LISTMOUNT_BATCH) * sizeof *all);
                long k;

                if (!grown)
                        return -ENOMEM;
                all = grown;
                k = syscall(NR_listmount, &req, all + n_all, (size_t) LISTMOUNT_BATCH, 0);
                if (k < 0)
                        return -errno;
                n_all += (size_t) k;
                if (k < LISTMOUNT_BATCH)
                        break;
                last = all[n_all - 1];
        }

        found = calloc(n_all ?: 1, sizeof *found);
        if (!found)
                return -ENOMEM;
        for (size_t i = 0; i < n_all; i++) {
                _cleanup_free_ char *point = NULL;
                int r = mount_find(all[i], &point);
                if (r < 0)
                        return r;
                if (r > 0 && path_is_below(point, dir))
                        found[n_found++] = all[i];
        }
        *ret_ids = TAKE_PTR(found);
        *ret_n = n_found;
        return 0;
}

int mount_adopt_legacy(const char *path, uint64_t old_id, uint64_t *ret) {
        _cleanup_close_ int fd = -EBADF;
        struct statx sx = {};

        assert(path);
        assert(ret);

        fd = mount_openat_no_symlinks(AT_FDCWD, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP ? 0 : fd;
        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) < 0)
                return -errno;
        if (!(sx.stx_mask & STATX_MNT_ID) || sx.stx_mnt_id != old_id)
                return 0;
        return mount_id_of_fd(fd, ret) < 0 ? -EIO : 1;
}
