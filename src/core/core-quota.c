/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-uid quotas (core-quota.h). laminad enforces snapshots and label bytes at every change
 * of the metadata (one totals record per snapshotter, which the store keeps with the
 * records), and bytes and inodes of the data at Apply. The filesystem enforces bytes (and
 * inodes) of writes through mounts where it can: a project per overlayfs snapshot on ext4/XFS
 * with project quotas, the subvolume's qgroup on btrfs with quotas on; each snapshot's
 * limit is what its owner's quota left when it was set (Prepare, Apply). Usage of the
 * data is what the records say for committed snapshots, and for active ones and views
 * their project's usage, else a walk. */
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
 * snapshots and views when ret_ids is not NULL (a pass over its records). */
static int totals_in(CoreSnapshotter *s, StoreTxn *t, uid_t ns, StoreOwnerTotals *ret, uint64_t **ret_ids,
                     size_t *ret_n, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *own = NULL;
        int r;

        if (!t) {
                r = core_read_begin(s, &own, e);
                if (r < 0)
                        return r;
                t = own;
        }
        r = store_owner_totals(t, ns, ret, e);
        if (r >= 0 && ret_ids)
                r = store_owner_uncommitted(t, ns, ret_ids, ret_n, e);
        return r;
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

/* The project snapshot id's data has: its ID when the directory has it. */
static int data_project(CoreSnapshotter *s, uint64_t id, uint32_t *ret) {
        _cleanup_close_ int fd = -EBADF;
        char name[32];
        uint32_t projid;
        bool inherit;
        int r;

        *ret = 0;
        if (!s->projects || fsquota_project_of(id) == 0)
                return 0;
        snprintf(name, sizeof name, "%" PRIu64, id);
        fd = openat(s->backend->snapshots_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = fsquota_get_project(fd, &projid, &inherit);
        if (r < 0)
                return r;
        if (projid == fsquota_project_of(id) && inherit)
                *ret = projid;
        return 0;
}

int core_data_usage(CoreSnapshotter *s, uint64_t id, const TreeWalkBudget *budget, uint64_t *ret_size,
                    uint64_t *ret_inodes, Error *e) {
        uint32_t projid;
        int r;

        r = data_project(s, id, &projid);
        if (r == -ENOENT)
                return error_setf(e, ENOENT, "the data of snapshot %" PRIu64 " is missing", id);
        if (r >= 0 && projid != 0 && fsquota_usage(s->backend->snapshots_fd, projid, ret_size, ret_inodes) >= 0)
                return 0;
        return s->backend->vtable->usage(s->backend, id, budget, ret_size, ret_inodes, e);
}

void core_quota_project_new(CoreSnapshotter *s, const char *tmpname, uint64_t id) {
        static const char *const subdirs[] = { "fs", "work" };
        _cleanup_close_ int fd = -EBADF;
        uint32_t projid = fsquota_project_of(id);
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
                log_debug_errno(r, "%s: cannot give snapshot %" PRIu64 " its project: %m", s->name, id);
}

/* Bytes of snapshot id's data in O(1), from its project or its qgroup; -EOPNOTSUPP when
 * only a walk would tell. */
static int data_bytes_fast(CoreSnapshotter *s, uint64_t id, uint64_t *ret) {
        uint64_t inodes, subvolid;
        uint32_t projid;
        int r;

        if (s->qgroups) {
                _cleanup_close_ int fd = -EBADF;
                char name[32];

                snprintf(name, sizeof name, "%" PRIu64, id);
                fd = openat(s->backend->snapshots_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                r = btrfs_subvol_id(fd, &subvolid);
                /* No syncfs() on the loop: as of the last commit is close enough for a limit. */
                return r < 0 ? r : btrfs_qgroup_exclusive_committed(fd, subvolid, ret);
        }
        r = data_project(s, id, &projid);
        if (r < 0)
                return r;
        if (projid == 0)
                return -EOPNOTSUPP;
        return fsquota_usage(s->backend->snapshots_fd, projid, ret, &inodes);
}

/* What ns's data holds, bytes and inodes, in O(its snapshots): -EOPNOTSUPP when some
 * active snapshot's data would have to be walked. */
static int usage_fast(Core *c, uid_t ns, uint64_t *ret_bytes, uint64_t *ret_inodes) {
        uint64_t bytes = 0, inodes = 0;

        for (size_t i = 0; i < c->n_snapshotters; i++) {
                _cleanup_free_ uint64_t *ids = NULL;
                CoreSnapshotter *s = c->snapshotters[i];
                StoreOwnerTotals o;
                size_t n_ids = 0;
                int r;

                r = totals_in(s, NULL, ns, &o, &ids, &n_ids, NULL);
                if (r < 0)
                        return r;
                bytes += o.committed_bytes;
                inodes += o.committed_inodes;
                for (size_t k = 0; k < n_ids; k++) {
                        uint64_t b = 0, n = 0;
                        uint32_t projid;

                        r = data_bytes_fast(s, ids[k], &b);
                        if (r == -ENOENT)
                                continue;
                        if (r < 0)
                                return r;
                        /* Inodes only a project counts; a qgroup has none (Inodes= is laminad's). */
                        if (data_project(s, ids[k], &projid) >= 0 && projid != 0)
                                (void) fsquota_usage(s->backend->snapshots_fd, projid, &b, &n);
                        bytes += b;
                        inodes += n;
                }
        }
        *ret_bytes = bytes;
        *ret_inodes = inodes;
        return 0;
}

static uint64_t left(uint64_t max, uint64_t used) {
        return max == QUOTA_NONE ? QUOTA_NONE : max - (used < max ? used : max);
}

static bool fs_limits(CoreSnapshotter *s, uid_t ns) {
        return ns != 0 && (s->qgroups || (s->projects && s->fsquota.enforced));
}

/* Sets snapshot id's limit to its own data plus what its owner, using used_bytes and
 * used_inodes in all (its own data included), has left of l. */
static void fs_limit_one(CoreSnapshotter *s, uint64_t id, const QuotaLimits *l, uint64_t used_bytes,
                         uint64_t used_inodes) {
        _cleanup_close_ int fd = -EBADF;
        uint64_t own_bytes = 0, own_inodes = 0;
        uint32_t projid = 0;
        char name[32];
        int r;

        if (s->projects && (data_project(s, id, &projid) < 0 || projid == 0))
                return;
        /* The snapshot's own data counts in what is used, and it may keep it. */
        if (projid != 0)
                (void) fsquota_usage(s->backend->snapshots_fd, projid, &own_bytes, &own_inodes);
        else
                (void) data_bytes_fast(s, id, &own_bytes);
        used_bytes -= own_bytes < used_bytes ? own_bytes : used_bytes;
        used_inodes -= own_inodes < used_inodes ? own_inodes : used_inodes;

        if (projid != 0)
                r = fsquota_set_limits(s->backend->snapshots_fd, projid, left(l->max[QUOTA_BYTES], used_bytes),
                                       left(l->max[QUOTA_INODES], used_inodes));
        else {
                snprintf(name, sizeof name, "%" PRIu64, id);
                fd = openat(s->backend->snapshots_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = fd < 0 ? -errno : btrfs_qgroup_limit_exclusive(fd, left(l->max[QUOTA_BYTES], used_bytes));
        }
        if (r < 0)
                log_debug_errno(r, "%s: cannot set the filesystem's limit on snapshot %" PRIu64 ": %m", s->name, id);
}

/* What ns uses, from figures the filesystem keeps only (never a walk: Prepare and Remove
 * run on the loop); false when that cannot be known so. */
static bool fs_usage(CoreSnapshotter *s, uid_t ns, uint64_t *ret_bytes, uint64_t *ret_inodes) {
        int r = usage_fast(s->core, ns, ret_bytes, ret_inodes);

        if (r < 0)
                log_debug_errno(r, "%s: no filesystem limits for uid %u: its usage needs a walk: %m", s->name,
                                (unsigned) ns);
        return r >= 0;
}

void core_quota_fs_limit(CoreSnapshotter *s, uid_t ns, uint64_t id) {
        uint64_t used_bytes, used_inodes;
        QuotaLimits l;

        if (!fs_limits(s, ns) || !fs_usage(s, ns, &used_bytes, &used_inodes))
                return;
        core_quota_limits(s->core, ns, &l);
        fs_limit_one(s, id, &l, used_bytes, used_inodes);
}

void core_quota_fs_refresh(CoreSnapshotter *s, uid_t ns) {
        _cleanup_free_ uint64_t *ids = NULL;
        uint64_t used_bytes, used_inodes;
        StoreOwnerTotals o;
        size_t n_ids = 0;
        QuotaLimits l;

        if (!fs_limits(s, ns) || !fs_usage(s, ns, &used_bytes, &used_inodes) ||
            totals_in(s, NULL, ns, &o, &ids, &n_ids, NULL) < 0)
                return;
        core_quota_limits(s->core, ns, &l);
        for (size_t i = 0; i < n_ids; i++)
                fs_limit_one(s, ids[i], &l, used_bytes, used_inodes);
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
                r = totals_in(c->snapshotters[i], NULL, ns, &o, NULL, NULL, e);
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
        r = totals_in(s, t, ns, &o, NULL, NULL, e);
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

int core_quota_usage(CoreSnapshotter *s, uid_t ns, uint64_t ret[static _QUOTA_KIND_MAX], Error *e) {
        _cleanup_free_ uint64_t *ids = NULL;
        StoreOwnerTotals o;
        size_t n_ids = 0;
        int r;

        r = totals_in(s, NULL, ns, &o, &ids, &n_ids, e);
        if (r < 0)
                return r;
        ret[QUOTA_SNAPSHOTS] = o.snapshots;
        ret[QUOTA_LABEL_BYTES] = o.label_bytes;
        ret[QUOTA_BYTES] = o.committed_bytes;
        ret[QUOTA_INODES] = o.committed_inodes;
        /* The data of active snapshots and views: read from disk, after the transaction
         * (a snapshot removed meanwhile counts nothing). */
        for (size_t i = 0; i < n_ids; i++) {
                Error ue = ERROR_NULL;
                uint64_t size = 0, inodes = 0;

                if (atomic_load(&s->stopping))
                        return error_setf(e, ECANCELED, "laminad is stopping");
                r = core_data_usage(s, ids[i], NULL, &size, &inodes, &ue);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return error_setf(e, -r, "cannot read the usage of the snapshots of uid %u: %s",
                                          (unsigned) ns, ue.message);
                ret[QUOTA_BYTES] += size;
                ret[QUOTA_INODES] += inodes;
        }
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

int core_quota_apply_limits(CoreSnapshotter *s, uid_t ns, const char *key, LayerLimits *limits, QuotaUse *ret_used,
                            QuotaLimits *ret_max, Error *e) {
        static const QuotaKind kinds[] = { QUOTA_BYTES, QUOTA_INODES };
        uint64_t used[_QUOTA_KIND_MAX];
        int r;

        *ret_used = (QuotaUse) {};
        core_quota_limits(s->core, ns, ret_max);
        if (ns == 0 || (ret_max->max[QUOTA_BYTES] == QUOTA_NONE && ret_max->max[QUOTA_INODES] == QUOTA_NONE))
                return 0;
        r = core_quota_usage_all(s->core, ns, used, e);
        if (r < 0)
                return r;
        memcpy(ret_used->used, used, sizeof used);

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                QuotaKind k = kinds[i];
                uint64_t max = ret_max->max[k], left;
                uint64_t *limit = k == QUOTA_BYTES ? &limits->max_bytes : &limits->max_entries;
                uint64_t dflt = k == QUOTA_BYTES ? LAYER_DEFAULT_MAX_BYTES : LAYER_DEFAULT_MAX_ENTRIES;

                if (max == QUOTA_NONE)
                        continue;
                if (used[k] >= max)
                        return error_setf(e, EDQUOT,
                                          "snapshot %s: uid %u uses %" PRIu64 " %s, all of its quota %s=%" PRIu64
                                          " (laminad.conf); remove snapshots to apply layers again",
                                          QUOTE(key), (unsigned) ns, used[k], k == QUOTA_BYTES ? "bytes" : "inodes",
                                          quota_kind_to_string(k), max);
                left = max - used[k];
                if (left < (*limit ?: dflt))
                        *limit = left;
        }
        return 0;
}
