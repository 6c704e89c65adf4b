/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Apply is all or nothing whatever is killed at whatever moment (issue 13). A snapshot
 * holds d/ with N_OLD files and e/ with N_OLD / 2 (the base layer); the big layer deletes
 * all of d/'s files and adds N_NEW files to d/ (500 and 5 000 by default; the issue's
 * 2 000 and 20 000 as arguments). laminad is SIGKILLed during that Apply, at chosen points and at
 * random; after the restart the snapshot must hold exactly the base (the "before" tree) or
 * exactly base + big layer (the "after" tree), and the clone the Apply was building must
 * be removed in the background.
 *
 * The chosen points are reached deterministically with strace attached to laminad and
 * following its children: a syscall of the step is made to fail and kill its caller
 * (inject=SYSCALL:error=ENOSYS:signal=KILL:when=N; strace counts per thread). Steps in
 * laminad's job thread kill laminad; steps in the lamina-unpack helper kill the helper,
 * and laminad, rolling back, is killed once it makes the same syscall as often, or by the
 * test when the Apply's failure reply comes. "Just after the exchange" holds the
 * exchange's return (delay_exit) until the data shows the new tree, then kills. Each
 * point knows which tree it must leave; random kills accept either.
 *
 *   test-apply-crash SNAPSHOTTER [N_RANDOM [SEED]]
 *
 * Run under tests/integration/lib/run-test.sh (btrfs: inside run-on-btrfs.sh). */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apply-test.h"
#include "strutil.h"
#include "test-util.h"

#define MTIME 1700000000

typedef enum Expect {
        EXPECT_BEFORE,
        EXPECT_AFTER,
        EXPECT_EITHER,
} Expect;

typedef enum PointKind {
        POINT_COPY,     /* while copying the data into the clone (not btrfs: a snapshot) */
        POINT_DELETE,   /* while deleting in the clone (not overlayfs: whiteouts are files) */
        POINT_MERGE,    /* while moving the layer into the clone */
        POINT_BEFORE,   /* just before the exchange */
        POINT_AFTER,    /* just after the exchange */
        POINT_REMOVE,   /* while removing the replaced data (not btrfs: one ioctl) */
        POINT_RANDOM,
        _POINT_MAX,
} PointKind;

static const char *const point_names[_POINT_MAX] = {
        [POINT_COPY] = "while copying the data into the clone",
        [POINT_DELETE] = "while deleting in the clone",
        [POINT_MERGE] = "while moving the layer into the clone",
        [POINT_BEFORE] = "just before the exchange",
        [POINT_AFTER] = "just after the exchange",
        [POINT_REMOVE] = "while removing the replaced data",
        [POINT_RANDOM] = "at random",
};

static BusTest bus;
static const char *snapshotter;
static const char *T;
static char *before, *after;
static unsigned n_old = 500, n_new = 5000;

/* The strace -e inject= spec that kills at point k, NULL where the step does not exist.
 * Counts per thread: laminad's job thread copies the base's files into the clone (an
 * fchown each); the helper, for a full tree (native, btrfs), deletes the n_old files in
 * the clone (an unlinkat each), renames the n_new files into it (overlayfs: the whiteouts
 * too) and removes its empty staging directory (2 unlinkat); the job thread makes the
 * exchange, the only renameat2, then removes the replaced data (an unlinkat per entry:
 * e/ makes that more than the helper's, so the count reaches into it). */
