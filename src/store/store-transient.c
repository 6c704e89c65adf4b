/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The index of transient snapshots: the IDs of the active snapshots and views carrying the
 * label STORE_LABEL_TRANSIENT, changed in the same write transaction as their records, so
 * that laminad's start finds the ones a stopped laminad left by reading those records only,
 * however many others there are. Like the totals per owner (store-owner.c) it is built when
 * missing (TRANSIENT_INDEX_KEY says it was) and built again after a laminad that did not
 * keep it wrote (TRANSIENT_INDEX_TXN_KEY: the ID of the last write transaction that did). */

#include <endian.h>
#include <inttypes.h>
#include <string.h>

#include "store-internal.h"

#define TRANSIENT_INDEX_VERSION 1
#define TRANSIENT_INDEX_KEY "transient-index"
#define TRANSIENT_INDEX_TXN_KEY "transient-index-txn"

static bool is_transient(SnapshotKind kind, const Labels *labels) {
        return kind != SNAPSHOT_COMMITTED && labels && labels_get(labels, STORE_LABEL_TRANSIENT);
}

static int index_set(StoreTxn *t, uint64_t id, bool in) {
        IdKey k = id_key(id);
        int r;

        if (in)
                return db_put(t, t->store->transients, k.b, sizeof k.b, "", 0, 0);
        r = db_del(t, t->store->transients, k.b, sizeof k.b, NULL, 0);
        return r == -ENOENT ? 0 : r;
}

int transient_index_put(StoreTxn *t, const Record *rec, const Labels *labels) {
        assert(t && t->write && rec);

        /* Missing: built from the records later. */
        if (t->derived_missing)
                return 0;
        return index_set(t, rec->id, is_transient(rec->kind, labels));
}

int transient_index_delete(StoreTxn *t, uint64_t id) {
        assert(t && t->write);

        if (t->derived_missing)
                return 0;
        return index_set(t, id, false);
}

/* Whether rec is one; a record whose labels cannot be read is none (as the walks skip it). */
static int record_is_transient(const Record *rec) {
        _cleanup_(labels_clear) Labels l = LABELS_NULL;

        if (rec->kind == SNAPSHOT_COMMITTED)
                return 0;
        if (labels_decode(rec, &l) < 0)
                return 0;
        return is_transient(rec->kind, &l);
}

static int build_entry(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        Record rec;
        int r;

        if (key->mv_size != sizeof(IdKey))
                return -EBADMSG;
        r = record_decode(id_from_val(key), val, &rec);
        if (r < 0)
                return 0; /* damaged: not one (store_verify() reports it) */
        return record_is_transient(&rec) ? index_set(t, rec.id, true) : 0;
}

int transient_index_build(StoreTxn *t) {
        int r;

        assert(t && t->write);

        r = txn_result(t, mdb_drop(t->txn, t->store->transients, 0));
        if (r >= 0)
                r = db_each(t, t->store->records, build_entry, NULL, NULL, NULL);
        if (r >= 0)
                r = derived_mark_built(t, TRANSIENT_INDEX_KEY, TRANSIENT_INDEX_VERSION);
        return r;
}

int transient_index_stamp(StoreTxn *t) {
        return derived_stamp(t, TRANSIENT_INDEX_TXN_KEY);
}

int transient_index_current(StoreTxn *t) {
        return derived_kept(t, TRANSIENT_INDEX_KEY, TRANSIENT_INDEX_VERSION, TRANSIENT_INDEX_TXN_KEY);
}

/* --- walking them --- */

typedef struct WalkArgs {
        store_walk_fn fn;
        void *userdata;
        bool all; /* the index is missing: every record, those that are one */
} WalkArgs;

static int walk_call(StoreTxn *t, const Record *rec, WalkArgs *a) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        int r;

        r = record_to_info(t, rec, &info);
        if (r < 0)
                return r;
        return a->fn(&info, a->userdata);
}

static int walk_entry(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        WalkArgs *a = userdata;
        Record rec;
        int r;

        if (key->mv_size != sizeof(IdKey))
                return -EBADMSG;
        if (a->all) {
                r = record_decode(id_from_val(key), val, &rec);
                if (r < 0 || !record_is_transient(&rec))
                        return 0;
        } else {
                r = record_get(t, id_from_val(key), &rec);
                if (r < 0)
                        return r == -ENOENT ? -EBADMSG : r;
        }
        return walk_call(t, &rec, a);
}

int store_walk_transient(StoreTxn *t, store_walk_fn fn, void *userdata, Error *e) {
        WalkArgs a = { .fn = fn, .userdata = userdata, .all = atomic_load(&t->store->derived_missing) };
        int r;

        assert(t && fn);

        r = db_each(t, a.all ? t->store->records : t->store->transients, walk_entry, &a, NULL, NULL);
        if (r < 0)
                return error_set_errno(e, -r, "cannot list the transient snapshots");
        return 0;
}

/* --- checking it (store_verify()) --- */

static int verify_record(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        size_t *n = userdata;
        MDB_val v;
        Record rec;
        int r, in;

        r = record_decode(id_from_val(key), val, &rec);
        if (r < 0)
                return 0; /* reported by store_verify() itself */
        r = db_get(t, t->store->transients, key->mv_data, key->mv_size, &v);
        if (r < 0 && r != -ENOENT)
                return r;
        in = r >= 0;
        if (in != record_is_transient(&rec))
                return error_setf(e, EBADMSG, "snapshot ID %" PRIu64 " is %s the transient index but %s transient",
                                  rec.id, in ? "in" : "missing from", in ? "not" : "is");
        *n += in;
        return 0;
}

int transient_index_verify(StoreTxn *t, Error *e) {
        size_t n = 0, n_index = 0;
        MDB_stat st;
        int r;

        r = derived_built(t, TRANSIENT_INDEX_KEY, TRANSIENT_INDEX_VERSION);
        if (r < 0)
                return error_set_errno(e, -r, "cannot check the transient index");
        if (r == 0)
                return error_setf(e, EBADMSG, "the transient index has not been built");
        r = db_each(t, t->store->records, verify_record, &n, NULL, e);
        if (r < 0)
                return e && e->code ? r : error_set_errno(e, -r, "cannot check the transient index");
        if (mdb_stat(t->txn, t->store->transients, &st) != 0)
                return error_setf(e, EIO, "cannot check the transient index");
        n_index = st.ms_entries;
        if (n_index != n)
                return error_setf(e, EBADMSG, "the transient index holds %zu entries, %zu of which name no record",
                                  n_index, n_index - n);
        return 0;
}
