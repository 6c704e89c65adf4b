/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* run --rootless: an ordinary user's container without systemd-nspawn or any privilege of
 * laminactl's own. A user namespace with the caller's ids (its own uid and gid as 0, its
 * first /etc/subuid and /etc/subgid ranges as 1..N, written by newuidmap/newgidmap, the
 * setuid helpers that may write them), laminad's idmapped mount fd of the snapshot through
 * that namespace (MountFdWithUserNamespace: laminad checks it is the caller's and maps
 * only ids it is entitled to), then a child that joins the namespace, makes its own mount,
 * PID, IPC and UTS namespaces and runs the container as their PID 1 (ctl-rootless-exec.c).
 * Only the container's processes and laminactl, until it has ended, hold the mount: then it
 * is released and the snapshot can be committed or removed. */
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl-rootless.h"
#include "ctl.h"
#include "strutil.h"
#include "subid.h"

typedef struct IdMapTool {
        const char *tool; /* newuidmap or newgidmap */
        pid_t pid;
        uint32_t own;
        SubidRange range; /* count 0: none */
} IdMapTool;

static int idmap_tool_exec(void *userdata) {
        IdMapTool *t = userdata;
        char pid[16], own[16], start[16], count[16];

        snprintf(pid, sizeof pid, "%d", (int) t->pid);
        snprintf(own, sizeof own, "%u", t->own);
        snprintf(start, sizeof start, "%u", t->range.start);
        snprintf(count, sizeof count, "%u", t->range.count);
        if (t->range.count > 0)
                execlp(t->tool, t->tool, pid, "0", own, "1", "1", start, count, (char *) NULL);
        else
                execlp(t->tool, t->tool, pid, "0", own, "1", (char *) NULL);
        log_error("laminactl: cannot run %s: %m; install uidmap", t->tool);
        return 127;
}

static int idmap_tool_run(IdMapTool *t) {
        int r = ctl_fork_and_wait(idmap_tool_exec, t);

        if (r < 0)
                return ctl_fail(r, "cannot start %s: %s", t->tool, strerror(-r));
        if (r == 127)
                return ctl_fail(-ENOENT, "%s is missing; install uidmap", t->tool);
        if (r != 0)
                return ctl_fail(-EPERM, "%s refused to map the ids (exit status %d; see above)", t->tool, r);
        return 0;
}

/* The first range of the user (by name or uid) in path, or none (a warning says what that
 * means for the container). */
static SubidRange first_range(const char *path, const char *name, uid_t uid) {
        SubidRange range = {};
        size_t n = 0;
        int r;

        r = subid_ranges(path, name, uid, &range, 1, &n);
        if (r < 0)
                log_warning("laminactl: cannot read %s: %s", path, strerror(-r));
        if (n == 0 && !arg_quiet)
                log_warning("laminactl: %s has no range for %s: only id 0 is mapped in the container, other ids of "
                            "the image show as nobody",
                            path, name ?: "your uid");
        return n > 0 ? range : (SubidRange) {};
}

/* A user namespace mapping the caller's uid and gid as 0 and its first /etc/subuid and
 * /etc/subgid ranges as 1..N (newuidmap, newgidmap). */
