/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "error.h"
#include "snapshot-types.h"

/* containerd's filter syntax (pkg/filters) over snapshot fields name, parent, kind,
 * labels.<key> and owner (decimal uid). Several strings are OR'ed; the selectors
 * within one string (","-separated) are AND'ed; an empty list or string matches all.
 * A parse error is EINVAL with a message naming the filter and the byte position. So is
 * more than 64 KiB of filters, and a ~= pattern that is not valid in Go's syntax, uses
 * what the matcher does not support (backreferences, lookaround, \p classes), or would
 * make all patterns of the call together more than FILTER_REGEX_SIZE_MAX instructions
 * (filter-regex.h): a pattern then costs at most linear time in what it matches. */
typedef struct Filter Filter;

int filter_parse(char *const *filters, Filter **ret, Error *e);
Filter *filter_free(Filter *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(Filter *, filter_free);
bool filter_match(const Filter *f, const SnapshotInfo *info);

/* From now on, the ~= patterns of f may take cpu_usec of the calling thread's CPU time
 * (counted from their first match, the caller's walk included; 0: no bound); once they
 * have, filter_exhausted() is true and filter_match() keeps nothing more: the caller stops
 * its walk after the snapshot it last matched. */
void filter_budget_start(Filter *f, uint64_t cpu_usec);
bool filter_exhausted(const Filter *f);
