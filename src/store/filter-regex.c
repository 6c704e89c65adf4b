/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "filter-regex.h"

/* glibc's regcomp() expands bounded repetitions into copies ("((a{1,100}){1,100}){1,100}"
 * compiles for seconds), recurses on nesting, takes time far beyond linear in the number of
 * its nodes ("a" and 4000 "*" compile for a minute) and copies empty groups too
 * ("(){1000}{1000}" overflows the stack), and its matcher recurses on backreferences
 * ("(|)(\1\1)*" overflows the stack) and takes time in proportion to the expanded size for
 * every byte it matches ("[ab]{1000}c" needs 70 ms for a 4 KiB name). Anyone may call List,
 * so patterns are checked first: containerd's Go regexps know no backreferences and repeat
 * at most 1000 times; on top of that, all ~= patterns of one call together may expand to
 * FILTER_REGEX_SIZE_MAX nodes, each atom, operator and group counted (a sha256 digest with
 * [0-9a-f]{64} takes 65), nested at most REGEX_DEPTH_MAX groups deep. */
#define REGEX_REPEAT_MAX 1000u
#define REGEX_DEPTH_MAX 100u

static int refuse(const char **ret_why, const char *why) {
        *ret_why = why;
        return -EINVAL;
}

/* Skips a bracket expression starting at re[i] == '['; returns the index after it. */
static size_t regex_skip_bracket(const char *re, size_t i) {
        i++;
        if (re[i] == '^')
                i++;
        if (re[i] == ']')
                i++;
        while (re[i] && re[i] != ']') {
                if (re[i] == '[' && re[i + 1] && strchr(":.=", re[i + 1])) {
                        const char *end = strchr(re + i + 2, re[i + 1]);
                        while (end && end[1] != ']')
                                end = strchr(end + 1, re[i + 1]);
                        if (!end)
                                return strlen(re); /* unterminated: regcomp() says so */
                        i = (size_t) (end - re) + 2;
                } else
                        i++;
        }
        return re[i] ? i + 1 : i;
}

/* Parses "{m}", "{m,}", "{m,n}" or "{,n}" at re[i]; returns the index after it and the
 * copies regcomp() makes, or 0 when it is no bound (then '{' is a plain character). */
static size_t regex_parse_bound(const char *re, size_t i, unsigned long *ret_copies, bool *ret_too_big) {
        unsigned long m = 0, n = 0;
        bool comma = false, have_n = false;
        char *end;

        *ret_too_big = false;
        if (isdigit((unsigned char) re[i + 1])) {
                m = strtoul(re + i + 1, &end, 10);
                i = (size_t) (end - re);
        } else
                i++;
        if (re[i] == ',') {
                comma = true;
                if (isdigit((unsigned char) re[i + 1])) {
                        n = strtoul(re + i + 1, &end, 10);
                        have_n = true;
                        i = (size_t) (end - re);
                } else
                        i++;
        }
        if (re[i] != '}')
                return 0;
        *ret_too_big = m > REGEX_REPEAT_MAX || n > REGEX_REPEAT_MAX;
        *ret_copies = have_n ? n : comma ? m + 1 : m;
        if (*ret_copies == 0)
                *ret_copies = 1;
        return i + 1;
}

/* One node for each atom, each operator ("*", "?", "|", a repetition's own) and each
 * group's open and close, plus the copies a repetition makes. Each group level keeps the
 * size of its contents so far and of its last atom, which a repetition copies. */
int filter_regex_check(const char *re, size_t *budget, const char **ret_why) {
        size_t total[REGEX_DEPTH_MAX + 1] = {}, last[REGEX_DEPTH_MAX + 1] = {};
        size_t depth = 0, size = 0;

        for (size_t i = 0; re[i];) {
                unsigned long copies = 1; /* > 1: a repetition of the last atom */
                size_t added = 1, next;   /* nodes: the atom's or the operator's own */
                bool too_big;

                switch (re[i]) {
                case '\\':
                        if (re[i + 1] >= '1' && re[i + 1] <= '9')
                                return refuse(ret_why, "backreferences (\\1 to \\9) are not supported in regular expressions");
                        i += re[i + 1] ? 2 : 1;
                        last[depth] = 0;
                        break;
                case '[':
                        i = regex_skip_bracket(re, i);
                        last[depth] = 0;
                        break;
                case '(':
                        if (depth == REGEX_DEPTH_MAX)
                                return refuse(ret_why, "regular expression nests groups too deeply");
                        depth++;
                        total[depth] = last[depth] = 0;
                        i++;
                        break;
                case ')':
                        i++;
                        if (depth == 0) { /* a plain character in an ERE */
                                last[depth] = 0;
                                break;
                        }
                        /* The group, its contents counted already and its close here, becomes
                         * the last atom of its parent. */
                        depth--;
                        last[depth] = total[depth + 1] + 1;
                        total[depth] += last[depth];
                        size++;
                        continue;
                case '|':
                        i++;
                        total[depth]++;
                        last[depth] = 0;
                        size++;
                        continue;
                case '+': /* regcomp() makes "x+" "xx*" */
                        copies = 2;
                        i++;
                        break;
                case '*':
                case '?':
                        i++;
                        break;
                case '{':
                        next = regex_parse_bound(re, i, &copies, &too_big);
                        if (next == 0) { /* a plain '{' */
                                copies = 1;
                                last[depth] = 0;
                                i++;
                                break;
                        }
                        if (too_big)
                                return refuse(ret_why, "regular expression repeats more than 1000 times");
                        i = next;
                        break;
                default:
                        i++;
                        last[depth] = 0;
                }

                /* An atom starts a new last atom; an operator extends the last one. */
                added += last[depth] * (copies - 1);
                total[depth] += added;
                last[depth] += added;
                size += added;
                if (size > *budget)
                        return refuse(ret_why, "regular expressions too large (too many repetitions, alternatives or groups); simplify them");
        }
        *budget -= size;
        return 0;
}
