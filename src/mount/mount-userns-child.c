/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A child that sits in a user namespace so that laminad may read or write the namespace's
 * uid_map and gid_map through its /proc/PID: for a caller's namespace (mount-userns.c)
 * and for one laminad makes (mount-idmap.c). It never runs anything. And a child that
 * clones a mount from a user namespace of its own, where the mount's flags are locked
 * (mount_clone_locked). The fork and the socket pair these children (and the one that
 * opens a caller's mount target, mount-target.c) talk over. */
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mount.h> /* glibc 2.36 wraps the new mount API; never with <linux/mount.h> */
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "mount-util.h"

int mount_child_close_all_but(int a, int b) {
        int lo = a, hi = a;

        if (b >= 0 && b < a)
                lo = b;
        else if (b > a)
                hi = b;
        if (lo > 3 && close_range(3, (unsigned) lo - 1, 0) < 0)
                return -errno;
        if (hi > lo + 1 && close_range((unsigned) lo + 1, (unsigned) hi - 1, 0) < 0)
                return -errno;
        return RET_NERRNO(close_range((unsigned) hi + 1, ~0U, 0));
}

int mount_child_send_ready(int sock, int fd) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = (char[]) { 'x' }, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (fd >= 0) {
                mh.msg_control = &control;
                mh.msg_controllen = sizeof control;
                CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
                CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
                CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), &fd, sizeof(int));
        }
        return sendmsg(sock, &mh, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* Runs in the child: joins userns_fd or makes a new namespace, says so (with the new
 * namespace's fd) and waits to be killed. Host uid 0 still, and in a caller's namespace
 * the caller has every capability, CAP_SYS_PTRACE too: it must not be dumpable (then
 * ptrace and /proc/PID/{mem,fd,root} need a capability in laminad's namespace) and holds
 * none of laminad's fds. */
_noreturn_ static void child(pid_t parent, int userns_fd, const void *userdata, int sock) {
        int fd = -EBADF;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent || prctl(PR_SET_DUMPABLE, 0) < 0 ||
            mount_child_close_all_but(sock, userns_fd) < 0)
                _exit(EXIT_FAILURE);
        if (userns_fd >= 0 ? setns(userns_fd, CLONE_NEWUSER) < 0 : unshare(CLONE_NEWUSER) < 0)
                _exit(EXIT_FAILURE);
        /* Not dumpable, its /proc/PID/ns/user is out of laminad's reach (without
         * CAP_SYS_PTRACE): the new namespace is sent. */
        if (userns_fd < 0 && (fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC)) < 0)
                _exit(EXIT_FAILURE);
        if (mount_child_send_ready(sock, fd) < 0)
                _exit(EXIT_FAILURE);
        for (;;)
                pause();
}

/* Runs in the child: enters the mount mnt_fd refers to (its working directory), makes a
 * user and mount namespace of its own, whose copy of every mount of laminad's namespace
 * the kernel gives locked flags (a less privileged namespace must not clear what a more
 * privileged one set) and into which it moves the working directory, and sends a clone
 * of that copy, which keeps the locks. Not dumpable, no other fd. */
_noreturn_ static void clone_child(pid_t parent, int mnt_fd, const void *userdata, int sock) {
        int fd;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent || prctl(PR_SET_DUMPABLE, 0) < 0 ||
            mount_child_close_all_but(sock, mnt_fd) < 0)
                _exit(EXIT_FAILURE);
        if (fchdir(mnt_fd) < 0 || unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                _exit(EXIT_FAILURE);
        /* The working directory itself: no lookup, which the new namespace's unmapped ids
         * could be refused. */
        fd = open_tree(AT_FDCWD, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        if (fd < 0 || mount_child_send_ready(sock, fd) < 0)
                _exit(EXIT_FAILURE);
        _exit(EXIT_SUCCESS);
}

int mount_child_recv_ready(int sock, int *ret_fd) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        char c;
        struct iovec iov = { .iov_base = &c, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof control };
        struct cmsghdr *cm;
        int fd = -EBADF, r;

        r = poll(&(struct pollfd) { .fd = sock, .events = POLLIN }, 1, MOUNT_CHILD_TIMEOUT_MS);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -ETIMEDOUT;
        if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) != 1)
                return -ECHILD;
        cm = CMSG_FIRSTHDR(&mh);
        if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int)))
                memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        if (!ret_fd) {
                safe_close(fd);
                return 0;
        }
        if (fd < 0 || (mh.msg_flags & MSG_CTRUNC)) {
                safe_close(fd);
                return -ECHILD;
        }
        *ret_fd = fd;
        return 0;
}

int mount_child_fork(MountChildFn fn, int fd, const void *userdata, pid_t *ret_pid, int *ret_sock) {
        pid_t parent = getpid(), pid;
        int sv[2], r;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                safe_close(sv[0]);
                safe_close(sv[1]);
                return r;
        }
        if (pid == 0) {
                fn(parent, fd, userdata, sv[1]);
                _exit(EXIT_FAILURE); /* fn does not return */
        }
        safe_close(sv[1]);
        *ret_pid = pid;
        *ret_sock = sv[0];
        return 0;
}

int mount_userns_child_start(int userns_fd, pid_t *ret_pid, int *ret_proc_fd, int *ret_new_userns_fd) {
        _cleanup_close_ int sock = -EBADF, proc_fd = -EBADF, new_fd = -EBADF;
        char path[32];
        pid_t pid;
        int r;

        assert(ret_pid);
        assert(ret_proc_fd);
        assert((userns_fd >= 0) == !ret_new_userns_fd);

        r = mount_child_fork(child, userns_fd, NULL, &pid, &sock);
        if (r < 0)
                return r;
        r = mount_child_recv_ready(sock, ret_new_userns_fd ? &new_fd : NULL);
        if (r >= 0) {
                snprintf(path, sizeof path, "/proc/%d", (int) pid);
                proc_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (proc_fd < 0)
                        r = -errno;
        }
        if (r < 0) {
                mount_userns_child_end(pid);
                return r;
        }
        *ret_pid = pid;
        *ret_proc_fd = TAKE_FD(proc_fd);
        if (ret_new_userns_fd)
                *ret_new_userns_fd = TAKE_FD(new_fd);
        return 0;
}

void mount_userns_child_end(pid_t pid) {
        int status;

        (void) kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
}

int mount_clone_locked(int mnt_fd, int *ret_fd) {
        _cleanup_close_ int sock = -EBADF;
        pid_t pid;
        int r;

        assert(mnt_fd >= 0);
        assert(ret_fd);

        r = mount_child_fork(clone_child, mnt_fd, NULL, &pid, &sock);
        if (r < 0)
                return r;
        r = mount_child_recv_ready(sock, ret_fd);
        mount_userns_child_end(pid);
        return r;
}
