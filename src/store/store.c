/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containerd's storage operations on the records: create, look up, update, commit, remove. */

#include <endian.h>
#include <inttypes.h>
#include <lmdb.h>
#include <string.h>

#include "store-internal.h"

static const char *kind_phrase(SnapshotKind k) {
        return k == SNAPSHOT_VIEW ? "a view" : snapshot_kind_to_string(k);
}

/* The committed parent (parent_owner, parent) into *ret. */
static int lookup_committed_parent(StoreTxn *t, uid_t parent_owner, const char *parent, Record *ret, Error *e) {
        int r = record_lookup(t, parent_owner, parent, ret);

        if (r == -ENOENT)
                return error_setf(e, ENOENT, "parent snapshot %s does not exist", QUOTE(parent));
        if (r < 0)
                return record_fail(e, r, parent);
        if (ret->kind != SNAPSHOT_COMMITTED)
                return error_setf(e, EINVAL, "parent snapshot %s is %s, not committed; commit it first",
                                  QUOTE(parent), kind_phrase(ret->kind));
        return 0;
}

int store_create(StoreTxn *t, SnapshotKind kind, uid_t owner, const char *name,
                 uid_t parent_owner, const char *parent, const Labels *labels,
                 uint64_t now_usec, Snapshot *ret, Error *e) {
        OwnerChange change = {};
        Record p = {}, rec;
        uint64_t id;
        int r;

        assert(t && t->write);
        assert(name);

        if (kind != SNAPSHOT_ACTIVE && kind != SNAPSHOT_VIEW)
                return error_setf(e, EINVAL, "snapshot %s: only active snapshots and views can be created, not %s",
                                  QUOTE(name), snapshot_kind_to_string(kind));
        if (isempty(name))
                return error_setf(e, EINVAL, "snapshot keys must not be empty");

        /* The parent first: containerd reports a missing parent before a taken key. */
        if (!isempty(parent)) {
                r = lookup_committed_parent(t, parent_owner, parent, &p, e);
                if (r < 0)
                        return r;
        }
        r = record_check_name_free(t, owner, name, "remove it first or choose another key", e);
        if (r < 0)
                return r;

        r = allocate_id(t, &id);
        if (r < 0)
                return record_fail(e, r, name);
        rec = (Record) {
                .id = id,
                .owner = owner,
                .kind = kind,
                .parent_id = p.id,
                .created_usec = now_usec,
                .updated_usec = now_usec,
                .name = name,
                .name_len = strlen(name),
        };
        r = record_put(t, &rec, labels);
        if (r >= 0)
                r = name_index_change(t, owner, name, id, true);
        if (r >= 0 && p.id != 0) {
                ChildKey k = child_key(p.id, id);
                r = db_put(t, t->store->children, k.b, sizeof k.b, "", 0, 0);
        }
        if (r >= 0)
                r = owner_change_record(t, id, true, &change);
        if (r >= 0)
                r = owner_change_commit(t, &change);
        if (r >= 0 && ret)
                r = record_chain(t, &rec, ret);
        if (r < 0)
                return record_fail(e, r, name);
        return 0;
}

int store_get_info(StoreTxn *t, uid_t owner, const char *name, SnapshotInfo *ret, Error *e) {
        Record rec;
        int r;

        assert(t && name && ret);

        r = record_lookup_or_fail(t, owner, name, &rec, e);
        if (r < 0)
                return r;
        r = record_to_info(t, &rec, ret);
        if (r < 0)
                return record_fail(e, r, name);
        return 0;
}

int store_get_info_by_id(StoreTxn *t, uint64_t id, SnapshotInfo *ret, Error *e) {
        Record rec;
        int r;

        assert(t && ret);

        r = record_get(t, id, &rec);
        if (r == -ENOENT)
                return error_setf(e, ENOENT, "snapshot with ID %" PRIu64 " does not exist", id);
        if (r >= 0)
                r = record_to_info(t, &rec, ret);
        if (r < 0)
                return error_set_errno(e, r, "cannot access the metadata of snapshot ID %" PRIu64, id);
        return 0;
}

