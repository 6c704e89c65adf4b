/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Forking from a worker thread of a multithreaded daemon: the child starts with only the
 * calling thread, and any lock another thread held at fork() stays held. So everything
 * that needs libraries with locks is done in the parent before fork(): the seccomp filter
 * is compiled to BPF here and the child only hands it to the kernel. After fork() the
 * child makes plain system calls, and its writer loop uses malloc() at most — glibc's
 * fork() takes and re-initializes the malloc arena locks so the child can allocate — but
 * never stdio, logging, locale, NSS or libarchive.
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include "layer-confine.h"
#include "layer-fs.h"
#include "layer-landlock.h"
#include "layer-sandbox.h"
#include "macro.h"

/* What the writer needs: data and metadata calls on fds it already holds (5.3 of the
 * reference), plus memory management. No exec, clone, socket, mount, ioctl or prctl. */
static const char *const writer_syscalls[] = {
        "read", "readv", "write", "writev", "pread64", "pwrite64", "lseek", "close",
        "fstat", "newfstatat", "statx", "openat", "openat2", "mkdirat", "mknodat",
        "symlinkat", "linkat", "unlinkat", "readlinkat", "getdents64", "fchown",
        "fchownat", "fchmod", "fchmodat", "utimensat", "fsetxattr", "fgetxattr",
        "flistxattr", "fremovexattr", "ftruncate", "fallocate", "fsync", "fdatasync",
        "fcntl", "brk", "mmap", "munmap", "mremap", "madvise", "mprotect",
        "rt_sigreturn", "rt_sigprocmask", "clock_gettime", "getpid", "gettid", "futex",
        "exit", "exit_group",
        /* How the kernel resumes a call that a stop (SIGSTOP, a debugger) interrupted. */
        "restart_syscall",
#if defined(__SANITIZE_ADDRESS__)
        /* The sanitizer runtime inspects the signal stack; only sanitizer builds allow it. */
        "sigaltstack",
#endif
};

/* What the parser needs: read its input, write to its socket and pipe, memory. Not even
 * open: it has no file to open, and its locale and OpenSSL are loaded before. */
static const char *const parser_syscalls[] = {
        "read", "readv", "write", "writev", "sendmsg", "sendto", "close", "fstat", "newfstatat",
        "lseek", "brk", "mmap", "munmap", "mremap", "madvise", "mprotect", "rt_sigreturn",
        "rt_sigprocmask", "clock_gettime", "getpid", "gettid", "futex", "getrandom",
        "exit", "exit_group", "restart_syscall",
#if defined(__SANITIZE_ADDRESS__)
        "sigaltstack",
#endif
};

typedef struct SandboxFilter {
        struct sock_filter *insns;
        size_t n;
} SandboxFilter;

static void sandbox_filter_done(SandboxFilter *f) {
        free(f->insns);
}

