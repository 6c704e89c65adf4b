/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The caller's groups, asked of the bus daemon without waiting (auth_caller_groups_async):
 * what it tells is taken only for the caller's uid, anything else denies, and the lookups
 * pending are bounded and shared fairly between uids. A direct connection plays the bus
 * daemon. */
#include <stdlib.h>

#include "auth-test-util.h"
#include "auth.h"
#include "macro.h"

#define CALLER_UID 1000u
#define SENDER ":1.7"

/* How the fake bus daemon answers GetConnectionCredentials. */
typedef enum Answer {
        ANSWER_GROUPS,      /* the caller's uid and groups */
        ANSWER_NO_GROUPS,   /* the uid only (a dbus-daemon before 1.12) */
        ANSWER_OTHER_UID,   /* another connection's */
        ANSWER_ERROR,       /* NameHasNoOwner: the caller left */
        ANSWER_NONE,        /* never */
} Answer;

typedef struct Daemon {
        Answer answer;
        char sender[64];
} Daemon;

static int method_credentials(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Daemon *d = userdata;
        const char *sender;

        ASSERT_OK(sd_bus_message_read(m, "s", &sender));
        snprintf(d->sender, sizeof d->sender, "%s", sender);
        switch (d->answer) {
        case ANSWER_ERROR:
                return sd_bus_error_setf(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER, "no such name");
        case ANSWER_NONE:
                return 1;
        default:
                break;
        }
        ASSERT_OK(sd_bus_message_new_method_return(m, &reply));
        ASSERT_OK(sd_bus_message_open_container(reply, 'a', "{sv}"));
        ASSERT_OK(sd_bus_message_append(reply, "{sv}", "UnixUserID", "u",
                                        d->answer == ANSWER_OTHER_UID ? CALLER_UID + 1 : CALLER_UID));
        if (d->answer != ANSWER_NO_GROUPS)
                ASSERT_OK(sd_bus_message_append(reply, "{sv}", "UnixGroupIDs", "au", 3, 1000, 27, 100));
        ASSERT_OK(sd_bus_message_append(reply, "{sv}", "ProcessID", "u", 4242));
        ASSERT_OK(sd_bus_message_close_container(reply));
        return sd_bus_send(NULL, reply, NULL);
}

static const sd_bus_vtable daemon_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("GetConnectionCredentials", "s", "a{sv}", method_credentials, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* What one lookup ended with. */
typedef struct Outcome {
        bool done;
        int r;
        gid_t *gids;
        size_t n;
} Outcome;

static void on_done(int r, gid_t *gids, size_t n, void *userdata) {
        Outcome *o = userdata;

        ASSERT_TRUE(!o->done);
        *o = (Outcome) { .done = true, .r = r, .gids = gids, .n = n };
}

/* One lookup against a fake daemon answering as told, until it is done. */
static Outcome look_up(Answer answer) {
        sd_bus_slot *slot = NULL;
        Daemon d = { .answer = answer };
        Outcome o = {};
        Peers p = {};

        peers_open(&p);
        ASSERT_OK(sd_bus_add_object_vtable(p.server, &slot, "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                           daemon_vtable, &d));
        ASSERT_OK(auth_caller_groups_async(p.client, SENDER, CALLER_UID, on_done, &o));
        ASSERT_TRUE(!o.done); /* never before the daemon answered */
        for (int i = 0; i < 1000 && !o.done; i++) {
                ASSERT_OK(sd_bus_process(p.server, NULL));
                ASSERT_OK(sd_bus_process(p.client, NULL));
                ASSERT_OK(sd_bus_wait(p.client, 10000));
        }
        ASSERT_TRUE(o.done);
        ASSERT_STREQ(d.sender, SENDER); /* asked about the caller's connection */
        sd_bus_slot_unref(slot);
        peers_close(&p);
        ASSERT_TRUE(auth_groups_pending() == 0);
        return o;
}

TEST(groups_the_daemon_tells_are_taken) {
        Outcome o = look_up(ANSWER_GROUPS);

        ASSERT_TRUE(o.r == 0 && o.n == 3);
        ASSERT_TRUE(o.gids[0] == 1000 && o.gids[1] == 27 && o.gids[2] == 100);
        free(o.gids);
}

TEST(missing_groups_deny) {
        Outcome o = look_up(ANSWER_NO_GROUPS);

        ASSERT_TRUE(o.r == -EPERM && !o.gids);
}

TEST(another_uid_denies) {
        Outcome o = look_up(ANSWER_OTHER_UID);

        ASSERT_TRUE(o.r == -EPERM && !o.gids);
}

TEST(an_error_denies) {
        Outcome o = look_up(ANSWER_ERROR);

        ASSERT_TRUE(o.r < 0 && !o.gids);
}

TEST(no_sender_denies_at_once) {
        Peers p = {};

        peers_open(&p);
        ASSERT_TRUE(auth_caller_groups_async(p.client, NULL, CALLER_UID, on_done, NULL) == -EPERM);
        peers_close(&p);
}

/* While the daemon does not answer, one uid holds a fair share of the pending lookups and
 * another uid still gets one; each ends when the bus goes. */
TEST(pending_lookups_are_bounded_per_uid) {
        sd_bus_slot *slot = NULL;
        Daemon d = { .answer = ANSWER_NONE };
        Outcome o[AUTH_GROUPS_PENDING_PER_UID + 1] = {};
        Peers p = {};

        peers_open(&p);
        ASSERT_OK(sd_bus_add_object_vtable(p.server, &slot, "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                           daemon_vtable, &d));
        for (size_t i = 0; i < AUTH_GROUPS_PENDING_PER_UID; i++)
                ASSERT_OK(auth_caller_groups_async(p.client, SENDER, CALLER_UID, on_done, &o[i]));
        ASSERT_TRUE(auth_caller_groups_async(p.client, SENDER, CALLER_UID, on_done, NULL) == -EUSERS);
        ASSERT_OK(auth_caller_groups_async(p.client, SENDER, CALLER_UID + 1, on_done,
                                           &o[AUTH_GROUPS_PENDING_PER_UID]));
        ASSERT_TRUE(auth_groups_pending() == AUTH_GROUPS_PENDING_PER_UID + 1);
        for (int i = 0; i < 10; i++) {
                ASSERT_OK(sd_bus_process(p.server, NULL));
                ASSERT_OK(sd_bus_process(p.client, NULL));
        }
        for (size_t i = 0; i < ELEMENTSOF(o); i++)
                ASSERT_TRUE(!o[i].done);
        sd_bus_slot_unref(slot);
        peers_close(&p);
        ASSERT_TRUE(auth_groups_pending() == 0);
        for (size_t i = 0; i < ELEMENTSOF(o); i++)
                ASSERT_TRUE(o[i].done && o[i].r < 0 && !o[i].gids);
}

TEST_MAIN(TEST_ENTRY(groups_the_daemon_tells_are_taken),
          TEST_ENTRY(missing_groups_deny),
          TEST_ENTRY(another_uid_denies),
          TEST_ENTRY(an_error_denies),
          TEST_ENTRY(no_sender_denies_at_once),
          TEST_ENTRY(pending_lookups_are_bounded_per_uid))
