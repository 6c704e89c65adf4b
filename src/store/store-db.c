/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Raw database access, the ID counter, and looking records up by ID and by name. */

#include <endian.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "store-internal.h"

int record_fail(Error *e, int r, const char *name) {
        return error_set_errno(e, r, "cannot access the metadata of snapshot %s", QUOTE(name));
}

static int record_not_found(Error *e, const char *name) {
        return error_setf(e, ENOENT, "snapshot %s does not exist", QUOTE(name));
}

/* --- raw database access --- */

void cursor_closep(MDB_cursor **c) {
        if (*c)
                mdb_cursor_close(*c);
}

int cursor_open(StoreTxn *t, MDB_dbi dbi, MDB_cursor **ret) {
        return txn_result(t, mdb_cursor_open(t->txn, dbi, ret));
}

/* Calls fn on every entry of dbi in key order, stopping at its first failure. Returns 0
 * or a negative errno (fn's or the cursor's); the number of entries visited in *ret_n. */
int db_each(StoreTxn *t, MDB_dbi dbi, db_each_fn fn, void *userdata, size_t *ret_n, Error *e) {
        _cleanup_cursor_ MDB_cursor *c = NULL;
        MDB_val key, val;
        size_t n = 0;
        int r, rc;

        r = cursor_open(t, dbi, &c);
        if (r < 0)
                return r;
        for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &key, &val, MDB_NEXT), n++) {
                r = fn(t, &key, &val, userdata, e);
                if (r < 0)
                        return r;
        }
        if (rc != MDB_NOTFOUND)
                return txn_result(t, rc);
        if (ret_n)
                *ret_n = n;
        return 0;
}

