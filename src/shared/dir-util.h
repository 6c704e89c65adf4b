/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <dirent.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

/* A directory stream of its own on the directory that fd refers to (an O_PATH fd is
 * fine): a new open file description, so its offset is shared with nothing else.
 * Returns 0 or a negative errno. */
int dir_open_fd(int fd, DIR **ret);