static int rootless_userns_new(int *ret_fd) {
        _cleanup_free_ char *name = NULL;
        struct passwd *pw;
        IdMapTool uid_tool, gid_tool;
        int pipefd[2] = { -EBADF, -EBADF }, fd = -EBADF, status, r;
        char path[64], c;
        pid_t pid;

        pw = getpwuid(getuid());
        if (pw) {
                name = strdup(pw->pw_name);
                if (!name)
                        return ctl_fail(-ENOMEM, "out of memory");
        }
        uid_tool = (IdMapTool) { "newuidmap", 0, getuid(), first_range("/etc/subuid", name, getuid()) };
        gid_tool = (IdMapTool) { "newgidmap", 0, getgid(), first_range("/etc/subgid", name, getuid()) };

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return ctl_fail(-errno, "cannot make a pipe: %m");
        pid = fork();
        if (pid < 0) {
                r = -errno;
                safe_close(pipefd[0]);
                safe_close(pipefd[1]);
                return ctl_fail(r, "cannot fork: %s", strerror(-r));
        }
        if (pid == 0) {
                /* Makes the namespace and waits to be killed: never runs anything. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                safe_close(pipefd[0]);
                if (unshare(CLONE_NEWUSER) < 0)
                        _exit(EXIT_FAILURE);
                (void) !write(pipefd[1], "x", 1);
                for (;;)
                        pause();
        }
        safe_close(pipefd[1]);
        r = read(pipefd[0], &c, 1) == 1 ? 0 : ctl_fail(-EPERM, "cannot make a user namespace (unshare failed)");
        safe_close(pipefd[0]);
        uid_tool.pid = gid_tool.pid = pid;
        if (r >= 0)
                r = idmap_tool_run(&uid_tool);
        if (r >= 0)
                r = idmap_tool_run(&gid_tool);
        if (r >= 0) {
                snprintf(path, sizeof path, "/proc/%d/ns/user", (int) pid);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        r = ctl_fail(-errno, "cannot open %s: %m", path);
        }
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (r < 0)
                return r;
        *ret_fd = fd;
        return 0;
}

/* MountFdWithUserNamespace of key through userns_fd. */
static int rootless_mount_fd(Ctl *c, const char *key, int userns_fd, int *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int fd, r;

        r = ctl_new_call(c, "MountFdWithUserNamespace", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", key);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, NULL);
        if (r >= 0)
                r = sd_bus_message_append(m, "h", userns_fd);
        if (r < 0)
                return ctl_bus_append_error(r);
        r = ctl_send(c, m, CALL_TIMEOUT_DEFAULT, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return ctl_bus_parse_error(r);
        *ret = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (*ret < 0)
                return ctl_fail(-errno, "cannot keep the mount fd: %m");
        return 0;
}

typedef struct Runner {
        int userns_fd, mnt_fd;
        const RunConfig *rc;
        char *const *args;
        const char *hostname;
        pid_t laminactl;
} Runner;

static int container_main(void *userdata) {
        Runner *run = userdata;

        return rootless_container_exec(run->mnt_fd, run->rc, run->args, run->hostname);
}

/* In the child: root of the user namespace, in namespaces of its own; the container is its
 * child (PID 1 of the new PID namespace), and it passes on its exit status. */
static int runner_main(void *userdata) {
        Runner *run = userdata;
        int r;

        if (setns(run->userns_fd, CLONE_NEWUSER) < 0)
                return log_error("laminactl: cannot join the container's user namespace: %m"), ROOTLESS_EXIT_SETUP;
        run->userns_fd = safe_close(run->userns_fd);
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
                return log_error("laminactl: cannot become root of the container's user namespace: %m"),
                       ROOTLESS_EXIT_SETUP;
        /* The container goes with laminactl (after the uid change, which clears it). */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != run->laminactl)
                return ROOTLESS_EXIT_SETUP;
        if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
                return log_error("laminactl: cannot make the container's namespaces: %m"), ROOTLESS_EXIT_SETUP;
        r = ctl_fork_and_wait(container_main, run);
        if (r < 0)
                return log_error("laminactl: cannot start the container: %s", strerror(-r)), ROOTLESS_EXIT_SETUP;
        return r;
}

int rootless_run(Ctl *c, const char *key, const RunConfig *rc, char *const *args) {
        _cleanup_close_ int userns_fd = -EBADF, mnt_fd = -EBADF;
        Runner run;
        int r;

        r = rootless_userns_new(&userns_fd);
        if (r < 0)
                return r;
        r = rootless_mount_fd(c, key, userns_fd, &mnt_fd);
        if (r < 0)
                return r;
        if (ctl_interrupted())
                return -EINTR;
        run = (Runner) { .userns_fd = userns_fd, .mnt_fd = mnt_fd, .rc = rc, .args = args, .hostname = key,
                         .laminactl = getpid() };
        r = ctl_fork_and_wait(runner_main, &run);
        if (r < 0)
                return ctl_fail(r, "cannot start the container: %s", strerror(-r));
        return r;
}
