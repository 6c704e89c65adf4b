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
 * or an empty one (root 0755) when src_fd < 0; read-only when asked. Returns its name. */
int btrfs_subvol_make_temp(int dirfd, const char *prefix, int src_fd, bool read_only, char **ret_name);

int btrfs_subvol_set_read_only(int fd, bool read_only);
/* 1 read-only, 0 writable. */
int btrfs_subvol_get_read_only(int fd);

/* The subvolume ID (tree ID) that fd belongs to, what mount -o subvolid= takes. */
int btrfs_subvol_id(int fd, uint64_t *ret);

/* Deletes the subvolume dirfd/name, read-only or not, with the subvolumes below it. */
int btrfs_subvol_destroy_at(int dirfd, const char *name);

/* A block device path of the filesystem fd lives on (the lowest device ID present). */
int btrfs_device_path(int fd, char **ret);

/* Bytes that only subvolume `subvolid` holds (its level-0 qgroup's exclusive count, after
 * the transaction that fd's filesystem has open is committed); -ENOENT when quotas are
 * not enabled on that filesystem. */
int btrfs_qgroup_exclusive(int fd, uint64_t subvolid, uint64_t *ret);
/* The same as of the last transaction commit (up to a commit interval old), without the
 * syncfs() that brings it up to date. */
int btrfs_qgroup_exclusive_committed(int fd, uint64_t subvolid, uint64_t *ret);
/* Limits the exclusive bytes of the qgroup of fd's subvolume (UINT64_MAX: no limit): writes
 * past it fail with EDQUOT. Needs quotas on (ENOTCONN/ENOENT otherwise). */
int btrfs_qgroup_limit_exclusive(int fd, uint64_t bytes);
