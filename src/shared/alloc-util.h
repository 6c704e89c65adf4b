/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Makes the array *p (of *allocated items of size bytes) hold at least need items: the
 * capacity doubles, starting from first. Returns 0, or -ENOMEM with *p and *allocated
 * unchanged (also when the size in bytes would overflow). The one growth rule of every growing array. */
int greedy_realloc(void **p, size_t *allocated, size_t need, size_t size, size_t first);

#define GREEDY_REALLOC(array, allocated, need, first) \
        greedy_realloc((void **) &(array), &(allocated), (need), sizeof *(array), (first))
