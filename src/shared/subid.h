/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* At most this many subordinate ids per range (newuidmap allows any; an image uses 65536)
 * and lines read from a file. */
#define SUBID_COUNT_MAX 65536U
#define SUBID_LINES_MAX 65536U

typedef struct SubidRange {
        uint32_t start, count;
} SubidRange;

/* The first `max` ranges of `name` (may be NULL) or of the numeric id `who` in a
 * subordinate id file ("name-or-id:start:count" lines), in file order; none when there is
 * no file. Ranges starting at 0, reaching (uid_t) -1 or longer than SUBID_COUNT_MAX are
 * ignored. Returns 0 or a negative errno. */
int subid_ranges(const char *path, const char *name, uint32_t who, SubidRange *ret, size_t max, size_t *ret_n);
