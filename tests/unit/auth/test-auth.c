/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "auth-internal.h"
#include "auth-test-util.h"
#include "auth.h"
#include "test-util.h"

#define ACTION "org.lamina.snapshot1.manage-own"
#define WHAT "prepare \"k\""

static void assert_error(const sd_bus_error *e, const char *name, const char *part) {
        ASSERT_STREQ(e->name, name);
        if (!strstr(e->message, part)) {
                fprintf(stderr, "message \"%s\" lacks \"%s\"\n", e->message, part);
                abort();
        }
}

TEST(authorized_is_allowed) {
        sd_bus_error e = SD_BUS_ERROR_NULL;

        ASSERT_TRUE(auth_decision(WHAT, ACTION, true, false, false, &e) == 1);
        ASSERT_TRUE(!sd_bus_error_is_set(&e));
        ASSERT_TRUE(auth_decision(WHAT, ACTION, true, true, true, &e) == 1);
        ASSERT_TRUE(!sd_bus_error_is_set(&e));
}

TEST(challenge_without_interaction_asks_for_it) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        ASSERT_TRUE(auth_decision(WHAT, ACTION, false, true, false, &e) < 0);
        assert_error(&e, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED, WHAT);
        assert_error(&e, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED, ACTION);
}

TEST(challenge_with_interaction_is_denied) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        ASSERT_ERR(auth_decision(WHAT, ACTION, false, true, true, &e), EACCES);
        assert_error(&e, SD_BUS_ERROR_ACCESS_DENIED, WHAT);
}

TEST(no_is_denied) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e2 = SD_BUS_ERROR_NULL;

        ASSERT_ERR(auth_decision(WHAT, ACTION, false, false, false, &e), EACCES);
        assert_error(&e, SD_BUS_ERROR_ACCESS_DENIED, ACTION);
        ASSERT_ERR(auth_decision(WHAT, ACTION, false, false, true, &e2), EACCES);
        assert_error(&e2, SD_BUS_ERROR_ACCESS_DENIED, WHAT);
}

TEST(polkit_missing_is_denied) {
        static const char *const missing[] = { SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER };

        for (size_t i = 0; i < ELEMENTSOF(missing); i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                const sd_bus_error failure = SD_BUS_ERROR_MAKE_CONST(missing[i], "gone");

                ASSERT_ERR(auth_polkit_failure(WHAT, ACTION, &failure, false, &e), EACCES);
                assert_error(&e, SD_BUS_ERROR_ACCESS_DENIED, "polkit is not running");
        }
}

/* polkitd could not look up a caller that left: a denial, not "polkit is not running". */
TEST(caller_gone_is_denied) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        const sd_bus_error failure = SD_BUS_ERROR_MAKE_CONST(SD_BUS_ERROR_NAME_HAS_NO_OWNER, ":1.7 is gone");

        ASSERT_ERR(auth_polkit_failure(WHAT, ACTION, &failure, true, &e), EACCES);
        assert_error(&e, SD_BUS_ERROR_ACCESS_DENIED, SD_BUS_ERROR_NAME_HAS_NO_OWNER);
        ASSERT_TRUE(!strstr(e.message, "not running"));
}

TEST(polkit_failure_is_denied) {
        static const char *const failures[] = { SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT,
                                                "org.freedesktop.PolicyKit1.Error.Cancelled",
                                                "org.freedesktop.PolicyKit1.Error.Failed" };

        for (size_t i = 0; i < ELEMENTSOF(failures); i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                const sd_bus_error failure = SD_BUS_ERROR_MAKE_CONST(failures[i], "nope");

                ASSERT_ERR(auth_polkit_failure(WHAT, ACTION, &failure, i % 2, &e), EACCES);
                assert_error(&e, SD_BUS_ERROR_ACCESS_DENIED, failures[i]);
                assert_error(&e, SD_BUS_ERROR_ACCESS_DENIED, WHAT);
        }
}

TEST(details_are_sent_as_pairs) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        static const char *const details[] = { "snapshotter", "overlayfs", "verb", "prepare", "key", "k", NULL };
        const char *k, *v;
        Peers p = {};
        size_t n = 0;

        peers_open(&p);
        ASSERT_OK(sd_bus_message_new_method_call(p.client, &m, AUTH_POLKIT_SERVICE, AUTH_POLKIT_PATH,
                                                 AUTH_POLKIT_INTERFACE, "CheckAuthorization"));
        ASSERT_OK(auth_append_details(m, details));
        ASSERT_OK(auth_append_details(m, NULL));
        ASSERT_OK(sd_bus_message_seal(m, 1, 0));
        ASSERT_OK(sd_bus_message_rewind(m, true));

        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{ss}"));
        while (sd_bus_message_read(m, "{ss}", &k, &v) > 0) {
                ASSERT_STREQ(k, details[2 * n]);
                ASSERT_STREQ(v, details[2 * n + 1]);
                n++;
        }
        ASSERT_TRUE(n == 3);
        ASSERT_OK(sd_bus_message_exit_container(m));
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{ss}"));
        ASSERT_TRUE(sd_bus_message_read(m, "{ss}", &k, &v) == 0);
        ASSERT_OK(sd_bus_message_exit_container(m));
        peers_close(&p);
}

typedef struct Seen {
        AuthRegistry *registry;
        int r;
        int calls;
        uid_t uid;
} Seen;

