/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copies of a mount in users' mount namespaces (unshare -Urm copies every mount it can
 * see; a mount fd handed out may be attached anywhere): found by what the mount shows, its
 * superblock and root, in a search each uid pays for. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "dir-util.h"
#include "log.h"
#include "mount-api.h"
#include "mount-util.h"
#include "strutil.h"

/* Mount namespaces of one owner looked into per call at most, and the CPU time spent on
 * their mounts (of which MOUNT_COPIES_MAX_MOUNTS at most): a user who makes more, or
 * mounts that are slow to ask about (thousands stacked on one directory), cannot make
 * laminad spend more on it (mount_count_user_ns_copies fails instead). CPU time of the
 * searching thread, not wall-clock time: a loaded machine makes a search slower, never
 * shorter. */
#define COPIES_MAX_NAMESPACES 256
#define COPIES_MAX_USEC (100u * 1000u)
#define NS_GET_OWNER_UID _IO(0xb7, 0x4)
#define NS_GET_MNTNS_ID _IOR(0xb7, 0x5, uint64_t)

/* What one search for copies may still look at. */
typedef struct CopiesBudget {
        size_t mounts;
        uint64_t deadline_usec;
} CopiesBudget;

/* Whether the mount namespace ns_id has a mount of superblock dev within root; E2BIG
 * when that would take more than what is left of the budget. */
