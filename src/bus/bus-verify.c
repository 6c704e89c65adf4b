/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "auth.h"
#include "bus-error.h"
#include "bus.h"

int bus_caller_uid(sd_bus_message *m, uid_t *ret, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;
        int r;

        /* The bus reports the euid it saw at connect time; an euid read from /proc
         * (augmented) could be raced, so a caller we only know that way is refused. */
        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
        if (r >= 0 && (sd_bus_creds_get_augmented_mask(creds) & SD_BUS_CREDS_EUID))
                r = -EPERM;
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return bus_error_setf(error, EACCES,
                                      "cannot determine the caller's user ID (%s); refusing",
                                      strerror(-r));
        *ret = uid;
        return 0;
}

/* Root passes; anyone else is asked about with polkit, asynchronously (src/auth). */
int bus_verify(BusContext *c, sd_bus_message *m, const char *action, const char *const *details,
               sd_bus_error *error) {
        assert(c);
        assert(action);

        return auth_check(m, action, details, c->auth, error);
}
