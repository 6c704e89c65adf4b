/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

/* What lamina does to whole trees, on tree_walk() (tree-walk.h): at any depth, with a
 * bounded number of fds, never following a symlink or crossing a mount. */

/* How much a walk may look at before it gives up: entries (each name, hardlinks too) and
 * the bytes of the directories whose names it reads (their st_size, checked before they
 * are read: what reading a directory costs grows with it, and an emptied one keeps its
 * size on most filesystems). */
typedef struct TreeWalkBudget {
        uint64_t entries, dir_bytes;
} TreeWalkBudget;

/* Disk usage of the tree at fd (itself included): st_blocks*512 and the number of
 * inodes, each hardlinked inode counted once. Entries that vanish meanwhile are
 * skipped. With a budget (NULL: none), -E2BIG as soon as the tree turns out to be more
 * than it allows. */
int tree_disk_usage(int fd, const TreeWalkBudget *budget, uint64_t *ret_size, uint64_t *ret_inodes);

/* Removes dirfd/name and everything below it (0 when it does not exist), adding the
 * bytes freed to *freed when freed is not NULL. Refuses (-EXDEV) to go into another
 * filesystem or mount, e.g. a btrfs subvolume. */
int rm_rf_at(int dirfd, const char *name, uint64_t *freed);
/* The same, giving up with -ECANCELED once *cancel (when not NULL) is true: what is left
 * stays for a later call. */
int rm_rf_at_until(int dirfd, const char *name, uint64_t *freed, const atomic_bool *cancel);

/* Removes everything below the directory fd, except its entry named `skip` (when not
 * NULL); fd itself stays. */
int rm_rf_children(int fd, const char *skip, uint64_t *freed);
