/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who still holds a mount: a detached mount (umount MNT_DETACH) lives on, writable,
 * while any process has a file open or mapped in it, or its working or root directory
 * there. Every such reference is visible in /proc as a magic link whose target carries
 * the mount's unique ID (statx STATX_MNT_ID_UNIQUE), in whatever mount namespace the
 * process is.
 *
 * Looking costs a stat per link, and any user may hold 2^19 open files in each of many
 * processes, so a search is bounded; what it could not look at counts as holding the
 * mount only where that cannot be turned against another user. Each uid pays for its
 * own processes: the owner's and root's are searched first (running out there is the
 * owner's own business, or root's, and counts as held); every other uid's afterwards,
 * each with a budget of its own and all together with a bounded pool, after a first
 * look at every one of their processes (a holder with few files is found however much
 * others hold). Running out there counts as held only when other users can reach the
 * mount by path themselves (they could hold it for real just as cheaply); otherwise
 * their processes can hold it only through a file descriptor or a working directory
 * that the owner or root handed them, and what was not looked at counts as not holding
 * it: one user's many files never make another user's mount busy. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "dir-util.h"
#include "log.h"
#include "mount-api.h"
#include "mount-util.h"
#include "strutil.h"

/* At most this many processes of other users are remembered for the second part of a
 * search (8 bytes each); beyond that they are not looked at. */
#define OTHERS_MAX ((size_t) 1 << 20)

/* The first look at another user's process: its working and root directories and its
 * first open files. */
#define FIRST_LOOK_LINKS 64

