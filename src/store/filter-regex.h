/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* The instructions the compiled ~= patterns of one List call may take together: one per
 * character or class, two per alternative, one or two per optional or repeated part and its
 * copies (a sha256 digest with [0-9a-f]{64} takes 64, each pattern one more). */
#define FILTER_REGEX_SIZE_MAX 256u

/* A ~= pattern compiled for a matcher that keeps a set of threads, one per instruction at
 * most (Thompson's construction, run as Pike's VM), the sets it meets cached as the states
 * of a DFA (filter-regex-dfa.c): each rune of the input costs at most twice the program's
 * size in steps, whatever the pattern, usually one; matching allocates nothing. */
typedef struct FilterRegex FilterRegex;

/* Compiles pattern (Go's regexp syntax, as containerd's filters take it) and charges its
 * program's size to *budget. -EINVAL with *ret_why set to a static reason when the pattern
 * is invalid, uses what is not supported (backreferences, lookaround, \p classes), or its
 * program would take more than *budget; the work is linear in the pattern's length. */
int filter_regex_compile(const char *pattern, size_t *budget, FilterRegex **ret, const char **ret_why);
FilterRegex *filter_regex_free(FilterRegex *re);
DEFINE_TRIVIAL_CLEANUP_FUNC(FilterRegex *, filter_regex_free);

/* Whether re matches anywhere in s[0..len) (Go's MatchString). */
bool filter_regex_search(FilterRegex *re, const char *s, size_t len);

/* The instructions re's matcher has run, all its searches together (at most
 * 2 * filter_regex_size(re) per rune of each input and one more). */
uint64_t filter_regex_steps(const FilterRegex *re);
size_t filter_regex_size(const FilterRegex *re);
