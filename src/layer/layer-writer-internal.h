/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>

#include "layer-proto.h"
#include "layer-writer.h"
#include "macro.h"

/* The writer's side of where an entry goes (layer-writer-dirs.c): failures reported to the
 * parent, what the layer may make (its limits), and the directories below the root — made
 * for missing parents, one kept open for the next entries, room made for a new entry. */

/* Reports "layer entry "path": <why>" (EINVAL: the layer is refused) and returns -code. */
_printf_(4, 5) int writer_fail(LayerWriter *w, int code, const char *path, const char *fmt, ...);

/* Counts what entry costs against the limits before anything is made for it. */
int writer_charge_entry(LayerWriter *w, const LayerEntryView *e);

int writer_open_dir(LayerWriter *w, const char *entry, const char *path, bool create, int *ret);
int writer_open_parent(LayerWriter *w, const char *path, int *ret, const char **ret_base, LayerNewOwner **ret_owner);
int writer_clear_slot(LayerWriter *w, const char *path, int dir_fd, const char *base, bool keep_dir);
int writer_open_slot(LayerWriter *w, const char *path, bool keep_dir, int *ret_parent, const char **ret_base);
void writer_forget_dir(LayerWriter *w, const char *path);
void writer_keep_dir(LayerWriter *w, int fd, const char *path);

const char *writer_base_name(const char *path);
void writer_split_parent(const char *path, char dir[static PATH_MAX]);
