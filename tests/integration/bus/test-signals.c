/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Signals go to the caller, never to the whole bus: the connection that makes a call
 * gets Prepared, Committed, Mounted, Unmounted and Removed; another connection that
 * listens to every signal of the service (even root's) gets none of them, so one user's
 * keys never reach another user. */
#include <string.h>
#include <time.h>

#include "bus-test.h"
#include "strutil.h"
#include "test-util.h"

static BusTest caller, watcher;
static char *seen[16]; /* "Member key owner" of what the caller received */
static size_t n_seen, n_watched;

static int on_caller_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *key;
        uint32_t owner = UINT32_MAX;

        ASSERT_OK(sd_bus_message_read(m, "s", &key));
        /* The owner is the last argument of each signal. */
        while (sd_bus_message_peek_type(m, NULL, NULL) > 0) {
                char type;
                ASSERT_OK(sd_bus_message_peek_type(m, &type, NULL));
                if (type == 'u')
                        ASSERT_OK(sd_bus_message_read(m, "u", &owner));
                else
                        ASSERT_OK(sd_bus_message_skip(m, NULL));
        }
        ASSERT_TRUE(n_seen < ELEMENTSOF(seen));
        seen[n_seen++] = strdup_printf("%s %s %u", sd_bus_message_get_member(m), key, (unsigned) owner);
        return 0;
}

static int on_watched_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        fprintf(stderr, "the watcher got %s\n", sd_bus_message_get_member(m));
        n_watched++;
        return 0;
}

static uint64_t now_usec_mono(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* Dispatches the caller's queue until n signals arrived (5 s at most). */
static void caller_wait_for(size_t n) {
        uint64_t end = now_usec_mono() + 5 * 1000000ULL;

        while (n_seen < n && now_usec_mono() < end) {
                int r = sd_bus_process(caller.bus, NULL);
                ASSERT_OK(r);
                if (r == 0)
                        ASSERT_OK(sd_bus_wait(caller.bus, 100 * 1000));
        }
        ASSERT_TRUE(n_seen == n);
}

static bool seen_has(const char *what) {
        for (size_t i = 0; i < n_seen; i++)
                if (streq(seen[i], what))
                        return true;
        return false;
}

TEST(the_caller_gets_each_signal) {
        _cleanup_free_ char *path = NULL;

        BT_ASSERT_OK(&caller, bt_prepare(&caller, "sig-active", "", NULL, NULL));
        caller_wait_for(1);
        ASSERT_TRUE(seen_has("Prepared sig-active 0"));

        BT_ASSERT_OK(&caller, bt_mount(&caller, "sig-active", "", NULL, &path));
        BT_ASSERT_OK(&caller, bt_unmount(&caller, "sig-active"));
        caller_wait_for(3);
        ASSERT_TRUE(seen_has("Mounted sig-active 0") && seen_has("Unmounted sig-active 0"));

        BT_ASSERT_OK(&caller, bt_commit(&caller, "sig-committed", "sig-active", NULL));
        caller_wait_for(4);
        ASSERT_TRUE(seen_has("Committed sig-committed 0"));

        BT_ASSERT_OK(&caller, bt_remove(&caller, "sig-committed"));
        caller_wait_for(5);
        ASSERT_TRUE(seen_has("Removed sig-committed 0"));
}

TEST(other_connections_get_none) {
        /* A call of the watcher's own, answered after every signal sent before it: had any
         * been broadcast, it would be queued on the watcher by now. */
        ASSERT_TRUE(bt_stat(&watcher, "sig-nothing", &(SnapshotInfo) {}) < 0);
        while (sd_bus_process(watcher.bus, NULL) > 0)
                ;
        ASSERT_TRUE(n_watched == 0);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(the_caller_gets_each_signal),
                TEST_ENTRY(other_connections_get_none),
        };
        int r;

        BT_ASSERT_OK(&caller, bt_open(&caller, "overlayfs"));
        BT_ASSERT_OK(&watcher, bt_open(&watcher, "overlayfs"));
        ASSERT_OK(sd_bus_match_signal(caller.bus, NULL, BT_SERVICE, NULL, BT_SNAPSHOTTER_IFACE, NULL,
                                      on_caller_signal, NULL));
        ASSERT_OK(sd_bus_match_signal(watcher.bus, NULL, BT_SERVICE, NULL, BT_SNAPSHOTTER_IFACE, NULL,
                                      on_watched_signal, NULL));
        r = test_run_all(cases, ELEMENTSOF(cases));
        for (size_t i = 0; i < n_seen; i++)
                free(seen[i]);
        bt_close(&watcher);
        bt_close(&caller);
        return r;
}
