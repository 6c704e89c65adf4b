/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The writer's sandbox: allowed work succeeds, anything outside the allowlist kills. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The sources a writer reads missing parents from (the target, the lower layers) are
 * outside its chroot: through them it must neither reach the host (".." of one of them)
 * nor write. */
static int child_escape_source(void *userdata) {
        int src = ((int *) userdata)[1], fd;

        fd = openat(src, "inside", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 12; /* it must still read them */
        close(fd);
        fd = openat(src, "../marker", O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
                return 10;
        if (mkdirat(src, "made", 0700) == 0 || errno != EROFS)
                return 11;
        return 0;
}

TEST(sources_lead_nowhere_and_are_read_only) {
        _cleanup_free_ char *root = NULL, *src = NULL, *marker = NULL, *inside = NULL;
        int fds[2], status;
        pid_t pid;

        ASSERT_TRUE(asprintf(&root, "%s/root", dir) > 0 && asprintf(&src, "%s/src", dir) > 0 &&
                    asprintf(&marker, "%s/marker", dir) > 0 && asprintf(&inside, "%s/src/inside", dir) > 0);
        ASSERT_OK(mkdir(root, 0755));
        ASSERT_OK(mkdir(src, 0755));
        close(open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        close(open(inside, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        fds[0] = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        fds[1] = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(fds[0] >= 0 && fds[1] >= 0);
        {
                LayerSandbox sb = { .root_fd = fds[0], .keep_fds = &fds[1], .n_keep_fds = 1, .max_file_size = 1 << 20 };

                ASSERT_OK(layer_sandbox_spawn(&sb, child_escape_source, fds, &pid));
                ASSERT_OK(layer_sandbox_wait(pid, &status));
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fprintf(stderr, "status %#x\n", status);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(fds[0]);
        close(fds[1]);
        ASSERT_OK(unlink(inside));
        ASSERT_OK(unlink(marker));
        ASSERT_OK(rmdir(src));
        ASSERT_OK(rmdir(root));
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(allowed_work_succeeds), TEST_ENTRY(chrooted), TEST_ENTRY(execve_kills),
                TEST_ENTRY(socket_kills), TEST_ENTRY(mount_kills), TEST_ENTRY(fork_kills),
                TEST_ENTRY(sources_lead_nowhere_and_are_read_only),
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
