/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "layer.h"

/* The parent directories a layer lacks. The writer makes each one 0755 and reports it
 * (LAYER_REPORT_IMPLICIT_DIR); before the commit, each one still implicit after the
 * writer's last record of it takes owner, mode, xattrs and times from the first of the
 * target and o's lowers that has it as a directory (the times appended to the report, set
 * after the move like the writer's). With o->mark_implicit, one that none has gets
 * LAYER_XATTR_IMPLICIT (*ret_marked then true), and a directory the layer carries loses
 * that mark in the target. Returns 0 or a negative errno. */
int layer_implicit_dirs_copy(int report_fd, int staging_fd, int target_fd, const LayerApplyOptions *o,
                             bool *ret_marked);
