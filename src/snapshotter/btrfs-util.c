/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <endian.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "btrfs-util.h"
#include "strutil.h"
#include "tree-walk.h"


int btrfs_is_fs(int fd) {
        struct statfs sfs;

        if (fstatfs(fd, &sfs) < 0)
                return -errno;
        return sfs.f_type == BTRFS_SUPER_MAGIC;
}

int btrfs_is_subvol_at(int dirfd, const char *name) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode) || st.st_ino != BTRFS_FIRST_FREE_OBJECTID)
                return 0;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return btrfs_is_fs(fd);
}

/* A qgroup_inherit naming one qgroup, as the create ioctls take it. */
typedef struct QgroupInherit {
        struct btrfs_qgroup_inherit head;
        uint64_t qgroup;
} QgroupInherit;

static int subvol_create_at(int dirfd, const char *name, int src_fd, bool read_only, uint64_t qgroup) {
        QgroupInherit inherit = { .head.num_qgroups = 1, .qgroup = qgroup };
        struct btrfs_ioctl_vol_args_v2 args = {
                .fd = src_fd,
                .flags = read_only ? BTRFS_SUBVOL_RDONLY : 0,
        };
        _cleanup_close_ int fd = -EBADF;

        if (strlen(name) > BTRFS_SUBVOL_NAME_MAX)
                return -ENAMETOOLONG;
        strcpy(args.name, name);
        if (qgroup != 0) {
                args.flags |= BTRFS_SUBVOL_QGROUP_INHERIT;
                args.size = sizeof inherit;
                args.qgroup_inherit = &inherit.head;
        }
        if (src_fd >= 0)
                return RET_NERRNO(ioctl(dirfd, BTRFS_IOC_SNAP_CREATE_V2, &args));

        args.flags &= ~(uint64_t) BTRFS_SUBVOL_RDONLY;
        if (ioctl(dirfd, BTRFS_IOC_SUBVOL_CREATE_V2, &args) < 0)
                return -errno;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* The mode of a new subvolume's root depends on the kernel; containerd's is 0755. */
        if (fchmod(fd, 0755) < 0)
                return -errno;
        return read_only ? btrfs_subvol_set_read_only(fd, true) : 0;
}

int btrfs_subvol_make_temp(int dirfd, const char *prefix, int src_fd, bool read_only, uint64_t qgroup,
                           char **ret_name) {
        for (int attempt = 0; attempt < 100; attempt++) {
                _cleanup_free_ char *name = NULL;
                uint64_t rnd;
                int r;

                if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
                        return -EIO;
                name = strdup_printf("%s%016" PRIx64, prefix, rnd);
                if (!name)
                        return -ENOMEM;
                r = subvol_create_at(dirfd, name, src_fd, read_only, qgroup);
                if (r == -EEXIST)
                        continue;
                if (r < 0) {
                        /* A half-made empty subvolume (e.g. chmod failed) must not stay. */
                        (void) btrfs_subvol_destroy_at(dirfd, name);
                        return r;
                }
                *ret_name = TAKE_PTR(name);
                return 0;
        }
        return -EEXIST;
}

int btrfs_subvol_get_read_only(int fd) {
        uint64_t flags;

        if (ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) < 0)
                return -errno;
        return !!(flags & BTRFS_SUBVOL_RDONLY);
}

int btrfs_subvol_set_read_only(int fd, bool read_only) {
        uint64_t flags;

        if (ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) < 0)
                return -errno;
        flags = read_only ? flags | BTRFS_SUBVOL_RDONLY : flags & ~(uint64_t) BTRFS_SUBVOL_RDONLY;
        return RET_NERRNO(ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &flags));
}

int btrfs_subvol_id(int fd, uint64_t *ret) {
        /* treeid 0: the tree of fd itself; the kernel fills in its ID. */
        struct btrfs_ioctl_ino_lookup_args args = { .objectid = BTRFS_FIRST_FREE_OBJECTID };

        if (ioctl(fd, BTRFS_IOC_INO_LOOKUP, &args) < 0)
                return -errno;
        *ret = args.treeid;
        return 0;
}

static int subvol_destroy_one(int dirfd, const char *name) {
        struct btrfs_ioctl_vol_args args = {};
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (strlen(name) > BTRFS_PATH_NAME_MAX)
                return -ENAMETOOLONG;
        strcpy(args.name, name);
        if (ioctl(dirfd, BTRFS_IOC_SNAP_DESTROY, &args) >= 0)
                return 0;
        if (errno != EPERM && errno != EROFS)
                return -errno;

        /* Kernels that refuse to delete a read-only subvolume: make it writable first. */
        fd = tree_open_dir(dirfd, name);
        if (fd < 0)
                return fd;
        r = btrfs_subvol_set_read_only(fd, false);
        if (r < 0)
                return r;
        return RET_NERRNO(ioctl(dirfd, BTRFS_IOC_SNAP_DESTROY, &args));
}

/* In a walk of a subvolume that holds others: deletes those, deepest first. A plain
 * directory goes with the subvolume it is in; only subvolume roots have this inode number. */
