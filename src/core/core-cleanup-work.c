/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Removing the work directories of own-superblock mounts (mount-work/<ID>,
 * core-mount-own-sb.c) that no mount record names. Mount makes one before it records the
 * mount, so a kill in between leaves it; it goes with its record (Unmount, Remove) or with
 * the snapshot's data (core-reclaim.c), and what a crash left in between by the sweep here.
 *
 * Every entry is looked at only by the search at start (the reclaim thread) and by root's
 * Cleanup. A user's Cleanup looks only at the work directories of its own snapshots, a
 * page of its records at a time: its cost is linear in what the caller holds, whatever
 * the others hold (a left directory of a snapshot already removed went with its data, or
 * goes at the next start). Either way a write transaction is taken only for the entries
 * that are there and had no record when read, ORPHAN_PAGE at most, and none when nothing
 * is left over. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core-internal.h"
#include "core-mount.h"
#include "dir-util.h"
#include "strutil.h"

typedef struct WorkPage {
        CoreSnapshotter *s;
        uint64_t ids[ORPHAN_PAGE];
        size_t n;
} WorkPage;

/* In the write transaction no Mount is between recording its mount and not; one that made
 * its mount (and work directory) but has not recorded it yet holds its snapshot busy. */
static int work_page_in_txn(StoreTxn *t, void *userdata, Error *e) {
        WorkPage *p = userdata;

        for (size_t i = 0; i < p->n; i++) {
                _cleanup_(mount_record_clear) MountRecord m = {};
                int r = store_mount_get(t, p->ids[i], &m);

                if (r == -ENOENT && !core_is_busy(p->s, p->ids[i]))
                        core_mount_work_remove(p->s, p->ids[i]);
                else if (r < 0 && r != -ENOENT)
                        return error_set_errno(e, -r, "cannot look up the mount of snapshot %" PRIu64 " of %s",
                                               p->ids[i], p->s->name);
        }
        return 0;
}

static int work_page_flush(WorkPage *p, Error *e) {
        int r;

        if (p->n == 0)
                return 0;
        if (atomic_load(&p->s->stopping))
                return error_setf(e, ECANCELED, "laminad is stopping; cleanup of %s given up", p->s->name);
        r = store_write_freeing(p->s->store, work_page_in_txn, p, e);
        p->n = 0;
        return r;
}

/* Every entry, a page at a time. */
static int sweep_all(WorkPage *p, int fd, Error *e) {
        _cleanup_(closedirp) DIR *dir = NULL;
        CoreSnapshotter *s = p->s;
        int r;

        r = dir_open_fd(fd, &dir);
        if (r < 0)
                return error_set_errno(e, -r, "cannot read %s of %s", MOUNT_WORK_DIR, s->name);
        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(dir);
                if (!de) {
                        if (errno > 0)
                                return error_set_errno(e, errno, "cannot read %s of %s", MOUNT_WORK_DIR, s->name);
                        return work_page_flush(p, e);
                }
                if (!core_data_id(de->d_name, &p->ids[p->n]))
                        continue;
                if (++p->n == ORPHAN_PAGE) {
                        r = work_page_flush(p, e);
                        if (r < 0)
                                return r;
                }
        }
}

typedef struct OwnerPage {
        WorkPage *p;
        StoreTxn *t;
        int fd;            /* mount-work/ */
        size_t seen;       /* records of this page */
        char *next;        /* where the next page starts (NULL: no more) */
        int r;
} OwnerPage;

/* A snapshot of the owner whose work directory is there with no mount record. */
static int owner_one(const SnapshotInfo *info, void *userdata) {
        _cleanup_(mount_record_clear) MountRecord m = {};
        OwnerPage *o = userdata;
        struct stat st;
        char name[32];
        int r;

        if (o->seen++ == ORPHAN_PAGE) {
                o->next = strdup(info->name);
                o->r = o->next ? 0 : -ENOMEM;
                return 1;
        }
        r = store_mount_get(o->t, info->id, &m);
        if (r != -ENOENT) {
                o->r = r < 0 ? r : 0;
                return r < 0; /* recorded: its mount's work directory */
        }
        snprintf(name, sizeof name, "%" PRIu64, info->id);
        if (fstatat(o->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                o->r = errno == ENOENT ? 0 : -errno;
                return errno != ENOENT;
        }
        o->p->ids[o->p->n++] = info->id;
        return 0;
}

/* The entries of ns's snapshots, a page of its records at a time. */
static int sweep_owner(WorkPage *p, int fd, uid_t ns, Error *e) {
        _cleanup_free_ char *from = NULL;
        CoreSnapshotter *s = p->s;
        int r;

        do {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;
                OwnerPage o = { .p = p, .fd = fd };

                r = core_read_begin(s, &t, e);
                if (r < 0)
                        return r;
                o.t = t;
                r = store_walk_owner_from(t, ns, from, NULL, owner_one, &o, e);
                free(from);
                from = o.next;
                if (r >= 0 && o.r < 0)
                        r = error_set_errno(e, -o.r, "cannot look at %s of %s for the snapshots of %u",
                                            MOUNT_WORK_DIR, s->name, (unsigned) ns);
                if (r < 0)
                        return r;
                store_read_end(TAKE_PTR(t));
                r = work_page_flush(p, e);
                if (r < 0)
                        return r;
        } while (from);
        return 0;
}

int core_mount_work_sweep(CoreSnapshotter *s, uid_t ns, Error *e) {
        _cleanup_free_ WorkPage *p = NULL;
        _cleanup_close_ int fd = -EBADF;

        fd = openat(s->backend->state_fd, MOUNT_WORK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : error_set_errno(e, errno, "cannot open %s of %s", MOUNT_WORK_DIR, s->name);
        p = calloc(1, sizeof *p);
        if (!p)
                return error_set_errno(e, ENOMEM, "cannot sweep %s of %s", MOUNT_WORK_DIR, s->name);
        p->s = s;
        return ns == 0 ? sweep_all(p, fd, e) : sweep_owner(p, fd, ns, e);
}
