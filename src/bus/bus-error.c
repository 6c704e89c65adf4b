/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bus-error.h"

/* Error kinds (positive errno, see error.h) to D-Bus error names. The first entry for
 * a name is also what clients map it back to (sd_bus_error_add_map). */
const sd_bus_error_map bus_lamina_errors[] = {
        SD_BUS_ERROR_MAP(BUS_ERROR_NOT_FOUND, ENOENT),
        SD_BUS_ERROR_MAP(BUS_ERROR_ALREADY_EXISTS, EEXIST),
        SD_BUS_ERROR_MAP(BUS_ERROR_FAILED_PRECONDITION, EWRONGKIND),
        SD_BUS_ERROR_MAP(BUS_ERROR_FAILED_PRECONDITION, ENOTEMPTY),
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_ARGUMENT, EINVAL),
        SD_BUS_ERROR_MAP(BUS_ERROR_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(BUS_ERROR_QUOTA_EXCEEDED, EDQUOT),
        SD_BUS_ERROR_MAP(BUS_ERROR_QUOTA_EXCEEDED, ENOSPC), /* a full filesystem or metadata map */
        SD_BUS_ERROR_MAP(SD_BUS_ERROR_ACCESS_DENIED, EACCES),
        SD_BUS_ERROR_MAP(SD_BUS_ERROR_ACCESS_DENIED, EPERM),
        SD_BUS_ERROR_MAP(SD_BUS_ERROR_LIMITS_EXCEEDED, EUSERS),
        SD_BUS_ERROR_MAP(SD_BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP),
        SD_BUS_ERROR_MAP_END
};

static const char *error_name_of(int code) {
        for (const sd_bus_error_map *m = bus_lamina_errors; m->name; m++)
                if (m->code == code)
                        return m->name;
        return NULL;
}

/* An internal failure (an errno from below, not a kind): a caller gets a name it can act
 * on where there is one, and Failed for everything else. Never NotFound, InvalidArgument
 * and the like: those say something about the caller's request that may not be true. */
static const char *internal_error_name(int code) {
        switch (code) {
        case ENOSPC:
        case EDQUOT:
        case EFBIG:
                return BUS_ERROR_QUOTA_EXCEEDED; /* the message says what is full */
        case EMFILE:
        case ENFILE:
        case ENOMEM:
        case ENOBUFS:
        case EUSERS:
                return SD_BUS_ERROR_LIMITS_EXCEEDED;
        default:
                return SD_BUS_ERROR_FAILED;
        }
}

static int bus_error_set_name(sd_bus_error *error, int code, const char *name, const char *message) {
        (void) sd_bus_error_set(error, name, message);
        return -code;
}

static int bus_error_set_kind(sd_bus_error *error, int code, const char *message) {
        return bus_error_set_name(error, code, error_name_of(code) ?: internal_error_name(code), message);
}

int bus_error_from_core(sd_bus_error *error, int r, const Error *e) {
        assert(r < 0);

        if (e && e->code > 0)
                return e->internal ? bus_error_set_name(error, e->code, internal_error_name(e->code), e->message)
                                   : bus_error_set_kind(error, e->code, e->message);
        return bus_error_set_name(error, -r, internal_error_name(-r), strerror(-r));
}

int bus_error_ensure(sd_bus_error *error, int r) {
        if (r >= 0 || sd_bus_error_is_set(error))
                return r;
        return bus_error_from_core(error, r, NULL);
}

int bus_error_setf(sd_bus_error *error, int code, const char *fmt, ...) {
        char message[ERROR_MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
        return bus_error_set_kind(error, code, message);
}
