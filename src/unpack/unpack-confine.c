/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sched.h>
#include <sys/resource.h>

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
