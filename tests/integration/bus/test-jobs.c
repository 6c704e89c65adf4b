/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Slow calls run off the event loop: while 16 Apply calls block on pipes nobody has
 * written yet, the daemon still answers Stat at once, a 17th slow call gets
 * LimitsExceeded (a Commit of a small tree, answered on the loop, does not), the snapshot
 * being applied is Busy, ApplyProgress arrives at most ten times a second, and every
 * blocked call gets its reply once its pipe delivers. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus-test.h"
#include "strutil.h"
#include "test-util.h"

#define N_JOBS 16 /* the daemon's cap, BUS_MAX_JOBS */

typedef struct Pending {
        bool done;
        char *error;   /* error name, NULL on success */
        uint64_t entries;
} Pending;

static BusTest t;
static Pending pending[N_JOBS];
static int pipe_write[N_JOBS];
static unsigned progress_signals;

static uint64_t now_mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static int on_apply_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Pending *p = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        p->done = true;
        if (e) {
                p->error = strdup(e->name);
                return 0;
        }
        ASSERT_OK(sd_bus_message_read(m, "stt", NULL, NULL, &p->entries));
        return 0;
}

static int on_progress(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *key;

        ASSERT_OK(sd_bus_message_read(m, "s", &key));
        if (streq(key, "job-0"))
                progress_signals++;
        return 0;
}

static void apply_async(const char *key, int fd, Pending *p) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

        ASSERT_OK(sd_bus_message_new_method_call(t.bus, &m, BT_SERVICE, t.path, BT_SNAPSHOTTER_IFACE, "Apply"));
        ASSERT_OK(sd_bus_message_append(m, "sha{sv}", key, fd, 1, "media-type", "s", "tar"));
        ASSERT_OK(sd_bus_call_async(t.bus, NULL, m, on_apply_reply, p, UINT64_MAX));
}

/* Runs the bus until cond() holds or timeout_usec passes. */
static bool run_until(bool (*cond)(void), uint64_t timeout_usec) {
        uint64_t end = now_mono_usec() + timeout_usec;

        while (!cond()) {
                int r = sd_bus_process(t.bus, NULL);

                ASSERT_OK(r);
                if (r > 0)
                        continue;
                if (now_mono_usec() >= end)
                        return false;
                ASSERT_OK(sd_bus_wait(t.bus, 100 * 1000));
        }
        return true;
}

static bool never(void) {
        return false;
}

/* Serves replies and signals for about usec. */
static void pump(uint64_t usec) {
        (void) run_until(never, usec);
}

static bool all_done(void) {
        for (size_t i = 0; i < N_JOBS; i++)
                if (!pending[i].done)
                        return false;
        return true;
}

/* A tar of one 8 MiB file, so that feeding it takes a while. */
static char *make_layer(void) {
        const char *dir = getenv("LAMINA_TEST_DIR");
        _cleanup_free_ char *cmd = NULL;
        char *tar;

        ASSERT_TRUE(dir);
        tar = strdup_printf("%s/layer.tar", dir);
        cmd = strdup_printf("set -e; mkdir -p %1$s/tree/d; head -c 8388608 /dev/urandom >%1$s/tree/d/big; "
                            "tar -C %1$s/tree -cf %2$s d", dir, tar);
        ASSERT_TRUE(tar && cmd);
        ASSERT_TRUE(system(cmd) == 0);
        return tar;
}

TEST(sixteen_blocked_applies_leave_the_daemon_responsive) {
        for (size_t i = 0; i < N_JOBS; i++) {
                _cleanup_free_ char *key = strdup_printf("job-%zu", i);
                _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
                int p[2];

                BT_ASSERT_OK(&t, bt_prepare(&t, key, "", NULL, &mounts));
                ASSERT_OK(pipe2(p, O_CLOEXEC));
                apply_async(key, p[0], &pending[i]);
                close(p[0]);
                pipe_write[i] = p[1];
        }

        /* Calls on one connection are dispatched in order: all 16 jobs run now. */
        uint64_t start = now_mono_usec();
        SnapshotInfo info = {};
        BT_ASSERT_OK(&t, bt_stat(&t, "job-3", &info));
        ASSERT_STREQ(snapshot_kind_to_string(info.kind), "active");
        snapshot_info_clear(&info);
        /* Far below the stall timeout (60 s) a loop blocked on the pipes would answer after,
         * far above what a loaded machine takes. */
        ASSERT_TRUE(now_mono_usec() - start < 20 * 1000 * 1000);
        for (size_t i = 0; i < N_JOBS; i++)
                ASSERT_TRUE(!pending[i].done);
}

