/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Creates dirfd/<prefix>XXXXXX as a new directory with exactly `mode` (umask ignored);
 * returns its name. */
int fs_mkdtemp_at(int dirfd, const char *prefix, mode_t mode, char **ret_name);

/* mkdirat with exactly `mode`, whatever the umask. */
int fs_mkdir_mode_at(int dirfd, const char *name, mode_t mode);
