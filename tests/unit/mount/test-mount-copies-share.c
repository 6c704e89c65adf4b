/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The search for copies of a handed-out mount in other users' namespaces gives each user a
 * share of its budget: one user's many namespaces (also those it nests in its own under its
 * subordinate uids) cannot use up what a search looks at before it reaches the namespace of
 * the user who holds the copy, so that mount never counts as released while it is held.
 * Collecting the namespaces costs a user's processes and namespaces no more than a search
 * looks at: counted here by wrapping ioctl and openat. */

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "interpose.h"
#include "mount-api-test-util.h"

/* --- counting the walks up user namespaces and the mount namespaces opened --- */

#define NS_GET_PARENT _IO(0xb7, 0x2)
static unsigned parents_asked, mount_namespaces_opened;

int ioctl(int fd, unsigned long request, ...) {
        va_list ap;
        void *arg;

        va_start(ap, request);
        arg = va_arg(ap, void *);
        va_end(ap);
        parents_asked += request == NS_GET_PARENT;
        return REAL(ioctl)(fd, request, arg);
}

static void openat_seen(int dirfd, const char *path) {
        mount_namespaces_opened += strcmp(path, "ns/mnt") == 0;
}
DEFINE_OPENAT_WRAPPER(openat_seen)

#define HOSTILE_UID 4400
#define HOLDER_UID 4500
/* More namespaces than all other uids' together were looked into before (4 x 256). */
#define HOSTILE_NAMESPACES 1040
#define HOSTILE_SUBUIDS 8

static void write_proc_file(pid_t pid, const char *name, const char *text) {
        _cleanup_free_ char *path = test_path("/proc/%d/%s", (int) pid, name);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
}

/* A process of uid in a user namespace of its own that maps its uid and n_subuids
 * subordinate uids (as newuidmap does from /etc/subuid), with n children each in a user and
 * mount namespace nested in it, owned by one of those subordinate uids (or by uid, with
 * none). Ended with kill_group(). */
static pid_t spawn_nested(uid_t uid, unsigned n, unsigned n_subuids) {
        pid_t parent = getpid(), pid;
        int go[2], ready[2];
        char c, map[128];

        ASSERT_OK(pipe2(go, O_CLOEXEC));
        ASSERT_OK(pipe2(ready, O_CLOEXEC));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                if (setpgid(0, 0) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0 ||
                    prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
                    getppid() != parent || unshare(CLONE_NEWUSER) < 0 || write(ready[1], "u", 1) != 1 ||
                    read(go[0], &c, 1) != 1)
                        _exit(1);
                for (unsigned i = 0; i < n; i++) {
                        pid_t child = fork();
                        uid_t inner = n_subuids > 0 ? 1 + i % n_subuids : 0;

                        if (child < 0)
                                _exit(1);
                        if (child == 0) {
                                /* Gone with the process above, also when the test fails
                                 * (after the change of uid, which clears it). */
                                if (setresgid(0, 0, 0) < 0 || setresuid(inner, inner, inner) < 0 ||
                                    prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1 ||
                                    unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0 || write(ready[1], "x", 1) != 1)
                                        _exit(1);
                                pause();
                                _exit(0);
                        }
                }
                pause();
                _exit(0);
        }
        ASSERT_OK(close(ready[1]));
        ASSERT_TRUE(read(ready[0], &c, 1) == 1);
        /* uid 0 inside is uid, 1..n_subuids its subordinate uids. */
        if (n_subuids > 0)
                snprintf(map, sizeof map, "0 %u 1\n1 %u %u\n", (unsigned) uid, 200000u + 100u * (unsigned) uid, n_subuids);
        else
                snprintf(map, sizeof map, "0 %u 1\n", (unsigned) uid);
        write_proc_file(pid, "uid_map", map);
        snprintf(map, sizeof map, "0 %u 1\n", (unsigned) uid);
        write_proc_file(pid, "setgroups", "deny");
        write_proc_file(pid, "gid_map", map);
        ASSERT_TRUE(write(go[1], "g", 1) == 1);
        for (unsigned i = 0; i < n; i++)
                ASSERT_TRUE(read(ready[0], &c, 1) == 1); /* 0: one failed */
        ASSERT_OK(close(ready[0]));
        ASSERT_OK(close(go[0]));
        ASSERT_OK(close(go[1]));
        return pid;
}

static void kill_group(pid_t pid) {
        int status;

        ASSERT_OK(kill(-pid, SIGKILL));
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
}

