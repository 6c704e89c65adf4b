/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Copies the tree below the directory src_fd into the empty directory dst_fd, then gives
 * dst_fd the owner, mode, xattrs and times of src_fd, so the copy is identical to the
 * source in everything a container's root filesystem can hold:
 *   - types: directories, regular files, symlinks (dangling too), FIFOs, sockets and
 *     character/block devices;
 *   - owners, all mode bits (set-id, sticky), atime and mtime to the nanosecond
 *     (directories after their contents; symlinks themselves);
 *   - every xattr the caller can read (user.*, trusted.*, security.*, ACLs), set after
 *     chown so security.capability survives; a namespace the destination filesystem
 *     does not support is skipped;
 *   - hardlink groups;
 *   - file data shared with FICLONE where the filesystem can, otherwise copied extent by
 *     extent (SEEK_DATA/SEEK_HOLE, copy_file_range, then read/write) keeping holes.
 * Symlinks are never followed. Returns 0 or a negative errno; what was copied so far
 * stays in dst_fd for the caller to remove. */
int copy_tree(int src_fd, int dst_fd);
