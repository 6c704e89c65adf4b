/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <sys/stat.h>

#include "macro.h"

/* The one walker for every tree lamina goes through (usage, copy, removal, btrfs nested
 * subvolume removal). These trees are written by users and walked as root, so:
 *   - it never follows a symlink and never crosses a mount: every directory is opened
 *     with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV) below the one
 *     above it, and must be the inode that fstatat() saw (else -ESTALE);
 *   - it works at any depth with at most TREE_WALK_MAX_FDS directory fds open per tree:
 *     each directory's names are read in full when it is entered, so only the deepest
 *     levels keep an fd; going back up re-opens an ancestor with openat(child, "..") and
 *     checks it is the inode recorded on the way down (when a rename moved it, the
 *     ancestor is found again by name from the nearest open one, checked the same way,
 *     or the walk fails with -ESTALE). Memory is linear in the depth and in the sizes of
 *     the directories on the current path.
 *   - entries that vanish while it runs are skipped.
 * Optionally it walks a second, "mirror" tree in lockstep (a copy being built): for every
 * directory of the source the callback makes the same name in the mirror on
 * TREE_WALK_ENTER, and the walker opens it. */

#define TREE_WALK_MAX_FDS 8

typedef enum TreeWalkEvent {
        TREE_WALK_FILE,  /* anything but a directory */
        TREE_WALK_ENTER, /* a directory, before its entries; return TREE_WALK_SKIP not to go in */
        TREE_WALK_LEAVE, /* a directory, after its entries */
} TreeWalkEvent;

#define TREE_WALK_SKIP 1

typedef struct TreeWalkItem {
        int dirfd;               /* the directory holding the entry */
        const char *name;        /* its name there */
        const struct stat *st;   /* what fstatat(AT_SYMLINK_NOFOLLOW) saw */
        int fd;                  /* ENTER, LEAVE: the directory itself (O_RDONLY) */
        int mirror_dirfd;        /* with a mirror: dirfd's counterpart */
        int mirror_fd;           /* with a mirror, LEAVE: fd's counterpart */
        size_t depth;            /* 1 for the entries of the root */
} TreeWalkItem;

/* Returns 0 to go on, TREE_WALK_SKIP (ENTER only), or a negative errno that ends the walk. */
typedef int (*tree_walk_fn)(TreeWalkEvent event, const TreeWalkItem *item, void *userdata);

/* Walks everything below the directory root_fd (not root_fd itself), directories before
 * and after their entries. mirror_root_fd is -EBADF or the mirror's root. Returns 0 or
 * the first negative errno (the callback's, or the walker's own). */
int tree_walk(int root_fd, int mirror_root_fd, tree_walk_fn fn, void *userdata);

/* openat2(dirfd, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW, the resolve flags above). */
int tree_open_dir(int dirfd, const char *name);
