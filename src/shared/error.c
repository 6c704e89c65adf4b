/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "strutil.h"

static int error_vsetf(Error *e, int code, const char *fmt, va_list ap) {
        code = code < 0 ? -code : code;
        assert(code > 0);
        if (e && e->code == 0) {
                e->code = code;
                vsnprintf(e->message, sizeof e->message, fmt, ap);
        }
        return -code;
}

int error_setf(Error *e, int code, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = error_vsetf(e, code, fmt, ap);
        va_end(ap);
        return r;
}

int error_set_errno(Error *e, int code, const char *fmt, ...) {
        bool unset = e && e->code == 0;
        va_list ap;
        int r;

        code = code < 0 ? -code : code;
        va_start(ap, fmt);
        r = error_vsetf(e, code, fmt, ap);
        va_end(ap);
        if (unset) {
                size_t n = strlen(e->message);

                e->internal = true;
                snprintf(e->message + n, sizeof e->message - n, ": %s", strerror(code));
        }
        return r;
}

int error_from_errno(Error *e, int r, const char *what) {
        if (r >= 0)
                return r;
        if (e && e->code == 0)
                (void) error_set_errno(e, r, "%s", what);
        return r;
}

/* Appends the quoted form of the character at s to out (printable UTF-8 as is, any other
 * byte as \xNN) unless that passes limit bytes; returns how many bytes of s it took, 0
 * if it did not fit. */
static size_t quote_char(const char *s, char *out, size_t *n, size_t limit) {
        char c[4];
        size_t written, len = utf8_escape_char(s, c, &written);

        if (*n + written > limit)
                return 0;
        memcpy(out + *n, c, written);
        *n += written;
        return len;
}

const char *error_quote(const char *s, char buf[static ERROR_QUOTE_SIZE]) {
        char q[ERROR_QUOTE_MAX + 1];
        size_t n = 0, cut = 0, taken;
        const char *p = s;

        /* At most ERROR_QUOTE_MAX bytes whole; else 4 fewer and "…". Never inside a UTF-8
         * sequence, and bytes that are not printable UTF-8 escaped: sd-bus refuses to
         * send a message that is not UTF-8 (the caller would get no error reply at all),
         * and a layer entry's name can hold any byte. */
        for (; *p && (taken = quote_char(p, q, &n, ERROR_QUOTE_MAX)) > 0; p += taken)
                if (n <= ERROR_QUOTE_MAX - 4)
                        cut = n;
        if (*p == 0) {
                snprintf(buf, ERROR_QUOTE_SIZE, "\"%.*s\"", (int) n, q);
                return buf;
        }
        snprintf(buf, ERROR_QUOTE_SIZE, "\"%.*s…\"", (int) cut, q);
        return buf;
}
