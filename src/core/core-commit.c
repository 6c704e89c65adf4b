/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "core-internal.h"
#include "log.h"
#include "strutil.h"

/* Commit: an active snapshot becomes a committed one under a new name, its usage counted
 * outside the write transaction; the quick form refuses whatever takes longer than a
 * bounded walk, the "onto" form gives a rebase snapshot its parent. */

typedef struct CommitArgs {
        CoreSnapshotter *s;
        uid_t ns;
        const char *name, *key;
        const char *parent; /* rebase: attached to it */
        uid_t parent_owner;
        uint64_t parent_id;
        uint64_t id, size, inodes;
        const Labels *labels;
        QuotaUse elsewhere;
        MountPrecheck pre; /* core_mount_precheck(), before any transaction */
} CommitArgs;

static int commit_in_txn(StoreTxn *t, void *userdata, Error *e) {
        CommitArgs *a = userdata;
        _cleanup_(snapshot_info_clear) SnapshotInfo old = {};
        uint64_t id, before, after = core_labels_bytes(a->labels);
        int r;

        r = core_check_not_mounted_pre(a->s, t, a->id, a->key, &a->pre, e);
        if (r < 0)
                return r;
        r = core_lookup_own(t, a->ns, a->key, &old, e);
        if (r < 0)
                return r;
        before = core_labels_bytes(&old.labels);
        if (a->parent) {
                uint64_t pid;

                r = store_attach_parent(t, a->ns, a->key, a->parent_owner, a->parent, &pid, e);
                if (r < 0)
                        return r;
                if (pid != a->parent_id)
                        return error_setf(e, EBUSY, "parent snapshot %s changed while %s was being committed; remove %s and apply its layer again",
                                          QUOTE(a->parent), QUOTE(a->key), QUOTE(a->key));
        }
        r = store_commit_active(t, a->ns, a->key, a->name, a->size, a->inodes, a->labels, now_usec(), &id, e);
        if (r < 0)
                return r;
        if (id != a->id)
                return error_setf(e, EBUSY, "snapshot %s changed while it was being committed; try again",
                                  QUOTE(a->key));
        /* The committed snapshot's labels replace the active one's. */
        return core_quota_check_meta(a->s, t, a->ns, &a->elsewhere, true, 0, after > before ? after - before : 0, e);
}

/* Checks in containerd's order, before the slow usage walk. quick: EWOULDBLOCK, e not set,
 * when the snapshot has a mount record (whose holders may have to be searched). */
static int commit_precheck(CoreSnapshotter *s, uid_t ns, const char *name, const char *key,
                           const MountPrecheck *pre, bool quick, uint64_t *ret_id, bool *ret_parentless,
                           Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {}, existing = {};
        int r;

        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        r = store_get_info(t, ns, name, &existing, NULL);
        if (r >= 0)
                return error_setf(e, EEXIST, "snapshot %s already exists; choose another name or remove it first",
                                  QUOTE(name));
        r = core_lookup_own(t, ns, key, &info, e);
        if (r < 0)
                return r;
        if (info.kind != SNAPSHOT_ACTIVE)
                return error_setf(e, EWRONGKIND, "snapshot %s is %s, not active; only active snapshots can be committed",
                                  QUOTE(key), snapshot_kind_to_string(info.kind));
        if (quick) {
                _cleanup_(mount_record_clear) MountRecord m = {};

                if (store_mount_get(t, info.id, &m) != -ENOENT)
                        return -EWOULDBLOCK;
        } else {
                r = core_check_not_mounted_pre(s, t, info.id, key, pre, e);
                if (r < 0)
                        return r;
        }
        *ret_id = info.id;
        *ret_parentless = isempty(info.parent);
        return 0;
}

/* What a quick Commit may walk of the data: about a millisecond of work on a cached tree. */
static const TreeWalkBudget commit_quick_budget = { .entries = 256, .dir_bytes = 256 * 1024 };

/* Whether a quick Commit of id must leave it to core_commit(): its data is to be rebased
 * (a walk of the whole tree), or the rebase state cannot be read. */
