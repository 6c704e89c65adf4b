/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copies of a mount in users' mount namespaces (unshare -Urm copies every mount it can
 * see; a mount fd handed out may be attached anywhere): found by what the mount shows, its
 * superblock and root, in a search each uid pays for.
 *
 * The search first collects the namespaces from /proc, then looks into them. Collecting
 * costs each process a few calls (its user namespace, and its mount namespace when it
 * counts), each user namespace one walk up to ours, once per search however many
 * processes or nested namespaces share it, and each uid's mount namespaces are collected
 * only up to one more than a search looks into: past that its share is used up anyway.
 * The collection's CPU time is bounded too (COPIES_COLLECT_MAX_USEC, enough for tens of
 * thousands of processes): past it the search fails safe, as one crowded past its shares. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "dir-util.h"
#include "inode-map.h"
#include "log.h"
#include "mount-api.h"
#include "mount-util.h"
#include "strutil.h"

/* What one uid's namespaces may cost a search at most: mount namespaces looked into, the
 * mounts listed in them (MOUNT_COPIES_MAX_MOUNTS) and the CPU time spent on them. A user who
 * makes more, or mounts that are slow to ask about (thousands stacked on one directory),
 * cannot make laminad spend more on it. CPU time of the searching thread, not wall-clock
 * time: a loaded machine makes a search slower, never shorter. */
#define COPIES_MAX_NAMESPACES 256
#define COPIES_MAX_USEC (100u * 1000u)
/* What all uids but the owner cost a search together, in such shares: each uid has the same
 * part of them, a whole share while at most this many uids have namespaces. */
#define COPIES_SHARES 4
/* What collecting the namespaces from /proc may cost a search, in CPU time. */
#define COPIES_COLLECT_MAX_USEC (250u * 1000u)
/* User namespaces nest 32 deep at most (the kernel's limit). */
#define USER_NS_MAX_DEPTH 33
#define NS_GET_PARENT _IO(0xb7, 0x2)
#define NS_GET_OWNER_UID _IO(0xb7, 0x4)
#define NS_GET_MNTNS_ID _IOR(0xb7, 0x5, uint64_t)

/* What the namespaces of one uid may still cost a search. */
typedef struct CopiesBudget {
        size_t namespaces, mounts;
        uint64_t usec;
} CopiesBudget;

/* Whether the mount namespace ns_id has a mount of superblock dev within root; E2BIG
 * when that would take more than what is left of the budget. */
static int namespace_has_copy(uint64_t ns_id, uint64_t dev, const char *root, struct statmount_head *sm,
                              CopiesBudget *budget, uint64_t deadline_usec) {
        _cleanup_free_ uint64_t *ids = NULL;
        size_t n = 0;
        int r;

        r = list_mounts(ns_id, budget->mounts, &ids, &n);
        if (r < 0)
                return r == -ENOENT ? 0 : r; /* the namespace went meanwhile */
        budget->mounts -= n;
        for (size_t i = 0; i < n; i++) {
                const char *copy_root;

                if (i % 64 == 0 && clock_usec(CLOCK_THREAD_CPUTIME_ID) > deadline_usec)
                        return -E2BIG;

                r = stat_mount(ns_id, ids[i], STATMOUNT_SB_BASIC | STATMOUNT_MNT_ROOT, sm);
                if (r <= 0)
                        continue;
                copy_root = statmount_str(sm, sm->mnt_root);
                if (makedev(sm->sb_dev_major, sm->sb_dev_minor) == dev && copy_root &&
                    mount_path_within(copy_root, root, false))
                        return 1;
        }
        return 0;
}

/* Who answers for the user namespace of the process (its /proc directory): the owner of
 * the outermost user namespace it is in, below ours, so that the namespaces a user nests in
 * its own (owned by its subordinate uids) are its own. -EEXIST when it is in ours, -ENOENT
 * when the process is gone. payers remembers the answer for each user namespace met (uid +
 * 1), also those passed on the walk up: each is walked through once per search, not once
 * per process nor once per namespace nested in it (a user's many processes nested deep
 * would otherwise make every search pay USER_NS_MAX_DEPTH calls for each). */