static int method_check(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        static const char *const details[] = { "verb", "prepare", "key", "k", NULL };
        Seen *seen = userdata;

        seen->calls++;
        ASSERT_OK(auth_caller_uid(seen->registry, m, &seen->uid));
        seen->r = auth_check(m, ACTION, details, seen->registry, error);
        if (seen->r < 0)
                return seen->r;
        /* A second action on the same call is decided the same way. */
        ASSERT_TRUE(auth_check(m, "org.lamina.snapshot1.mount-anywhere", details, seen->registry, error) == seen->r);
        return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable test_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Check", "", "", method_check, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* The caller of a direct connection is the socket's peer: this (root) process. */
TEST(root_is_authorized_without_polkit) {
        _cleanup_(auth_registry_freep) AuthRegistry *reg = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_slot *slot = NULL;
        Seen seen = {};
        Peers p = {};

        if (geteuid() != 0) {
                printf("# skipped: not root\n");
                return;
        }
        ASSERT_OK(auth_registry_new(&reg));
        seen.registry = reg;
        peers_open(&p);
        ASSERT_OK(sd_bus_add_object_vtable(p.server, &slot, "/test", "org.lamina.Test", test_vtable, &seen));

        ASSERT_OK(sd_bus_call_method_async(p.client, NULL, NULL, "/test", "org.lamina.Test", "Check",
                                           NULL, NULL, ""));
        for (int i = 0; i < 1000 && seen.calls == 0; i++) {
                ASSERT_OK(sd_bus_process(p.client, NULL));
                ASSERT_OK(sd_bus_process(p.server, NULL));
                ASSERT_OK(sd_bus_wait(p.server, 10000));
        }
        ASSERT_TRUE(seen.calls == 1);
        ASSERT_TRUE(seen.uid == 0);
        ASSERT_TRUE(seen.r == 1);
        ASSERT_TRUE(auth_registry_pending(reg) == 0);
        sd_bus_slot_unref(slot);
        peers_close(&p);
}

TEST(empty_registry) {
        _cleanup_(auth_registry_freep) AuthRegistry *reg = NULL;

        ASSERT_OK(auth_registry_new(&reg));
        ASSERT_TRUE(auth_registry_pending(reg) == 0);
        ASSERT_TRUE(auth_registry_pending(NULL) == 0);
        ASSERT_TRUE(auth_registry_free(NULL) == NULL);
}

/* n_attackers uids whose agents never answer ask until refused; then every one of max / 4
 * other uids still gets a check, and none of the attackers more than its share. */
static void check_fair_share(size_t max, size_t n_attackers) {
        size_t held[64] = {}, pending = 0, share = auth_share_per_uid(max);
        bool progress = true;

        ASSERT_TRUE(n_attackers <= 64);
        ASSERT_TRUE(share >= 1 && share <= AUTH_QUERIES_PER_UID && share <= (max < 4 ? 1 : max / 4));
        while (progress) {
                progress = false;
                for (size_t u = 0; u < n_attackers; u++)
                        if (auth_admit(held[u], pending, max) == 0) {
                                held[u]++;
                                pending++;
                                progress = true;
                        }
        }
        for (size_t u = 0; u < n_attackers; u++) {
                ASSERT_TRUE(held[u] <= share);
                ASSERT_TRUE(auth_admit(held[u], pending, max) < 0);
        }
        ASSERT_TRUE(pending <= max);
        /* The reserve: users with nothing pending, one check each, as long as slots last. */
        for (size_t v = 0; v < max / 4 && pending < max; v++) {
                ASSERT_OK(auth_admit(0, pending, max));
                ASSERT_TRUE(auth_admit(1, pending + 1, max) < 0 || pending + 1 < max - max / 4);
                pending++;
        }
        ASSERT_TRUE(auth_admit(0, max, max) == -EBUSY);
}

TEST(pending_checks_are_shared_fairly) {
        /* One user alone gets its share, over it -EUSERS. */
        ASSERT_TRUE(auth_share_per_uid(AUTH_QUERIES_MAX) == AUTH_QUERIES_PER_UID);
        ASSERT_TRUE(auth_share_per_uid(30) == 7);
        ASSERT_OK(auth_admit(6, 6, 30));
        ASSERT_TRUE(auth_admit(7, 7, 30) == -EUSERS);
        /* A few users can no longer take every slot (with 100 slots 16 each, 7 users could). */
        for (size_t n = 1; n <= 12; n++) {
                check_fair_share(AUTH_QUERIES_MAX, n);
                check_fair_share(30, n);
                check_fair_share(AUTH_QUERIES_PER_UID, n);
        }
}

TEST_MAIN(TEST_ENTRY(authorized_is_allowed),
          TEST_ENTRY(challenge_without_interaction_asks_for_it),
          TEST_ENTRY(challenge_with_interaction_is_denied),
          TEST_ENTRY(no_is_denied),
          TEST_ENTRY(polkit_missing_is_denied),
          TEST_ENTRY(caller_gone_is_denied),
          TEST_ENTRY(polkit_failure_is_denied),
          TEST_ENTRY(details_are_sent_as_pairs),
          TEST_ENTRY(root_is_authorized_without_polkit),
          TEST_ENTRY(empty_registry),
          TEST_ENTRY(pending_checks_are_shared_fairly))
