/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who still holds a mount: a detached mount (umount MNT_DETACH) lives on, writable,
 * while any process has a file open or mapped in it, or its working or root directory
 * there. Every such reference is visible in /proc as a magic link whose target carries
 * the mount's unique ID (statx STATX_MNT_ID_UNIQUE), in whatever mount namespace the
 * process is. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dir-util.h"
#include "mount-api.h"
#include "mount-util.h"

static bool is_number(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

static uint64_t monotonic_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* What one search for holders may still look at: any process may open up to 2^19 files,
 * each costing a stat, and laminad asks on its main loop. */
typedef struct HoldersBudget {
        size_t links;
        uint64_t deadline_usec;
} HoldersBudget;

static HoldersBudget budget_new(void) {
        return (HoldersBudget) {
                .links = MOUNT_HOLDERS_MAX_LINKS,
                .deadline_usec = monotonic_usec() + MOUNT_HOLDERS_MAX_USEC,
        };
}

/* 1 when dirfd/name refers to the mount, 0 when not (processes and files vanish as we
 * look), E2BIG when the budget is spent. */
static int link_holds(int dirfd, const char *name, uint64_t mnt_id, HoldersBudget *budget) {
        uint64_t id;

        if (budget->links == 0)
                return -E2BIG;
        if (--budget->links % 64 == 0 && monotonic_usec() > budget->deadline_usec)
                return -E2BIG;
        return mount_id_of_path(dirfd, name, &id) >= 0 && id == mnt_id;
}

/* Whether any entry of the directory dirfd/sub (fd/, map_files/, task/) holds the mount;
 * for task/, each thread's cwd and root (threads may unshare them). */
static int dir_holds(int dirfd, const char *sub, uint64_t mnt_id, bool tasks, HoldersBudget *budget) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;
        int r;

        fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || dir_open_fd(fd, &d) < 0)
                return 0;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (!tasks) {
                        r = link_holds(fd, de->d_name, mnt_id, budget);
                        if (r != 0)
                                return r;
                        continue;
                }
                _cleanup_close_ int task_fd = openat(fd, de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (task_fd < 0)
                        continue;
                r = link_holds(task_fd, "cwd", mnt_id, budget);
                if (r == 0)
                        r = link_holds(task_fd, "root", mnt_id, budget);
                if (r != 0)
                        return r;
        }
        return 0;
}

static int process_holds(int pid_fd, uint64_t mnt_id, HoldersBudget *budget) {
        int r;

        r = link_holds(pid_fd, "cwd", mnt_id, budget);
        if (r == 0)
                r = link_holds(pid_fd, "root", mnt_id, budget);
        if (r == 0)
                r = dir_holds(pid_fd, "fd", mnt_id, false, budget);
        if (r == 0)
                r = dir_holds(pid_fd, "map_files", mnt_id, false, budget);
        if (r == 0)
                r = dir_holds(pid_fd, "task", mnt_id, true, budget);
        return r;
}

int mount_pid_holds(pid_t pid, uint64_t mnt_id) {
        HoldersBudget budget = budget_new();
        _cleanup_close_ int pid_fd = -EBADF;
        char path[sizeof("/proc/") + 11];

        snprintf(path, sizeof path, "/proc/%d", (int) pid);
        pid_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (pid_fd < 0)
                return 0;
        return process_holds(pid_fd, mnt_id, &budget);
}

int mount_count_holders(uint64_t mnt_id, unsigned *ret, pid_t *ret_first) {
        HoldersBudget budget = budget_new();
        _cleanup_(closedirp) DIR *proc = NULL;
        struct dirent *de;
        pid_t first = 0;
        unsigned n = 0;
        int r;

        assert(ret);

        proc = opendir("/proc");
        if (!proc)
                return -errno;
        for (errno = 0; (de = readdir(proc)); errno = 0) {
                if (!is_number(de->d_name))
                        continue;
                _cleanup_close_ int pid_fd = openat(dirfd(proc), de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (pid_fd < 0)
                        continue;
                r = process_holds(pid_fd, mnt_id, &budget);
                if (r < 0)
                        return r;
                if (r > 0 && n++ == 0)
                        first = (pid_t) atol(de->d_name);
        }
        if (errno > 0)
                return -errno;
        *ret = n;
        if (ret_first)
                *ret_first = first;
        return 0;
}