int db_each_from(StoreTxn *t, MDB_dbi dbi, const void *start, size_t slen, size_t plen, db_each_fn fn,
                 void *userdata, Error *e) {
        _cleanup_cursor_ MDB_cursor *c = NULL;
        MDB_val key = { .mv_size = slen, .mv_data = (void *) start }, val;
        int r, rc;

        assert(plen <= slen);

        r = cursor_open(t, dbi, &c);
        if (r < 0)
                return r;
        for (rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
             rc == 0 && key.mv_size >= plen && memcmp(key.mv_data, start, plen) == 0;
             rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
                r = fn(t, &key, &val, userdata, e);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        if (rc != 0 && rc != MDB_NOTFOUND)
                return txn_result(t, rc);
        return 0;
}

int db_each_prefix(StoreTxn *t, MDB_dbi dbi, const void *prefix, size_t plen, db_each_fn fn, void *userdata,
                   Error *e) {
        return db_each_from(t, dbi, prefix, plen, plen, fn, userdata, e);
}

int db_get(StoreTxn *t, MDB_dbi dbi, const void *key, size_t klen, MDB_val *ret) {
        MDB_val k = { .mv_size = klen, .mv_data = (void *) key };

        return txn_result(t, mdb_get(t->txn, dbi, &k, ret));
}

int db_put(StoreTxn *t, MDB_dbi dbi, const void *key, size_t klen, const void *data,
                  size_t dlen, unsigned flags) {
        MDB_val k = { .mv_size = klen, .mv_data = (void *) key };
        MDB_val v = { .mv_size = dlen, .mv_data = (void *) data };

        assert(t->write);
        return txn_result(t, mdb_put(t->txn, dbi, &k, &v, flags));
}

/* data NULL: all values of key. */
int db_del(StoreTxn *t, MDB_dbi dbi, const void *key, size_t klen, const void *data, size_t dlen) {
        MDB_val k = { .mv_size = klen, .mv_data = (void *) key };
        MDB_val v = { .mv_size = dlen, .mv_data = (void *) data };

        assert(t->write);
        return txn_result(t, mdb_del(t->txn, dbi, &k, data ? &v : NULL));
}

int read_next_id(StoreTxn *t, uint64_t *ret) {
        MDB_val v;
        uint64_t le;
        int r;

        r = db_get(t, t->store->meta, NEXT_ID_KEY, strlen(NEXT_ID_KEY), &v);
        if (r == -ENOENT) {
                *ret = 1;
                return 0;
        }
        if (r < 0)
                return r;
        if (v.mv_size != sizeof le)
                return -EBADMSG;
        memcpy(&le, v.mv_data, sizeof le);
        *ret = le64toh(le);
        return 0;
}

/* Takes the next ID; the counter lives in the database, so an aborted write gives it back. */
int allocate_id(StoreTxn *t, uint64_t *ret) {
        uint64_t id, le;
        int r;

        r = read_next_id(t, &id);
        if (r < 0)
                return r;
        le = htole64(id + 1);
        r = db_put(t, t->store->meta, NEXT_ID_KEY, strlen(NEXT_ID_KEY), &le, sizeof le, 0);
        if (r < 0)
                return r;
        *ret = id;
        return 0;
}

/* --- records --- */

int record_get(StoreTxn *t, uint64_t id, Record *ret) {
        IdKey k = id_key(id);
        MDB_val v;
        int r;

        r = db_get(t, t->store->records, k.b, sizeof k.b, &v);
        if (r < 0)
                return r;
        return record_decode(id, &v, ret);
}

int record_put(StoreTxn *t, const Record *rec, const Labels *labels) {
        _cleanup_(buf_done) Buf b = {};
        IdKey k = id_key(rec->id);
        int r;

        r = record_encode(rec, labels, &b);
        if (r >= 0)
                r = db_put(t, t->store->records, k.b, sizeof k.b, b.data, b.n, 0);
        if (r >= 0)
                r = transient_index_put(t, rec, labels);
        return r;
}

int name_index_change(StoreTxn *t, uid_t owner, const char *name, uint64_t id, bool add) {
        IdKey v = id_key(id);
        NameKey k;
        int r;

        r = name_key(owner, name, strlen(name), &k);
        if (r < 0)
                return r;
        if (add)
                return db_put(t, t->store->names, k.b, k.n, v.b, sizeof v.b, MDB_NODUPDATA);
        return db_del(t, t->store->names, k.b, k.n, v.b, sizeof v.b);
}

/* Finds (owner, name): -ENOENT if absent. */
int record_lookup(StoreTxn *t, uid_t owner, const char *name, Record *ret) {
        _cleanup_cursor_ MDB_cursor *c = NULL;
        size_t len = strlen(name);
        NameKey k;
        MDB_val key, val;
        int r, rc;

        if (len == 0)
                return -ENOENT;
        r = name_key(owner, name, len, &k);
        if (r < 0)
                return r;
        r = cursor_open(t, t->store->names, &c);
        if (r < 0)
                return r;

        key = (MDB_val) { .mv_size = k.n, .mv_data = k.b };
        for (rc = mdb_cursor_get(c, &key, &val, MDB_SET); rc == 0;
             rc = mdb_cursor_get(c, &key, &val, MDB_NEXT_DUP)) {
                Record rec;

                r = record_get(t, id_from_val(&val), &rec);
                if (r < 0)
                        return r == -ENOENT ? -EBADMSG : r; /* the index points nowhere */
                if (rec.owner == owner && rec.name_len == len && memcmp(rec.name, name, len) == 0) {
                        *ret = rec;
                        return 0;
                }
        }
        return txn_result(t, rc);
}

/* record_lookup() with the error messages for the user. */
int record_lookup_or_fail(StoreTxn *t, uid_t owner, const char *name, Record *ret, Error *e) {
        int r = record_lookup(t, owner, name, ret);

        if (r == -ENOENT)
                return record_not_found(e, name);
        if (r < 0)
                return record_fail(e, r, name);
        return 0;
}

/* Fails with EEXIST when (owner, name) is taken. */
int record_check_name_free(StoreTxn *t, uid_t owner, const char *name, const char *hint, Error *e) {
        Record rec;
        int r = record_lookup(t, owner, name, &rec);

        if (r >= 0)
                return error_setf(e, EEXIST, "snapshot %s already exists; %s", QUOTE(name), hint);
        if (r != -ENOENT)
                return record_fail(e, r, name);
        return 0;
}

int record_to_info(StoreTxn *t, const Record *rec, SnapshotInfo *ret) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {
                .id = rec->id,
                .owner = rec->owner,
                .kind = rec->kind,
                .created_usec = rec->created_usec,
                .updated_usec = rec->updated_usec,
                .size = rec->size,
                .inodes = rec->inodes,
        };
        int r;

        info.name = strndup(rec->name, rec->name_len);
        if (!info.name)
                return -ENOMEM;
        r = labels_decode(rec, &info.labels);
        if (r < 0)
                return r;
        if (rec->parent_id != 0) {
                Record parent;

                r = record_get(t, rec->parent_id, &parent);
                if (r < 0)
                        return r == -ENOENT ? -EBADMSG : r;
                info.parent = strndup(parent.name, parent.name_len);
                if (!info.parent)
                        return -ENOMEM;
                info.parent_owner = parent.owner;
        }
        snapshot_info_clear(ret);
        *ret = info;
        info = (SnapshotInfo) {};
        return 0;
}

int id_list_add(IdList *l, uint64_t id) {
        if (GREEDY_REALLOC(l->ids, l->cap, l->n + 1, 16) < 0)
                return -ENOMEM;
        l->ids[l->n++] = id;
        return 0;
}

int record_chain(StoreTxn *t, const Record *rec, Snapshot *ret) {
        _cleanup_(id_list_clear) IdList chain = {};
        uint64_t parent = rec->parent_id;
        MDB_stat st = {};

        /* A chain has fewer links than there are records, or it is a loop: a corrupt store
         * (nothing makes a snapshot its own ancestor: only committed ones are parents, and
         * only a parentless active one is attached to one). */
        if (parent != 0 && mdb_stat(t->txn, t->store->records, &st) != 0)
                return -EIO;
        while (parent != 0) {
                Record p;
                int r;

                if (chain.n >= st.ms_entries)
                        return -EBADMSG;
                r = id_list_add(&chain, parent);
                if (r < 0)
                        return r;
                r = record_get(t, parent, &p);
                if (r < 0)
                        return r == -ENOENT ? -EBADMSG : r;
                parent = p.parent_id;
        }
        snapshot_clear(ret);
        *ret = (Snapshot) { .id = rec->id, .kind = rec->kind, .n_parents = chain.n, .parent_ids = TAKE_PTR(chain.ids) };
        return 0;
}