int store_has_id(StoreTxn *t, uint64_t id) {
        IdKey k = id_key(id);
        MDB_val v;
        int r;

        assert(t);

        r = db_get(t, t->store->records, k.b, sizeof k.b, &v);
        if (r == -ENOENT)
                return 0;
        return r < 0 ? r : 1;
}

int store_retire_id(StoreTxn *t, uint64_t id) {
        uint64_t next, le;
        int r;

        assert(t && t->write);

        r = read_next_id(t, &next);
        if (r < 0 || id < next)
                return r;
        le = htole64(id + 1);
        return db_put(t, t->store->meta, NEXT_ID_KEY, strlen(NEXT_ID_KEY), &le, sizeof le, 0);
}

static int get_chain(StoreTxn *t, uid_t owner, const char *name, bool committed_ok, Snapshot *ret, Error *e) {
        Record rec;
        int r;

        assert(t && name && ret);

        r = record_lookup_or_fail(t, owner, name, &rec, e);
        if (r < 0)
                return r;
        if (!committed_ok && rec.kind == SNAPSHOT_COMMITTED)
                return error_setf(e, EWRONGKIND, "snapshot %s is committed, not active or a view; create a view of it",
                                  QUOTE(name));
        r = record_chain(t, &rec, ret);
        if (r < 0)
                return record_fail(e, r, name);
        return 0;
}

int store_get_snapshot(StoreTxn *t, uid_t owner, const char *name, Snapshot *ret, Error *e) {
        return get_chain(t, owner, name, false, ret, e);
}

