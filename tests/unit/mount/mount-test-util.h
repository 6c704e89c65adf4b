/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Mount tests run each case in a forked child inside its own mount namespace with
 * private propagation and a tmpfs on a fresh temporary directory: whatever the case
 * mounts disappears with the namespace when the child exits, even when it aborts. */

#include <fcntl.h>
#include <grp.h>
#include <libmount.h>
#include <string.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-util.h"

/* Skips the program (exit 77) when the machine cannot run mount tests at all. */
static inline void mount_test_require(void) {
        int fd;

        if (geteuid() != 0) {
                fprintf(stderr, "skipping: mount tests need root\n");
                exit(EXIT_TEST_SKIP);
        }
        fd = fsopen("overlay", FSOPEN_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "skipping: no overlayfs through the new mount API: %m\n");
                exit(EXIT_TEST_SKIP);
        }
        close(fd);
}

#define NR_STATMOUNT 457 /* unknown to glibc 2.36 and libseccomp 2.5 */
#define NR_LISTMOUNT 458

/* Makes the system calls nrs[] (-1 ends the list) answer EPERM from now on in this
 * process and its children, as a seccomp policy that refuses them does: systemd 252's
 * SystemCallFilter=@mount does not know statmount and listmount. */
static inline void mount_test_refuse_syscalls(const int *nrs) {
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

        ASSERT_TRUE(ctx);
        for (const int *nr = nrs; *nr >= 0; nr++)
                ASSERT_OK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), *nr, 0));
        ASSERT_OK(seccomp_load(ctx));
        seccomp_release(ctx);
        ASSERT_TRUE(syscall(nrs[0], NULL, NULL, 0, 0) < 0 && errno == EPERM);
}

static inline void mount_test_refuse_statmount(void) {
        mount_test_refuse_syscalls((const int[]) { NR_STATMOUNT, NR_LISTMOUNT, -1 });
}

/* Runs child(body, dir) in a forked child, on a fresh directory below /tmp; aborts when
 * the child failed. */
static inline void run_forked(void (*child)(void (*body)(const char *dir), const char *dir),
                              void (*body)(const char *dir)) {
        char dir[] = "/tmp/lamina-mount-test-XXXXXX";
        int status;
        pid_t pid;

        ASSERT_TRUE(mkdtemp(dir));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0)
                child(body, dir);
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        (void) rmdir(dir); /* the tmpfs only existed in the child's namespace */
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "isolated test child failed (status 0x%x)\n", status);
                abort();
        }
}

_noreturn_ static inline void run_isolated_child(void (*body)(const char *dir), const char *dir) {
        ASSERT_OK(unshare(CLONE_NEWNS));
        ASSERT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
        ASSERT_OK(mount("tmpfs", dir, "tmpfs", 0, "mode=0700")); /* no flags a bind would inherit */
        body(dir);
        fflush(NULL);
        _exit(EXIT_SUCCESS);
}

/* Runs body(dir) in an isolated child (see above); aborts when the child failed. */
static inline void run_isolated(void (*body)(const char *dir)) {
        run_forked(run_isolated_child, body);
}

/* run_isolated(), and in a PID namespace of its own with its own /proc: for searches of
 * every process (holders of a mount), which must not see the rest of the machine — other
 * tests running meanwhile may hold more open files as root than a search looks at. */
_noreturn_ static inline void run_isolated_pid_child(void (*body)(const char *dir), const char *dir) {
        int status;
        pid_t pid;

        ASSERT_OK(unshare(CLONE_NEWNS | CLONE_NEWPID));
        pid = fork(); /* PID 1 of the new namespace */
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                ASSERT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
                ASSERT_OK(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
                ASSERT_OK(mount("tmpfs", dir, "tmpfs", 0, "mode=0700"));
                body(dir);
                fflush(NULL);
                _exit(EXIT_SUCCESS);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_FAILURE);
}

static inline void run_isolated_pid(void (*body)(const char *dir)) {
        run_forked(run_isolated_pid_child, body);
}

static inline char *test_path(const char *fmt, ...) _printf_(1, 2);
static inline char *test_path(const char *fmt, ...) {
        va_list ap;
        char *p;

        va_start(ap, fmt);
        ASSERT_TRUE(vasprintf(&p, fmt, ap) >= 0);
        va_end(ap);
        return p;
}