/* A mount handed out to HOLDER_UID and attached in its namespace (here: copied there) is
 * found however many namespaces a hostile user made first, nested under its subordinate
 * uids: they are that user's. Before, each subordinate uid paid as a user of its own, and
 * together they used up what a search looked into (4 x 256 namespaces) before it reached
 * the holder's namespace: the mount counted as released. */
static void body_hostile_namespaces(const char *dir) {
        _cleanup_free_ char *src = test_path("%s/src", dir), *root = NULL;
        _cleanup_close_ int tfd = make_target(dir, "bind", NULL);
        Error e = ERROR_NULL;
        unsigned n = 0;
        uint64_t id, dev;
        pid_t hostile, holder;
        int r;

        ASSERT_OK(mkdir(src, 0755));
        /* First, without the mount: its namespaces come first in /proc and hold no copy. */
        hostile = spawn_nested(HOSTILE_UID, HOSTILE_NAMESPACES, HOSTILE_SUBUIDS);
        ASSERT_OK(bind_at(src, tfd, 0, &id, &e));
        ASSERT_OK(mount_identity(id, &dev, &root));
        holder = spawn_unshared(HOLDER_UID);
        ASSERT_OK(mount_count_user_ns_copies(dev, root, 1234, true, &n));
        ASSERT_TRUE(n == 1);
        /* Its namespaces past its share are its own excess: not looked into, and the
         * search still answers (they do not make another's mount busy either; unless more
         * than 4 uids have namespaces, when tests of other users run beside this one). */
        kill_and_reap(holder);
        r = mount_count_user_ns_copies(dev, root, 1234, true, &n);
        ASSERT_TRUE(r == -E2BIG || (r == 0 && n == 0));
        ASSERT_OK(mount_unmount(id, false, NULL, 0, &e));
        kill_group(hostile);
}
TEST(a_users_namespaces_nested_under_its_subuids_do_not_hide_anothers_copy) {
        run_isolated(body_hostile_namespaces);
}

/* More than 4 users, each with more namespaces than its part of the shares (4 x 256 / 5):
 * nothing is known of the rest of theirs, so without a copy found the search fails (the
 * mount stays busy, asked again at the next call); a copy found still counts. Before, what
 * all of them had past 4 x 256 namespaces was not looked into, and the search said none. */
#define CROWD 5
#define CROWD_NAMESPACES 220
static void body_crowded(const char *dir) {
        _cleanup_free_ char *src = test_path("%s/src", dir), *root = NULL;
        _cleanup_close_ int tfd = make_target(dir, "bind", NULL);
        Error e = ERROR_NULL;
        pid_t crowd[CROWD], holder;
        unsigned n = 0;
        uint64_t id, dev;

        ASSERT_OK(mkdir(src, 0755));
        for (unsigned i = 0; i < CROWD; i++)
                crowd[i] = spawn_nested(HOSTILE_UID + i, CROWD_NAMESPACES, 0); /* before the mount: no copies */
        ASSERT_OK(bind_at(src, tfd, 0, &id, &e));
        ASSERT_OK(mount_identity(id, &dev, &root));
        ASSERT_TRUE(mount_count_user_ns_copies(dev, root, 1234, true, &n) == -E2BIG);
        /* A copy found in what was looked into: held, whatever the rest. */
        holder = spawn_unshared(HOLDER_UID);
        ASSERT_OK(mount_count_user_ns_copies(dev, root, 1234, true, &n));
        ASSERT_TRUE(n == 1);
        kill_and_reap(holder);
        ASSERT_OK(mount_unmount(id, false, NULL, 0, &e));
        for (unsigned i = 0; i < CROWD; i++)
                kill_group(crowd[i]);
}
TEST(a_search_crowded_past_its_shares_fails_safe) {
        run_isolated(body_crowded);
}

/* A process of uid in a chain of depth user namespaces, each nested in the one before, with
 * per_level processes at each level, each in a user namespace of its own below it. Ended
 * with kill_group(). */
static void write_self(const char *name, const char *text) {
        _cleanup_free_ char *path = test_path("/proc/self/%s", name);
        int fd = open(path, O_WRONLY | O_CLOEXEC);

        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t) strlen(text))
                _exit(1);
        close(fd);
}

