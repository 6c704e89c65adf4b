/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Writes the changes from the tree at old_root (NULL: empty) to the one at new_root as an OCI
 * layer tar (uncompressed) to out_fd. Changes the current directory to new_root. */
int ctl_write_diff(const char *new_root, const char *old_root, int out_fd);
