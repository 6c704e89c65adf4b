/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core-internal.h"
#include "log.h"
#include "strutil.h"

/* The snapshot operations of containerd's Snapshotter, namespaced. */

static int validate_labels(const Labels *labels, Error *e) {
        return labels ? labels_validate(labels, e) : 0;
}

int core_validate_key_and_labels(const char *key, const Labels *labels, Error *e) {
        int r;

        r = core_validate_key("key", key, e);
        if (r < 0)
                return r;
        return validate_labels(labels, e);
}

/* The start of a read by key: the key is checked before the store is touched. */
static int read_begin_key(CoreSnapshotter *s, const char *key, StoreTxn **ret, Error *e) {
        int r;

        r = core_validate_key("key", key, e);
        if (r < 0)
                return r;
        return core_read_begin(s, ret, e);
}

int core_stat(CoreSnapshotter *s, uid_t ns, const char *key, SnapshotInfo *ret, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        int r;

        r = read_begin_key(s, key, &t, e);
        if (r < 0)
                return r;
        return core_lookup_visible(t, ns, key, ret, e);
}

typedef struct UpdateArgs {
        CoreSnapshotter *s;
        uid_t ns;
        const char *key;
        const Labels *labels;
        char *const *fieldpaths;
        SnapshotInfo *ret;
        QuotaUse elsewhere;
} UpdateArgs;

/* The transient label is given at Prepare or View, where the bus layer checks that it names
 * the caller's own connection and counts it against the limits per connection and per uid:
 * an Update may keep or drop it, never add or change it, else the next start would take
 * the snapshot for a transient one of any connection and watch that past those limits. */
static int check_transient_kept(const SnapshotInfo *old, const SnapshotInfo *new, const char *key, Error *e) {
        const char *was = labels_get(&old->labels, CORE_LABEL_TRANSIENT),
                   *is = labels_get(&new->labels, CORE_LABEL_TRANSIENT);

        if (old->kind == SNAPSHOT_COMMITTED || !is || (was && streq(was, is)))
                return 0;
        return error_setf(e, EINVAL,
                          "snapshot %s: label " CORE_LABEL_TRANSIENT " is given at Prepare or View only; an Update may "
                          "keep or drop it, not %s it",
                          QUOTE(key), was ? "change" : "add");
}

static int update_in_txn(StoreTxn *t, void *userdata, Error *e) {
        UpdateArgs *a = userdata;
        _cleanup_(snapshot_info_clear) SnapshotInfo old = {};
        uint64_t before, after;
        int r;

        snapshot_info_clear(a->ret);
        r = core_lookup_own(t, a->ns, a->key, &old, e);
        if (r < 0)
                return r;
        r = store_update_info(t, a->ns, a->key, a->labels, a->fieldpaths, now_usec(), a->ret, e);
        if (r < 0)
                return core_not_own(t, a->ns, a->key, r, e);
        /* The merged result must keep within the limits too (labels.K adds to what is there). */
        r = labels_validate(&a->ret->labels, e);
        if (r < 0)
                return r;
        r = check_transient_kept(&old, a->ret, a->key, e);
        if (r < 0)
                return r;
        before = core_labels_bytes(&old.labels);
        after = core_labels_bytes(&a->ret->labels);
        return core_quota_check_meta(a->s, t, a->ns, &a->elsewhere, true, 0, after > before ? after - before : 0, e);
}

int core_update(CoreSnapshotter *s, uid_t ns, const char *key, const Labels *labels,
                char *const *fieldpaths, SnapshotInfo *ret, Error *e) {
        UpdateArgs a = { s, ns, key, labels, fieldpaths, ret };
        int r;

        r = core_validate_key_and_labels(key, labels, e);
        if (r < 0)
                return r;
        r = core_quota_meta_elsewhere(s, ns, &a.elsewhere, e);
        if (r < 0)
                return r;
        r = store_write(s->store, update_in_txn, &a, e);
        if (r < 0)
                snapshot_info_clear(ret);
        return r;
}

int core_usage(CoreSnapshotter *s, uid_t ns, const char *key, uint64_t *ret_size,
               uint64_t *ret_inodes, Error *e) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        int r;

        r = core_stat(s, ns, key, &info, e);
        if (r < 0)
                return r;
        switch (info.kind) {
        case SNAPSHOT_ACTIVE:
                r = core_data_usage(s, info.id, NULL, ret_size, ret_inodes, e);
                return r < 0 ? core_data_error(e, r, key) : r;
        case SNAPSHOT_COMMITTED:
                *ret_size = info.size;
                *ret_inodes = info.inodes;
                return 0;
        default:
                *ret_size = *ret_inodes = 0;
                return 0;
        }
}