static char *inject_spec(PointKind k) {
        bool overlay = streq(snapshotter, "overlayfs"), btrfs = streq(snapshotter, "btrfs");

        switch (k) {
        case POINT_COPY:
                return btrfs ? NULL : strdup_printf("fchown,fchownat:error=ENOSYS:signal=KILL:when=%u", n_old / 2);
        case POINT_DELETE:
                return overlay ? NULL : strdup_printf("unlinkat:error=ENOSYS:signal=KILL:when=%u", n_old / 2);
        case POINT_MERGE:
                return strdup_printf("renameat:error=ENOSYS:signal=KILL:when=%u", n_new / 2);
        case POINT_BEFORE:
                return strdup("renameat2:error=ENOSYS:signal=KILL:when=1");
        case POINT_AFTER:
                return strdup("renameat2:delay_exit=60000000");
        case POINT_REMOVE:
                return btrfs ? NULL : strdup_printf("unlinkat:error=ENOSYS:signal=KILL:when=%u",
                                                    n_old + 2 + n_old / 4);
        default:
                return NULL;
        }
}

/* The base layer (big = false) or the big one, as a ustar file in the test dir. */
static char *write_layer(const char *file, bool big) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", T, file);
        _cleanup_close_ int fd = -EBADF;
        char h[512], name[64], content[512] = {}, end[1024] = {};

        ASSERT_TRUE(path);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        at_ustar_header(h, "./", '5', 0755, 0, MTIME);
        at_write_all(fd, h, sizeof h);
        at_ustar_header(h, "d/", '5', 0755, 0, MTIME);
        at_write_all(fd, h, sizeof h);
        if (!big) {
                at_ustar_header(h, "e/", '5', 0755, 0, MTIME);
                at_write_all(fd, h, sizeof h);
        }
        for (unsigned i = 0; !big && i < n_old / 2; i++) {
                snprintf(name, sizeof name, "e/kept-%05u", i);
                snprintf(content, sizeof content, "kept %u\n", i);
                at_ustar_header(h, name, '0', 0644, strlen(content), MTIME);
                at_write_all(fd, h, sizeof h);
                at_write_all(fd, content, 512);
        }
        for (unsigned i = 0; i < n_old; i++) {
                snprintf(name, sizeof name, big ? "d/.wh.old-%05u" : "d/old-%05u", i);
                snprintf(content, sizeof content, "old %u\n", i);
                at_ustar_header(h, name, '0', 0644, big ? 0 : strlen(content), MTIME);
                at_write_all(fd, h, sizeof h);
                if (!big)
                        at_write_all(fd, content, 512);
        }
        for (unsigned i = 0; big && i < n_new; i++) {
                snprintf(name, sizeof name, "d/new-%06u", i);
                memset(content, 0, sizeof content);
                snprintf(content, sizeof content, "new %u\n", i);
                at_ustar_header(h, name, '0', 0644, strlen(content), MTIME);
                at_write_all(fd, h, sizeof h);
                at_write_all(fd, content, 512);
        }
        at_write_all(fd, end, sizeof end);
        return TAKE_PTR(path);
}

static char *take_manifest(const char *data) {
        const ManifestOptions o = { .content_only = true };
        char *m;

        ASSERT_OK(manifest_take(data, &o, &m));
        return m;
}

static long now_ms(void) {
        struct timespec ts;

        ASSERT_OK(RET_NERRNO(clock_gettime(CLOCK_MONOTONIC, &ts)));
        return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The before and after trees from a snapshot that takes the big layer undisturbed; the
 * time that took, for the random kills. */
static long reference(const char *base, const char *big) {
        _cleanup_free_ char *data = at_prepare(&bus, "reference", "", base);
        long start;

        before = take_manifest(data);
        start = now_ms();
        BT_ASSERT_OK(&bus, at_apply_file(&bus, "reference", big, NULL));
        start = now_ms() - start;
        after = take_manifest(data);
        ASSERT_TRUE(!streq(before, after));
        BT_ASSERT_OK(&bus, bt_remove(&bus, "reference"));
        return start;
}

/* strace attached to every thread of pid, injecting spec; waits until it is attached. */
static pid_t strace_start(pid_t pid, const char *spec) {
        _cleanup_free_ char *p = strdup_printf("%d", pid), *inject = strdup_printf("inject=%s", spec),
                            *status = strdup_printf("/proc/%d/status", pid);
        pid_t child;

        ASSERT_TRUE(p && inject && status);
        child = fork();
        ASSERT_TRUE(child >= 0);
        if (child == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null >= 0)
                        (void) dup2(null, STDERR_FILENO);
                execlp("strace", "strace", "-f", "-qq", "-o", "/dev/null", "-e", inject, "-p", p,
                       (char *) NULL);
                _exit(127);
        }
        for (int i = 0; i < 1200; i++) {
                char line[256];
                FILE *f = fopen(status, "re");
                long tracer = 0;

                while (f && fgets(line, sizeof line, f))
                        if (sscanf(line, "TracerPid: %ld", &tracer) == 1)
                                break;
                if (f)
                        fclose(f);
                if (tracer == child)
                        return child;
                at_sleep_ms(25);
        }
        fprintf(stderr, "strace did not attach to laminad %d\n", pid);
        abort();
}

