/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "strutil.h"

/* A set of paths that keeps the order they were added in: the whiteouts and opaque
 * directories of one layer. Adding and looking up take constant time on average, so a
 * layer of a million markers costs a million steps, not a million squared. */

typedef struct LayerPaths {
        StrvBuilder list; /* in the order added; list.l is NULL while empty */
        size_t *slots;    /* open addressing: index into list.l + 1, 0 = free */
        size_t n_slots;   /* a power of two, more than twice list.n */
} LayerPaths;

void layer_paths_done(LayerPaths *p);
/* 1 if path was added (copied), 0 if it was there already, or -ENOMEM. */
int layer_paths_add(LayerPaths *p, const char *path);
bool layer_paths_contains(const LayerPaths *p, const char *path);
