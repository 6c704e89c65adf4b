/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Adds FS_*_FL flags (linux/fs.h) to the inode fd refers to, keeping the others; nothing
 * is written when they are all set already. Returns 0 or a negative errno (-ENOTTY or
 * -EOPNOTSUPP where the filesystem has no such flags). */
int fd_add_inode_flags(int fd, int flags);