int core_mounts(CoreSnapshotter *s, uid_t ns, const char *key, MountSpecList *ret, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(snapshot_clear) Snapshot snap = {};
        int r;

        r = read_begin_key(s, key, &t, e);
        if (r < 0)
                return r;
        r = store_get_snapshot(t, ns, key, &snap, e);
        if (r == -EWRONGKIND)
                return error_setf(e, EWRONGKIND,
                                  "snapshot %s is committed; only active snapshots and views have mounts: create a View of it",
                                  QUOTE(key));
        if (r < 0)
                return r;
        return s->backend->vtable->mounts(s->backend, &snap, ret, e);
}

int core_resolve_parent(CoreSnapshotter *s, uid_t ns, const char *parent, uid_t *ret_owner, Snapshot *ret_chain,
                        Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        int r;

        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        r = core_lookup_visible(t, ns, parent, &info, NULL);
        if (r == -ENOENT)
                return error_setf(e, ENOENT, "parent snapshot %s does not exist; commit or import it first",
                                  QUOTE(parent));
        if (r < 0)
                return error_set_errno(e, r, "cannot look up parent snapshot %s", QUOTE(parent));
        if (info.kind != SNAPSHOT_COMMITTED)
                return error_setf(e, EINVAL, "parent snapshot %s is %s, not committed; commit it first",
                                  QUOTE(parent), snapshot_kind_to_string(info.kind));
        r = store_get_chain(t, info.owner, parent, ret_chain, e);
        if (r < 0)
                return r;
        /* A view mounts every layer of the chain as a lower; an active its parents. */
        if (ret_chain->n_parents + 1 > CORE_MAX_LAYERS)
                return error_setf(e, EINVAL, "parent snapshot %s is %zu layers deep; the kernel stacks at most %d layers",
                                  QUOTE(parent), ret_chain->n_parents + 1, CORE_MAX_LAYERS);
        *ret_owner = info.owner;
        return 0;
}

/* A backend's prepare builds in a "new-" entry whose name the core learns only when it
 * returns (a native copy takes long): until then Cleanup leaves every "new-" entry alone. */
static void preparing_begin(CoreSnapshotter *s) {
        pthread_mutex_lock(&s->lock);
        s->n_preparing++;
        pthread_mutex_unlock(&s->lock);
}

/* Ends a prepare; a built entry (tmpname) moves to `building`. */
static int preparing_end(CoreSnapshotter *s, const char *tmpname) {
        int r = 0;

        pthread_mutex_lock(&s->lock);
        s->n_preparing--;
        if (tmpname)
                r = strv_extend(&s->building, tmpname);
        pthread_mutex_unlock(&s->lock);
        return r;
}

static void building_remove(CoreSnapshotter *s, const char *name) {
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0, n = strv_length(s->building); i < n; i++)
                if (streq(s->building[i], name)) {
                        free(s->building[i]);
                        memmove(s->building + i, s->building + i + 1, (n - i) * sizeof(char *));
                        break;
                }
        pthread_mutex_unlock(&s->lock);
}

typedef struct CreateArgs {
        CoreSnapshotter *s;
        SnapshotKind kind;
        uid_t ns;
        const char *key;
        uid_t parent_owner;
        const char *parent;
        uint64_t parent_id;
        const Labels *labels;
        const char *tmpname;
        Snapshot *ret;
        const QuotaUse *elsewhere;
} CreateArgs;

/* Moves the finished data to snapshots/<id>. A directory already there is the orphan of
 * a crash before an earlier commit of this ID: set it aside for Cleanup. */
static int install_data(Backend *b, const char *tmpname, uint64_t id, Error *e) {
        char idname[32];

        snprintf(idname, sizeof idname, "%" PRIu64, id);
        if (renameat(b->snapshots_fd, tmpname, b->snapshots_fd, idname) >= 0)
                return 0;
        if (errno == EEXIST || errno == ENOTEMPTY) {
                char stale[64];

                snprintf(stale, sizeof stale, "stale-%s-%" PRIu64, idname, now_usec());
                if (renameat(b->snapshots_fd, idname, b->snapshots_fd, stale) >= 0 &&
                    renameat(b->snapshots_fd, tmpname, b->snapshots_fd, idname) >= 0)
                        return 0;
        }
        return error_set_errno(e, errno, "cannot move the new snapshot's data into place");
}