static pid_t spawn_chain(uid_t uid, unsigned depth, unsigned per_level) {
        pid_t parent = getpid(), pid;
        int ready[2];
        char c;

        ASSERT_OK(pipe2(ready, O_CLOEXEC));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                if (setpgid(0, 0) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0 ||
                    prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent ||
                    prctl(PR_SET_DUMPABLE, 1) < 0) /* its own maps to write, as unshare -Ur */
                        _exit(1);
                for (unsigned level = 0; level < depth; level++) {
                        char map[32];

                        snprintf(map, sizeof map, "0 %u 1\n", level == 0 ? (unsigned) uid : 0u);
                        if (unshare(CLONE_NEWUSER) < 0)
                                _exit(1);
                        write_self("uid_map", map);
                        write_self("setgroups", "deny");
                        write_self("gid_map", map);
                        for (unsigned i = 0; i < per_level; i++) {
                                pid_t child = fork();

                                if (child < 0)
                                        _exit(1);
                                if (child == 0) {
                                        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1 ||
                                            unshare(CLONE_NEWUSER) < 0 || write(ready[1], "x", 1) != 1)
                                                _exit(1);
                                        pause();
                                        _exit(0);
                                }
                        }
                }
                if (write(ready[1], "c", 1) != 1)
                        _exit(1);
                pause();
                _exit(0);
        }
        ASSERT_OK(close(ready[1]));
        for (unsigned i = 0; i < depth * per_level + 1; i++)
                ASSERT_TRUE(read(ready[0], &c, 1) == 1); /* 0: one failed */
        ASSERT_OK(close(ready[0]));
        return pid;
}

/* In a PID namespace of its own (run_isolated_pid): the search sees only this test's
 * processes. Each user namespace is walked up once per search: a chain 30 deep with 8
 * processes in namespaces of their own at each level costs about one step each. Before,
 * each namespace was walked up to ours: 8 x (2 + 3 + ... + 31) steps. */
#define CHAIN_DEPTH 30
#define CHAIN_PER_LEVEL 8
static void body_chain(const char *dir) {
        unsigned n = 0, before;
        pid_t chain;

        parents_asked = 0;
        ASSERT_OK(mount_count_user_ns_copies(1, "/nowhere", HOSTILE_UID, true, &n));
        before = parents_asked;
        chain = spawn_chain(HOSTILE_UID, CHAIN_DEPTH, CHAIN_PER_LEVEL);
        parents_asked = 0;
        ASSERT_OK(mount_count_user_ns_copies(1, "/nowhere", HOLDER_UID, true, &n));
        fprintf(stderr, "a chain of %u user namespaces with %u processes in their own at each level: %u steps up "
                "(%u without them)\n", CHAIN_DEPTH, CHAIN_PER_LEVEL, parents_asked, before);
        ASSERT_TRUE(n == 0);
        ASSERT_TRUE(parents_asked <= before + CHAIN_DEPTH * (CHAIN_PER_LEVEL + 1) + 8);
        kill_group(chain);
}
TEST(each_user_namespace_is_walked_up_once_per_search) {
        run_isolated_pid(body_chain);
}

/* A user's mount namespaces are collected up to one more than a search looks into (256):
 * however many it has, the rest cost a stat each, and the search fails safe for its owner
 * as before (its own namespaces past its budget: Busy). Before, each was opened. */
#define MANY_NAMESPACES 1040
static void body_many(const char *dir) {
        unsigned n = 0;
        pid_t many;

        many = spawn_nested(HOSTILE_UID, MANY_NAMESPACES, 0);
        mount_namespaces_opened = 0;
        ASSERT_TRUE(mount_count_user_ns_copies(1, "/nowhere", HOSTILE_UID, false, &n) == -E2BIG);
        fprintf(stderr, "%u mount namespaces of the owner: %u opened\n", MANY_NAMESPACES, mount_namespaces_opened);
        /* what the search looks into may open each again (mountinfo, without statmount) */
        ASSERT_TRUE(mount_namespaces_opened <= 2 * (256 + 1));
        mount_namespaces_opened = 0;
        ASSERT_OK(mount_count_user_ns_copies(1, "/nowhere", HOLDER_UID, false, &n));
        ASSERT_TRUE(n == 0 && mount_namespaces_opened == 0);
        kill_group(many);
}
TEST(a_users_mount_namespaces_are_collected_up_to_what_a_search_looks_into) {
        run_isolated_pid(body_many);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(a_users_namespaces_nested_under_its_subuids_do_not_hide_anothers_copy),
                TEST_ENTRY(a_search_crowded_past_its_shares_fails_safe),
                TEST_ENTRY(each_user_namespace_is_walked_up_once_per_search),
                TEST_ENTRY(a_users_mount_namespaces_are_collected_up_to_what_a_search_looks_into),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
