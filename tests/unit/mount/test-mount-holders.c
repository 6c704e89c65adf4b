/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The search for processes holding a mount (mount_count_holders) finds holders and
 * stays bounded however many files a user holds open. */

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "mount-api-test-util.h"

/* Uids no account uses: a user holding more open files than a search for holders looks
 * at, and another user holding the mount through a directory fd that root handed it. */
#define HOARDER_UID ((uid_t) 0x7ffffff0)
#define HOLDER_UID ((uid_t) 0x7ffffff1)

/* A child process as uid, with what this one has open and n more open files (none in the
 * mount); says so on ready, then waits to be killed (also when the test aborts: the death
 * signal is set after the uid change, which clears it). */
static pid_t spawn_as(uid_t uid, unsigned n, int ready) {
        pid_t parent = getpid(), pid = fork();

        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                struct rlimit rl = { n + 64, n + 64 };
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (null < 0 || setrlimit(RLIMIT_NOFILE, &rl) < 0 || setresgid(uid, uid, uid) < 0 ||
                    setresuid(uid, uid, uid) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(1);
                for (unsigned k = 0; k < n; k++)
                        if (dup(null) < 0)
                                _exit(1);
                if (write(ready, "x", 1) != 1)
                        _exit(1);
                pause();
                _exit(0);
        }
        return pid;
}

/* Processes per hoarding user, each with this many open files: together more than a
 * uid's budget. */
enum { PER_CHILD = 16384, CHILDREN_PER_UID = MOUNT_HOLDERS_MAX_LINKS / PER_CHILD + 1 };

/* A bind mount of dir/src at dir/t (id), n_uids users (HOARDER_UID downwards) each
 * holding more open files than a search looks at, and a pipe on which children say they
 * are ready. */
typedef struct Hoard {
        char *target;
        uint64_t id;
        pid_t pids[2 * CHILDREN_PER_UID];
        size_t n;
        int ready[2];
} Hoard;

static void hoard_begin(const char *dir, unsigned n_uids, Hoard *h) {
        _cleanup_free_ char *src = test_path("%s/src", dir);
        _cleanup_close_ int tfd = -EBADF;
        Error e = ERROR_NULL;
        char c;

        assert(n_uids * CHILDREN_PER_UID <= ELEMENTSOF(h->pids));
        *h = (Hoard) { .n = n_uids * CHILDREN_PER_UID };
        ASSERT_OK(mkdir(src, 0755));
        tfd = make_target(dir, "t", &h->target);
        ASSERT_OK(bind_at(src, tfd, 0, &h->id, &e));
        tfd = safe_close(tfd);
        ASSERT_OK(pipe2(h->ready, O_CLOEXEC));
        for (size_t i = 0; i < h->n; i++)
                h->pids[i] = spawn_as(HOARDER_UID - (uid_t) (i % n_uids), PER_CHILD, h->ready[1]);
        for (size_t i = 0; i < h->n; i++)
                ASSERT_TRUE(read(h->ready[0], &c, 1) == 1);
}

/* A process of HOLDER_UID holding the mount through a directory fd root handed it. */
static pid_t hoard_spawn_holder(Hoard *h) {
        _cleanup_close_ int inside = open(h->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        pid_t holder;
        char c;

        ASSERT_TRUE(inside >= 0); /* the holder inherits it (it never execs) */
        holder = spawn_as(HOLDER_UID, 0, h->ready[1]);
        ASSERT_TRUE(read(h->ready[0], &c, 1) == 1);
        return holder;
}

static void hoard_end(Hoard *h) {
        Error e = ERROR_NULL;

        for (size_t i = 0; i < h->n; i++)
                kill_and_reap(h->pids[i]);
        safe_close(h->ready[0]);
        safe_close(h->ready[1]);
        ASSERT_OK(mount_unmount(h->id, false, NULL, 0, &e));
        free(h->target);
}

/* A search for holders is bounded (laminad's workers ask; any process may hold 2^19 open
 * files), and each uid pays for its own processes: a user holding more open files than
 * the search looks at makes only decisions that depend on its own processes unknown
 * (E2BIG, held): of its own mounts, and of mounts it can reach by path; root's and other
 * users' mounts it cannot reach are decided without it, and a holder of any other uid is
 * still found. */
static void body_holders_search_bounded(const char *dir) {
        unsigned holders = 0;
        pid_t first = 0, holder;
        Hoard h;

        hoard_begin(dir, 1, &h);
        /* Without the hoarder: root's mount, and another user's it cannot reach. */
        ASSERT_OK(mount_count_holders(h.id, 0, false, &holders, NULL));
        ASSERT_TRUE(holders == 0);
        ASSERT_OK(mount_count_holders(h.id, 1000, false, &holders, NULL));
        ASSERT_TRUE(holders == 0);
        /* Where it can reach the mount by path (it could hold it as cheaply), and of its
         * own mount: not known. */
        ASSERT_TRUE(mount_count_holders(h.id, 0, true, &holders, NULL) == -E2BIG);
        ASSERT_TRUE(mount_count_holders(h.id, HOARDER_UID, false, &holders, NULL) == -E2BIG);

        /* A real holder of another uid (searched after the hoarder's processes) is found. */
        holder = hoard_spawn_holder(&h);
        ASSERT_OK(mount_count_holders(h.id, 0, false, &holders, &first));
        ASSERT_TRUE(holders == 1 && first == holder);
        ASSERT_TRUE(mount_pid_holds(holder, h.id) == 1);
        kill_and_reap(holder);

        for (size_t i = 0; i < h.n; i++)
                kill_and_reap(h.pids[i]);
        h.n = 0;
        ASSERT_OK(mount_count_holders(h.id, 0, true, &holders, NULL));
        ASSERT_TRUE(holders == 0);
        hoard_end(&h);
}
TEST(holders_search_is_bounded) {
        run_isolated_pid(body_holders_search_bounded);
}

/* Two users below the holder's uid hold more open files together than the search looks
 * at for all other users: the first look at every process (its directories and first
 * files) still finds the holder, where a search by uid alone would have spent everything
 * on the two before reaching it. */
static void body_holders_first_look(const char *dir) {
        unsigned holders = 0;
        pid_t first = 0, holder;
        Hoard h;

        hoard_begin(dir, 2, &h);
        holder = hoard_spawn_holder(&h);
        ASSERT_OK(mount_count_holders(h.id, 0, false, &holders, &first));
        ASSERT_TRUE(holders == 1 && first == holder);
        kill_and_reap(holder);
        hoard_end(&h);
}
TEST(holders_first_look_finds_a_holder_with_few_files) {
        run_isolated_pid(body_holders_first_look);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(holders_search_is_bounded),
                TEST_ENTRY(holders_first_look_finds_a_holder_with_few_files),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