/* Compiles the allowlist to classic BPF in the parent (libseccomp allocates and locks). */
static int sandbox_filter_build(LayerSandboxKind kind, SandboxFilter *ret) {
        const char *const *allowed = kind == LAYER_SANDBOX_PARSER ? parser_syscalls : writer_syscalls;
        size_t n_allowed = kind == LAYER_SANDBOX_PARSER ? ELEMENTSOF(parser_syscalls) : ELEMENTSOF(writer_syscalls);
        _cleanup_(layer_seccomp_releasep) scmp_filter_ctx ctx = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        r = layer_seccomp_allowlist(allowed, n_allowed, &ctx);
        if (r < 0)
                return r;
        fd = memfd_create("lamina-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0)
                return -EBADMSG;
        ret->n = (size_t) st.st_size / sizeof(struct sock_filter);
        ret->insns = malloc((size_t) st.st_size);
        if (!ret->insns)
                return -ENOMEM;
        if (pread(fd, ret->insns, (size_t) st.st_size, 0) != st.st_size) {
                free(ret->insns);
                return -EIO;
        }
        return 0;
}

/* Closes every fd except the sorted, distinct keep[]. */
static int close_all_but(const int *keep, size_t n) {
        unsigned lo = 0;

        for (size_t i = 0; i < n; i++) {
                if ((unsigned) keep[i] > lo && close_range(lo, (unsigned) keep[i] - 1, 0) < 0)
                        return -1;
                lo = (unsigned) keep[i] + 1;
        }
        return close_range(lo, ~0u, 0);
}

/* The writer's capabilities, each for what a layer asks of it:
 *   CHOWN        entries belong to the layer's owners (fchown, fchownat)
 *   FOWNER       then it still sets their modes, times and xattrs (not owning them)
 *   FSETID       set-id bits survive fchmod of a file whose group it is not in
 *   DAC_OVERRIDE entries go into directories whose modes (e.g. 0555, owned by another
 *                uid) would shut it out, and files are written after their modes are set
 *   SETFCAP      security.capability xattrs (file capabilities of the layer)
 * Everything else goes, from the bounding set too. (The parser keeps nothing.)
 * They are capabilities of the writer's own user namespace (enter_user_namespace()), not
 * of the host: its uid_map and gid_map map every id onto itself, so the owners a layer
 * names are written as they are, and each of these applies to every inode, while
 * nothing the kernel checks against the initial namespace (devices, mounts, module,
 * raw I/O, sysctl...) is within its reach. What a user namespace cannot do is kept out
 * of the writer: device nodes need CAP_MKNOD of the initial namespace (whiteouts, 0/0
 * character devices, need none), so the committer makes them on the writer's request
 * (layer.c). security.capability written from inside is stored by the kernel as a
 * namespaced (v3) file capability whose root is uid 0 of the host, which every reader in
 * the initial namespace gets back as the plain (v2) value and which the kernel honours
 * as such. */
static int drop_capabilities(void) {
        return layer_capabilities_keep((1ULL << CAP_CHOWN) | (1ULL << CAP_FOWNER) | (1ULL << CAP_FSETID) |
                                       (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_SETFCAP));
}

static int set_rlimits(const LayerSandbox *sb, int max_fd) {
        struct rlimit nproc = { 1, 1 };
        struct rlimit fsize = { sb->max_file_size, sb->max_file_size };
        struct rlimit nofile;

        /* A few fds above the ones it keeps (the tree walker's are bounded at any depth),
         * never above the hard limit laminad has: raising it would need CAP_SYS_RESOURCE,
         * which a unit with LimitNOFILE=1024 may not give. */
        if (getrlimit(RLIMIT_NOFILE, &nofile) < 0)
                return -1;
        if ((rlim_t) max_fd + 256 < nofile.rlim_max)
                nofile.rlim_max = (rlim_t) max_fd + 256;
        nofile.rlim_cur = nofile.rlim_max;
        if (setrlimit(RLIMIT_NPROC, &nproc) < 0 || setrlimit(RLIMIT_FSIZE, &fsize) < 0 ||
            setrlimit(RLIMIT_NOFILE, &nofile) < 0)
                return -1;
        return 0;
}

/* Ends the child with the bare system call: sanitizer runtimes intercept _exit() to run
 * their leak check, which needs clone and ptrace that the filter rightly kills. */
_noreturn_ static void sandbox_exit(int code) {
        for (;;)
                (void) syscall(SYS_exit_group, code);
}

/* A child's root: an empty tmpfs, read-only, that nothing leads out of (the old root is
 * detached). Mounted on /tmp, which exists everywhere, in the child's own mount namespace
 * (bubblewrap does the same). A new mount namespace copies every mount of laminad's, users'
 * overlays too, and a copy keeps a mount's filesystem alive (Unmount would find it in use
 * while the Apply runs): detached, no copy stays. */
static int empty_root(void) {
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("lamina-parser", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=1,mode=0555") < 0 ||
            chdir("/tmp") < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
            chdir("/") < 0)
                return -1;
        return mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static int drop_bounding_set(void) {
        for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        return -1;
        return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

/* Becomes nobody in a user namespace of its own, with no capability in it either: the
 * first process of a new user namespace gets them all there, so they go again. */
static int become_nobody(void) {
        static const gid_t no_groups[1];

        if (drop_bounding_set() < 0 || setgroups(0, no_groups) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0)
                return -1;
        if (unshare(CLONE_NEWUSER) < 0)
                return -1;
        return layer_capabilities_keep(0);
}

static int set_parser_rlimits(const LayerSandbox *sb, int max_fd) {
        /* SIGXCPU at the limit (see on_cpu_limit), SIGKILL as a backstop. */
        struct rlimit cpu = { sb->max_cpu_sec, sb->max_cpu_sec + 2 };
        struct rlimit zero = { 0, 0 };
        struct rlimit nofile = { (rlim_t) max_fd + 1, (rlim_t) max_fd + 1 };
#if !defined(__SANITIZE_ADDRESS__)
        /* Sanitizer runtimes reserve terabytes of address space: no limit there. */
        struct rlimit as = { sb->max_memory, sb->max_memory };

        if (setrlimit(RLIMIT_AS, &as) < 0)
                return -1;
#endif
        if (setrlimit(RLIMIT_CPU, &cpu) < 0 || setrlimit(RLIMIT_FSIZE, &zero) < 0 ||
            setrlimit(RLIMIT_CORE, &zero) < 0 || setrlimit(RLIMIT_NOFILE, &nofile) < 0)
                return -1;
        return 0;
}

/* The parser is PID 1 of its namespace, which ignores signals it has no handler for:
 * SIGXCPU gets one, which ends it with an exit code that names the limit. */
static void on_cpu_limit(int sig) {
        sandbox_exit(LAYER_SANDBOX_EXIT_CPU);
}

/* Changing the effective uid cleared the death signal: set again, then make sure the
 * parent did not die in between. PID 1 of its own namespace, the parser cannot see its
 * parent (getppid() is 0): it asks on the sync socket, whose other end only the parent
 * holds, and is answered only by a parent that is still there after the death signal was
 * set; a parent that died closed its end, and the parser reads its end of file. */
static int parent_still_there(int sync_fd) {
        char c = 'a';

        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || send(sync_fd, &c, 1, MSG_NOSIGNAL) != 1 ||
            read(sync_fd, &c, 1) != 1 || c != 'g')
                return -1;
        return close(sync_fd);
}

/* Runs in the parser child, PID 1 of its own namespaces (cloned so). keep[] holds sync_fd
 * too; max_fd is the highest fd func gets. */
_noreturn_ static void parser_child(const LayerSandbox *sb, const int *keep, size_t n_keep, int max_fd, int sync_fd,
                                    const SandboxFilter *filter, LayerSandboxFunc func, void *userdata) {
        struct sock_fprog prog = { .len = (unsigned short) filter->n, .filter = filter->insns };

        if (close_all_but(keep, n_keep) < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 1);
        if (empty_root() < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 2);
        if (set_parser_rlimits(sb, max_fd) < 0 ||
            sigaction(SIGXCPU, &(struct sigaction) { .sa_handler = on_cpu_limit }, NULL) < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 4);
        if (become_nobody() < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 5);
        if (parent_still_there(sync_fd) < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 1);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 5);
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 6);
        sandbox_exit(func(userdata));
}

