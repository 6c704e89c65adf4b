/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

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
 * copying directory attributes, setting directory times), and for stopping its children:
 *   CHOWN, FOWNER, FSETID  directory owners, modes and times copied onto the target's
 *   DAC_OVERRIDE           entries moved and deleted in directories of any mode and owner
 *   SETFCAP                xattrs copied as they are, security.capability included
 *   SYS_ADMIN              trusted.overlay.opaque and other trusted.* xattrs: the kernel asks
 *                          for CAP_SYS_ADMIN (of the initial user namespace) and nothing less;
 *                          the filter below takes away what else it would allow
 *   KILL                   the parser runs as nobody in a user namespace of its own
 * Everything else goes, from the bounding set too (no DAC_READ_SEARCH: no open_by_handle_at;
 * no MKNOD, SETUID, SETGID, SETPCAP, SYS_PTRACE, NET_*, SYS_MODULE, ...). */
static const int committer_caps[] = {
        CAP_CHOWN, CAP_FOWNER, CAP_FSETID, CAP_DAC_OVERRIDE, CAP_SETFCAP, CAP_SYS_ADMIN, CAP_KILL,
};

/* System calls the committer never makes, and that CAP_SYS_ADMIN or root would otherwise
 * make dangerous: killed. A deny list, not an allowlist: the commit runs on glibc's
 * and (in sanitizer builds) the sanitizer runtime's choice of calls, which an allowlist
 * would have to chase; what it needs is files, directories, xattrs, waits and memory. */
static const char *const committer_denied[] = {
        "execve", "execveat", "fork", "vfork",
        "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig",
        "fsmount", "fspick", "mount_setattr", "unshare", "setns",
        "name_to_handle_at", "open_by_handle_at", "mknod", "mknodat",
        "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
        "bpf", "perf_event_open", "userfaultfd", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
        "kcmp", "keyctl", "add_key", "request_key",
        "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
        "swapon", "swapoff", "sethostname", "setdomainname", "quotactl", "quotactl_fd", "acct",
        "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "syslog", "iopl", "ioperm",
        "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
        "setgroups", "capset", "personality", "fanotify_init", "io_uring_setup",
#if !defined(__SANITIZE_ADDRESS__)
        /* The sanitizer runtime's leak check stops the process's threads with ptrace. */
        "ptrace",
#endif
};

static void seccomp_releasep(scmp_filter_ctx *ctx) {
        if (*ctx)
                seccomp_release(*ctx);
}

/* Kills the process on any of committer_denied, on clone with a namespace flag, and
 * answers clone3 (whose flags a filter cannot see) with ENOSYS, so glibc falls back to clone. */
static int committer_filter(void) {
        static const uint64_t ns_flags[] = {
                CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS,
                CLONE_NEWCGROUP, CLONE_NEWTIME,
        };
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        int r;

        if (!ctx)
                return -ENOMEM;
        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(committer_denied); i++) {
                int nr = seccomp_syscall_resolve_name(committer_denied[i]);
                if (nr != __NR_SCMP_ERROR) /* else not on this architecture */
                        r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 0);
        }
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(ns_flags); i++)
                r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        if (r >= 0)
                r = seccomp_load(ctx);
        return r;
}

/* Only the committer's capabilities, in the bounding set too; then the filter. */
int unpack_confine_committer(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};
        uint64_t keep = 0, have;

        /* Of those, what the helper has (a unit whose bounding set lacks CAP_KILL leaves the
         * parser to its parent-death signal). */
        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        have = (uint64_t) d[0].permitted | (uint64_t) d[1].permitted << 32;
        for (size_t i = 0; i < ELEMENTSOF(committer_caps); i++)
                keep |= UINT64_C(1) << committer_caps[i];
        keep &= have;
        for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
                if (!(keep & (UINT64_C(1) << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        return -errno;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                return -errno;
        d[0].effective = d[0].permitted = (uint32_t) keep;
        d[1].effective = d[1].permitted = (uint32_t) (keep >> 32);
        if (syscall(SYS_capset, &h, d) < 0)
                return -errno;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        return committer_filter();
}