static int create_in_txn(StoreTxn *t, void *userdata, Error *e) {
        CreateArgs *a = userdata;
        int r;

        snapshot_clear(a->ret);
        r = store_create(t, a->kind, a->ns, a->key, a->parent_owner, a->parent, a->labels,
                         now_usec(), a->ret, e);
        if (r < 0)
                return r;
        r = core_quota_check_meta(a->s, t, a->ns, a->elsewhere, true, 1, core_labels_bytes(a->labels), e);
        if (r < 0)
                return r;
        core_quota_project_new(a->s, a->tmpname, a->ns);
        if (a->parent && (a->ret->n_parents == 0 || a->ret->parent_ids[0] != a->parent_id))
                return error_setf(e, EBUSY, "parent snapshot %s changed while %s was being prepared; try again",
                                  QUOTE(a->parent), QUOTE(a->key));
        return install_data(a->s->backend, a->tmpname, a->ret->id, e);
}

/* The data of a new rebase snapshot is marked before anyone is told of it; a snapshot that
 * cannot be marked goes again. */
static int rebase_mark_new(CoreSnapshotter *s, uid_t ns, const char *key, uint64_t id, Error *e) {
        int r;

        r = core_busy_acquire(s, id, key, e);
        if (r >= 0) {
                r = core_rebase_mark(s, id, e);
                core_busy_release(s, id);
                if (r < 0)
                        r = core_data_error(e, r, key);
        }
        if (r < 0)
                (void) core_remove(s, ns, key, NULL);
        return r;
}

static int core_create(CoreSnapshotter *s, SnapshotKind kind, uid_t ns, const char *key,
                       const char *parent, bool rebase, const Labels *labels, MountSpecList *ret, Error *e) {
        _cleanup_(snapshot_clear) Snapshot chain = {}, snap = {};
        _cleanup_free_ char *tmpname = NULL;
        const BackendVTable *vt = s->backend->vtable;
        uid_t parent_owner = 0;
        QuotaUse elsewhere;
        int r;

        if (isempty(parent))
                parent = NULL;
        r = core_validate_key("key", key, e);
        if (r < 0)
                return r;
        if (parent) {
                r = core_validate_key("parent", parent, e);
                if (r < 0)
                        return r;
        }
        r = validate_labels(labels, e);
        if (r < 0)
                return r;
        /* Quotas first, before any data is made; checked again when it is recorded. */
        r = core_quota_meta_elsewhere(s, ns, &elsewhere, e);
        if (r >= 0)
                r = core_quota_check_meta(s, NULL, ns, &elsewhere, false, 1, core_labels_bytes(labels), e);
        if (r < 0)
                return r;

        if (parent) {
                r = core_resolve_parent(s, ns, parent, &parent_owner, &chain, e);
                if (r < 0)
                        return r;
        }

        /* Build the data outside the write transaction: a native copy may take long. */
        {
                _cleanup_free_ uint64_t *ids = NULL;
                size_t n = parent ? chain.n_parents + 1 : 0;
                BackendCharge charge;

                if (n > 0) {
                        ids = malloc(n * sizeof(uint64_t));
                        if (!ids)
                                return error_set_errno(e, ENOMEM, "snapshot %s", QUOTE(key));
                        ids[0] = chain.id;
                        if (chain.n_parents > 0)
                                memcpy(ids + 1, chain.parent_ids, chain.n_parents * sizeof(uint64_t));
                }
                core_quota_charge(s, ns, kind, 0, &charge);
                preparing_begin(s);
                r = vt->prepare(s->backend, kind, ids, n, &charge, &tmpname, e);
                core_quota_charged(s, ns, &charge);
                if (r < 0) {
                        (void) preparing_end(s, NULL);
                        return core_data_error(e, r, key);
                }
        }
        r = preparing_end(s, tmpname);
        if (r < 0)
                return error_set_errno(e, r, "snapshot %s", QUOTE(key));

        CreateArgs a = { s, kind, ns, key, parent_owner, parent, chain.id, labels, tmpname, &snap, &elsewhere };
        r = store_write(s->store, create_in_txn, &a, e);
        building_remove(s, tmpname);
        if (r < 0) {
                uint64_t ignored = 0;
                (void) vt->remove_data(s->backend, tmpname, &ignored, NULL);
                return r;
        }

        if (rebase) {
                r = rebase_mark_new(s, ns, key, snap.id, e);
                if (r < 0)
                        return r;
        }
        log_debug("%s: %s %s of uid %u prepared as %" PRIu64 "%s", s->name, snapshot_kind_to_string(kind),
                  QUOTE(key), (unsigned) ns, snap.id, rebase ? " for a rebase" : "");
        if (!ret)
                return 0;
        return vt->mounts(s->backend, &snap, ret, e);
}