static int user_ns_payer(int pid_fd, ino_t own_ino, InodeMap *payers, uid_t *ret) {
        _cleanup_close_ int fd = -EBADF;
        struct stat path[USER_NS_MAX_DEPTH];
        size_t n = 0;
        void *known;

        fd = openat(pid_fd, "ns/user", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &path[0]) < 0)
                return -ENOENT;
        if (path[0].st_ino == own_ino)
                return -EEXIST;
        for (;;) {
                _cleanup_close_ int parent = -EBADF;

                known = inode_map_get(payers, path[n].st_dev, path[n].st_ino);
                if (known)
                        break;
                if (++n >= USER_NS_MAX_DEPTH)
                        return -ENOENT;
                parent = ioctl(fd, NS_GET_PARENT);
                if (parent < 0 || fstat(parent, &path[n]) < 0)
                        return -ENOENT;
                if (path[n].st_ino == own_ino)
                        break;
                close(fd);
                fd = TAKE_FD(parent);
        }
        /* fd: the outermost below ours, unless a namespace on the way was known. */
        if (known)
                *ret = (uid_t) ((uintptr_t) known - 1);
        else if (ioctl(fd, NS_GET_OWNER_UID, ret) < 0)
                return -ENOENT;
        for (size_t i = 0; i < n; i++)
                if (inode_map_put(payers, path[i].st_dev, path[i].st_ino, (void *) ((uintptr_t) *ret + 1)) < 0)
                        return -ENOMEM;
        return 0;
}

/* A mount namespace to look into, found through a process in it. */
typedef struct Namespace {
        ino_t ino;
        uint64_t id; /* listed by ID (statmount), 0: by the mountinfo of process pid */
        pid_t pid;
        uid_t uid; /* who pays (user_ns_payer); 0: root, laminad's own user namespace */
        bool owners;
} Namespace;

typedef struct CopiesSearch {
        uint64_t dev;
        const char *root;
        uid_t owner;
        bool others;
        bool any; /* every namespace, root's own too, each uid paying as another's */
        struct statmount_head *sm;
        Namespace *namespaces;
        size_t n_namespaces, n_allocated;
        InodeMap payers;     /* user namespace -> its payer's uid + 1 */
        InodeMap namespaces_seen; /* mount namespaces already in namespaces */
        InodeMap per_payer;  /* (0, uid) -> how many of its mount namespaces were collected */
        unsigned n;
} CopiesSearch;

/* How many of uid's mount namespaces were collected. */
static size_t *payer_collected(CopiesSearch *s, uid_t uid) {
        size_t *collected = inode_map_get(&s->per_payer, 0, uid);

        if (collected)
                return collected;
        collected = calloc(1, sizeof *collected);
        if (collected && inode_map_put(&s->per_payer, 0, uid, collected) < 0) {
                free(collected);
                return NULL;
        }
        return collected;
}

/* Who pays for the user namespace of process name (of /proc, proc_fd), whose stat is st:
 * known from another process, or walked up to ours through *pid_fd (opened here). */
