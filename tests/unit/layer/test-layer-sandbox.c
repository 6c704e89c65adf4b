/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The writer's sandbox: allowed work succeeds, anything outside the allowlist kills,
 * Landlock and its own user namespace hold. */
#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/wait.h>

#include "layer-landlock.h"
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

/* The writer keeps no directory but its root: ".." of another would lead out of its
 * chroot, and Landlock does not cover chown, chmod, xattrs and times by path. */
TEST(other_directories_are_refused) {
        int fds[2] = { open_root(), open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC) };
        LayerSandbox sb = { .root_fd = fds[0], .keep_fds = &fds[1], .n_keep_fds = 1, .max_file_size = 1 << 20 };
        pid_t pid;

        ASSERT_TRUE(fds[1] >= 0);
        ASSERT_TRUE(layer_sandbox_spawn(&sb, child_ok, fds, &pid) == -EISDIR);
        close(fds[0]);
        close(fds[1]);
}

/* Landlock grants beneath the root only what writing a layer takes: files, directories,
 * symlinks, FIFOs, whiteouts; no socket nodes, no block devices. Device nodes are
 * refused by the kernel too (no CAP_MKNOD of the host in its user namespace), whiteouts
 * are not. */
static int child_landlock(void *userdata) {
        int root = *(int *) userdata;

        if (mknodat(root, "sock", S_IFSOCK | 0600, 0) == 0 || errno != EACCES)
                return 20;
        if (mknodat(root, "blk", S_IFBLK | 0600, makedev(7, 0)) == 0 || errno != EACCES)
                return 21;
        if (mknodat(root, "null", S_IFCHR | 0600, makedev(1, 3)) == 0 || errno != EPERM)
                return 22;
        if (mknodat(root, "whiteout", S_IFCHR, 0) < 0 || mknodat(root, "fifo", S_IFIFO | 0600, 0) < 0 ||
            symlinkat("x", root, "link") < 0)
                return 23;
        return 0;
}