int core_prepare(CoreSnapshotter *s, uid_t ns, const char *key, const char *parent,
                 const Labels *labels, MountSpecList *ret, Error *e) {
        return core_create(s, SNAPSHOT_ACTIVE, ns, key, parent, false, labels, ret, e);
}

int core_prepare_rebase(CoreSnapshotter *s, uid_t ns, const char *key, const Labels *labels, MountSpecList *ret,
                        Error *e) {
        if (!s->backend->vtable->layered)
                return error_setf(e, EOPNOTSUPP,
                                  "snapshot %s: the %s snapshotter keeps whole trees, so a layer applied without its parent cannot be given one at Commit; prepare it on its parent instead",
                                  QUOTE(key), s->name);
        return core_create(s, SNAPSHOT_ACTIVE, ns, key, NULL, true, labels, ret, e);
}

int core_view(CoreSnapshotter *s, uid_t ns, const char *key, const char *parent,
              const Labels *labels, MountSpecList *ret, Error *e) {
        return core_create(s, SNAPSHOT_VIEW, ns, key, parent, false, labels, ret, e);
}

typedef struct RemoveArgs {
        CoreSnapshotter *s;
        uid_t ns;
        const char *key;
        const char *transient_owner; /* core_remove_transient() */
        bool quick;                  /* core_remove_quick() */
        uint64_t id;
        MountPrecheck pre;
} RemoveArgs;

static int remove_in_txn(StoreTxn *t, void *userdata, Error *e) {
        RemoveArgs *a = userdata;
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        SnapshotKind kind;
        int r;

        r = core_lookup_own(t, a->ns, a->key, &info, e);
        if (r < 0)
                return r;
        if (a->transient_owner && (info.kind == SNAPSHOT_COMMITTED || !labels_get(&info.labels, CORE_LABEL_TRANSIENT) ||
                                   !streq(labels_get(&info.labels, CORE_LABEL_TRANSIENT), a->transient_owner)))
                return error_setf(e, ESRCH, "snapshot %s is no longer transient for %s", QUOTE(a->key),
                                  a->transient_owner);
        if (core_is_busy(a->s, info.id))
                return error_setf(e, EBUSY, "snapshot %s is busy with another operation; try again when it is done",
                                  QUOTE(a->key));
        if (a->quick) {
                _cleanup_(mount_record_clear) MountRecord m = {};

                /* A mount record may mean a search for holders: not in bounded time. */
                if (store_mount_get(t, info.id, &m) != -ENOENT)
                        return -EWOULDBLOCK;
        } else {
                r = core_check_not_mounted_pre(a->s, t, info.id, a->key, &a->pre, e);
                if (r < 0)
                        return r;
        }
        return store_remove(t, a->ns, a->key, &a->id, &kind, e);
}

static int remove_snapshot(CoreSnapshotter *s, uid_t ns, const char *key, const char *transient_owner, bool quick,
                           Error *e) {
        RemoveArgs a = { s, ns, key, transient_owner, quick };
        int r;

        r = core_validate_key("key", key, e);
        if (r < 0)
                return r;
        /* Whether a forced unmount's mount is still held, asked before the write lock (the
         * quick form leaves a snapshot with a mount record alone). */
        if (!quick)
                core_mount_precheck(s, ns, key, &a.pre);
        /* One durable metadata write; then the data is freed in the background (a crash
         * in between leaves an orphan that the next start frees). It may use the room the
         * store keeps for removals: on a full disk, removing is how a user makes room. */
        r = store_write_freeing(s->store, remove_in_txn, &a, e);
        if (r < 0)
                return r;
        core_reclaim_queue(s, a.id, ns);
        /* What the removed snapshot held no longer counts elsewhere (the filesystem counts
         * it in its own group until its data is gone). */
        core_quota_fs_limit(s->core, ns);
        return 0;
}

int core_remove(CoreSnapshotter *s, uid_t ns, const char *key, Error *e) {
        return remove_snapshot(s, ns, key, NULL, false, e);
}

int core_remove_quick(CoreSnapshotter *s, uid_t ns, const char *key, Error *e) {
        return remove_snapshot(s, ns, key, NULL, true, e);
}

int core_remove_transient(CoreSnapshotter *s, uid_t ns, const char *key, const char *owner, Error *e) {
        assert(owner);
        return remove_snapshot(s, ns, key, owner, false, e);
}
