/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "macro.h"

/* NULL-terminated string arrays. */
char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);
int strv_push(char ***l, char *value);          /* takes value */
int strv_extend(char ***l, const char *value);  /* copies value */
char *strv_join(char *const *l, const char *sep);

/* Builds a strv by appending in amortized constant time (strv_push() walks the whole
 * array each time). l is NULL or a valid strv of n items; free it with strv_free(). */
typedef struct StrvBuilder {
        char **l;
        size_t n, allocated;
} StrvBuilder;
int strv_builder_extend(StrvBuilder *b, const char *value); /* copies value */

/* The length of the UTF-8 character s starts with (1 to 4) and, when ret_cp is not NULL, its
 * code point; 0 if s does not start with one (the terminating NUL, a stray byte, an overlong
 * form, a surrogate). Control characters count as characters here. */
size_t utf8_char_len(const char *s, uint32_t *ret_cp);
bool utf8_is_valid(const char *s);
/* A copy of s with each byte that is not part of a UTF-8 character replaced by U+FFFD. */
char *utf8_replace_invalid(const char *s);
/* Valid UTF-8 and no C0/C1 control characters or DEL. */
bool utf8_is_printable(const char *s);
/* The length of the printable UTF-8 character s starts with (1 to 4), or 0 if it is not
 * one (a control character, the terminating NUL, or not UTF-8). */
size_t utf8_printable_char_len(const char *s);
/* The escaped form of the character s starts with: itself if it is printable UTF-8, else
 * "\xNN" for its first byte. Writes it to out (at most 4 bytes, no NUL), its length to
 * *ret_written; returns how many bytes of s it stands for (0 at the terminating NUL). */
size_t utf8_escape_char(const char *s, char out[static 4], size_t *ret_written);

char *strdup_printf(const char *fmt, ...) _printf_(1, 2);

uint64_t clock_usec(clockid_t clock);
uint64_t now_usec(void); /* CLOCK_REALTIME */
/* Condition variables whose timed waits run on CLOCK_MONOTONIC (0 or a negative errno),
 * and the deadline usec from now for such a wait. */
int cond_init_monotonic(pthread_cond_t *c);
struct timespec monotonic_deadline(uint64_t usec);