static void strace_stop(pid_t child) {
        int status;

        (void) kill(child, SIGKILL);
        ASSERT_OK(RET_NERRNO(waitpid(child, &status, 0)));
}

static bool data_has_new_tree(const char *data) {
        _cleanup_free_ char *p = strdup_printf("%s/d/new-%06u", data, n_new - 1);
        struct stat st;

        return p && lstat(p, &st) == 0;
}

/* Which tree the data holds now: "before", "after", or the first difference. */
static const char *observe(const char *data) {
        _cleanup_free_ char *m = take_manifest(data);

        if (streq(m, before))
                return "before";
        if (streq(m, after))
                return "after";
        (void) manifest_compare("the interrupted snapshot vs. the tree before", before, m);
        (void) manifest_compare("the interrupted snapshot vs. the tree after", after, m);
        return NULL;
}

/* The clone of the interrupted Apply is removed by the restarted laminad, in the
 * background: wait (bounded) for applying/ to be empty. */
static void wait_applying_empty(void) {
        _cleanup_free_ char *dir = strdup_printf("%s/state/%s/applying", T, snapshotter);
        size_t n;

        ASSERT_TRUE(dir);
        n = at_wait_empty(dir, 120000);
        if (n != 0) {
                fprintf(stderr, "the restarted laminad left %zu entries in %s\n", n, dir);
                abort();
        }
}