static int process_payer(CopiesSearch *s, int proc_fd, const char *name, const struct stat *st, ino_t own_ino,
                         int *pid_fd, uid_t *ret) {
        void *known;
        int r;

        if (st->st_ino == own_ino) {
                *ret = 0; /* a namespace of root's own */
                return s->any ? 0 : -EEXIST;
        }
        known = inode_map_get(&s->payers, st->st_dev, st->st_ino);
        if (known) {
                *ret = (uid_t) ((uintptr_t) known - 1);
                return 0;
        }
        /* Everything through this fd: if the process goes, it fails rather than reaching a
         * new process with the same PID. */
        *pid_fd = openat(proc_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (*pid_fd < 0)
                return -ENOENT;
        r = user_ns_payer(*pid_fd, own_ino, &s->payers, ret);
        if (r == -EEXIST && s->any) {
                *ret = 0;
                return 0;
        }
        return r;
}

/* The mount namespace of process name (of /proc, proc_fd), when it counts and is new to
 * the search. Most processes cost a stat or two: those in our user namespace (unless any),
 * in a user namespace met already, or in a mount namespace met already. */
static int collect_process(CopiesSearch *s, int proc_fd, const char *name, ino_t own_ino, ino_t own_mnt_ino) {
        _cleanup_close_ int pid_fd = -EBADF, ns_fd = -EBADF;
        struct stat user_st, st;
        size_t *collected;
        char path[32];
        uint64_t id = 0;
        bool owners;
        uid_t uid;
        int r;

        snprintf(path, sizeof path, "%s/ns/user", name);
        if (fstatat(proc_fd, path, &user_st, 0) < 0)
                return 0; /* gone */
        r = process_payer(s, proc_fd, name, &user_st, own_ino, &pid_fd, &uid);
        if (r < 0)
                return r == -ENOMEM ? r : 0; /* gone, or in our own user namespace */
        owners = !s->any && (s->owner == (uid_t) -1 ? uid != 0 : uid == s->owner);
        if (!owners && !s->any && (!s->others || uid == 0))
                return 0;
        collected = payer_collected(s, uid);
        if (!collected)
                return -ENOMEM;
        /* One more than a search looks into for a uid is as good as all of them: past it
         * the uid's part is used up (look_into_uid()). */
        if (*collected > COPIES_MAX_NAMESPACES)
                return 0;
        snprintf(path, sizeof path, "%s/ns/mnt", name);
        if (fstatat(proc_fd, path, &st, 0) < 0 || st.st_ino == own_mnt_ino ||
            inode_map_get(&s->namespaces_seen, st.st_dev, st.st_ino))
                return 0; /* gone, ours (mount_find() sees our mount table), or already there */
        if (pid_fd < 0)
                pid_fd = openat(proc_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        /* Still the process that was found in that user namespace (not a new one with
         * its PID), and the namespace it is in. */
        if (pid_fd < 0 || fstatat(pid_fd, "ns/user", &st, 0) < 0 || st.st_ino != user_st.st_ino)
                return 0;
        ns_fd = openat(pid_fd, "ns/mnt", O_RDONLY | O_CLOEXEC);
        if (ns_fd < 0 || fstat(ns_fd, &st) < 0 || st.st_ino == own_mnt_ino)
                return 0;
        r = inode_map_put(&s->namespaces_seen, st.st_dev, st.st_ino, (void *) 1);
        if (r <= 0)
                return r; /* already there (through another process), or -ENOMEM */
        (*collected)++;
        if (statmount_usable() && ioctl(ns_fd, NS_GET_MNTNS_ID, &id) < 0)
                id = 0;
        if (GREEDY_REALLOC(s->namespaces, s->n_allocated, s->n_namespaces + 1, 64) < 0)
                return -ENOMEM;
        s->namespaces[s->n_namespaces++] =
                (Namespace) { .ino = st.st_ino, .id = id, .pid = (pid_t) atoi(name), .uid = uid, .owners = owners };
        return 0;
}

/* The mountinfo of the process a namespace was found through, while it is still in it. */
static int mountinfo_has_copy(const CopiesSearch *s, const Namespace *ns) {
        _cleanup_close_ int pid_fd = -EBADF, ns_fd = -EBADF;
        char path[32];
        struct stat st;

        snprintf(path, sizeof path, "/proc/%d", (int) ns->pid);
        pid_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pid_fd < 0)
                return 0;
        ns_fd = openat(pid_fd, "ns/mnt", O_RDONLY | O_CLOEXEC);
        if (ns_fd < 0 || fstat(ns_fd, &st) < 0 || st.st_ino != ns->ino)
                return 0; /* gone, or in another namespace now */
        return mount_info_has_copy(pid_fd, (dev_t) s->dev, s->root);
}

/* Whether namespace ns has a copy, paid from budget: E2BIG when it would cost more. Listed
 * by namespace ID where the kernel and the seccomp policy allow (Linux 6.11), else from
 * the mountinfo of the process it was found through. */
static int look_into(CopiesSearch *s, const Namespace *ns, CopiesBudget *budget) {
        uint64_t start = clock_usec(CLOCK_THREAD_CPUTIME_ID), used;
        int r = -EOPNOTSUPP;

        if (budget->namespaces == 0 || budget->usec == 0)
                return -E2BIG;
        budget->namespaces--;
        if (ns->id != 0) {
                r = namespace_has_copy(ns->id, s->dev, s->root, s->sm, budget, start + budget->usec);
                if (r < 0 && r != -E2BIG)
                        log_debug_errno(r, "cannot list mount namespace %" PRIu64 " by ID (%m), reading mountinfo",
                                        ns->id);
        }
        if (r < 0 && r != -E2BIG)
                r = mountinfo_has_copy(s, ns);
        used = clock_usec(CLOCK_THREAD_CPUTIME_ID) - start;
        budget->usec -= used < budget->usec ? used : budget->usec;
        return r;
}

/* Owners' first, then by uid. */
static int namespace_compare_uid(const void *a, const void *b) {
        const Namespace *x = a, *y = b;

        if (x->owners != y->owners)
                return x->owners ? -1 : 1;
        return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* The namespaces (each once: collect_process) grouped by who pays; how many payers. */
static size_t namespaces_group(CopiesSearch *s) {
        size_t n = 0;

        if (s->n_namespaces == 0)
                return 0;
        qsort(s->namespaces, s->n_namespaces, sizeof *s->namespaces, namespace_compare_uid);
        for (size_t i = 0; i < s->n_namespaces; i++)
                n += i == 0 || s->namespaces[i].uid != s->namespaces[i - 1].uid;
        return n;
}

/* The namespaces of one uid, namespaces[0..n), within budget. Past it: E2BIG when that may
 * hide a copy that must count (the owner's own, or a share made smaller by other uids'
 * namespaces), else the rest is its own excess and is not looked into. */
static int look_into_uid(CopiesSearch *s, const Namespace *namespaces, size_t n, CopiesBudget budget, bool crowded) {
        for (size_t i = 0; i < n; i++) {
                int r = look_into(s, &namespaces[i], &budget);

                if (r == -E2BIG) {
                        if (namespaces[i].owners || crowded)
                                return -E2BIG;
                        log_debug("uid %u has more in its mount namespaces than a search for copies looks into; the rest "
                                  "are not looked at", (unsigned) namespaces[i].uid);
                        return 0;
                }
                if (r < 0)
                        return r;
                s->n += r > 0;
        }
        return 0;
}

static int copies_look(CopiesSearch *s) {
        static const CopiesBudget whole = {
                .namespaces = COPIES_MAX_NAMESPACES,
                .mounts = MOUNT_COPIES_MAX_MOUNTS,
                .usec = COPIES_MAX_USEC,
        };
        size_t n_uids = namespaces_group(s), n_shared = n_uids, i = 0;
        bool crowded, failed = false;
        CopiesBudget share;

        /* A non-root owner's namespaces: the whole of its own budget. */
        if (s->n_namespaces > 0 && s->namespaces[0].owners && s->owner != (uid_t) -1)
                n_shared--;
        crowded = n_shared > COPIES_SHARES;
        share = whole;
        if (crowded) {
                share.namespaces = COPIES_SHARES * whole.namespaces / n_shared ?: 1;
                share.mounts = COPIES_SHARES * whole.mounts / n_shared ?: 1;
                share.usec = COPIES_SHARES * whole.usec / n_shared ?: 1;
        }
        while (i < s->n_namespaces) {
                const Namespace *first = &s->namespaces[i];
                bool own = first->owners && s->owner != (uid_t) -1;
                size_t n = 0;
                int r;

                while (i + n < s->n_namespaces && s->namespaces[i + n].uid == first->uid)
                        n++;
                r = look_into_uid(s, first, n, own ? whole : share, crowded && !own);
                if (r == -E2BIG && !own && !first->owners)
                        failed = true; /* fails safe, unless a copy is found elsewhere */
                else if (r < 0)
                        return r;
                i += n;
        }
        /* Past a crowded share nothing is known of the rest: a copy there may be what must
         * count (counting released what is held would let the snapshot go while in use). */
        return failed && s->n == 0 ? -E2BIG : 0;
}

static int copies_search(uint64_t dev, const char *root, uid_t owner, bool others, bool any, unsigned *ret) {
        _cleanup_free_ struct statmount_head *sm = malloc(STATMOUNT_SIZE);
        _cleanup_(closedirp) DIR *proc = NULL;
        CopiesSearch s = {
                .dev = dev,
                .root = root,
                .owner = owner,
                .others = others,
                .any = any,
                .sm = sm,
                .per_payer = { .free_value = free },
        };
        uint64_t deadline = clock_usec(CLOCK_THREAD_CPUTIME_ID) + COPIES_COLLECT_MAX_USEC;
        struct stat own, own_mnt;
        struct dirent *de;
        unsigned n_pids = 0;
        int r = 0;

        assert(root);
        assert(ret);

        if (!sm)
                return -ENOMEM;
        if (stat("/proc/self/ns/user", &own) < 0 || stat("/proc/self/ns/mnt", &own_mnt) < 0)
                return -errno;
        proc = opendir("/proc");
        if (!proc)
                return -errno;
        /* First which namespaces there are and who pays for each, then each uid's within
         * its share: however many another uid has, it cannot take a uid's share. */
        for (errno = 0; r >= 0 && (de = readdir(proc)); errno = 0) {
                if (de->d_name[0] < '1' || de->d_name[0] > '9' || strlen(de->d_name) > 10)
                        continue;
                if (++n_pids % 64 == 0 && clock_usec(CLOCK_THREAD_CPUTIME_ID) > deadline) {
                        log_debug("collecting the namespaces of %u processes took longer than a search may; "
                                  "it fails safe", n_pids);
                        r = -E2BIG;
                        break;
                }
                r = collect_process(&s, dirfd(proc), de->d_name, own.st_ino, own_mnt.st_ino);
        }
        if (r >= 0 && errno > 0)
                r = -errno;
        if (r >= 0)
                r = copies_look(&s);
        free(s.namespaces);
        inode_map_clear(&s.payers);
        inode_map_clear(&s.namespaces_seen);
        inode_map_clear(&s.per_payer);
        if (r < 0)
                return r;
        *ret = s.n;
        return 0;
}

int mount_count_user_ns_copies(uint64_t dev, const char *root, uid_t owner, bool others, unsigned *ret) {
        return copies_search(dev, root, owner, others, false, ret);
}

int mount_count_any_copies(uint64_t dev, const char *root, unsigned *ret) {
        return copies_search(dev, root, (uid_t) -1, true, true, ret);
}
