/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Disk usage of the tree at dirfd (itself included): st_blocks*512 and the number of
 * unique inodes, hardlinks counted once. Never follows symlinks; files that vanish
 * during the walk are skipped, not errors. */
int fs_disk_usage(int dirfd, uint64_t *ret_size, uint64_t *ret_inodes);

/* Removes dirfd/name and everything below it without following symlinks, adding the
 * bytes freed to *freed. Refuses to cross into other mounts. */
int fs_remove_tree_at(int dirfd, const char *name, uint64_t *freed);

/* Creates dirfd/<prefix>XXXXXX as a new directory with exactly `mode` (umask ignored);
 * returns its name. */
int fs_mkdtemp_at(int dirfd, const char *prefix, mode_t mode, char **ret_name);

/* mkdirat with exactly `mode`, whatever the umask. */
int fs_mkdir_mode_at(int dirfd, const char *name, mode_t mode);
