/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mount table by unique mount ID: statmount(2) and listmount(2) (Linux 6.8), which
 * glibc 2.36 does not wrap and Debian 12's headers do not declare. Paths are never an
 * identity here: a mount is found by its ID and its current mount point is asked from
 * the kernel each time, so renaming a target's parents cannot misdirect an unmount.
 * Where the two cannot be used (a seccomp filter that does not know them, like systemd
 * 252's SystemCallFilter=@mount, answers EPERM; ENOSYS before Linux 6.8), which the first
 * use finds out once, the same answers come from mountinfo (mount-info.c), still by
 * unique ID; copies in other mount namespaces are then looked for in their processes'
 * mountinfo, as they are when the kernel cannot list a namespace by ID (before 6.11). */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "dir-util.h"
#include "log.h"
#include "mount-api.h"
#include "mount-util.h"
#include "strutil.h"

#define NR_statmount 457 /* the same on every architecture but alpha and mips */
#define NR_listmount 458
#define STATMOUNT_MNT_POINT 0x00000010U
#define LSMT_ROOT UINT64_MAX
#define MNT_ID_REQ_SIZE_VER1 32 /* with mnt_ns_id: Linux 6.11 */
#define LISTMOUNT_BATCH 512

struct mnt_id_req {
        uint32_t size;
        uint32_t spare;
        uint64_t mnt_id;
        uint64_t param;
        uint64_t mnt_ns_id; /* 0: ours */
};


/* statmount(2) of mnt_id in the mount namespace ns_id (0: ours) into sm (STATMOUNT_SIZE
 * bytes): 1, or 0 when there is no such mount. */
int stat_mount(uint64_t ns_id, uint64_t mnt_id, uint64_t mask, struct statmount_head *sm) {
        struct mnt_id_req req = {
                .size = MNT_ID_REQ_SIZE_VER1,
                .mnt_id = mnt_id,
                .param = mask,
                .mnt_ns_id = ns_id,
        };

        if (syscall(NR_statmount, &req, sm, STATMOUNT_SIZE, 0) < 0)
                return errno == ENOENT ? 0 : -errno;
        return (sm->mask & mask) == mask ? 1 : -EIO;
}

/* A string of sm, or NULL when its offset is out of bounds. */
const char *statmount_str(const struct statmount_head *sm, uint32_t offset) {
        size_t room = STATMOUNT_SIZE - sizeof *sm;

        return offset < room && memchr(sm->str + offset, 0, room - offset) ? sm->str + offset : NULL;
}

/* Every mount of the mount namespace ns_id (0: ours); E2BIG when it has more than max. */
int list_mounts(uint64_t ns_id, size_t max, uint64_t **ret, size_t *ret_n) {
        _cleanup_free_ uint64_t *all = NULL;
        size_t n = 0;

        for (uint64_t last = 0;;) {
                struct mnt_id_req req = {
                        .size = MNT_ID_REQ_SIZE_VER1,
                        .mnt_id = LSMT_ROOT,
                        .param = last,
                        .mnt_ns_id = ns_id,
                };
                uint64_t *grown = realloc(all, (n + LISTMOUNT_BATCH) * sizeof *all);
                long k;

                if (!grown)
                        return -ENOMEM;
                all = grown;
                k = syscall(NR_listmount, &req, all + n, (size_t) LISTMOUNT_BATCH, 0);
                if (k < 0)
                        return -errno;
                n += (size_t) k;
                if (n > max)
                        return -E2BIG;
                if (k < LISTMOUNT_BATCH)
                        break;
                last = all[n - 1];
        }
        *ret = TAKE_PTR(all);
        *ret_n = n;
        return 0;
}

/* Whether statmount(2) and listmount(2) work here, found out by the first call. */
bool statmount_usable(void) {
        static int usable = -1;
        _cleanup_free_ struct statmount_head *sm = NULL;
        struct mnt_id_req req = {
                .size = MNT_ID_REQ_SIZE_VER1,
                .mnt_id = LSMT_ROOT,
        };
        uint64_t root_id, first;
        int r;

        if (usable >= 0)
                return usable;
        sm = malloc(STATMOUNT_SIZE);
        if (!sm)
                return false; /* not remembered: only this call falls back */
        r = mount_id_of_path(AT_FDCWD, "/", &root_id);
        if (r >= 0)
                r = stat_mount(0, root_id, STATMOUNT_MNT_POINT, sm);
        if (r > 0 && syscall(NR_listmount, &req, &first, (size_t) 1, 0) < 0)
                r = -errno;
        usable = r > 0;
        if (!usable)
                log_debug_errno(r, "statmount/listmount unusable (%m): reading the mount table from mountinfo");
        return usable;
}

/* The entry of mnt_id in mountinfo: 1 and it (its strings taken), 0 when not found. */
static int info_find(uint64_t mnt_id, char **ret_point, dev_t *ret_dev, char **ret_root) {
        MountInfo *all = NULL;
        size_t n = 0;
        int r;

        r = mount_info_read_self(&all, &n);
        if (r < 0)
                return r;
        r = 0;
        for (size_t i = 0; i < n; i++) {
                if (all[i].id != mnt_id)
                        continue;
                if (ret_point)
                        *ret_point = TAKE_PTR(all[i].point);
                if (ret_dev)
                        *ret_dev = all[i].dev;
                if (ret_root)
                        *ret_root = TAKE_PTR(all[i].root);
                r = 1;
                break;
        }
        mount_info_free(all, n);
        return r;
}

int mount_fs_magic_of_fd(int fd, uint64_t *ret) {
        _cleanup_free_ struct statmount_head *sm = NULL;
        uint64_t mnt_id;
        int r;

        r = mount_id_of_fd(fd, &mnt_id); /* statx AT_STATX_DONT_SYNC: no round trip to a server */
        if (r < 0)
                return r;
        if (!statmount_usable())
                return -EOPNOTSUPP;
        sm = malloc(STATMOUNT_SIZE);
        if (!sm)
                return -ENOMEM;
        r = stat_mount(0, mnt_id, STATMOUNT_SB_BASIC, sm);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        *ret = sm->sb_magic;
        return 0;
}

/* The mount point of mnt_id: 1 and the path, 0 when it is not in this namespace. */
int mount_find(uint64_t mnt_id, char **ret_mount_point) {
        _cleanup_free_ struct statmount_head *sm = NULL;
        const char *point;
        int r;

        if (!statmount_usable())
                return info_find(mnt_id, ret_mount_point, NULL, NULL);
        sm = malloc(STATMOUNT_SIZE);
        if (!sm)
                return -ENOMEM;
        r = stat_mount(0, mnt_id, STATMOUNT_MNT_POINT, sm);
        if (r <= 0)
                return r;
        point = statmount_str(sm, sm->mnt_point);
        if (!point)
                return -EIO;
        if (ret_mount_point) {
                char *p = strdup(point);
                if (!p)
                        return -ENOMEM;
                *ret_mount_point = p;
        }
        return 1;
}

struct MountTable {
        MountInfo *all; /* sorted by ID; NULL with statmount: each lookup asks the kernel */
        size_t n;
};

static int info_cmp(const void *a, const void *b) {
        const MountInfo *x = a, *y = b;

        return x->id < y->id ? -1 : x->id > y->id;
}

int mount_table_load(MountTable **ret) {
        MountTable *t = calloc(1, sizeof *t);
        int r;

        if (!t)
                return -ENOMEM;
        if (!statmount_usable()) {
                r = mount_info_read_self(&t->all, &t->n);
                if (r < 0) {
                        free(t);
                        return r;
                }
                qsort(t->all, t->n, sizeof *t->all, info_cmp);
        }
        *ret = t;
        return 0;
}

MountTable *mount_table_free(MountTable *t) {
        if (t) {
                mount_info_free(t->all, t->n);
                free(t);
        }
        return NULL;
}

int mount_table_find(MountTable *t, uint64_t mnt_id, char **ret_mount_point) {
        MountInfo key = { .id = mnt_id }, *m;

        if (!t->all)
                return statmount_usable() ? mount_find(mnt_id, ret_mount_point) : 0;
        m = bsearch(&key, t->all, t->n, sizeof *t->all, info_cmp);
        if (!m)
                return 0;
        if (ret_mount_point) {
                *ret_mount_point = strdup(m->point);
                if (!*ret_mount_point)
                        return -ENOMEM;
        }
        return 1;
}

bool mount_path_within(const char *path, const char *dir, bool strict) {
        size_t n = strlen(dir);

        while (n > 0 && dir[n - 1] == '/')
                n--;
        if (strncmp(path, dir, n) != 0)
                return false;
        if (path[n] == 0 || (path[n] == '/' && !path[n + 1]))
                return !strict;
        return path[n] == '/';
}

static int info_list_below(const char *dir, uint64_t **ret_ids, size_t *ret_n) {
        _cleanup_free_ uint64_t *found = NULL;
        MountInfo *all = NULL;
        size_t n_all = 0, n_found = 0;
        int r;

        r = mount_info_read_self(&all, &n_all);
        if (r < 0)
                return r;
        found = calloc(n_all ?: 1, sizeof *found);
        if (!found) {
                mount_info_free(all, n_all);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_all; i++)
                if (mount_path_within(all[i].point, dir, true))
                        found[n_found++] = all[i].id;
        mount_info_free(all, n_all);
        *ret_ids = TAKE_PTR(found);
        *ret_n = n_found;
        return 0;
}

int mount_list_below(const char *dir, uint64_t **ret_ids, size_t *ret_n) {
        _cleanup_free_ uint64_t *all = NULL, *found = NULL;
        size_t n_all = 0, n_found = 0;
        int r;

        assert(dir);
        assert(ret_ids);
        assert(ret_n);

        if (!statmount_usable())
                return info_list_below(dir, ret_ids, ret_n);
        r = list_mounts(0, SIZE_MAX, &all, &n_all);
        if (r < 0)
                return r;

        found = calloc(n_all ?: 1, sizeof *found);
        if (!found)
                return -ENOMEM;
        for (size_t i = 0; i < n_all; i++) {
                _cleanup_free_ char *point = NULL;
                r = mount_find(all[i], &point);
                if (r < 0)
                        return r;
                if (r > 0 && mount_path_within(point, dir, true))
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

int mount_identity(uint64_t mnt_id, uint64_t *ret_dev, char **ret_root) {
        _cleanup_free_ struct statmount_head *sm = NULL;
        const char *root;
        dev_t dev;
        int r;

        if (!statmount_usable()) {
                r = info_find(mnt_id, NULL, &dev, ret_root);
                if (r <= 0)
                        return r == 0 ? -ENOENT : r;
                *ret_dev = dev;
                return 0;
        }
        sm = malloc(STATMOUNT_SIZE);
        if (!sm)
                return -ENOMEM;
        r = stat_mount(0, mnt_id, STATMOUNT_SB_BASIC | STATMOUNT_MNT_ROOT, sm);
        if (r <= 0)
                return r == 0 ? -ENOENT : r;
        root = statmount_str(sm, sm->mnt_root);
        if (!root)
                return -EIO;
        *ret_root = strdup(root);
        if (!*ret_root)
                return -ENOMEM;
        *ret_dev = makedev(sm->sb_dev_major, sm->sb_dev_minor);
        return 0;
}
