/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "layer-confine.h"
#include "unpack-confine.h"

static int set_limit(int resource, uint64_t soft, uint64_t hard, const char *what, Error *e) {
        struct rlimit rl = { .rlim_cur = soft, .rlim_max = hard };

        if (setrlimit(resource, &rl) < 0)
                return error_set_errno(e, errno, "cannot set the unpack helper's %s limit", what);
        return 0;
}

int unpack_confine(const LayerLimits *l, Error *e) {
        int r;

        /* No network, no System V IPC: the helper only reads, writes and waits on what it
         * was given. (Its parser and writer go further, see layer-sandbox.h.) */
        if (unshare(CLONE_NEWNET | CLONE_NEWIPC) < 0)
                return error_set_errno(e, errno, "cannot give the unpack helper its own network and IPC namespaces");

        /* SIGXCPU at the limit (reported as such), SIGKILL a little later. */
        r = set_limit(RLIMIT_CPU, l->max_cpu_sec, l->max_cpu_sec + 5, "CPU time", e);
        if (r < 0)
                return r;
        r = set_limit(RLIMIT_CORE, 0, 0, "core size", e);
        if (r < 0)
                return r;
#if !defined(__SANITIZE_ADDRESS__)
        /* Sanitizer runtimes reserve terabytes of address space: no limit there. */
        r = set_limit(RLIMIT_AS, l->max_memory, l->max_memory, "memory", e);
        if (r < 0)
                return r;
#endif
        return 0;
}

/* What the helper keeps once its parser and writer run, each for what committing takes
 * (layer-staging.c: deletions, opaque directories, moving the staged tree into the target,
 * copying directory attributes, setting directory times), for the device nodes of layers
 * that may have them, and for stopping its children:
 *   CHOWN, FOWNER, FSETID  directory owners, modes and times copied onto the target's
 *   DAC_OVERRIDE           entries moved and deleted in directories of any mode and owner
 *   SETFCAP                xattrs copied as they are, security.capability included
 *   SYS_ADMIN              trusted.overlay.opaque and other trusted.* xattrs: the kernel asks
 *                          for CAP_SYS_ADMIN (of the initial user namespace) and nothing less;
 *                          the filter below takes away what else it would allow
 *   KILL                   the parser runs as nobody in a user namespace of its own
 *   MKNOD                  only when the layer may carry devices: the writer, in a user
 *                          namespace, asks for them (layer.c)
 * Everything else goes, from the bounding set too (no DAC_READ_SEARCH: no open_by_handle_at;
 * no MKNOD, SETUID, SETGID, SETPCAP, SYS_PTRACE, NET_*, SYS_MODULE, ...). */
static const int committer_caps[] = {
        CAP_CHOWN, CAP_FOWNER, CAP_FSETID, CAP_DAC_OVERRIDE, CAP_SETFCAP, CAP_SYS_ADMIN, CAP_KILL,
};

/* The system calls the committer makes once its children run, and nothing else: waiting
 * for them and stopping them (SIGKILL only), reading their reports, making the device
 * nodes the writer asks for (when the layer may carry them), and the commit's file and
 * xattr calls on fds it holds (layer-staging.c, tree-walk.c), memory, its result. Any
 * other call kills it: no exec, fork, mount, namespace, socket, identity change, ptrace,
 * BPF, keyring or module call; nor open_by_handle_at, which CAP_DAC_READ_SEARCH would
 * not allow anyway. */
static const char *const committer_allowed[] = {
        "read", "readv", "write", "writev", "pread64", "pwrite64", "lseek", "close", "fcntl", "dup",
        "fstat", "newfstatat", "statx", "openat", "openat2", "getdents64", "poll", "ppoll",
        "sendto", "sendmsg", "wait4", "waitid",
        "unlinkat", "renameat", "renameat2", "fchown", "fchownat", "fchmod", "fchmodat", "utimensat",
        "flistxattr", "fgetxattr", "fsetxattr", "fremovexattr", "syncfs",
        "brk", "mmap", "munmap", "mremap", "madvise", "mprotect", "futex", "getrandom",
        "rt_sigreturn", "rt_sigprocmask", "clock_gettime", "getpid", "gettid", "exit", "exit_group",
        /* How the kernel resumes a poll() that a stop (SIGSTOP, a debugger) interrupted. */
        "restart_syscall",
#if defined(__SANITIZE_ADDRESS__)
        /* The sanitizer runtime's signal stack (its leak check is off here, see unpack.c). */
        "sigaltstack",
#endif
};

/* The allowlist; the default kills the process. kill() only SIGKILL to its two children
 * (with CAP_KILL any other pid would be in reach); mknodat only for layers that may carry
 * devices. */
static int committer_filter(bool allow_devices, const pid_t children[static 2]) {
        _cleanup_(layer_seccomp_releasep) scmp_filter_ctx ctx = NULL;
        int r;

        r = layer_seccomp_allowlist(committer_allowed, ELEMENTSOF(committer_allowed), &ctx);
        for (size_t i = 0; r >= 0 && i < 2; i++)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 2, SCMP_A0(SCMP_CMP_EQ, (uint64_t) children[i]),
                                     SCMP_A1(SCMP_CMP_EQ, SIGKILL));
        if (r >= 0 && allow_devices)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mknodat), 0);
        if (r >= 0)
                r = seccomp_load(ctx);
        return r;
}

/* Only the committer's capabilities, in the bounding set too; then the filter. */
int unpack_confine_committer(bool allow_devices, const pid_t children[static 2]) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};
        uint64_t keep = 0, have;
        int r;

        /* Of those, what the helper has (a unit whose bounding set lacks CAP_KILL leaves the
         * parser to its parent-death signal). */
        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        have = (uint64_t) d[0].permitted | (uint64_t) d[1].permitted << 32;
        for (size_t i = 0; i < ELEMENTSOF(committer_caps); i++)
                keep |= UINT64_C(1) << committer_caps[i];
        if (allow_devices)
                keep |= UINT64_C(1) << CAP_MKNOD;
        r = layer_capabilities_keep(keep & have);
        if (r < 0)
                return r;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        return committer_filter(allow_devices, children);
}
