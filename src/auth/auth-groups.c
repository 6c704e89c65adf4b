/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "strutil.h"

/* UnixGroupIDs of GetConnectionCredentials (dbus-daemon >= 1.12): the groups dbus-daemon
 * read from the socket (SO_PEERGROUPS and the peer's gid) when the caller connected, as
 * it did its uid; libsystemd 252 does not read them (it would take them from /proc, which
 * the caller may race), so they are asked for here. */
static int read_group_ids(sd_bus_message *reply, gid_t **ret, size_t *ret_n) {
        _cleanup_free_ gid_t *gids = NULL;
        const uint32_t *ids;
        size_t size;
        int r;

        r = sd_bus_message_enter_container(reply, 'v', "au");
        if (r < 0)
                return r;
        r = sd_bus_message_read_array(reply, 'u', (const void **) &ids, &size);
        if (r < 0)
                return r;
        if (size == 0 || size / sizeof *ids > NGROUPS_MAX)
                return -EBADMSG;
        gids = malloc(size);
        if (!gids)
                return -ENOMEM;
        memcpy(gids, ids, size);
        *ret_n = size / sizeof *ids;
        *ret = TAKE_PTR(gids);
        return sd_bus_message_exit_container(reply);
}

int auth_caller_groups(sd_bus_message *m, uid_t uid, gid_t **ret, size_t *ret_n) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ gid_t *gids = NULL;
        const char *sender = sd_bus_message_get_sender(m);
        bool uid_seen = false;
        size_t n = 0;
        int r;

        assert(ret);
        assert(ret_n);

        if (!sender)
                return -EPERM;
        r = sd_bus_call_method(sd_bus_message_get_bus(m), "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "GetConnectionCredentials", &error, &reply, "s", sender);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key;
                uint32_t u;

                r = sd_bus_message_read(reply, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "UnixUserID")) {
                        r = sd_bus_message_read(reply, "v", "u", &u);
                        if (r < 0)
                                return r;
                        if (u != uid) /* not the connection the call came from */
                                return -EPERM;
                        uid_seen = true;
                } else if (streq(key, "UnixGroupIDs") && !gids)
                        r = read_group_ids(reply, &gids, &n);
                else
                        r = sd_bus_message_skip(reply, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        if (!uid_seen || !gids)
                return -EPERM;
        *ret = TAKE_PTR(gids);
        *ret_n = n;
        return 0;
}
