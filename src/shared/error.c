/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

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
        va_list ap;
        int r;

        code = code < 0 ? -code : code;
        va_start(ap, fmt);
        r = error_vsetf(e, code, fmt, ap);
        va_end(ap);
        if (e && e->code == code) {
                size_t n = strlen(e->message);
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

const char *error_quote(const char *s, char buf[static 80]) {
        size_t n = strlen(s), cut = 60;

        if (n <= 64) {
                snprintf(buf, 80, "\"%s\"", s);
                return buf;
        }
        /* Never inside a UTF-8 sequence: sd-bus refuses to send a message that is not
         * UTF-8, so the caller would get no error reply at all. */
        while (cut > 0 && ((unsigned char) s[cut] & 0xC0) == 0x80)
                cut--;
        snprintf(buf, 80, "\"%.*s…\"", (int) cut, s);
        return buf;
}
