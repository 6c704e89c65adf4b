/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The kernel's OVL_MAX_STACK: lower layers one overlay can stack. */
#define MOUNT_MAX_LAYERS 500

/* The new mount API (fsopen/fsconfig/fsmount/open_tree/mount_setattr/move_mount),
 * so that option strings never hit mount(2)'s one-page limit. `attrs` are
 * MOUNT_ATTR_* flags (RDONLY, NOSUID, NODEV, NOEXEC). Every mount error includes the
 * kernel's own fs_context message when there is one. Functions return 0 or a
 * negative errno with e filled. */

/* An overlay of `lowers` (topmost first, 1..500 entries; a 501st is EINVAL naming the
 * kernel limit) with optional upper/work (both NULL: read-only, needs >= 2 lowers),
 * index=off and metacopy=off, attached onto target_fd (an O_PATH dir fd). */
int mount_overlay(const char *const *lowers, size_t n_lowers, const char *upper, const char *work,
                  int target_fd, uint64_t attrs, uint64_t *ret_mnt_id, Error *e);

/* A recursive bind clone of source (open_tree(OPEN_TREE_CLONE|AT_RECURSIVE)) with attrs
 * applied by mount_setattr, attached onto target_fd. */
int mount_bind(const char *source, int target_fd, uint64_t attrs, uint64_t *ret_mnt_id, Error *e);

/* Opens an existing, empty directory `path` (absolute) without following any symlink
 * (openat2 RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS) as an O_PATH fd. */
int mount_open_target(const char *path, int *ret_fd, Error *e);

/* The mount ID (statx STATX_MNT_ID) of whatever is mounted at fd. */
int mount_id_of_fd(int fd, uint64_t *ret);

/* 1 when the topmost mount at path (resolved without following symlinks) has this ID,
 * 0 when another mount or nothing is there any more. */
int mount_is_at(const char *path, uint64_t mnt_id);

/* Detaches the mount with this ID at path if it is still there (umount2 MNT_DETACH on
 * what was checked, not on the path again); -ENOENT when it is already gone. */
int mount_detach(const char *path, uint64_t mnt_id, Error *e);

/* Whether a mount with this ID exists in this mount namespace (libmount reads
 * /proc/self/mountinfo). */
int mount_id_exists(uint64_t mnt_id);

/* Mount points that laminad makes itself (mount-point.c). */

/* Creates parent_path (each missing component root-owned 0755, none may be a symlink)
 * and in it the directory `name` (0700; reused when it exists and is empty), opened as
 * for mount_open_target. EBUSY when name exists and is not empty. */
int mount_point_create(const char *parent_path, const char *name, int *ret_fd, Error *e);

/* Removes the empty directory path (its parents resolved without symlinks); 0 when it
 * is already gone. */
int mount_point_remove(const char *path);
