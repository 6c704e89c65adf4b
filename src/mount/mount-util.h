/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Helpers shared by the files of src/mount. */

/* Linux 6.8; glibc 2.36 and Debian 12's kernel headers do not know it yet. */
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif

/* "/proc/self/fd/" + an int */
#define PROC_FD_PATH_MAX (sizeof("/proc/self/fd/") + 11)

/* openat2(dirfd, path) with RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS; fd or -errno. */
int mount_openat_no_symlinks(int dirfd, const char *path, int flags);

/* 1 when the directory fd (O_PATH is fine) has no entries besides . and .., 0 if it has. */
int mount_dir_is_empty(int fd);

/* The unique mount ID of what dirfd/path (followed, magic links too: /proc/PID/fd/N)
 * refers to; for mount-holders.c. */
int mount_id_of_path(int dirfd, const char *path, uint64_t *ret);