static inline void write_file(const char *path, const char *content) {
        FILE *f = fopen(path, "we");
        ASSERT_TRUE(f);
        ASSERT_TRUE(fputs(content, f) >= 0);
        ASSERT_TRUE(fclose(f) == 0);
}

/* The file's content (up to 255 bytes) in buf, or NULL when it cannot be read. */
static inline const char *read_file(const char *path, char buf[static 256]) {
        FILE *f = fopen(path, "re");
        size_t n;

        if (!f)
                return NULL;
        n = fread(buf, 1, 255, f);
        buf[n] = 0;
        fclose(f);
        return buf;
}

/* -errno of creating a file at path (0 when it worked; the file is then removed). */
static inline int try_create(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        close(fd);
        ASSERT_OK(unlink(path));
        return 0;
}

/* Creates path as uid/gid (a child that becomes them once it has the parent directory
 * open: the directories above need not let them pass), or aborts. */
static inline void create_as(const char *path, uid_t uid, gid_t gid) {
        int status;
        pid_t pid = fork();

        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                const char *slash = strrchr(path, '/');
                char *parent = strndup(path, (size_t) (slash - path));
                int dfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC), fd;

                if (dfd < 0 || setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                        _exit(2);
                fd = openat(dfd, slash + 1, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (fd < 0)
                        fprintf(stderr, "creating %s as %u:%u: %m\n", path, (unsigned) uid, (unsigned) gid);
                _exit(fd < 0 ? 1 : 0);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static inline void expect_owner(const char *path, uid_t uid, gid_t gid) {
        struct stat st;

        ASSERT_OK(lstat(path, &st));
        if (st.st_uid != uid || st.st_gid != gid) {
                fprintf(stderr, "%s: owner %u:%u, expected %u:%u\n", path, st.st_uid, st.st_gid, uid, gid);
                abort();
        }
}

/* Options of the mount at target in /proc/self/mountinfo, as get (libmount) reads them. */
static inline char *mountinfo_options_of(const char *target, const char *(*get)(struct libmnt_fs *)) {
        struct libmnt_table *tb = mnt_new_table_from_file("/proc/self/mountinfo");
        struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
        struct libmnt_fs *fs;
        char *r = NULL;

        ASSERT_TRUE(tb && it);
        while (!r && mnt_table_next_fs(tb, it, &fs) == 0)
                if (streq(mnt_fs_get_target(fs), target))
                        r = strdup(get(fs));
        mnt_free_iter(it);
        mnt_unref_table(tb);
        ASSERT_TRUE(r);
        return r;
}

/* The per-mount options of the mount at target. */
static inline char *mount_options_of(const char *target) {
        return mountinfo_options_of(target, mnt_fs_get_vfs_options);
}

/* Sends fd on sock and closes it: while nobody receives it, only the message holds it. */
static inline void send_fd(int sock, int fd) {
        char cmsg_buf[CMSG_SPACE(sizeof(int))] = {};
        struct iovec iov = { .iov_base = (char *) "x", .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cmsg_buf,
                             .msg_controllen = sizeof cmsg_buf };
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
        ASSERT_TRUE(sendmsg(sock, &mh, 0) == 1);
        ASSERT_OK(close(fd));
}

/* The same into a new socket pair of ours. */
static inline void send_in_flight(int fd, int pair[2]) {
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair));
        send_fd(pair[0], fd);
}

/* A child process that does what a user's `unshare -Urm` does, as uid (0: root): a user
 * and a mount namespace of its own, with a copy of every mount. Returns once it is there;
 * it then waits to be killed (also when the test aborts: the death signal is set after the
 * uid change, which clears it). */
static inline pid_t spawn_unshared(uid_t uid) {
        pid_t parent = getpid(), pid;
        int ready[2];
        char c;

        ASSERT_OK(pipe2(ready, O_CLOEXEC));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                if (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0 ||
                    prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent ||
                    unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0 || write(ready[1], "x", 1) != 1)
                        _exit(1);
                pause();
                _exit(0);
        }
        ASSERT_OK(close(ready[1]));
        ASSERT_TRUE(read(ready[0], &c, 1) == 1); /* 0: it failed */
        ASSERT_OK(close(ready[0]));
        return pid;
}

/* Ends a child process the case started, and reaps it. */
static inline void kill_and_reap(pid_t pid) {
        int status;

        ASSERT_OK(kill(pid, SIGKILL));
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
}
