/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The state filesystem's project quotas (ext4 with the quota and project features, XFS
 * with prjquota), through FS_IOC_FSSETXATTR and quotactl_fd(2): a project ID on a
 * snapshot's directory, inherited by everything made below it, makes the filesystem count
 * its blocks and inodes (Usage in O(1)) and enforce a limit on them (EDQUOT). */

typedef struct FsQuota {
        bool accounting; /* project usage is kept */
        bool enforced;   /* project limits are enforced */
} FsQuota;

/* What the filesystem of fd offers; both false where it has no project quotas. */
void fsquota_probe(int fd, FsQuota *ret);
/* Gives directory dir_fd project projid, inherited by what is made below it (O(1): only
 * this directory). */
int fsquota_set_project(int dir_fd, uint32_t projid);
/* The project of dir_fd (0: none) and whether its children inherit it. */
int fsquota_get_project(int dir_fd, uint32_t *ret_projid, bool *ret_inherit);
/* Bytes and inodes charged to projid on the filesystem of fd. */
int fsquota_usage(int fd, uint32_t projid, uint64_t *ret_bytes, uint64_t *ret_inodes);
/* Hard limits of projid (UINT64_MAX: none), bytes rounded up to 1 KiB. */
int fsquota_set_limits(int fd, uint32_t projid, uint64_t bytes, uint64_t inodes);
