/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The btrfs ioctls lamina needs, on fds (no btrfs CLI). All return 0 (or a boolean) or a
 * negative errno. A subvolume is addressed as the directory fd of its root, or as
 * dirfd/name for the calls that create or delete an entry of dirfd. */

/* 1 when fd lives on btrfs, 0 when not. */
int btrfs_is_fs(int fd);

/* 1 when dirfd/name is the root of a subvolume (a directory on btrfs with the inode
 * number of a subvolume root), 0 when not; never follows a symlink. */
int btrfs_is_subvol_at(int dirfd, const char *name);

/* Creates dirfd/<prefix><random> as a new subvolume: a snapshot of the subvolume src_fd,
 * or an empty one (root 0755) when src_fd < 0; read-only when asked; its qgroup a member
 * of qgroup (0: of none) from the start. Returns its name. */
int btrfs_subvol_make_temp(int dirfd, const char *prefix, int src_fd, bool read_only, uint64_t qgroup,
                           char **ret_name);

int btrfs_subvol_set_read_only(int fd, bool read_only);
/* 1 read-only, 0 writable. */
int btrfs_subvol_get_read_only(int fd);

/* The subvolume ID (tree ID) that fd belongs to, what mount -o subvolid= takes. */
int btrfs_subvol_id(int fd, uint64_t *ret);

/* Deletes the subvolume dirfd/name, read-only or not, with the subvolumes below it. */
int btrfs_subvol_destroy_at(int dirfd, const char *name);

/* A block device path of the filesystem fd lives on (the lowest device ID present). */
int btrfs_device_path(int fd, char **ret);

/* Quotas (qgroups). Each subvolume has the level-0 qgroup of its ID; a qgroup of a higher
 * level (level << 48 | id) counts the extents of its members together. The figures are
 * those of the last transaction commit, unless said otherwise. */

/* Bytes that only subvolume `subvolid` holds (its level-0 qgroup's exclusive count, after
 * the transaction that fd's filesystem has open is committed); -ENOENT when quotas are
 * not enabled on that filesystem. */
int btrfs_qgroup_exclusive(int fd, uint64_t subvolid, uint64_t *ret);
/* The same as of the last transaction commit (up to a commit interval old), without the
 * syncfs() that brings it up to date. */
int btrfs_qgroup_exclusive_committed(int fd, uint64_t subvolid, uint64_t *ret);
/* Referenced and exclusive bytes of a qgroup; -ENOENT when there is no such qgroup or
 * quotas are off. */
int btrfs_qgroup_usage(int fd, uint64_t qgroupid, uint64_t *ret_rfer, uint64_t *ret_excl);
/* 1 when quotas are on and their counts up to date (no rescan due or running), else 0. */
int btrfs_quota_consistent(int fd);
/* 1 when quotas are simple quotas (counted for the subvolume that wrote; no rescans). */
int btrfs_quota_simple(int fd);
/* 1 when a new subvolume, a snapshot of subvolume src_subvolid (0: an empty one), can join
 * the existing qgroup qgroupid at creation with the counts staying up to date, 0 when the
 * kernel would need a rescan of all quotas for it. (With full quotas, a snapshot of a
 * subvolume in a qgroup that does not join that qgroup needs one too: it takes extents
 * from it.) */
int btrfs_qgroup_can_join(int fd, uint64_t src_subvolid, uint64_t qgroupid);
/* The number of qgroups qgroupid is a member of (0, 1, or 2 for more), the first in *ret. */
int btrfs_qgroup_parent(int fd, uint64_t qgroupid, uint64_t *ret);
/* Makes qgroup child a member of qgroup parent: 0, or 1 when the kernel could not count it
 * in and its counts are stale until a rescan (btrfs_quota_rescan()). */
int btrfs_qgroup_assign(int fd, uint64_t child, uint64_t parent);
/* Creates qgroup qgroupid of a level above 0 (no error when it exists). */
int btrfs_qgroup_create(int fd, uint64_t qgroupid);
/* Limits the exclusive bytes of qgroup qgroupid (0: the one of fd's subvolume) to bytes
 * (UINT64_MAX: no limit; 0 lets nothing more be written): writes past it fail with EDQUOT.
 * The change is a transaction charged to fd's subvolume: give an fd outside the qgroup,
 * which may be over its limit already. Needs quotas on (ENOTCONN/ENOENT otherwise). */
int btrfs_qgroup_limit_exclusive(int fd, uint64_t qgroupid, uint64_t bytes);
/* Starts the kernel's rescan of all quota counts (in the background); no error when one runs. */
int btrfs_quota_rescan(int fd);