static bool commit_needs_rebase(CoreSnapshotter *s, uint64_t id, const char *key) {
        Error ignored = ERROR_NULL;
        bool mark;

        return core_rebase_apply_check(s, id, key, &mark, &ignored) < 0 || mark;
}

/* quick: refuse with EWOULDBLOCK, before anything is changed, whatever takes longer than
 * a bounded walk (core_commit_quick()). */
static int commit(CoreSnapshotter *s, uid_t ns, const char *name, const char *key, const char *parent,
                  const Labels *labels, bool quick, Error *e) {
        CommitArgs a = { .s = s, .ns = ns, .name = name, .key = key, .labels = labels };
        _cleanup_(snapshot_clear) Snapshot chain = {};
        bool parentless = false;
        int r, rebase;

        r = core_validate_key("name", name, e);
        if (r < 0)
                return r;
        r = core_validate_key_and_labels(key, labels, e);
        if (r < 0)
                return r;
        if (!isempty(parent)) {
                r = core_validate_key("parent", parent, e);
                if (r < 0)
                        return r;
                if (!s->backend->vtable->layered)
                        return error_setf(e, EOPNOTSUPP,
                                          "snapshot %s: the %s snapshotter keeps whole trees and cannot give a snapshot a parent at Commit",
                                          QUOTE(key), s->name);
                r = core_resolve_parent(s, ns, parent, &a.parent_owner, &chain, e);
                if (r < 0)
                        return r;
                a.parent = parent;
                a.parent_id = chain.id;
        }
        /* Whether a force-unmounted mount of it is still held: asked once, outside every
         * transaction (walking /proc for holders may take a while); the quick form leaves a
         * snapshot with a mount record alone instead. */
        if (!quick)
                core_mount_precheck(s, ns, key, &a.pre);
        r = commit_precheck(s, ns, name, key, &a.pre, quick, &a.id, &parentless, e);
        if (r < 0)
                return r;
        r = core_quota_meta_elsewhere(s, ns, &a.elsewhere, e);
        if (r < 0)
                return r;
        r = core_busy_acquire(s, a.id, key, e);
        if (r < 0)
                return r;

        /* The walks run outside the write transaction so other writers are not held up. */
        /* Only a parentless snapshot of a layered backend can be a rebase one: the others are
         * spared looking at their data. */
        if (quick && parentless && s->backend->vtable->layered)
                rebase = commit_needs_rebase(s, a.id, key) ? -EWOULDBLOCK : 0;
        else
                rebase = a.parent || (parentless && s->backend->vtable->layered) ?
                        core_rebase_attach(s, a.id, key, a.parent ? &chain : NULL, e) : 0;
        r = rebase < 0 ? rebase
                       : core_data_usage(s, a.id, quick ? &commit_quick_budget : NULL, &a.size, &a.inodes, e);
        if (quick && (r == -EWOULDBLOCK || r == -E2BIG)) {
                *e = ERROR_NULL;
                r = -EWOULDBLOCK;
        } else if (r < 0)
                r = core_data_error(e, r, key);
        else
                r = store_write(s->store, commit_in_txn, &a, e);
        if (r >= 0 && rebase > 0)
                core_rebase_finish(s, a.id, name);
        core_busy_release(s, a.id);
        if (r < 0)
                return r;

        if (s->backend->vtable->commit) {
                Error ce = ERROR_NULL;
                if (s->backend->vtable->commit(s->backend, a.id, &ce) < 0)
                        log_warning("%s: committed %s of uid %u, but finishing its data failed: %s",
                                    s->name, QUOTE(name), (unsigned) ns, ce.message);
        }
        return 0;
}

int core_commit(CoreSnapshotter *s, uid_t ns, const char *name, const char *key,
                const Labels *labels, Error *e) {
        return commit(s, ns, name, key, NULL, labels, false, e);
}

int core_commit_quick(CoreSnapshotter *s, uid_t ns, const char *name, const char *key, const Labels *labels,
                      Error *e) {
        return commit(s, ns, name, key, NULL, labels, true, e);
}

int core_commit_onto(CoreSnapshotter *s, uid_t ns, const char *name, const char *key, const char *parent,
                     const Labels *labels, Error *e) {
        return commit(s, ns, name, key, parent, labels, false, e);
}
