/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* What all ~= patterns of one List call together may expand to, in nodes: atoms, operators
 * and groups (a sha256 digest with [0-9a-f]{64} takes 65). */
#define FILTER_REGEX_SIZE_MAX 256u

/* Refuses a POSIX extended regular expression that would make glibc's regcomp() or
 * regexec() explode (filter-regex.c says how) and charges its expanded size to *budget.
 * -EINVAL with *ret_why set to a static reason when refused. */
int filter_regex_check(const char *re, size_t *budget, const char **ret_why);
