/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The writer's sandbox: allowed work succeeds, anything outside the allowlist kills. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "layer-sandbox.h"
#include "test-util.h"

static int child_ok(void *userdata) {
        int *fd = userdata;
        /* fds kept, others closed; file work in the root is allowed */
        if (mkdirat(*fd, "made-in-sandbox", 0700) < 0)
                return 3;
        return fcntl(0, F_GETFD) < 0 && errno == EBADF ? 0 : 4;
}

static int child_exec(void *userdata) {
        char *argv[] = { (char *) "/bin/true", NULL };
        execve(argv[0], argv, NULL);
        return 5;
}

static int child_socket(void *userdata) {
        (void) socket(AF_INET, SOCK_STREAM, 0);
        return 6;
}

static int child_mount(void *userdata) {
        (void) mount("none", "/", "tmpfs", 0, NULL);
        return 7;
}

static int child_fork(void *userdata) {
        (void) fork();
        return 8;
}

static int child_escape_chroot(void *userdata) {
        struct stat st;
        /* the host root is not reachable by path */
        return stat("/etc/passwd", &st) == 0 ? 9 : 0;
}

static int run(LayerSandboxFunc func, int root_fd) {
        LayerSandbox sb = { .root_fd = root_fd, .max_file_size = 1 << 20 };
        pid_t pid;
        int status;

        ASSERT_OK(layer_sandbox_spawn(&sb, func, &sb.root_fd, &pid));
        ASSERT_OK(layer_sandbox_wait(pid, &status));
        return status;
}

static char dir[] = "/tmp/lamina-test-sandbox-XXXXXX";

static int open_root(void) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        return fd;
}

TEST(allowed_work_succeeds) {
        int fd = open_root(), status = run(child_ok, fd);
        struct stat st;

        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_OK(fstatat(fd, "made-in-sandbox", &st, 0));
        ASSERT_OK(unlinkat(fd, "made-in-sandbox", AT_REMOVEDIR));
        close(fd);
}

TEST(chrooted) {
        int fd = open_root(), status = run(child_escape_chroot, fd);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(fd);
}

static void expect_killed(LayerSandboxFunc f) {
        int fd = open_root(), status = run(f, fd);

        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
                fprintf(stderr, "status %#x\n", status);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
        close(fd);
}

TEST(execve_kills) {
        expect_killed(child_exec);
}

TEST(socket_kills) {
        expect_killed(child_socket);
}

TEST(mount_kills) {
        expect_killed(child_mount);
}

TEST(fork_kills) {
        expect_killed(child_fork);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(allowed_work_succeeds), TEST_ENTRY(chrooted), TEST_ENTRY(execve_kills),
                TEST_ENTRY(socket_kills), TEST_ENTRY(mount_kills), TEST_ENTRY(fork_kills),
        };
        int r;

        if (geteuid() != 0) {
                fprintf(stderr, "the sandbox needs root (namespaces, chroot)\n");
                return EXIT_TEST_SKIP;
        }
        ASSERT_TRUE(mkdtemp(dir));
        r = test_run_all(cases, ELEMENTSOF(cases));
        ASSERT_OK(rmdir(dir));
        return r;
}