int store_get_chain(StoreTxn *t, uid_t owner, const char *name, Snapshot *ret, Error *e) {
        return get_chain(t, owner, name, true, ret, e);
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void label_items_free(Label *items, size_t n) {
        Labels all = { .items = items, .n = n };

        labels_clear(&all);
}

/* The m paths "labels.K" each set K to its value in in, or delete it: all take their values
 * from in, so their order does not matter. Their distinct keys are merged with l at once
 * (labels_build(): the later entry of a key wins, an empty value deletes), in
 * O((n + m) log(n + m)) whatever the caller sends: not one sorted insertion (O(n)) per path. */
static int apply_label_paths(Labels *l, const Labels *in, char *const *fieldpaths, size_t m) {
        _cleanup_free_ const char **keys = NULL;
        Labels merged;
        Label *items;
        size_t k = 0;
        int r;

        keys = malloc(m * sizeof *keys);
        if (!keys)
                return -ENOMEM;
        for (size_t i = 0; i < m; i++)
                keys[i] = fieldpaths[i] + 7;
        qsort(keys, m, sizeof *keys, compare_strings);

        items = calloc(l->n + m, sizeof *items);
        if (!items)
                return -ENOMEM;
        for (size_t i = 0; i < l->n + m; i++) {
                const char *key, *value;

                if (i < l->n) {
                        key = l->items[i].key;
                        value = l->items[i].value;
                } else {
                        key = keys[i - l->n];
                        if (i > l->n && streq(key, keys[i - l->n - 1]))
                                continue;
                        value = labels_get(in, key) ?: "";
                        if (isempty(value) && !labels_get(l, key))
                                continue; /* deletes what is not there */
                }
                items[k] = (Label) { .key = strdup(key), .value = strdup(value) };
                k++;
                if (!items[k - 1].key || !items[k - 1].value) {
                        label_items_free(items, k);
                        return -ENOMEM;
                }
        }
        r = labels_build(items, k, &merged);
        if (r < 0)
                return r;
        labels_clear(l);
        *l = merged;
        return 0;
}

static int apply_fieldpaths(Labels *l, const Labels *in, char *const *fieldpaths, const char *name, Error *e) {
        static const Labels none = LABELS_NULL;
        size_t m = 0;

        if (!in)
                in = &none;
        if (!fieldpaths || !fieldpaths[0])
                return labels_copy(l, in);

        /* Check all first, so that a bad path changes nothing. */
        for (char *const *p = fieldpaths; *p; p++, m++)
                if (!streq(*p, "labels") && (strncmp(*p, "labels.", 7) != 0 || (*p)[7] == 0))
                        return error_setf(e, EINVAL,
                                          "snapshot %s: cannot update %s; only \"labels\" and \"labels.<key>\" (a non-empty key) can be updated",
                                          QUOTE(name), QUOTE(*p));

        /* "labels" replaces them all by in, and every other path takes its value from in too. */
        for (char *const *p = fieldpaths; *p; p++)
                if (streq(*p, "labels"))
                        return labels_copy(l, in);
        return apply_label_paths(l, in, fieldpaths, m);
}

int store_update_info(StoreTxn *t, uid_t owner, const char *name, const Labels *labels,
                      char *const *fieldpaths, uint64_t now_usec, SnapshotInfo *ret, Error *e) {
        _cleanup_(labels_clear) Labels l = LABELS_NULL;
        OwnerChange change = {};
        Record rec;
        int r;

        assert(t && t->write);
        assert(name);

        r = record_lookup_or_fail(t, owner, name, &rec, e);
        if (r < 0)
                return r;
        r = owner_change_record(t, rec.id, false, &change);
        if (r >= 0)
                r = labels_decode(&rec, &l);
        if (r < 0)
                return record_fail(e, r, name);
        r = apply_fieldpaths(&l, labels, fieldpaths, name, e);
        if (r < 0)
                return e && e->code ? r : record_fail(e, r, name);

        rec.updated_usec = now_usec;
        r = record_put(t, &rec, &l);
        if (r >= 0)
                r = owner_change_record(t, rec.id, true, &change);
        if (r >= 0)
                r = owner_change_commit(t, &change);
        if (r < 0)
                return record_fail(e, r, name);
        return ret ? store_get_info(t, owner, name, ret, e) : 0;
}

/* The active snapshot key, the one kind a Commit takes. */
static int record_lookup_committable(StoreTxn *t, uid_t owner, const char *key, Record *ret, Error *e) {
        int r;

        r = record_lookup_or_fail(t, owner, key, ret, e);
        if (r < 0)
                return r;
        if (ret->kind != SNAPSHOT_ACTIVE)
                return error_setf(e, EWRONGKIND, "snapshot %s is %s, not active; only active snapshots can be committed",
                                  QUOTE(key), kind_phrase(ret->kind));
        return 0;
}

int store_commit_active(StoreTxn *t, uid_t owner, const char *key, const char *name,
                        uint64_t size, uint64_t inodes, const Labels *labels,
                        uint64_t now_usec, uint64_t *ret_id, Error *e) {
        OwnerChange change = {};
        Record rec;
        int r;

        assert(t && t->write);
        assert(key && name);

        if (isempty(name))
                return error_setf(e, EINVAL, "snapshot names must not be empty");
        /* Name first, even when name == key: containerd's order. */
        r = record_check_name_free(t, owner, name, "commit under another name or remove it first", e);
        if (r < 0)
                return r;
        r = record_lookup_committable(t, owner, key, &rec, e);
        if (r < 0)
                return r;

        r = owner_change_record(t, rec.id, false, &change);
        if (r < 0)
                return record_fail(e, r, key);
        rec.kind = SNAPSHOT_COMMITTED;
        rec.name = name;
        rec.name_len = strlen(name);
        rec.created_usec = rec.updated_usec = now_usec;
        rec.size = size;
        rec.inodes = inodes;
        /* Same ID: the child links, keyed by ID, keep pointing at it. */
        r = record_put(t, &rec, labels);
        if (r >= 0)
                r = name_index_change(t, owner, key, rec.id, false);
        if (r >= 0)
                r = name_index_change(t, owner, name, rec.id, true);
        if (r >= 0)
                r = owner_change_record(t, rec.id, true, &change);
        if (r >= 0)
                r = owner_change_commit(t, &change);
        if (r < 0)
                return record_fail(e, r, key);
        if (ret_id)
                *ret_id = rec.id;
        return 0;
}

int store_attach_parent(StoreTxn *t, uid_t owner, const char *key, uid_t parent_owner, const char *parent,
                        uint64_t *ret_parent_id, Error *e) {
        _cleanup_(labels_clear) Labels l = LABELS_NULL;
        Record p, rec;
        ChildKey k;
        int r;

        assert(t && t->write);
        assert(key && parent);

        r = lookup_committed_parent(t, parent_owner, parent, &p, e);
        if (r < 0)
                return r;
        r = record_lookup_committable(t, owner, key, &rec, e);
        if (r < 0)
                return r;
        if (rec.parent_id != 0)
                return error_setf(e, EEXIST, "snapshot %s has a parent already; commit it without one", QUOTE(key));

        rec.parent_id = p.id;
        k = child_key(p.id, rec.id);
        r = labels_decode(&rec, &l);
        if (r >= 0)
                r = record_put(t, &rec, &l);
        if (r >= 0)
                r = db_put(t, t->store->children, k.b, sizeof k.b, "", 0, 0);
        if (r < 0)
                return record_fail(e, r, key);
        if (ret_parent_id)
                *ret_parent_id = p.id;
        return 0;
}

int store_count_children(StoreTxn *t, uint64_t id, size_t *ret) {
        _cleanup_cursor_ MDB_cursor *c = NULL;
        ChildKey k = child_key(id, 0);
        MDB_val key = { .mv_size = sizeof k.b, .mv_data = k.b }, val;
        size_t n = 0;
        int r, rc;

        assert(t && ret);

        r = cursor_open(t, t->store->children, &c);
        if (r < 0)
                return r;
        for (rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
             rc == 0 && key.mv_size == sizeof k.b && memcmp(key.mv_data, k.b, 8) == 0;
             rc = mdb_cursor_get(c, &key, &val, MDB_NEXT))
                n++;
        if (rc != 0 && rc != MDB_NOTFOUND)
                return txn_result(t, rc);
        *ret = n;
        return 0;
}

int store_remove(StoreTxn *t, uid_t owner, const char *name, uint64_t *ret_id,
                 SnapshotKind *ret_kind, Error *e) {
        OwnerChange change = {};
        Record rec;
        IdKey k;
        size_t n;
        int r;

        assert(t && t->write);
        assert(name);

        r = record_lookup_or_fail(t, owner, name, &rec, e);
        if (r < 0)
                return r;
        r = store_count_children(t, rec.id, &n);
        if (r < 0)
                return record_fail(e, r, name);
        if (n == 1)
                return error_setf(e, ENOTEMPTY, "snapshot %s has 1 child; remove it first", QUOTE(name));
        if (n > 1)
                return error_setf(e, ENOTEMPTY, "snapshot %s has %zu children; remove them first", QUOTE(name), n);

        if (ret_id)
                *ret_id = rec.id;
        if (ret_kind)
                *ret_kind = rec.kind;

        k = id_key(rec.id);
        r = owner_change_record(t, rec.id, false, &change);
        if (r >= 0 && rec.parent_id != 0) {
                ChildKey ck = child_key(rec.parent_id, rec.id);
                r = db_del(t, t->store->children, ck.b, sizeof ck.b, NULL, 0);
        }
        if (r >= 0)
                r = name_index_change(t, owner, name, rec.id, false);
        if (r >= 0)
                r = db_del(t, t->store->records, k.b, sizeof k.b, NULL, 0);
        if (r >= 0)
                r = transient_index_delete(t, rec.id);
        if (r >= 0)
                r = owner_change_commit(t, &change);
        if (r < 0)
                return record_fail(e, r, name);
        return 0;
}
