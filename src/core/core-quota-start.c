/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* At start, where the filesystem enforces the quotas on one group per user (core-quota.c),
 * a thread of the snapshotter's own:
 * - sets the limit of every owner's group, so a changed configuration holds before the
 *   owner's next call;
 * - btrfs: puts the subvolumes an older laminad made (or any laminad while quotas were
 *   off), which are in no qgroup, into their owners' qgroups, and clears the limit an older
 *   laminad gave each alone (subvolumes made since the start were charged already, some
 *   outside on purpose: they stay). Where the kernel cannot count one in (it shares extents
 *   with its parent), one rescan of all quota counts is started at the end. Idempotent: a
 *   crash or exit midway leaves the rest to the next start; a pass that got through marks
 *   the quota tree, so later starts skip it. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "alloc-util.h"
#include "btrfs-util.h"
#include "core-internal.h"
#include "log.h"
#include "strutil.h"

/* The qgroup that says a pass got through: uid 0's slot (root has no group). It goes with
 * the quota tree, so quotas disabled and enabled again bring a new pass. */
#define MIGRATED_MARK (UINT64_C(1) << 48 | UINT64_C(1) << 32)

typedef struct Legacy {
        uint64_t id;
        uid_t owner;
} Legacy;

typedef struct LegacyList {
        Legacy *items;
        size_t n, allocated;
} LegacyList;

static int collect(const SnapshotInfo *info, void *userdata) {
        LegacyList *l = userdata;

        if (info->owner == 0)
                return 0;
        if (GREEDY_REALLOC(l->items, l->allocated, l->n + 1, 64) < 0)
                return -ENOMEM;
        l->items[l->n++] = (Legacy) { info->id, info->owner };
        return 0;
}

/* Whether the subvolume fd was made before the time started (µs, CLOCK_REALTIME). */
static bool made_before(int fd, uint64_t started) {
        struct statx sx;

        if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &sx) < 0 || !(sx.stx_mask & STATX_BTIME))
                return false;
        return (uint64_t) sx.stx_btime.tv_sec * 1000000 + sx.stx_btime.tv_nsec / 1000 < started;
}

/* 0: nothing to do (removed meanwhile, made since the start, or in a qgroup already); 1: it
 * joined its owner's qgroup; 2: it joined, and the counts wait for a rescan. */
static int migrate_one(CoreSnapshotter *s, const Legacy *l, uint64_t started) {
        int dir_fd = s->backend->snapshots_fd, stale, r;
        _cleanup_close_ int fd = -EBADF;
        uint64_t subvolid, parent, held;
        char name[32];

        snprintf(name, sizeof name, "%" PRIu64, l->id);
        r = btrfs_is_subvol_at(dir_fd, name);
        if (r <= 0)
                return r == -ENOENT ? 0 : r;
        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!made_before(fd, started))
                return 0;
        r = btrfs_subvol_id(fd, &subvolid);
        if (r >= 0)
                r = btrfs_qgroup_parent(dir_fd, subvolid, &parent);
        if (r != 0)
                return r < 0 ? r : 0;
        r = core_quota_qgroup_ready(s, l->owner, &held);
        if (r < 0)
                return r;
        stale = btrfs_qgroup_assign(dir_fd, subvolid, quota_user_qgroup(l->owner));
        if (stale < 0)
                return stale;
        /* What the quota left when an older laminad limited it gives way to the group's limit. */
        r = btrfs_qgroup_limit_exclusive(dir_fd, subvolid, UINT64_MAX);
        return r < 0 ? r : 1 + stale;
}

/* Every owner's group gets the limit its quota gives now. */
static void limit_every_owner(CoreSnapshotter *s) {
        _cleanup_free_ uid_t *owners = NULL;
        size_t n = 0;
        Error e = ERROR_NULL;

        if (core_quota_owners(s, &owners, &n, &e) < 0) {
                log_warning("%s: cannot set the limits of the users' groups: %s", s->name, e.message);
                return;
        }
        for (size_t i = 0; i < n && !atomic_load(&s->stopping); i++)
                core_quota_limit_group(s, owners[i]);
}

static void migrate(CoreSnapshotter *s) {
        uint64_t started = s->quota_start_usec;
        StoreTxn *t = NULL;
        LegacyList l = {};
        size_t moved = 0, failed = 0;
        bool stale = false;
        Error e = ERROR_NULL;
        int r;

        r = core_read_begin(s, &t, &e);
        if (r >= 0) {
                r = store_walk(t, NULL, collect, &l, &e);
                store_read_end(t);
        }
        if (r < 0) {
                log_warning_errno(r, "%s: cannot list the snapshots to put into their owners' qgroups: %m %s", s->name,
                                  e.message);
                free(l.items);
                return;
        }
        for (size_t i = 0; i < l.n && !atomic_load(&s->stopping); i++) {
                r = migrate_one(s, &l.items[i], started);
                if (r < 0) {
                        log_debug_errno(r, "%s: cannot put snapshot %" PRIu64 " into the qgroup of uid %u: %m", s->name,
                                        l.items[i].id, (unsigned) l.items[i].owner);
                        failed++;
                }
                moved += r > 0;
                stale = stale || r == 2;
        }
        if (stale) {
                r = btrfs_quota_rescan(s->backend->snapshots_fd);
                if (r < 0)
                        log_warning_errno(r, "%s: cannot start a rescan of the quota counts: %m", s->name);
        }
        if (moved > 0)
                log_info("%s: %zu subvolumes of older snapshots joined their owners' qgroups%s", s->name, moved,
                         stale ? "; the kernel rescans its quota counts" : "");
        if (failed > 0)
                log_warning("%s: %zu subvolumes could not join their owners' qgroups; the next start tries again",
                            s->name, failed);
        else if (!atomic_load(&s->stopping)) {
                r = btrfs_qgroup_create(s->backend->snapshots_fd, MIGRATED_MARK);
                if (r < 0)
                        log_debug_errno(r, "%s: cannot mark the qgroups as complete: %m", s->name);
        }
        free(l.items);
}

static void *start_thread(void *userdata) {
        CoreSnapshotter *s = userdata;

        limit_every_owner(s);
        if (s->quota_migrate)
                migrate(s);
        return NULL;
}

void core_quota_start_pass(CoreSnapshotter *s) {
        uint64_t rfer, excl;
        int r;

        if (!core_quota_fs_groups(s))
                return;
        s->quota_migrate = s->qgroups && btrfs_qgroup_usage(s->backend->snapshots_fd, MIGRATED_MARK, &rfer, &excl) < 0;
        s->quota_start_usec = now_usec();
        r = -pthread_create(&s->quota_start_thread, NULL, start_thread, s);
        if (r < 0) {
                log_warning_errno(r, "%s: cannot start the thread that sets the users' quota groups: %m", s->name);
                return;
        }
        s->quota_starting = true;
}

void core_quota_stop_pass(CoreSnapshotter *s) {
        if (!s->quota_starting)
                return;
        atomic_store(&s->stopping, true);
        (void) pthread_join(s->quota_start_thread, NULL);
        s->quota_starting = false;
}