static int destroy_nested_one(TreeWalkEvent event, const TreeWalkItem *item, void *userdata) {
        int r;

        if (event == TREE_WALK_FILE || item->st->st_ino != BTRFS_FIRST_FREE_OBJECTID)
                return 0;
        if (event == TREE_WALK_LEAVE)
                return subvol_destroy_one(item->dirfd, item->name); /* its own nested ones are gone */
        r = subvol_destroy_one(item->dirfd, item->name);
        if (r >= 0)
                return TREE_WALK_SKIP;
        if (r != -ENOTEMPTY)
                return r;
        /* It holds subvolumes too: go in, and let them be deleted from it. */
        r = btrfs_subvol_set_read_only(item->fd, false);
        return r < 0 ? r : 0;
}

int btrfs_subvol_destroy_at(int dirfd, const char *name) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = subvol_destroy_one(dirfd, name);
        if (r != -ENOTEMPTY)
                return r;

        /* It holds subvolumes of its own (a container made them): those go first. */
        fd = tree_open_dir(dirfd, name);
        if (fd < 0)
                return fd;
        r = btrfs_subvol_set_read_only(fd, false);
        if (r >= 0)
                r = tree_walk(fd, -EBADF, destroy_nested_one, NULL);
        if (r < 0)
                return r;
        return subvol_destroy_one(dirfd, name);
}

int btrfs_device_path(int fd, char **ret) {
        struct btrfs_ioctl_fs_info_args fs = {};

        if (ioctl(fd, BTRFS_IOC_FS_INFO, &fs) < 0)
                return -errno;
        for (uint64_t devid = 1; devid <= fs.max_id; devid++) {
                struct btrfs_ioctl_dev_info_args dev = { .devid = devid };
                char *path;

                if (ioctl(fd, BTRFS_IOC_DEV_INFO, &dev) < 0) {
                        if (errno == ENODEV)
                                continue; /* a removed device leaves a gap in the IDs */
                        return -errno;
                }
                dev.path[sizeof dev.path - 1] = 0;
                if (dev.path[0] == 0)
                        continue; /* missing device */
                path = strdup((const char *) dev.path);
                if (!path)
                        return -ENOMEM;
                *ret = path;
                return 0;
        }
        return -ENODEV;
}

int btrfs_qgroup_exclusive(int fd, uint64_t subvolid, uint64_t *ret) {
        uint64_t rfer;

        /* Accounting is brought up to date when the transaction commits. */
        if (syncfs(fd) < 0)
                return -errno;
        return btrfs_qgroup_usage(fd, subvolid, &rfer, ret);
}

/* Up to max items of key type `type` in the quota tree, objectid `objectid`, offsets
 * min_offset..max_offset; *ret_n of them found. Each item's offset and (len bytes of) data
 * are handed to fn. */
typedef void (*quota_item_fn)(uint64_t offset, const void *data, uint32_t len, void *userdata);

static int quota_tree_search(int fd, uint64_t objectid, uint32_t type, uint64_t min_offset, uint64_t max_offset,
                             uint32_t max, quota_item_fn fn, void *userdata, size_t *ret_n) {
        struct btrfs_ioctl_search_args args = {
                .key = {
                        .tree_id = BTRFS_QUOTA_TREE_OBJECTID,
                        .min_objectid = objectid,
                        .max_objectid = objectid,
                        .min_type = type,
                        .max_type = type,
                        .min_offset = min_offset,
                        .max_offset = max_offset,
                        .max_transid = UINT64_MAX,
                        .nr_items = max,
                },
        };
        size_t pos = 0, n = 0;

        if (ioctl(fd, BTRFS_IOC_TREE_SEARCH, &args) < 0)
                return errno == ENOENT ? -ENOENT : -errno; /* no quota tree: quotas off */
        for (uint32_t i = 0; i < args.key.nr_items; i++) {
                struct btrfs_ioctl_search_header h;

                if (pos + sizeof h > sizeof args.buf)
                        return -EIO;
                memcpy(&h, args.buf + pos, sizeof h);
                pos += sizeof h;
                if (h.len > sizeof args.buf - pos)
                        return -EIO;
                if (h.objectid == objectid && h.type == type) {
                        fn(h.offset, args.buf + pos, h.len, userdata);
                        n++;
                }
                pos += h.len;
        }
        *ret_n = n;
        return 0;
}

typedef struct QgroupUsage {
        uint64_t rfer, excl;
        bool found;
} QgroupUsage;

static void read_info(uint64_t offset, const void *data, uint32_t len, void *userdata) {
        QgroupUsage *u = userdata;
        struct btrfs_qgroup_info_item item;

        if (len < sizeof item)
                return;
        memcpy(&item, data, sizeof item);
        u->rfer = le64toh(item.rfer);
        u->excl = le64toh(item.excl);
        u->found = true;
}

int btrfs_qgroup_usage(int fd, uint64_t qgroupid, uint64_t *ret_rfer, uint64_t *ret_excl) {
        QgroupUsage u = {};
        size_t n;
        int r;

        r = quota_tree_search(fd, 0, BTRFS_QGROUP_INFO_KEY, qgroupid, qgroupid, 1, read_info, &u, &n);
        if (r < 0)
                return r;
        if (!u.found)
                return -ENOENT;
        *ret_rfer = u.rfer;
        *ret_excl = u.excl;
        return 0;
}

