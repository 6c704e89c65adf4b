/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "auth.h"
#include "bus-error.h"
#include "bus.h"

int bus_caller_uid(BusContext *c, sd_bus_message *m, uid_t *ret, sd_bus_error *error) {
        int r;

        r = auth_caller_uid(c->auth, m, ret);
        if (r < 0)
                return bus_error_setf(error, EACCES, "cannot determine the caller's user ID (%s); refusing",
                                      strerror(-r));
        return 0;
}

/* Root passes; anyone else is asked about with polkit, asynchronously (src/auth). */
int bus_verify(BusContext *c, sd_bus_message *m, const char *action, const char *const *details,
               sd_bus_error *error) {
        assert(c);
        assert(action);

        return auth_check(m, action, details, c->auth, error);
}
