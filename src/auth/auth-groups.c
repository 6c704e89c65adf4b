/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fair-share.h"
#include "strutil.h"

/* UnixGroupIDs of GetConnectionCredentials (dbus-daemon >= 1.12): the groups dbus-daemon
 * read from the socket (SO_PEERGROUPS and the peer's gid) when the caller connected, as
 * it did its uid; libsystemd 252 does not read them (it would take them from /proc, which
 * the caller may race), so they are asked for here, without waiting on the event loop
 * for the answer. */
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

/* Reads GetConnectionCredentials' reply: the groups, when the uid is the caller's. */
static int read_credentials(sd_bus_message *reply, uid_t uid, gid_t **ret, size_t *ret_n) {
        _cleanup_free_ gid_t *gids = NULL;
        bool uid_seen = false;
        size_t n = 0;
        int r;

        if (sd_bus_message_is_method_error(reply, NULL))
                return -sd_bus_message_get_errno(reply) ?: -EPERM;
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

/* One lookup waiting for the bus daemon's answer. */
typedef struct GroupsLookup {
        uid_t uid;
        AuthGroupsDone done; /* NULL once called */
        void *userdata;
        struct GroupsLookup *prev, *next;
} GroupsLookup;

/* The lookups pending, of all buses (laminad has one, served by one thread). */
static GroupsLookup *lookups;
static size_t n_lookups;

static void lookup_finish(GroupsLookup *l, int r, gid_t *gids, size_t n) {
        AuthGroupsDone done = l->done;

        l->done = NULL;
        if (done)
                done(r, gids, n, l->userdata);
        else
                free(gids);
}

static int lookup_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        GroupsLookup *l = userdata;
        gid_t *gids = NULL;
        size_t n = 0;
        int r;

        r = read_credentials(reply, l->uid, &gids, &n);
        lookup_finish(l, r, r < 0 ? NULL : gids, n);
        return 0;
}

/* The slot goes: after the reply, or with the bus (unanswered: -ECONNRESET). */
static void lookup_destroy(void *userdata) {
        GroupsLookup *l = userdata;

        lookup_finish(l, -ECONNRESET, NULL, 0);
        if (l->prev)
                l->prev->next = l->next;
        else
                lookups = l->next;
        if (l->next)
                l->next->prev = l->prev;
        n_lookups--;
        free(l);
}

size_t auth_groups_pending(void) {
        return n_lookups;
}

int auth_caller_groups_async(sd_bus *bus, const char *sender, uid_t uid, AuthGroupsDone done, void *userdata) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        size_t mine = 0;
        GroupsLookup *l;
        int r;

        assert(bus);
        assert(done);

        if (!sender)
                return -EPERM;
        for (GroupsLookup *i = lookups; i; i = i->next)
                mine += i->uid == uid;
        r = fair_share_admit(mine, n_lookups, AUTH_GROUPS_PENDING_MAX, AUTH_GROUPS_PENDING_PER_UID);
        if (r < 0)
                return r;
        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        *l = (GroupsLookup) { .uid = uid, .userdata = userdata };
        r = sd_bus_call_method_async(bus, &slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "GetConnectionCredentials", lookup_reply, l, "s",
                                     sender);
        if (r < 0) {
                free(l);
                return r;
        }
        l->next = lookups;
        if (l->next)
                l->next->prev = l;
        lookups = l;
        n_lookups++;
        /* The bus owns the slot from now on; neither can fail on a slot just made. */
        (void) sd_bus_slot_set_destroy_callback(slot, lookup_destroy);
        (void) sd_bus_slot_set_floating(slot, 1);
        l->done = done;
        return 0;
}