/* One Apply of big to a fresh base snapshot, killed at point k (at random: after delay_ms). */
static void crash_once(unsigned i, PointKind k, long delay_ms, const char *base, const char *big) {
        _cleanup_free_ char *key = strdup_printf("victim-%u", i), *data = NULL, *inject = inject_spec(k);
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_close_ int fd = -EBADF;
        Expect expect = k == POINT_RANDOM ? EXPECT_EITHER : k >= POINT_AFTER ? EXPECT_AFTER : EXPECT_BEFORE;
        const char *seen;
        AtReply reply = {};
        pid_t pid, tracer = 0;

        ASSERT_TRUE(key);
        data = at_prepare(&bus, key, "", base);
        /* Removes free their data in a thread of laminad's own, whose unlinkat()s strace
         * would count too: Cleanup waits until that is done. */
        BT_ASSERT_OK(&bus, bt_cleanup(&bus, NULL));
        ASSERT_OK(at_laminad_pid(&bus, &pid));
        if (inject)
                tracer = strace_start(pid, inject);
        fd = open(big, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(at_apply_async(&bus, key, fd, &reply));

        if (!inject)
                at_sleep_ms(delay_ms);
        else if (k == POINT_AFTER)
                for (int k = 0; k < 4800 && !data_has_new_tree(data) && !at_pid_dead(pid); k++)
                        at_sleep_ms(50);
        else
                for (int k = 0; k < 4800 && !at_pid_dead(pid); k++) {
                        /* the injected kill may have hit a helper: laminad goes too */
                        if (sd_bus_process(bus.bus, NULL) >= 0 && reply.done)
                                break;
                        at_sleep_ms(50);
                }
        /* SIGKILL first, so that a thread strace holds dies as soon as strace lets it go
         * (a thread held in a ptrace stop dies only then). */
        (void) kill(pid, SIGKILL);
        if (tracer > 0)
                strace_stop(tracer);
        at_kill_laminad(&bus, pid);
        ASSERT_OK(at_reply_wait(&bus, &reply, 60000));

        /* The next call starts a new laminad, which recovers. */
        BT_ASSERT_OK(&bus, bt_stat(&bus, key, &info));
        ASSERT_TRUE(info.kind == SNAPSHOT_ACTIVE);
        seen = observe(data);
        printf("# %s %s: the Apply got %s, the snapshot holds the tree %s\n", snapshotter, point_names[k], reply.error,
               seen ?: "(neither)");
        fflush(stdout);
        if (!seen) {
                fprintf(stderr, "killed %s: the snapshot holds part of the layer\n", point_names[k]);
                abort();
        }
        if ((expect == EXPECT_BEFORE && !streq(seen, "before")) || (expect == EXPECT_AFTER && !streq(seen, "after"))) {
                fprintf(stderr, "killed %s: expected the tree %s\n", point_names[k],
                        expect == EXPECT_BEFORE ? "before" : "after");
                abort();
        }
        if (inject && streq(reply.error, "(success)")) {
                fprintf(stderr, "%s: the Apply finished before the kill (strace's inject=%s did not hit)\n", point_names[k],
                        inject);
                abort();
        }
        free(reply.error);
        free(reply.message);
        wait_applying_empty();
        BT_ASSERT_OK(&bus, bt_remove(&bus, key));
}

int main(int argc, char **argv) {
        _cleanup_free_ char *base = NULL, *big = NULL;
        unsigned n_random = argc > 2 ? (unsigned) atoi(argv[2]) : 3, n = 0, seed;
        long duration;

        if (argc < 2) {
                fprintf(stderr, "usage: %s SNAPSHOTTER [N_RANDOM [SEED [N_OLD N_NEW]]]\n", argv[0]);
                return 2;
        }
        snapshotter = argv[1];
        seed = argc > 3 ? (unsigned) atoi(argv[3]) : (unsigned) time(NULL);
        if (argc > 5) {
                n_old = (unsigned) atoi(argv[4]);
                n_new = (unsigned) atoi(argv[5]);
                ASSERT_TRUE(n_old >= 2 && n_old < 100000 && n_new >= 2 && n_new < 1000000);
        }
        T = getenv("LAMINA_TEST_DIR");
        ASSERT_TRUE(T);
        signal(SIGPIPE, SIG_IGN);
        if (system("strace -V >/dev/null 2>&1") != 0) {
                fprintf(stderr, "strace is not installed (tools/install-deps.sh installs it)\n");
                return EXIT_TEST_SKIP;
        }
        ASSERT_OK(bt_open(&bus, snapshotter));
        base = write_layer("base.tar", false);
        big = write_layer("big.tar", true);
        duration = reference(base, big);
        printf("# %u files deleted and %u added to d/: an undisturbed Apply took %ld ms; random kills with seed %u\n",
               n_old, n_new, duration, seed);

        for (PointKind k = 0; k < POINT_RANDOM; k++) {
                _cleanup_free_ char *inject = inject_spec(k);
                if (!inject)
                        continue;
                crash_once(n, k, 0, base, big);
                printf("ok %u - %s killed %s\n", ++n, snapshotter, point_names[k]);
                fflush(stdout);
        }
        srand(seed);
        for (unsigned i = 0; i < n_random; i++) {
                long delay = rand() % (duration + duration / 4 + 1);

                crash_once(n, POINT_RANDOM, delay, base, big);
                printf("ok %u - %s killed at random after %ld ms\n", ++n, snapshotter, delay);
                fflush(stdout);
        }
        bt_close(&bus);
        free(before);
        free(after);
        return 0;
}