int btrfs_qgroup_exclusive_committed(int fd, uint64_t subvolid, uint64_t *ret) {
        uint64_t rfer;

        return btrfs_qgroup_usage(fd, subvolid, &rfer, ret);
}

static void read_status(uint64_t offset, const void *data, uint32_t len, void *userdata) {
        struct btrfs_qgroup_status_item item;

        if (len < sizeof item)
                return;
        memcpy(&item, data, sizeof item);
        *(uint64_t *) userdata = le64toh(item.flags);
}

/* Simple quotas (Linux 6.7): extents count for the subvolume that made them, and nothing
 * a snapshot does makes the counts stale. */
#ifndef BTRFS_QGROUP_STATUS_FLAG_SIMPLE_MODE
#define BTRFS_QGROUP_STATUS_FLAG_SIMPLE_MODE (1ULL << 3)
#endif

static int quota_flags(int fd, uint64_t *ret) {
        size_t n;
        int r;

        *ret = 0;
        r = quota_tree_search(fd, 0, BTRFS_QGROUP_STATUS_KEY, 0, 0, 1, read_status, ret, &n);
        return r < 0 ? r : n == 0 ? -ENOENT : 0;
}

int btrfs_quota_consistent(int fd) {
        uint64_t flags;
        int r = quota_flags(fd, &flags);

        if (r < 0)
                return r;
        return (flags & BTRFS_QGROUP_STATUS_FLAG_ON) &&
               !(flags & (BTRFS_QGROUP_STATUS_FLAG_INCONSISTENT | BTRFS_QGROUP_STATUS_FLAG_RESCAN));
}

int btrfs_quota_simple(int fd) {
        uint64_t flags;
        int r = quota_flags(fd, &flags);

        return r < 0 ? r : !!(flags & BTRFS_QGROUP_STATUS_FLAG_SIMPLE_MODE);
}

static void keep_offset(uint64_t offset, const void *data, uint32_t len, void *userdata) {
        *(uint64_t *) userdata = offset;
}

int btrfs_qgroup_can_join(int fd, uint64_t src_subvolid, uint64_t qgroupid) {
        uint64_t rfer, excl, parent = 0;
        int r;

        r = btrfs_quota_consistent(fd);
        if (r <= 0)
                return r;
        r = btrfs_qgroup_usage(fd, qgroupid, &rfer, &excl);
        if (r < 0)
                return r;
        if (btrfs_quota_simple(fd) > 0)
                return 1;
        /* A new empty subvolume joins any qgroup as it is. The kernel counts a snapshot in
         * only when the qgroup shares no extent with anything outside it and the source is
         * in it and in no other; else it marks every count stale, until a rescan. */
        if (src_subvolid == 0)
                return 1;
        if (rfer != excl)
                return 0;
        r = btrfs_qgroup_parent(fd, src_subvolid, &parent);
        return r < 0 ? r : r == 1 && parent == qgroupid;
}

int btrfs_qgroup_parent(int fd, uint64_t qgroupid, uint64_t *ret) {
        size_t n;
        int r;

        /* (child, RELATION, parent): a qgroup's parents have higher IDs than it. */
        r = quota_tree_search(fd, qgroupid, BTRFS_QGROUP_RELATION_KEY, qgroupid + 1, UINT64_MAX, 2, keep_offset,
                              ret, &n);
        return r < 0 ? r : (int) n;
}

int btrfs_qgroup_assign(int fd, uint64_t child, uint64_t parent) {
        struct btrfs_ioctl_qgroup_assign_args args = { .assign = 1, .src = child, .dst = parent };
        int r = ioctl(fd, BTRFS_IOC_QGROUP_ASSIGN, &args);

        if (r < 0)
                return -errno;
        return r > 0; /* the kernel could not count it in: a rescan is due */
}

int btrfs_qgroup_create(int fd, uint64_t qgroupid) {
        struct btrfs_ioctl_qgroup_create_args args = { .create = 1, .qgroupid = qgroupid };

        if (ioctl(fd, BTRFS_IOC_QGROUP_CREATE, &args) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int btrfs_qgroup_limit_exclusive(int fd, uint64_t qgroupid, uint64_t bytes) {
        struct btrfs_ioctl_qgroup_limit_args args = {
                .qgroupid = qgroupid,
                .lim = {
                        .flags = BTRFS_QGROUP_LIMIT_MAX_EXCL,
                        .max_excl = bytes, /* UINT64_MAX: the kernel clears the limit */
                },
        };

        if (ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &args) < 0)
                return -errno;
        return 0;
}

int btrfs_quota_rescan(int fd) {
        struct btrfs_ioctl_quota_rescan_args args = {};

        if (ioctl(fd, BTRFS_IOC_QUOTA_RESCAN, &args) < 0 && errno != EINPROGRESS)
                return -errno;
        return 0;
}
