/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers shared by the files of src/mount. */

/* openat2(dirfd, path) with RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS; fd or -errno. */
int mount_openat_no_symlinks(int dirfd, const char *path, int flags);

/* 1 when the directory fd (O_PATH is fine) has no entries besides . and .., 0 if it has. */
int mount_dir_is_empty(int fd);
