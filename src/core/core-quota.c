/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "core-internal.h"
#include "log.h"

/* Per-uid quotas enforced by laminad (core-quota.h): snapshots and label bytes at every
 * change of the metadata, bytes and inodes of the data at Apply. Usage of the data is what
 * the records say for committed snapshots and what a walk finds for active ones and views. */

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

static int totals_in(CoreSnapshotter *s, StoreTxn *t, uid_t ns, size_t max_uncommitted, StoreOwnerTotals *ret,
                     Error *e) {
        _cleanup_(store_read_endp) StoreTxn *own = NULL;
        int r;

        if (!t) {
                r = core_read_begin(s, &own, e);
                if (r < 0)
                        return r;
                t = own;
        }
        return store_owner_totals(t, ns, max_uncommitted, ret, e);
}

int core_quota_meta_elsewhere(CoreSnapshotter *s, uid_t ns, QuotaUse *ret, Error *e) {
        Core *c = s->core;

        *ret = (QuotaUse) {};
        if (ns == 0)
                return 0;
        for (size_t i = 0; i < c->n_snapshotters; i++) {
                _cleanup_(store_owner_totals_clear) StoreOwnerTotals o = {};
                int r;

                if (c->snapshotters[i] == s)
                        continue;
                r = totals_in(c->snapshotters[i], NULL, ns, 0, &o, e);
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
        _cleanup_(store_owner_totals_clear) StoreOwnerTotals o = {};
        QuotaLimits l;
        uint64_t total;
        int r;

        if (ns == 0 || (add_snapshots == 0 && add_label_bytes == 0))
                return 0;
        core_quota_limits(s->core, ns, &l);
        if (l.max[QUOTA_SNAPSHOTS] == QUOTA_NONE && l.max[QUOTA_LABEL_BYTES] == QUOTA_NONE)
                return 0;
        r = totals_in(s, t, ns, 0, &o, e);
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
        _cleanup_(store_owner_totals_clear) StoreOwnerTotals o = {};
        int r;

        r = totals_in(s, NULL, ns, SIZE_MAX, &o, e);
        if (r < 0)
                return r;
        ret[QUOTA_SNAPSHOTS] = o.snapshots;
        ret[QUOTA_LABEL_BYTES] = o.label_bytes;
        ret[QUOTA_BYTES] = o.committed_bytes;
        ret[QUOTA_INODES] = o.committed_inodes;
        /* The data of active snapshots and views: read from disk, after the transaction
         * (a snapshot removed meanwhile counts nothing). */
        for (size_t i = 0; i < o.n_uncommitted; i++) {
                Error ue = ERROR_NULL;
                uint64_t size = 0, inodes = 0;

                if (atomic_load(&s->stopping))
                        return error_setf(e, ECANCELED, "laminad is stopping");
                r = s->backend->vtable->usage(s->backend, o.uncommitted_ids[i], &size, &inodes, &ue);
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
