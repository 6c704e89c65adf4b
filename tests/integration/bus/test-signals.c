/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Signals go to the caller, never to the whole bus: the connection that makes a call
 * gets Prepared, Committed, Mounted, Unmounted and Removed, each after the call's reply;
 * another connection that listens to every signal of the service (even root's) gets none
 * of them, so one user's keys never reach another user. A connection that called
 * Monitor.Mute gets the replies of its calls but not their signals (watchers still get
 * their copies) until it calls Unmute. */
#include <string.h>
#include <time.h>

#include "bus-test.h"
#include "strutil.h"
#include "test-util.h"

static BusTest caller, watcher, quiet, copier;
static char *seen[16]; /* "Member key owner" of what the caller received, "reply Method" of replies */
static size_t n_seen, n_watched, n_quiet, n_copied;

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

static int on_counted_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        size_t *n = userdata;

        fprintf(stderr, "# got %s\n", sd_bus_message_get_member(m));
        (*n)++;
        return 0;
}

/* Dispatches the queue of t until *count reached n (60 s at most: a loaded machine). */
static void wait_for(BusTest *t, const size_t *count, size_t n) {
        uint64_t end = now_usec_mono() + 60 * 1000000ULL;

        while (*count < n && now_usec_mono() < end) {
                int r = sd_bus_process(t->bus, NULL);
                ASSERT_OK(r);
                if (r == 0)
                        ASSERT_OK(sd_bus_wait(t->bus, 100 * 1000));
        }
        ASSERT_TRUE(*count == n);
}

static void caller_wait_for(size_t n) {
        wait_for(&caller, &n_seen, n);
}

/* Dispatches everything queued on t, after a call to laminad whose reply comes after every
 * message laminad sent t before (the bus keeps the order of one sender's messages). */
static void drain_after_barrier(BusTest *t) {
        ASSERT_TRUE(bt_stat(t, "sig-barrier", &(SnapshotInfo) {}) < 0);
        while (sd_bus_process(t->bus, NULL) > 0)
                ;
}

static int on_prepare_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        ASSERT_TRUE(!sd_bus_message_is_method_error(m, NULL));
        ASSERT_TRUE(n_seen < ELEMENTSOF(seen));
        seen[n_seen++] = strdup_printf("reply %s", (const char *) userdata);
        return 0;
}

static void monitor_call(BusTest *t, const char *member) {
        BT_ASSERT_OK(t, bt_call(t, BT_MANAGER_PATH, "org.lamina.snapshot1.Monitor", member, NULL, NULL));
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

TEST(the_reply_comes_before_its_signal) {
        size_t first = n_seen;

        /* Dispatched in the order they arrive: the reply's callback, then the match's. */
        ASSERT_OK(sd_bus_call_method_async(caller.bus, NULL, BT_SERVICE, caller.path, BT_SNAPSHOTTER_IFACE,
                                           "Prepare", on_prepare_reply, (void *) "Prepare", "ssa{ss}",
                                           "sig-order", "", 0));
        caller_wait_for(first + 2);
        ASSERT_TRUE(streq(seen[first], "reply Prepare"));
        ASSERT_TRUE(streq(seen[first + 1], "Prepared sig-order 0"));
        BT_ASSERT_OK(&caller, bt_remove(&caller, "sig-order"));
        caller_wait_for(first + 3);
}

TEST(a_muted_connection_gets_replies_without_signals) {
        monitor_call(&copier, "Watch"); /* from now on: no copies of earlier changes */
        monitor_call(&quiet, "Mute");
        monitor_call(&quiet, "Mute"); /* a second changes nothing */
        BT_ASSERT_OK(&quiet, bt_prepare(&quiet, "sig-quiet", "", NULL, NULL));
        BT_ASSERT_OK(&quiet, bt_remove(&quiet, "sig-quiet"));
        drain_after_barrier(&quiet);
        ASSERT_TRUE(n_quiet == 0);

        /* Root's watcher still gets its copies of both changes. */
        wait_for(&copier, &n_copied, 2);

        monitor_call(&quiet, "Unmute");
        monitor_call(&quiet, "Unmute"); /* no error when not muted */
        BT_ASSERT_OK(&quiet, bt_prepare(&quiet, "sig-loud", "", NULL, NULL));
        wait_for(&quiet, &n_quiet, 1);
        BT_ASSERT_OK(&quiet, bt_remove(&quiet, "sig-loud"));
        wait_for(&quiet, &n_quiet, 2);
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
                TEST_ENTRY(the_reply_comes_before_its_signal),
                TEST_ENTRY(a_muted_connection_gets_replies_without_signals),
                TEST_ENTRY(other_connections_get_none),
        };
        int r;

        BT_ASSERT_OK(&caller, bt_open(&caller, "overlayfs"));
        BT_ASSERT_OK(&watcher, bt_open(&watcher, "overlayfs"));
        BT_ASSERT_OK(&quiet, bt_open(&quiet, "overlayfs"));
        BT_ASSERT_OK(&copier, bt_open(&copier, "overlayfs"));
        ASSERT_OK(sd_bus_match_signal(caller.bus, NULL, BT_SERVICE, NULL, BT_SNAPSHOTTER_IFACE, NULL,
                                      on_caller_signal, NULL));
        ASSERT_OK(sd_bus_match_signal(watcher.bus, NULL, BT_SERVICE, NULL, BT_SNAPSHOTTER_IFACE, NULL,
                                      on_watched_signal, NULL));
        ASSERT_OK(sd_bus_match_signal(quiet.bus, NULL, BT_SERVICE, NULL, BT_SNAPSHOTTER_IFACE, NULL,
                                      on_counted_signal, &n_quiet));
        ASSERT_OK(sd_bus_match_signal(copier.bus, NULL, BT_SERVICE, NULL, BT_SNAPSHOTTER_IFACE, NULL,
                                      on_counted_signal, &n_copied));
        r = test_run_all(cases, ELEMENTSOF(cases));
        for (size_t i = 0; i < n_seen; i++)
                free(seen[i]);
        bt_close(&copier);
        bt_close(&quiet);
        bt_close(&watcher);
        bt_close(&caller);
        return r;
}