TEST(a_seventeenth_slow_call_is_refused) {
        _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
        uint64_t size, inodes;

        BT_ASSERT_OK(&t, bt_prepare(&t, "job-extra", "", NULL, &mounts));
        ASSERT_TRUE(bt_usage(&t, "job-extra", &size, &inodes) < 0);
        ASSERT_TRUE(bt_error_is(&t, "org.freedesktop.DBus.Error.LimitsExceeded"));
}

/* A Commit whose data is small is answered on the loop (core_commit_quick()): it needs
 * none of the slots the blocked Applies hold. */
TEST(a_small_commit_needs_no_slot) {
        _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};

        BT_ASSERT_OK(&t, bt_prepare(&t, "job-small", "", NULL, &mounts));
        BT_ASSERT_OK(&t, bt_commit(&t, "job-small-c", "job-small", NULL));
}

/* One with more than the loop's walk may count goes to a worker: no slot is free. */
TEST(a_big_commit_takes_a_slot) {
        _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
        SnapshotInfo info = {};

        BT_ASSERT_OK(&t, bt_prepare(&t, "job-big", "", NULL, &mounts));
        ASSERT_STREQ(mounts.items[0].type, "bind");
        for (int i = 0; i < 300; i++) {
                _cleanup_free_ char *path = strdup_printf("%s/f%d", mounts.items[0].source, i);
                _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

                ASSERT_TRUE(fd >= 0);
        }
        ASSERT_TRUE(bt_commit(&t, "job-big-c", "job-big", NULL) < 0);
        ASSERT_TRUE(bt_error_is(&t, "org.freedesktop.DBus.Error.LimitsExceeded"));
        BT_ASSERT_OK(&t, bt_stat(&t, "job-big", &info));
        ASSERT_STREQ(snapshot_kind_to_string(info.kind), "active");
        snapshot_info_clear(&info);
}

TEST(a_snapshot_being_applied_is_busy) {
        ASSERT_TRUE(bt_remove(&t, "job-1") < 0);
        ASSERT_TRUE(bt_error_is(&t, "Busy"));
}

TEST(blocked_applies_reply_when_their_layer_arrives) {
        _cleanup_free_ char *tar = make_layer();
        _cleanup_close_ int fd = open(tar, O_RDONLY | O_CLOEXEC);
        uint64_t start, elapsed;
        char buf[256 * 1024];
        ssize_t n;

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(sd_bus_match_signal(t.bus, NULL, BT_SERVICE, t.path, BT_SNAPSHOTTER_IFACE, "ApplyProgress",
                                      on_progress, NULL));

        /* Job 0 gets the layer in slices over about 1.5 s; the others get end-of-file. */
        start = now_mono_usec();
        while ((n = read(fd, buf, sizeof buf)) > 0) {
                ASSERT_TRUE(write(pipe_write[0], buf, (size_t) n) == n);
                pump(50 * 1000);
        }
        ASSERT_TRUE(n == 0);
        for (size_t i = 0; i < N_JOBS; i++)
                pipe_write[i] = safe_close(pipe_write[i]);

        ASSERT_TRUE(run_until(all_done, 30 * 1000 * 1000));
        elapsed = now_mono_usec() - start;

        ASSERT_TRUE(pending[0].error == NULL);
        ASSERT_TRUE(pending[0].entries == 2); /* d/ and d/big */
        for (size_t i = 1; i < N_JOBS; i++)
                ASSERT_TRUE(pending[i].done);

        /* Ten a second at most, and the slow feed took long enough to see some. */
        fprintf(stderr, "%u ApplyProgress signals in %llu ms\n", progress_signals,
                (unsigned long long) (elapsed / 1000));
        ASSERT_TRUE(progress_signals >= 1);
        ASSERT_TRUE(progress_signals <= 10 * (elapsed / 1000000 + 1) + 1);
}

static int run(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(sixteen_blocked_applies_leave_the_daemon_responsive),
                TEST_ENTRY(a_seventeenth_slow_call_is_refused),
                TEST_ENTRY(a_small_commit_needs_no_slot),
                TEST_ENTRY(a_big_commit_takes_a_slot),
                TEST_ENTRY(a_snapshot_being_applied_is_busy),
                TEST_ENTRY(blocked_applies_reply_when_their_layer_arrives),
        };

        return test_run_all(cases, ELEMENTSOF(cases));
}

int main(void) {
        int r;

        signal(SIGPIPE, SIG_IGN);
        for (size_t i = 0; i < N_JOBS; i++)
                pipe_write[i] = -EBADF;
        BT_ASSERT_OK(&t, bt_open(&t, "overlayfs"));
        r = run();
        for (size_t i = 0; i < N_JOBS; i++) {
                safe_close(pipe_write[i]);
                free(pending[i].error);
        }
        bt_close(&t);
        return r;
}
