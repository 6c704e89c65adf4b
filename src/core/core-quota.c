/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-uid quotas (core-quota.h). laminad enforces snapshots and label bytes at every change
 * of the metadata (one totals record per snapshotter, which the store keeps with the
 * records), and bytes and inodes of the data at Apply. The filesystem enforces bytes (and
 * inodes) of writes through mounts where it can, on one group per uid and snapshotter (its
 * btrfs qgroup, its ext4/XFS project) that each new snapshot's data joins as it is made:
 * the group's limit is the uid's quota less what it holds elsewhere, so setting it costs
 * the same however many snapshots the uid has (core-internal.h). Usage of the data is what
 * the records say for committed snapshots, and a walk for active ones and views. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "btrfs-util.h"
#include "core-internal.h"
#include "log.h"

int core_quota_init(Core *c, const QuotaConfig *config) {
        struct statvfs sv;
        int r;

        r = core_quota_state_new(c);
        if (r < 0)
                return r;

        if (config) {
                c->quota = *config;
                c->quota.users = NULL;
                if (config->n_users > 0) {
                        c->quota.users = malloc(config->n_users * sizeof(QuotaUser));
                        if (!c->quota.users)
                                return -ENOMEM;
                        memcpy(c->quota.users, config->users, config->n_users * sizeof(QuotaUser));
                }
        } else
                quota_config_init(&c->quota);
        if (fstatvfs(c->state_fd, &sv) < 0)
                return log_error_errno(errno, "cannot read the size of the filesystem of %s: %m", c->state_dir);
        c->fs_bytes = (uint64_t) sv.f_blocks * sv.f_frsize;
        c->fs_inodes = (uint64_t) sv.f_files;
        return 0;
}

void core_quota_done(Core *c) {
        core_quota_state_free(c);
        quota_config_clear(&c->quota);
}

void core_quota_limits(Core *c, uid_t uid, QuotaLimits *ret) {
        quota_config_limits(&c->quota, uid, c->fs_bytes, c->fs_inodes, ret);
}

uint64_t core_labels_bytes(const Labels *l) {
        uint64_t n = 0;

        for (size_t i = 0; l && i < l->n; i++)
                n += strlen(l->items[i].key) + strlen(l->items[i].value);
        return n;
}

/* What ns holds in s, in t or (NULL) a read of its own; with the IDs of its active
 * snapshots and views when ret_ids is not NULL (a pass over its records), and whether each
 * has a mount record (its data may be changing). */
static int totals_in(CoreSnapshotter *s, StoreTxn *t, uid_t ns, StoreOwnerTotals *ret, uint64_t **ret_ids,
                     bool **ret_mounted, size_t *ret_n, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *own = NULL;
        _cleanup_free_ bool *mounted = NULL;
        int r;

        if (!t) {
                r = core_read_begin(s, &own, e);
                if (r < 0)
                        return r;
                t = own;
        }
        r = store_owner_totals(t, ns, ret, e);
        if (r < 0 || !ret_ids)
                return r;
        r = store_owner_uncommitted(t, ns, ret_ids, ret_n, e);
        if (r < 0)
                return r;
        mounted = calloc(*ret_n ?: 1, sizeof *mounted);
        if (!mounted)
                return error_set_errno(e, ENOMEM, "cannot read the usage of the snapshots of uid %u", (unsigned) ns);
        for (size_t i = 0; i < *ret_n; i++) {
                _cleanup_(mount_record_clear) MountRecord m = {};

                mounted[i] = store_mount_get(t, (*ret_ids)[i], &m) != -ENOENT;
        }
        *ret_mounted = TAKE_PTR(mounted);
        return 0;
}

void core_quota_probe(CoreSnapshotter *s) {
        fsquota_probe(s->backend->snapshots_fd, &s->fsquota);
        /* Only overlayfs makes a snapshot's data in constant time in an empty directory,
         * which can take a project before anything is in it; native copies trees and
         * btrfs would need qgroups. */
        s->projects = s->fsquota.accounting && s->backend->vtable->layered;
        if (s->backend->vtable == &backend_btrfs) {
                uint64_t subvolid, excl;

                s->qgroups = btrfs_subvol_id(s->backend->snapshots_fd, &subvolid) >= 0 &&
                             btrfs_qgroup_exclusive(s->backend->snapshots_fd, subvolid, &excl) >= 0;
        }
}