static bool is_number(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* What looking at one process may still cost. */
typedef struct HoldersBudget {
        size_t links;
        uint64_t deadline_usec;
} HoldersBudget;

/* What a part of a search (the owner's and root's processes; everyone else's) may still
 * spend: links looked at, microseconds of the searching thread's CPU time. */
typedef struct HoldersPool {
        size_t links;
        uint64_t usec;
} HoldersPool;

/* 1 when dirfd/name refers to the mount, 0 when not (processes and files vanish as we
 * look), E2BIG when the budget is spent. */
static int link_holds(int dirfd, const char *name, uint64_t mnt_id, HoldersBudget *budget) {
        uint64_t id;

        if (budget->links == 0)
                return -E2BIG;
        if (--budget->links % 64 == 0 && clock_usec(CLOCK_THREAD_CPUTIME_ID) > budget->deadline_usec)
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

/* process_holds(), paid from the links left to the process's uid and from pool (links and
 * time): E2BIG when either runs out first. */
static int process_holds_charged(int pid_fd, uint64_t mnt_id, size_t *uid_links, HoldersPool *pool) {
        uint64_t start = clock_usec(CLOCK_THREAD_CPUTIME_ID), used;
        HoldersBudget b = {
                .links = *uid_links < pool->links ? *uid_links : pool->links,
                .deadline_usec = start + pool->usec,
        };
        size_t before = b.links;
        int r;

        if (b.links == 0 || pool->usec == 0)
                return -E2BIG;
        r = process_holds(pid_fd, mnt_id, &b);
        *uid_links -= before - b.links;
        pool->links -= before - b.links;
        used = clock_usec(CLOCK_THREAD_CPUTIME_ID) - start;
        pool->usec -= used < pool->usec ? used : pool->usec;
        return r;
}

/* The uid a process is charged to: the owner of its /proc directory (its effective uid),
 * or where that is root (root's, and any non-dumpable process's, setuid programs
 * included) its real uid, so that no user can make its processes count as root's.
 * -ESRCH when it is gone. */
static int process_uid(int pid_fd, uid_t *ret) {
        _cleanup_close_ int fd = -EBADF;
        char buf[1024], *p;
        unsigned long uid;
        struct stat st;
        ssize_t n;

        if (fstat(pid_fd, &st) < 0)
                return -errno;
        if (st.st_uid != 0) {
                *ret = st.st_uid;
                return 0;
        }
        fd = openat(pid_fd, "status", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof buf - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        p = strstr(buf, "\nUid:\t");
        if (!p || sscanf(p + 6, "%lu", &uid) != 1)
                return -EBADMSG;
        *ret = (uid_t) uid;
        return 0;
}

int mount_pid_holds(pid_t pid, uint64_t mnt_id) {
        HoldersBudget budget = {
                .links = MOUNT_HOLDERS_MAX_LINKS,
                .deadline_usec = clock_usec(CLOCK_THREAD_CPUTIME_ID) + MOUNT_HOLDERS_MAX_USEC,
        };
        _cleanup_close_ int pid_fd = -EBADF;
        char path[sizeof("/proc/") + 11];

        snprintf(path, sizeof path, "/proc/%d", (int) pid);
        pid_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (pid_fd < 0)
                return 0;
        return process_holds(pid_fd, mnt_id, &budget);
}

/* A process of another user, for the second part of a search. */
typedef struct OtherProcess {
        uid_t uid;
        pid_t pid;
        bool again; /* more to look at after the first look */
} OtherProcess;

static int other_process_compare(const void *a, const void *b) {
        const OtherProcess *x = a, *y = b;

        if (x->uid != y->uid)
                return x->uid < y->uid ? -1 : 1;
        return x->pid < y->pid ? -1 : x->pid > y->pid;
}

typedef struct HoldersSearch {
        uint64_t mnt_id;
        uid_t owner;
        unsigned n;
        pid_t first;
        OtherProcess *others;
        size_t n_others, n_allocated;
        bool others_missed; /* more other processes than OTHERS_MAX */
} HoldersSearch;

static void holders_search_found(HoldersSearch *s, pid_t pid) {
        if (s->n++ == 0)
                s->first = pid;
}

static int holders_search_remember(HoldersSearch *s, uid_t uid, pid_t pid) {
        if (s->n_others >= OTHERS_MAX) {
                s->others_missed = true;
                return 0;
        }
        if (GREEDY_REALLOC(s->others, s->n_allocated, s->n_others + 1, 256) < 0)
                return -ENOMEM;
        s->others[s->n_others++] = (OtherProcess) { .uid = uid, .pid = pid };
        return 0;
}

/* The first part: every process of the owner and of root, each uid with its own links
 * and both together MOUNT_HOLDERS_MAX_USEC; every other process is only remembered.
 * E2BIG when the owner's or root's could not all be looked at. */
static int search_owner_and_root(HoldersSearch *s) {
        size_t owner_links = MOUNT_HOLDERS_MAX_LINKS, root_links = MOUNT_HOLDERS_MAX_LINKS;
        HoldersPool pool = { 2 * MOUNT_HOLDERS_MAX_LINKS, MOUNT_HOLDERS_MAX_USEC };
        _cleanup_(closedirp) DIR *proc = NULL;
        struct dirent *de;
        int r;

        proc = opendir("/proc");
        if (!proc)
                return -errno;
        for (errno = 0; (de = readdir(proc)); errno = 0) {
                uid_t uid;

                if (!is_number(de->d_name))
                        continue;
                _cleanup_close_ int pid_fd = openat(dirfd(proc), de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (pid_fd < 0)
                        continue;
                r = process_uid(pid_fd, &uid);
                if (r == -ENOENT || r == -ESRCH)
                        continue; /* gone */
                if (r < 0)
                        uid = 0; /* not known: looked at as root's */
                if (uid != 0 && uid != s->owner) {
                        r = holders_search_remember(s, uid, (pid_t) atol(de->d_name));
                        if (r < 0)
                                return r;
                        continue;
                }
                r = process_holds_charged(pid_fd, s->mnt_id, uid == 0 ? &root_links : &owner_links, &pool);
                if (r < 0)
                        return log_debug_errno(r, "the processes of uid %u hold more links than a search for the holders of mount %" PRIu64 " looks at",
                                               (unsigned) uid, s->mnt_id);
                if (r > 0)
                        holders_search_found(s, (pid_t) atol(de->d_name));
        }
        if (errno > 0)
                return -errno;
        return 0;
}

/* What the second part cannot look at: E2BIG where other users reach the mount, else
 * nothing (they hold it only through what the owner or root handed them). */
static int others_missed(HoldersSearch *s, uid_t uid, bool others_reach, bool whole_pool) {
        if (others_reach)
                return log_debug_errno(-E2BIG,
                                       "other users' processes (uid %u's) hold more links than a search for the holders of mount %" PRIu64 " looks at; they can reach it, so it counts as held",
                                       (unsigned) uid, s->mnt_id);
        log_debug("other users' processes (uid %u's) hold more links than a search for the holders of mount %" PRIu64 " of uid %u looks at; %s not looked at",
                  (unsigned) uid, s->mnt_id, (unsigned) s->owner,
                  whole_pool ? "the rest are" : "that uid's other processes are");
        return 0;
}

/* The second part: the remembered processes of other users, all together with twice
 * MOUNT_HOLDERS_MAX_LINKS and 2 * MOUNT_HOLDERS_MAX_USEC. First a look at each one's
 * directories and first few files (a holder with few files is found however much others
 * hold), then the rest of those it did not finish, by uid, each uid with
 * MOUNT_HOLDERS_MAX_LINKS. What it cannot look at: others_missed(). */
static int search_others(HoldersSearch *s, bool others_reach) {
        HoldersPool pool = { 2 * MOUNT_HOLDERS_MAX_LINKS, 2 * MOUNT_HOLDERS_MAX_USEC };
        size_t uid_links = 0;
        bool skip_uid = false;
        int r;

        if (s->others_missed && others_reach)
                return -E2BIG;
        if (s->n_others == 0) /* and s->others NULL, which qsort() may not be given */
                return 0;
        qsort(s->others, s->n_others, sizeof *s->others, other_process_compare);
        for (unsigned round = 0; round < 2; round++)
                for (size_t i = 0; i < s->n_others; i++) {
                        OtherProcess *o = &s->others[i];
                        char path[sizeof("/proc/") + 11];
                        size_t first_look = FIRST_LOOK_LINKS;

                        if (i == 0 || o->uid != o[-1].uid) {
                                uid_links = MOUNT_HOLDERS_MAX_LINKS;
                                skip_uid = false;
                        }
                        if (skip_uid || (round == 1 && !o->again))
                                continue;
                        snprintf(path, sizeof path, "/proc/%d", (int) o->pid);
                        _cleanup_close_ int pid_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
                        if (pid_fd < 0)
                                continue; /* gone */
                        r = process_holds_charged(pid_fd, s->mnt_id, round == 0 ? &first_look : &uid_links, &pool);
                        if (r > 0)
                                holders_search_found(s, o->pid);
                        if (r != -E2BIG)
                                continue;
                        if (pool.links == 0 || pool.usec == 0)
                                return others_missed(s, o->uid, others_reach, true);
                        if (round == 0) {
                                o->again = true;
                                continue;
                        }
                        r = others_missed(s, o->uid, others_reach, false);
                        if (r < 0)
                                return r;
                        skip_uid = true;
                }
        return 0;
}

int mount_count_holders(uint64_t mnt_id, uid_t owner, bool others_reach, unsigned *ret, pid_t *ret_first) {
        _cleanup_free_ OtherProcess *others = NULL;
        HoldersSearch s = { .mnt_id = mnt_id, .owner = owner };
        int r;

        assert(ret);

        r = search_owner_and_root(&s);
        others = s.others;
        if (r >= 0)
                r = search_others(&s, others_reach);
        if (r < 0 && (r != -E2BIG || s.n == 0))
                return r;
        /* Found held, whatever was not looked at. */
        *ret = s.n;
        if (ret_first)
                *ret_first = s.first;
        return 0;
}
