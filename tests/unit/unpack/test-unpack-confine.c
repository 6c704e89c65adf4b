/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lamina-unpack's own filter once its parser and writer run (unpack_confine_committer()):
 * an allowlist. What committing does survives; a call that is on no list (getuid), a
 * forbidden one (socket, mknodat for a layer without devices) and a signal to anyone but
 * its two children kill it. */
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test-util.h"
#include "unpack-confine.h"

typedef int (*Body)(pid_t child);

static char dir[] = "/tmp/lamina-test-confine-XXXXXX";

static int body_mkdir(pid_t child) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        /* opened before the filter, like the staging directory */
        if (fd < 0)
                return 11;
        if (unpack_confine_committer(false, (const pid_t[]) { child, child }) < 0)
                return 12;
        (void) mkdirat(fd, "x", 0700); /* committing makes no directory */
        return 13;
}

static int body_allowed(pid_t child) {
        struct stat st;
        int fd, status;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || mkdirat(fd, "a", 0700) < 0)
                return 11;
        if (unpack_confine_committer(false, (const pid_t[]) { child, child }) < 0)
                return 12;
        if (renameat(fd, "a", fd, "b") < 0 || fstatat(fd, "b", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            fchmod(fd, 0700) < 0 || unlinkat(fd, "b", AT_REMOVEDIR) < 0 || syncfs(fd) < 0)
                return 13;
        /* it may stop its children, and wait for them */
        if (kill(child, SIGKILL) < 0 || waitpid(child, &status, 0) != child)
                return 14;
        return close(fd) < 0 ? 15 : 0;
}

static int body_getuid(pid_t child) {
        if (unpack_confine_committer(false, (const pid_t[]) { child, child }) < 0)
                return 12;
        (void) getuid();
        return 13;
}

static int body_socket(pid_t child) {
        if (unpack_confine_committer(true, (const pid_t[]) { child, child }) < 0)
                return 12;
        (void) socket(AF_UNIX, SOCK_STREAM, 0);
        return 13;
}

static int body_mknod_without_devices(pid_t child) {
        if (unpack_confine_committer(false, (const pid_t[]) { child, child }) < 0)
                return 12;
        (void) mknodat(AT_FDCWD, "/nonexistent/x", S_IFIFO | 0600, 0);
        return 13;
}

static int body_kill_other(pid_t child) {
        if (unpack_confine_committer(false, (const pid_t[]) { child, child }) < 0)
                return 12;
        (void) kill(getppid(), SIGCONT);
        return 13;
}

static int body_kill_child_not_sigkill(pid_t child) {
        if (unpack_confine_committer(false, (const pid_t[]) { child, child }) < 0)
                return 12;
        (void) kill(child, SIGTERM);
        return 13;
}

/* Runs body in a forked process that has a child of its own (sleeping on a pipe). */
static int run(Body body) {
        int status;
        pid_t pid = fork();

        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                int p[2];
                pid_t child;
                char c;

                if (pipe(p) < 0)
                        _exit(3);
                child = fork();
                if (child < 0)
                        _exit(4);
                if (child == 0) {
                        close(p[1]);
                        (void) !read(p[0], &c, 1);
                        _exit(0);
                }
                close(p[0]);
                _exit(body(child));
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        return status;
}

static void expect_killed(Body body) {
        int status = run(body);

        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
                fprintf(stderr, "status %#x\n", status);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
}

TEST(commit_work_survives) {
        int status = run(body_allowed);

        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fprintf(stderr, "status %#x\n", status);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(unlisted_call_kills) {
        struct stat st;

        expect_killed(body_getuid);
        expect_killed(body_mkdir);
        ASSERT_TRUE(stat(dir, &st) == 0 && st.st_nlink == 2); /* nothing made */
}

TEST(socket_kills) {
        expect_killed(body_socket);
}

TEST(mknod_kills_without_devices) {
        expect_killed(body_mknod_without_devices);
}

TEST(signals_only_sigkill_to_its_children) {
        expect_killed(body_kill_other);
        expect_killed(body_kill_child_not_sigkill);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(commit_work_survives), TEST_ENTRY(unlisted_call_kills), TEST_ENTRY(socket_kills),
                TEST_ENTRY(mknod_kills_without_devices), TEST_ENTRY(signals_only_sigkill_to_its_children),
        };
        int r;

        if (geteuid() != 0) {
                fprintf(stderr, "the filter goes with capabilities only root has\n");
                return EXIT_TEST_SKIP;
        }
        ASSERT_TRUE(mkdtemp(dir));
        r = test_run_all(cases, ELEMENTSOF(cases));
        ASSERT_OK(rmdir(dir));
        return r;
}