const char *core_quota_enforcement(Core *c, char *buf, size_t size) {
        size_t n = 0;

        buf[0] = 0;
        for (size_t i = 0; i < c->n_snapshotters && n < size; i++) {
                CoreSnapshotter *s = c->snapshotters[i];
                int k = snprintf(buf + n, size - n, "%s%s: %s", i > 0 ? "; " : "", s->name,
                                 s->qgroups                ? "laminad and btrfs qgroups (bytes)"
                                 : !s->projects            ? "laminad"
                                 : s->fsquota.enforced     ? "laminad and project quotas"
                                                           : "laminad (project quotas count usage, limits not enforced)");
                if (k < 0)
                        break;
                n += (size_t) k;
        }
        return buf;
}

int core_data_usage(CoreSnapshotter *s, uint64_t id, const TreeWalkBudget *budget, uint64_t *ret_size,
                    uint64_t *ret_inodes, Error *e) {
        return s->backend->vtable->usage(s->backend, id, budget, ret_size, ret_inodes, e);
}

void core_quota_project_new(CoreSnapshotter *s, const char *tmpname, uid_t ns) {
        static const char *const subdirs[] = { "fs", "work" };
        _cleanup_close_ int fd = -EBADF;
        uint32_t projid = quota_user_project(ns);
        int r;

        if (!s->projects || projid == 0)
                return;
        fd = openat(s->backend->snapshots_fd, tmpname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = fd < 0 ? -errno : fsquota_set_project(fd, projid);
        /* Made before the project: the directories in it, still empty. */
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(subdirs); i++) {
                _cleanup_close_ int sub = openat(fd, subdirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                if (sub < 0)
                        r = errno == ENOENT ? 0 : -errno;
                else
                        r = fsquota_set_project(sub, projid);
        }
        if (r < 0)
                log_debug_errno(r, "%s: cannot give %s of uid %u its project: %m", s->name, tmpname, (unsigned) ns);
}

static uint64_t left(uint64_t max, uint64_t used) {
        return max == QUOTA_NONE ? QUOTA_NONE : max - (used < max ? used : max);
}

/* What ns's group in s holds now, as the filesystem counts it: its qgroup's exclusive
 * bytes, or its project's bytes and inodes; 0 when it has none yet. */
static int group_usage(CoreSnapshotter *s, uid_t ns, uint64_t *ret_bytes, uint64_t *ret_inodes) {
        uint64_t rfer;
        int r;

        *ret_bytes = *ret_inodes = 0;
        if (s->qgroups)
                r = btrfs_qgroup_usage(s->backend->snapshots_fd, quota_user_qgroup(ns), &rfer, ret_bytes);
        else if (s->projects && quota_user_project(ns) != 0)
                r = fsquota_usage(s->backend->snapshots_fd, quota_user_project(ns), ret_bytes, ret_inodes);
        else
                return -EOPNOTSUPP;
        return r == -ENOENT || r == -ESRCH ? 0 : r;
}

/* What ns holds in the snapshotters other than s, in O(their number): the usage of its
 * groups where the filesystem counts one, else the recorded usage of its committed
 * snapshots (active ones there are counted by laminad at Apply only). */
static int usage_elsewhere(CoreSnapshotter *s, uid_t ns, uint64_t *ret_bytes, uint64_t *ret_inodes) {
        Core *c = s->core;
        uint64_t bytes = 0, inodes = 0;

        for (size_t i = 0; i < c->n_snapshotters; i++) {
                CoreSnapshotter *o = c->snapshotters[i];
                StoreOwnerTotals t;
                uint64_t b, n;
                int r;

                if (o == s)
                        continue;
                r = totals_in(o, NULL, ns, &t, NULL, NULL, NULL, NULL);
                if (r < 0)
                        return r;
                r = group_usage(o, ns, &b, &n);
                if (r == -EOPNOTSUPP) {
                        b = t.committed_bytes;
                        n = t.committed_inodes;
                } else if (r < 0)
                        return r;
                else if (o->qgroups)
                        n = t.committed_inodes; /* qgroups count no inodes */
                bytes += b;
                inodes += n;
        }
        *ret_bytes = bytes;
        *ret_inodes = inodes;
        return 0;
}

static bool fs_limits(CoreSnapshotter *s, uid_t ns) {
        return ns != 0 && core_quota_fs_groups(s) && (s->qgroups || quota_user_project(ns) != 0);
}

/* Limits ns's group in s to what its quota leaves besides what it holds elsewhere. */
static int limit_group(CoreSnapshotter *s, uid_t ns) {
        uint64_t bytes, inodes;
        QuotaLimits l;
        int r;

        r = usage_elsewhere(s, ns, &bytes, &inodes);
        if (r < 0)
                return r;
        core_quota_limits(s->core, ns, &l);
        if (s->qgroups)
                return btrfs_qgroup_limit_exclusive(s->backend->snapshots_fd, quota_user_qgroup(ns),
                                                    left(l.max[QUOTA_BYTES], bytes));
        return fsquota_set_limits(s->backend->snapshots_fd, quota_user_project(ns), left(l.max[QUOTA_BYTES], bytes),
                                  left(l.max[QUOTA_INODES], inodes));
}

bool core_quota_fs_groups(CoreSnapshotter *s) {
        return s->qgroups || (s->projects && s->fsquota.enforced);
}

void core_quota_limit_group(CoreSnapshotter *s, uid_t ns) {
        int r;

        if (!fs_limits(s, ns))
                return;
        r = limit_group(s, ns);
        if (r < 0)
                log_debug_errno(r, "%s: cannot set the filesystem's limit of uid %u: %m", s->name, (unsigned) ns);
}

void core_quota_fs_limit(Core *c, uid_t ns) {
        for (size_t i = 0; i < c->n_snapshotters; i++)
                core_quota_limit_group(c->snapshotters[i], ns);
}

/* An empty qgroup that says uid's new snapshots no longer join its qgroup (so snapshots
 * of its own snapshots are refused: made outside, they would make the counts stale too):
 * one of them made the kernel's counts stale. It lives as long as the quota tree does, so a
 * user can cause one rescan, however often laminad starts. */
static uint64_t qgroup_bar(uid_t uid) {
        return quota_user_qgroup(uid) + (UINT64_C(1) << 32);
}

static bool qgroup_barred(CoreSnapshotter *s, uid_t ns) {
        uint64_t rfer, excl;

        return btrfs_qgroup_usage(s->backend->snapshots_fd, qgroup_bar(ns), &rfer, &excl) >= 0;
}

int core_quota_qgroup_ready(CoreSnapshotter *s, uid_t ns, uint64_t *ret_held) {
        uint64_t group = quota_user_qgroup(ns), rfer;
        int r;

        assert(s->qgroups && ns != 0);

        r = btrfs_qgroup_usage(s->backend->snapshots_fd, group, &rfer, ret_held);
        if (r == -ENOENT) {
                *ret_held = 0;
                r = btrfs_qgroup_create(s->backend->snapshots_fd, group);
        }
        /* Nothing joins a group whose limit is not what the quota leaves now. */
        return r < 0 ? r : limit_group(s, ns);
}

void core_quota_charge(CoreSnapshotter *s, uid_t ns, SnapshotKind kind, uint64_t replaces_id, BackendCharge *ret) {
        uint64_t elsewhere, inodes, held = 0, own = 0;
        QuotaLimits l;
        int r;

        *ret = (BackendCharge) { .own_limit = UINT64_MAX };
        if (!fs_limits(s, ns))
                return;
        if (!s->qgroups) {
                /* The project its directory gets (core_quota_project_new) has its limit. */
                r = limit_group(s, ns);
                if (r < 0)
                        log_debug_errno(r, "%s: cannot set the limit of the project of uid %u: %m", s->name,
                                        (unsigned) ns);
                return;
        }
        r = core_quota_qgroup_ready(s, ns, &held);
        if (r < 0)
                log_debug_errno(r, "%s: cannot make the qgroup of uid %u: %m", s->name, (unsigned) ns);
        else if (!qgroup_barred(s, ns))
                ret->qgroup = quota_user_qgroup(ns);
        if (kind != SNAPSHOT_ACTIVE)
                return;
        /* Where it cannot join: what the quota leaves now, plus what the data it replaces
         * held alone (an Apply's clone takes that over). */
        if (usage_elsewhere(s, ns, &elsewhere, &inodes) < 0)
                return;
        core_quota_limits(s->core, ns, &l);
        if (replaces_id != 0) {
                _cleanup_close_ int fd = -EBADF;
                char name[32];
                uint64_t subvolid;

                snprintf(name, sizeof name, "%" PRIu64, replaces_id);
                fd = openat(s->backend->snapshots_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 || btrfs_subvol_id(fd, &subvolid) < 0 ||
                    btrfs_qgroup_exclusive_committed(fd, subvolid, &own) < 0)
                        own = 0;
        }
        ret->own_limit = left(l.max[QUOTA_BYTES], elsewhere + held);
        if (ret->own_limit != QUOTA_NONE)
                ret->own_limit += own < QUOTA_NONE - 1 - ret->own_limit ? own : QUOTA_NONE - 1 - ret->own_limit;
}

void core_quota_charged(CoreSnapshotter *s, uid_t ns, const BackendCharge *charge) {
        int r;

        if (!charge->rescanned)
                return;
        log_warning("%s: a new snapshot of uid %u made btrfs stop counting quotas until a rescan (an extent shared "
                    "into its qgroup from outside it); a rescan was started, and snapshots of its own snapshots are "
                    "refused from now on (\"btrfs qgroup destroy 1/%" PRIu64 "\" on the filesystem lifts that)",
                    s->name, (unsigned) ns, qgroup_bar(ns) & ((UINT64_C(1) << 48) - 1));
        r = btrfs_qgroup_create(s->backend->snapshots_fd, qgroup_bar(ns));
        if (r < 0)
                log_warning_errno(r, "%s: cannot record that uid %u's snapshots stay out of its qgroup: %m", s->name,
                                  (unsigned) ns);
}

int core_quota_meta_elsewhere(CoreSnapshotter *s, uid_t ns, QuotaUse *ret, Error *e) {
        Core *c = s->core;

        *ret = (QuotaUse) {};
        if (ns == 0)
                return 0;
        for (size_t i = 0; i < c->n_snapshotters; i++) {
                StoreOwnerTotals o;
                int r;

                if (c->snapshotters[i] == s)
                        continue;
                r = totals_in(c->snapshotters[i], NULL, ns, &o, NULL, NULL, NULL, e);
                if (r < 0)
                        return r;
                ret->used[QUOTA_SNAPSHOTS] += o.snapshots;
                ret->used[QUOTA_LABEL_BYTES] += o.label_bytes;
        }
        return 0;
}

static int quota_exceeded(Error *e, uid_t ns, QuotaKind k, uint64_t total, uint64_t max, const char *what) {
        return error_setf(e, EDQUOT,
                          "uid %u would hold %" PRIu64 " %s, over its quota %s=%" PRIu64
                          " (laminad.conf); remove snapshots or labels, or ask the administrator to raise it",
                          (unsigned) ns, total, what, quota_kind_to_string(k), max);
}

int core_quota_check_meta(CoreSnapshotter *s, StoreTxn *t, uid_t ns, const QuotaUse *elsewhere, bool counted,
                          uint64_t add_snapshots, uint64_t add_label_bytes, Error *e) {
        StoreOwnerTotals o;
        QuotaLimits l;
        uint64_t total;
        int r;

        if (ns == 0 || (add_snapshots == 0 && add_label_bytes == 0))
                return 0;
        core_quota_limits(s->core, ns, &l);
        if (l.max[QUOTA_SNAPSHOTS] == QUOTA_NONE && l.max[QUOTA_LABEL_BYTES] == QUOTA_NONE)
                return 0;
        r = totals_in(s, t, ns, &o, NULL, NULL, NULL, e);
        if (r < 0)
                return r;

        total = o.snapshots + elsewhere->used[QUOTA_SNAPSHOTS] + (counted ? 0 : add_snapshots);
        if (add_snapshots > 0 && total > l.max[QUOTA_SNAPSHOTS])
                return quota_exceeded(e, ns, QUOTA_SNAPSHOTS, total, l.max[QUOTA_SNAPSHOTS], "snapshots");
        total = o.label_bytes + elsewhere->used[QUOTA_LABEL_BYTES] + (counted ? 0 : add_label_bytes);
        if (add_label_bytes > 0 && total > l.max[QUOTA_LABEL_BYTES])
                return quota_exceeded(e, ns, QUOTA_LABEL_BYTES, total, l.max[QUOTA_LABEL_BYTES], "bytes of labels");
        return 0;
}

/* The usage of ns's active snapshot or view ids[i], as last walked where it has no mount
 * (only laminad changes its data then), else walked now. */
static int snapshot_usage(CoreSnapshotter *s, uid_t ns, uint64_t id, bool mounted, uint64_t ret[static 2], Error *e) {
        Error ue = ERROR_NULL;
        int r;

        if (!mounted && core_quota_cache_get(s, ns, id, &ret[0], &ret[1]))
                return 0;
        if (atomic_load(&s->stopping))
                return error_setf(e, ECANCELED, "laminad is stopping");
        r = core_data_usage(s, id, NULL, &ret[0], &ret[1], &ue);
        if (r < 0 && r != -ENOENT)
                return error_setf(e, -r, "cannot read the usage of the snapshots of uid %u: %s", (unsigned) ns,
                                  ue.message);
        return r;
}

int core_quota_usage(CoreSnapshotter *s, uid_t ns, uint64_t ret[static _QUOTA_KIND_MAX], Error *e) {
        uint64_t generation = core_quota_cache_generation(s, ns);
        _cleanup_free_ uint64_t *ids = NULL, (*usage)[2] = NULL;
        _cleanup_free_ bool *mounted = NULL, *known = NULL;
        StoreOwnerTotals o;
        size_t n_ids = 0;
        int r;

        r = totals_in(s, NULL, ns, &o, &ids, &mounted, &n_ids, e);
        if (r < 0)
                return r;
        ret[QUOTA_SNAPSHOTS] = o.snapshots;
        ret[QUOTA_LABEL_BYTES] = o.label_bytes;
        ret[QUOTA_BYTES] = o.committed_bytes;
        ret[QUOTA_INODES] = o.committed_inodes;
        usage = calloc(n_ids ?: 1, sizeof *usage);
        known = calloc(n_ids ?: 1, sizeof *known);
        if (!usage || !known)
                return error_set_errno(e, ENOMEM, "cannot read the usage of the snapshots of uid %u", (unsigned) ns);
        /* The data of active snapshots and views, after the transaction (a snapshot
         * removed meanwhile counts nothing). */
        for (size_t i = 0; i < n_ids; i++) {
                r = snapshot_usage(s, ns, ids[i], mounted[i], usage[i], e);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                known[i] = !mounted[i];
                ret[QUOTA_BYTES] += usage[i][0];
                ret[QUOTA_INODES] += usage[i][1];
        }
        core_quota_cache_put(s, ns, generation, ids, (const uint64_t (*)[2]) usage, known, n_ids);
        return 0;
}

int core_quota_usage_all(Core *c, uid_t ns, uint64_t ret[static _QUOTA_KIND_MAX], Error *e) {
        memset(ret, 0, _QUOTA_KIND_MAX * sizeof(uint64_t));
        for (size_t i = 0; i < c->n_snapshotters; i++) {
                uint64_t u[_QUOTA_KIND_MAX];
                int r = core_quota_usage(c->snapshotters[i], ns, u, e);

                if (r < 0)
                        return r;
                for (QuotaKind k = 0; k < _QUOTA_KIND_MAX; k++)
                        ret[k] += u[k];
        }
        return 0;
}

int core_quota_owners(CoreSnapshotter *s, uid_t **ret, size_t *ret_n, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        int r;

        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        r = store_list_owners(t, ret, ret_n);
        if (r < 0)
                return error_set_errno(e, -r, "cannot list the owners of snapshots of %s", s->name);
        return 0;
}