/* The writer's user namespace: made by the child, mapped by the parent (only a process
 * with CAP_SETUID and CAP_SETGID in the parent namespace may map every id), which
 * answers on the sync socket once uid_map and gid_map are written. */
static int enter_user_namespace(int sync_fd) {
        char c = 'u';

        if (unshare(CLONE_NEWUSER) < 0 || write(sync_fd, &c, 1) != 1 || read(sync_fd, &c, 1) != 1 || c != 'm')
                return -1;
        return close(sync_fd);
}

/* Runs in the writer child: only system calls until func. Each failing step has its own
 * exit code so the parent can say which one broke. */
_noreturn_ static void sandbox_child(const LayerSandbox *sb, const int *keep, size_t n_keep, int sync_fd,
                                     int ruleset_fd, const SandboxFilter *filter, LayerSandboxFunc func,
                                     void *userdata) {
        struct sock_fprog prog = { .len = (unsigned short) filter->n, .filter = filter->insns };
        pid_t parent = getppid();

        if (close_all_but(keep, n_keep) < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 1);
        /* Its files are reached through root_fd only: its mount namespace holds an empty
         * root, none of laminad's mounts. */
        if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) < 0 || empty_root() < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 2);
        /* Before the chroot, which rules a new user namespace out. */
        if (enter_user_namespace(sync_fd) < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 7);
        if (fchdir(sb->root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 3);
        if (set_rlimits(sb, keep[n_keep - 1]) < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 4);
        umask(0);
        /* Before the capabilities are set: leaving fsuid 0 clears the effective file
         * capabilities, which capset() then restores from the permitted set. Without
         * CAP_SYS_RESOURCE and as a uid other than 0, ext4's root-reserved blocks stay
         * out of reach. */
        if (sb->fsuid != 0) {
                (void) setfsuid(sb->fsuid);
                if ((uid_t) setfsuid((uid_t) -1) != sb->fsuid)
                        sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 5);
                /* A new fsuid cleared the death signal: set again, then make sure the
                 * parent did not die in between. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
                        sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 1);
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || drop_capabilities() < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 5);
        if (layer_landlock_enforce(ruleset_fd, sb->root_fd) < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_LANDLOCK);
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
                sandbox_exit(LAYER_SANDBOX_EXIT_SETUP + 6);
        sandbox_exit(func(userdata));
}

/* Maps every uid and gid of the writer's user namespace onto itself (see
 * drop_capabilities()) once the child made it, and tells it to go on. */
static int map_user_namespace(pid_t pid, int sync_fd) {
        static const char map[] = "0 0 4294967295\n";
        char c;

        if (layer_read_full(sync_fd, &c, 1) != 1 || c != 'u')
                return -ECHILD; /* it failed before: its exit code says where */
        for (size_t i = 0; i < 2; i++) {
                char path[64];
                _cleanup_close_ int fd = -EBADF;

                snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, i == 0 ? "uid_map" : "gid_map");
                fd = open(path, O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                if (write(fd, map, sizeof map - 1) != (ssize_t) sizeof map - 1)
                        return -errno;
        }
        return layer_write_full(sync_fd, "m", 1);
}

static int cmp_int(const void *a, const void *b) {
        return *(const int *) a - *(const int *) b;
}

/* The sorted, distinct fds the child keeps: root_fd (writer), keep_fds and extra. */
static int keep_list(const LayerSandbox *sb, const int *extra, size_t n_extra, int **ret, size_t *ret_n) {
        _cleanup_free_ int *keep = malloc((sb->n_keep_fds + n_extra + 1) * sizeof(int));
        size_t n = 0, m = 1;

        if (!keep)
                return -ENOMEM;
        if (sb->kind == LAYER_SANDBOX_WRITER)
                keep[n++] = sb->root_fd;
        for (size_t i = 0; i < sb->n_keep_fds; i++) {
                struct stat st;

                assert(sb->keep_fds[i] >= 0);
                /* The writer's only directory is its root: ".." of any other would lead
                 * out of its chroot, and Landlock does not cover chown, chmod, xattrs
                 * and times by path. */
                if (sb->kind == LAYER_SANDBOX_WRITER &&
                    (fstat(sb->keep_fds[i], &st) < 0 || S_ISDIR(st.st_mode)) && sb->keep_fds[i] != sb->root_fd)
                        return -EISDIR;
                keep[n++] = sb->keep_fds[i];
        }
        for (size_t i = 0; i < n_extra; i++)
                keep[n++] = extra[i];
        qsort(keep, n, sizeof(int), cmp_int);
        for (size_t i = 1; i < n; i++)
                if (keep[i] != keep[m - 1])
                        keep[m++] = keep[i];
        *ret = TAKE_PTR(keep);
        *ret_n = m;
        return 0;
}

static int spawn_writer(const LayerSandbox *sb, const SandboxFilter *filter, LayerSandboxFunc func, void *userdata,
                        pid_t *ret_pid) {
        _cleanup_close_ int ruleset = -EBADF, sync_parent = -EBADF, sync_child = -EBADF;
        _cleanup_free_ int *keep = NULL;
        int sv[2], status, r;
        size_t n;
        pid_t pid;

        ruleset = layer_landlock_ruleset(sb->root_fd, NULL);
        if (ruleset < 0)
                return ruleset;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        sync_parent = sv[0];
        sync_child = sv[1];
        r = keep_list(sb, (int[]) { ruleset, sync_child }, 2, &keep, &n);
        if (r < 0)
                return r;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                sandbox_child(sb, keep, n, sync_child, ruleset, filter, func, userdata);
        sync_child = safe_close(sync_child);
        r = map_user_namespace(pid, sync_parent);
        if (r < 0 && r != -ECHILD) {
                (void) kill(pid, SIGKILL);
                (void) layer_sandbox_wait(pid, &status);
                return r;
        }
        *ret_pid = pid;
        return 0;
}

/* Answers the parser's question (parent_still_there()). A parser that failed before, or
 * is killed before the answer, ends: its exit status says where. */
static void answer_parser(int sync_fd) {
        char c;

        if (layer_read_full(sync_fd, &c, 1) == 1 && c == 'a')
                (void) send(sync_fd, "g", 1, MSG_NOSIGNAL);
}

static int spawn_parser(const LayerSandbox *sb, const SandboxFilter *filter, LayerSandboxFunc func, void *userdata,
                        pid_t *ret_pid) {
        _cleanup_close_ int sync_parent = -EBADF, sync_child = -EBADF;
        _cleanup_free_ int *keep = NULL, *keep_func = NULL;
        int sv[2], max_fd, r;
        size_t n;
        pid_t pid;

        /* The rlimit on fds is that of what func gets, without the sync socket. */
        r = keep_list(sb, NULL, 0, &keep_func, &n);
        if (r < 0)
                return r;
        max_fd = n > 0 ? keep_func[n - 1] : 2;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        sync_parent = sv[0];
        sync_child = sv[1];
        r = keep_list(sb, &sync_child, 1, &keep, &n);
        if (r < 0)
                return r;
        /* fork() into new namespaces: the child is PID 1 of its own. */
        pid = (pid_t) syscall(SYS_clone, SIGCHLD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC,
                              NULL, NULL, NULL, 0);
        if (pid < 0)
                return -errno;
        if (pid == 0)
                parser_child(sb, keep, n, max_fd, sync_child, filter, func, userdata);
        sync_child = safe_close(sync_child);
        answer_parser(sync_parent);
        *ret_pid = pid;
        return 0;
}

int layer_sandbox_spawn(const LayerSandbox *sb, LayerSandboxFunc func, void *userdata, pid_t *ret_pid) {
        _cleanup_(sandbox_filter_done) SandboxFilter filter = {};
        int r;

        assert(sb);
        assert(sb->kind == LAYER_SANDBOX_PARSER || sb->root_fd >= 0);

        r = sandbox_filter_build(sb->kind, &filter);
        if (r < 0)
                return r;
        if (sb->kind == LAYER_SANDBOX_PARSER)
                return spawn_parser(sb, &filter, func, userdata, ret_pid);
        return spawn_writer(sb, &filter, func, userdata, ret_pid);
}

int layer_sandbox_wait_cpu(pid_t pid, int *ret_status, uint64_t *ret_cpu_usec) {
        struct rusage ru = {};

        for (;;) {
                if (wait4(pid, ret_status, __WALL, &ru) >= 0)
                        break;
                if (errno != EINTR)
                        return -errno;
        }
        if (ret_cpu_usec)
                *ret_cpu_usec = ((uint64_t) ru.ru_utime.tv_sec + (uint64_t) ru.ru_stime.tv_sec) * 1000000u +
                                (uint64_t) ru.ru_utime.tv_usec + (uint64_t) ru.ru_stime.tv_usec;
        return 0;
}

int layer_sandbox_wait(pid_t pid, int *ret_status) {
        return layer_sandbox_wait_cpu(pid, ret_status, NULL);
}
