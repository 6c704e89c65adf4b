/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc-util.h"
#include "strutil.h"

char **strv_free(char **l) {
        if (l)
                for (char **i = l; *i; i++)
                        free(*i);
        free(l);
        return NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        if (l)
                while (l[n])
                        n++;
        return n;
}

int strv_push(char ***l, char *value) {
        size_t n = strv_length(*l);
        char **c = realloc(*l, (n + 2) * sizeof(char *));

        if (!c)
                return -ENOMEM;
        c[n] = value;
        c[n + 1] = NULL;
        *l = c;
        return 0;
}

int strv_extend(char ***l, const char *value) {
        char *v = strdup(value);
        int r;

        if (!v)
                return -ENOMEM;
        r = strv_push(l, v);
        if (r < 0)
                free(v);
        return r;
}

/* Takes value. */
static int strv_builder_push(StrvBuilder *b, char *value) {
        if (GREEDY_REALLOC(b->l, b->allocated, b->n + 2, 16) < 0)
                return -ENOMEM;
        b->l[b->n++] = value;
        b->l[b->n] = NULL;
        return 0;
}

int strv_builder_extend(StrvBuilder *b, const char *value) {
        char *v = strdup(value);
        int r;

        if (!v)
                return -ENOMEM;
        r = strv_builder_push(b, v);
        if (r < 0)
                free(v);
        return r;
}

char *strv_join(char *const *l, const char *sep) {
        size_t n = 1, k = strlen(sep);
        char *s, *p;

        for (char *const *i = l; i && *i; i++)
                n += strlen(*i) + k;
        p = s = malloc(n);
        if (!s)
                return NULL;
        *s = 0;
        for (char *const *i = l; i && *i; i++) {
                if (i != l)
                        p = stpcpy(p, sep);
                p = stpcpy(p, *i);
        }
        return s;
}

size_t utf8_char_len(const char *s, uint32_t *ret_cp) {
        const unsigned char *p = (const unsigned char *) s;
        uint32_t cp;
        size_t len;

        if (*p == 0)
                return 0;
        if (*p < 0x80) {
                cp = *p;
                len = 1;
        } else if ((*p & 0xE0) == 0xC0) {
                cp = *p & 0x1F;
                len = 2;
        } else if ((*p & 0xF0) == 0xE0) {
                cp = *p & 0x0F;
                len = 3;
        } else if ((*p & 0xF8) == 0xF0) {
                cp = *p & 0x07;
                len = 4;
        } else
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xC0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3F);
        }
        /* overlong forms, surrogates and out-of-range code points */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
                return 0;
        if (ret_cp)
                *ret_cp = cp;
        return len;
}

size_t utf8_printable_char_len(const char *s) {
        uint32_t cp;
        size_t len = utf8_char_len(s, &cp);

        if (len == 0 || cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0))
                return 0;
        return len;
}

size_t utf8_escape_char(const char *s, char out[static 4], size_t *ret_written) {
        size_t len = utf8_printable_char_len(s);

        if (*s == 0) {
                *ret_written = 0;
                return 0;
        }
        if (len > 0) {
                memcpy(out, s, len);
                *ret_written = len;
                return len;
        }
        out[0] = '\\';
        out[1] = 'x';
        out[2] = "0123456789abcdef"[(unsigned char) *s >> 4];
        out[3] = "0123456789abcdef"[(unsigned char) *s & 0xF];
        *ret_written = 4;
        return 1;
}

bool utf8_is_printable(const char *s) {
        for (size_t len; *s; s += len) {
                len = utf8_printable_char_len(s);
                if (len == 0)
                        return false;
        }
        return true;
}

bool utf8_is_valid(const char *s) {
        for (size_t len; *s; s += len) {
                len = (unsigned char) *s < 0x80 ? 1 : utf8_char_len(s, NULL);
                if (len == 0)
                        return false;
        }
        return true;
}

char *utf8_replace_invalid(const char *s) {
        /* at most 3 bytes (U+FFFD) for each byte of s */
        char *fixed = malloc(strlen(s) * 3 + 1), *p = fixed;

        if (!fixed)
                return NULL;
        for (size_t len; *s; s += len) {
                len = utf8_char_len(s, NULL);
                if (len == 0) {
                        p = stpcpy(p, "\xEF\xBF\xBD");
                        len = 1;
                } else
                        p = mempcpy(p, s, len);
        }
        *p = 0;
        return fixed;
}

char *strdup_printf(const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

uint64_t clock_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts); /* cannot fail for the clocks we ask */
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t now_usec(void) {
        return clock_usec(CLOCK_REALTIME);
}

int cond_init_monotonic(pthread_cond_t *c) {
        pthread_condattr_t attr;
        int r;

        r = pthread_condattr_init(&attr);
        if (r != 0)
                return -r;
        r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        if (r == 0)
                r = pthread_cond_init(c, &attr);
        (void) pthread_condattr_destroy(&attr);
        return -r;
}

struct timespec monotonic_deadline(uint64_t usec) {
        uint64_t t = clock_usec(CLOCK_MONOTONIC) + usec;

        return (struct timespec) { .tv_sec = (time_t) (t / 1000000ULL), .tv_nsec = (long) (t % 1000000ULL) * 1000L };
}