TEST(landlock_and_no_device_nodes) {
        int fd = open_root(), status = run(child_landlock, fd);
        struct stat st;

        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fprintf(stderr, "status %#x\n", status);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_OK(fstatat(fd, "whiteout", &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0);
        ASSERT_TRUE(fstatat(fd, "null", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
        ASSERT_TRUE(fstatat(fd, LAYER_LANDLOCK_PROBE, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
        ASSERT_OK(unlinkat(fd, "whiteout", 0));
        ASSERT_OK(unlinkat(fd, "fifo", 0));
        ASSERT_OK(unlinkat(fd, "link", 0));
        close(fd);
}

/* In its user namespace, every id mapped onto itself, the writer still gives entries any
 * owner and security.capability; seen from here while it waits on a pipe. */
static int child_userns(void *userdata) {
        int *fds = userdata, fd;
        static const unsigned char cap[20] = { 0, 0, 0, 2, 0, 0x20 }; /* v2: cap_net_raw permitted */
        char c;

        fd = openat(fds[0], "owned", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
        if (fd < 0 || fchown(fd, 1234, 5678) < 0 || fsetxattr(fd, "security.capability", cap, sizeof cap, 0) < 0)
                return 30;
        close(fd);
        return read(fds[1], &c, 1) == 1 ? 0 : 31;
}

static char *proc_text(pid_t pid, const char *what) {
        char path[64], *buf = calloc(1, 4096);
        int fd;
        ssize_t n;

        ASSERT_TRUE(buf);
        snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, what);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        n = read(fd, buf, 4095);
        ASSERT_TRUE(n >= 0);
        close(fd);
        return buf;
}

TEST(own_user_namespace_maps_every_id) {
        int p[2], fds[2], status;
        unsigned char cap[32];
        char ours[64] = "", its[64] = "";
        _cleanup_free_ char *uid_map = NULL, *gid_map = NULL, *st_text = NULL;
        struct stat st;
        pid_t pid;

        ASSERT_OK(pipe2(p, O_CLOEXEC));
        fds[0] = open_root();
        fds[1] = p[0];
        {
                LayerSandbox sb = { .root_fd = fds[0], .keep_fds = &p[0], .n_keep_fds = 1, .max_file_size = 1 << 20 };
                ASSERT_OK(layer_sandbox_spawn(&sb, child_userns, fds, &pid));
        }
        /* it is mapped before layer_sandbox_spawn() returns */
        uid_map = proc_text(pid, "uid_map");
        gid_map = proc_text(pid, "gid_map");
        printf("# uid_map: %s# gid_map: %s", uid_map, gid_map);
        ASSERT_TRUE(strstr(uid_map, "4294967295") && strspn(uid_map, " 0") > 10);
        ASSERT_TRUE(strstr(gid_map, "4294967295") && strspn(gid_map, " 0") > 10);
        ASSERT_TRUE(readlink("/proc/self/ns/user", ours, sizeof ours - 1) > 0);
        {
                char path[64];
                snprintf(path, sizeof path, "/proc/%d/ns/user", (int) pid);
                ASSERT_TRUE(readlink(path, its, sizeof its - 1) > 0);
        }
        printf("# user ns: ours %s, the writer's %s\n", ours, its);
        ASSERT_TRUE(strcmp(ours, its) != 0);
        ASSERT_TRUE(write(p[1], "x", 1) == 1);
        ASSERT_OK(layer_sandbox_wait(pid, &status));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fprintf(stderr, "status %#x\n", status);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_OK(fstatat(fds[0], "owned", &st, 0));
        ASSERT_TRUE(st.st_uid == 1234 && st.st_gid == 5678);
        /* read back here as the plain (v2) value it was given */
        {
                int fd = openat(fds[0], "owned", O_RDONLY | O_CLOEXEC);
                ssize_t n = fgetxattr(fd, "security.capability", cap, sizeof cap);
                ASSERT_TRUE(n == 20 && cap[3] == 2 && cap[5] == 0x20);
                close(fd);
        }
        ASSERT_OK(unlinkat(fds[0], "owned", 0));
        close(fds[0]);
        close(p[0]);
        close(p[1]);
}

/* A kernel without Landlock (here: landlock_create_ruleset() answered ENOSYS by a
 * filter): the writer is not started at all. */
TEST(no_landlock_no_writer) {
        int status;
        pid_t pid = fork();

        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
                LayerSandbox sb = { .max_file_size = 1 << 20 };
                pid_t writer;

                if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(landlock_create_ruleset), 0) < 0 ||
                    seccomp_load(ctx) < 0)
                        _exit(2);
                sb.root_fd = open_root();
                _exit(layer_sandbox_spawn(&sb, child_ok, &sb.root_fd, &writer) == -EOPNOTSUPP ? 0 : 3);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Blocks reading a pipe nobody writes to, as a parser reading a stalled layer does. */
static int child_block(void *userdata) {
        char c;

        return read(*(int *) userdata, &c, 1) == 0 ? 10 : 11;
}

static bool confined(pid_t pid) {
        char path[64], line[128];
        bool found = false;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        while (!found && fgets(line, sizeof line, f))
                found = strncmp(line, "Seccomp:\t2", 10) == 0;
        fclose(f);
        return found;
}

/* Whichever child of ours ends next, within about 60 s (a loaded machine, the sanitizer
 * build): its pid, or -1. */
static pid_t wait_child_exit(int *ret_status) {
        for (int i = 0; i < 6000; i++) {
                pid_t pid = waitpid(-1, ret_status, WNOHANG);
                if (pid != 0)
                        return pid;
                usleep(10000);
        }
        return -1;
}

/* The middle process, lamina-unpack's stand-in: spawns a sandboxed child (kind, fsuid)
 * that blocks reading stall_fd, as a parser reading a stalled layer does, and reports on
 * report_fd the child's pid once it is confined (its filter is the last step: what is
 * tested then is a child in its steady state). With hold_at_unshare it reports instead,
 * before the spawn, the fd of a seccomp filter of its own (children inherit it) that makes
 * the child's unshare() wait for the test's answer. */
_noreturn_ static void middle_run(LayerSandboxKind kind, uid_t fsuid, bool hold_at_unshare, int report_fd,
                                  int stall_fd) {
        LayerSandbox sb = { .kind = kind, .root_fd = -EBADF, .keep_fds = &stall_fd, .n_keep_fds = 1,
                            .max_file_size = 1 << 20, .max_memory = 1u << 30, .max_cpu_sec = 60, .fsuid = fsuid };
        pid_t pid;

        if (hold_at_unshare) {
                scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
                int fd;

                if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(unshare), 0) < 0 || seccomp_load(ctx) < 0 ||
                    (fd = seccomp_notify_fd(ctx)) < 0 || write(report_fd, &fd, sizeof fd) != sizeof fd)
                        _exit(2);
        }
        if (kind == LAYER_SANDBOX_WRITER)
                sb.root_fd = open_root();
        if (layer_sandbox_spawn(&sb, child_block, &stall_fd, &pid) < 0)
                _exit(2);
        for (int i = 0; i < 6000 && !confined(pid); i++)
                usleep(10000);
        if (!hold_at_unshare && write(report_fd, &pid, sizeof pid) != sizeof pid)
                _exit(3);
        for (;;) /* killed by the test */
                pause();
}

/* Starts the middle process, with us as the subreaper its orphans are reparented to; what
 * it reports comes on *ret_report. */
static pid_t middle_start(LayerSandboxKind kind, uid_t fsuid, bool hold_at_unshare, int *ret_report, int stall[2]) {
        int report[2];
        pid_t middle;

        ASSERT_OK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
        ASSERT_OK(pipe2(report, O_CLOEXEC));
        ASSERT_OK(pipe(stall));
        middle = fork();
        ASSERT_TRUE(middle >= 0);
        if (middle == 0)
                middle_run(kind, fsuid, hold_at_unshare, report[1], stall[0]);
        close(report[1]);
        *ret_report = report[0];
        return middle;
}

static void middle_kill(pid_t middle) {
        ASSERT_OK(kill(middle, SIGKILL));
        ASSERT_TRUE(waitpid(middle, NULL, 0) == middle);
}

/* The middle is dead: its child, reparented to us, must end though its pipe stays open.
 * Its wait status. */
static int child_ends(pid_t child, int stall[2]) {
        int status;
        pid_t gone = wait_child_exit(&status);

        if (gone != child)
                (void) kill(child, SIGKILL), (void) waitpid(child, NULL, 0);
        ASSERT_TRUE(gone == child);
        close(stall[0]);
        close(stall[1]);
        ASSERT_OK(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0));
        return status;
}

/* A sandboxed child dies with the process that spawned it (PR_SET_PDEATHSIG), also after
 * its credentials changed (the kernel clears the death signal then): killed mid-read, the
 * parent leaves no child behind. */
static void dies_with_its_parent(LayerSandboxKind kind, uid_t fsuid) {
        int report, stall[2], status;
        pid_t middle, child = 0;

        middle = middle_start(kind, fsuid, false, &report, stall);
        ASSERT_TRUE(read(report, &child, sizeof child) == sizeof child);
        close(report);
        middle_kill(middle);
        status = child_ends(child, stall);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

TEST(writer_dies_with_its_parent) {
        dies_with_its_parent(LAYER_SANDBOX_WRITER, 0);
}

/* A user's layer: the writer writes as the owner's fsuid. */
TEST(users_writer_dies_with_its_parent) {
        dies_with_its_parent(LAYER_SANDBOX_WRITER, 65534);
}

TEST(parser_dies_with_its_parent) {
        dies_with_its_parent(LAYER_SANDBOX_PARSER, 0);
}

/* The parser's window: after its uid changed (which cleared its death signal) and before
 * the death signal is set again, its parent is killed; the parser still ends (it finds its
 * parent gone) instead of parsing on. It is held there, at the unshare() right after its
 * setresuid(), by the middle's seccomp filter, which we answer only once the middle is
 * dead. */
TEST(parser_ends_when_its_parent_died_while_its_death_signal_was_cleared) {
        struct seccomp_notif *req = NULL;
        struct seccomp_notif_resp *resp = NULL;
        int report, stall[2], status, remote_fd = -1, pidfd, listener;
        pid_t middle;

        middle = middle_start(LAYER_SANDBOX_PARSER, 0, true, &report, stall);
        ASSERT_TRUE(read(report, &remote_fd, sizeof remote_fd) == sizeof remote_fd);
        close(report);
        ASSERT_TRUE((pidfd = (int) syscall(SYS_pidfd_open, middle, 0)) >= 0);
        ASSERT_TRUE((listener = (int) syscall(SYS_pidfd_getfd, pidfd, remote_fd, 0)) >= 0);
        close(pidfd);
        ASSERT_OK(seccomp_notify_alloc(&req, &resp));
        ASSERT_TRUE(poll(&(struct pollfd) { .fd = listener, .events = POLLIN }, 1, 10000) == 1);
        ASSERT_OK(seccomp_notify_receive(listener, req));
        /* the parser waits in unshare(), nobody already: the middle dies now */
        middle_kill(middle);
        *resp = (struct seccomp_notif_resp) { .id = req->id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE };
        ASSERT_OK(seccomp_notify_respond(listener, resp));
        status = child_ends((pid_t) req->pid, stall);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == LAYER_SANDBOX_EXIT_SETUP + 1);
        seccomp_notify_free(req, resp);
        close(listener);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(allowed_work_succeeds), TEST_ENTRY(chrooted), TEST_ENTRY(execve_kills),
                TEST_ENTRY(socket_kills), TEST_ENTRY(mount_kills), TEST_ENTRY(fork_kills),
                TEST_ENTRY(other_directories_are_refused), TEST_ENTRY(landlock_and_no_device_nodes),
                TEST_ENTRY(own_user_namespace_maps_every_id), TEST_ENTRY(no_landlock_no_writer),
                TEST_ENTRY(writer_dies_with_its_parent), TEST_ENTRY(users_writer_dies_with_its_parent),
                TEST_ENTRY(parser_dies_with_its_parent),
                TEST_ENTRY(parser_ends_when_its_parent_died_while_its_death_signal_was_cleared),
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