static int namespace_has_copy(uint64_t ns_id, uint64_t dev, const char *root, struct statmount_head *sm,
                              CopiesBudget *budget) {
        _cleanup_free_ uint64_t *ids = NULL;
        size_t n = 0;
        int r;

        r = list_mounts(ns_id, budget->mounts, &ids, &n);
        if (r < 0)
                return r == -ENOENT ? 0 : r; /* the namespace went meanwhile */
        budget->mounts -= n;
        for (size_t i = 0; i < n; i++) {
                const char *copy_root;

                if (i % 64 == 0 && clock_usec(CLOCK_THREAD_CPUTIME_ID) > budget->deadline_usec)
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

static bool ino_seen(const ino_t *seen, size_t n, ino_t ino) {
        for (size_t i = 0; i < n; i++)
                if (seen[i] == ino)
                        return true;
        return false;
}

/* The owner of the user namespace of the process (its /proc directory): -EEXIST when that
 * is ours, -ENOENT when the process is gone. */
static int user_ns_owner(int pid_fd, ino_t own_ino, uid_t *ret) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = openat(pid_fd, "ns/user", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return -ENOENT;
        if (st.st_ino == own_ino)
                return -EEXIST;
        if (ioctl(fd, NS_GET_OWNER_UID, ret) < 0)
                return -ENOENT;
        return 0;
}

/* Whether the mount namespace ns_fd of the process pid_fd has a copy: listed by
 * namespace ID where the kernel and the seccomp policy allow (Linux 6.11), else from the
 * process's mountinfo (pid_fd is its /proc directory: never another process's). */
static int process_has_copy(int pid_fd, int ns_fd, uint64_t dev, const char *root, struct statmount_head *sm,
                            CopiesBudget *budget) {
        uint64_t ns_id;
        int r;

        if (statmount_usable() && ioctl(ns_fd, NS_GET_MNTNS_ID, &ns_id) >= 0) {
                r = namespace_has_copy(ns_id, dev, root, sm, budget);
                if (r >= 0 || r == -E2BIG)
                        return r;
                log_debug_errno(r, "cannot list mount namespace %" PRIu64 " by ID (%m), reading mountinfo", ns_id);
        }
        return mount_info_has_copy(pid_fd, (dev_t) dev, root);
}

/* What the namespaces of one other uid may still cost a search (COPIES_MAX_NAMESPACES,
 * MOUNT_COPIES_MAX_MOUNTS, COPIES_MAX_USEC each). */
typedef struct OtherUid {
        uid_t uid;
        size_t namespaces, mounts;
        uint64_t usec;
} OtherUid;

typedef struct CopiesSearch {
        uint64_t dev;
        const char *root;
        uid_t owner;
        bool others;
        bool any; /* every namespace, root's own too, each uid paying as another's */
        struct statmount_head *sm;
        CopiesBudget budget; /* the owner's */
        size_t owner_namespaces;
        ino_t *seen;
        size_t n_seen, n_seen_allocated;
        OtherUid *uids;
        size_t n_uids, n_uids_allocated;
        size_t others_namespaces; /* of OTHERS_MAX_NAMESPACES, all other uids together */
        unsigned n;
} CopiesSearch;

/* All other uids' namespaces together looked into per search, at most. */
#define OTHERS_MAX_NAMESPACES (4 * COPIES_MAX_NAMESPACES)

static OtherUid *other_uid(CopiesSearch *s, uid_t uid) {
        for (size_t i = 0; i < s->n_uids; i++)
                if (s->uids[i].uid == uid)
                        return &s->uids[i];
        if (array_reserve_one((void **) &s->uids, &s->n_uids_allocated, s->n_uids, sizeof *s->uids, 16) < 0)
                return NULL;
        s->uids[s->n_uids] = (OtherUid) { .uid = uid, .mounts = MOUNT_COPIES_MAX_MOUNTS, .usec = COPIES_MAX_USEC };
        return &s->uids[s->n_uids++];
}

/* A namespace of another uid, paid from what is left to that uid: what it cannot pay for
 * is not looked at (0). */
static int other_has_copy(CopiesSearch *s, uid_t uid, int pid_fd, int ns_fd) {
        OtherUid *o = other_uid(s, uid);
        CopiesBudget b;
        uint64_t start, used;
        int r;

        if (!o)
                return -ENOMEM;
        if (o->namespaces >= COPIES_MAX_NAMESPACES || o->usec == 0 || s->others_namespaces >= OTHERS_MAX_NAMESPACES) {
                log_debug("uid %u has more mount namespaces than a search for copies looks into; the rest are not looked at",
                          (unsigned) uid);
                return 0;
        }
        o->namespaces++;
        s->others_namespaces++;
        start = clock_usec(CLOCK_THREAD_CPUTIME_ID);
        b = (CopiesBudget) { .mounts = o->mounts, .deadline_usec = start + o->usec };
        r = process_has_copy(pid_fd, ns_fd, s->dev, s->root, s->sm, &b);
        o->mounts = b.mounts;
        used = clock_usec(CLOCK_THREAD_CPUTIME_ID) - start;
        o->usec -= used < o->usec ? used : o->usec;
        if (r == -E2BIG) {
                o->usec = 0;
                return 0;
        }
        return r;
}

/* The namespace of the process pid_fd, once (by inode), when it counts. */
static int search_process(CopiesSearch *s, int pid_fd, ino_t own_ino, ino_t own_mnt_ino) {
        _cleanup_close_ int ns_fd = -EBADF;
        struct stat st;
        bool owners;
        uid_t uid;
        int r;

        r = user_ns_owner(pid_fd, own_ino, &uid);
        if (r == -EEXIST && s->any)
                uid = 0; /* a namespace of root's own */
        else if (r < 0)
                return 0; /* gone, or in our own user namespace */
        owners = !s->any && (s->owner == (uid_t) -1 ? uid != 0 : uid == s->owner);
        if (!owners && !s->any && (!s->others || uid == 0))
                return 0;
        ns_fd = openat(pid_fd, "ns/mnt", O_RDONLY | O_CLOEXEC);
        if (ns_fd < 0 || fstat(ns_fd, &st) < 0 || st.st_ino == own_mnt_ino || ino_seen(s->seen, s->n_seen, st.st_ino))
                return 0; /* our own mount table has no copies: mount_find() sees it */
        if (owners && s->owner_namespaces++ >= COPIES_MAX_NAMESPACES)
                return -E2BIG;
        if (array_reserve_one((void **) &s->seen, &s->n_seen_allocated, s->n_seen, sizeof *s->seen, 64) < 0)
                return -ENOMEM;
        s->seen[s->n_seen++] = st.st_ino;
        r = owners ? process_has_copy(pid_fd, ns_fd, s->dev, s->root, s->sm, &s->budget)
                   : other_has_copy(s, uid, pid_fd, ns_fd);
        if (r > 0)
                s->n++;
        return r < 0 ? r : 0;
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
                .budget = {
                        .mounts = MOUNT_COPIES_MAX_MOUNTS,
                        .deadline_usec = clock_usec(CLOCK_THREAD_CPUTIME_ID) + COPIES_MAX_USEC,
                },
        };
        struct stat own, own_mnt;
        struct dirent *de;
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
        for (errno = 0; r >= 0 && (de = readdir(proc)); errno = 0) {
                _cleanup_close_ int pid_fd = -EBADF;

                if (de->d_name[0] < '1' || de->d_name[0] > '9' || strlen(de->d_name) > 10)
                        continue;
                /* Everything through this fd: if the process goes, it fails rather than
                 * reaching a new process with the same PID. */
                pid_fd = openat(dirfd(proc), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pid_fd >= 0)
                        r = search_process(&s, pid_fd, own.st_ino, own_mnt.st_ino);
        }
        free(s.seen);
        free(s.uids);
        if (r < 0)
                return r;
        if (errno > 0)
                return -errno;
        *ret = s.n;
        return 0;
}

int mount_count_user_ns_copies(uint64_t dev, const char *root, uid_t owner, bool others, unsigned *ret) {
        return copies_search(dev, root, owner, others, false, ret);
}

int mount_count_any_copies(uint64_t dev, const char *root, unsigned *ret) {
        return copies_search(dev, root, (uid_t) -1, true, true, ret);
}
