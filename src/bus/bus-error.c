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

static int bus_error_set_kind(sd_bus_error *error, int code, const char *message) {
        const char *name = error_name_of(code);

        if (!name)
                return sd_bus_error_set_errnof(error, code, "%s", message);
        (void) sd_bus_error_set(error, name, message);
        return -code;
}

int bus_error_from_core(sd_bus_error *error, int r, const Error *e) {
        assert(r < 0);

        if (e && e->code > 0)
                return bus_error_set_kind(error, e->code, e->message);
        return bus_error_set_kind(error, -r, strerror(-r));
}

int bus_error_setf(sd_bus_error *error, int code, const char *fmt, ...) {
        char message[ERROR_MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
        return bus_error_set_kind(error, code, message);
}
