/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Checking records, name index, child links, the ID counter and the totals per owner against
 * each other. */

#include <inttypes.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

static int verify_record(StoreTxn *t, uint64_t id, const MDB_val *val, uint64_t next_id, Error *e) {
        Record rec, found;
        int r;

        r = record_decode(id, val, &rec);
        if (r < 0)
                return error_setf(e, EBADMSG, "record of snapshot ID %" PRIu64 " is damaged", id);
        if (id >= next_id)
                return error_setf(e, EBADMSG, "snapshot ID %" PRIu64 " is not below the ID counter %" PRIu64,
                                  id, next_id);
        if (rec.parent_id != 0) {
                Record parent;
                ChildKey k = child_key(rec.parent_id, id);
                MDB_val v;

                if (record_get(t, rec.parent_id, &parent) < 0)
                        return error_setf(e, EBADMSG, "parent ID %" PRIu64 " of snapshot ID %" PRIu64 " does not exist",
                                          rec.parent_id, id);
                if (db_get(t, t->store->children, k.b, sizeof k.b, &v) < 0)
                        return error_setf(e, EBADMSG, "snapshot ID %" PRIu64 " is missing from its parent's children",
                                          id);
        }

        _cleanup_free_ char *name = strndup(rec.name, rec.name_len);
        if (!name)
                return -ENOMEM;
        r = record_lookup(t, rec.owner, name, &found);
        if (r < 0 || found.id != id)
                return error_setf(e, EBADMSG, "snapshot ID %" PRIu64 " (%s) is missing from the name index",
                                  id, QUOTE(name));
        return 0;
}

static int verify_name_entry(StoreTxn *t, const MDB_val *key, const MDB_val *val, Error *e) {
        uint64_t id = id_from_val(val);
        Record rec;
        NameKey k;

        if (record_get(t, id, &rec) < 0)
                return error_setf(e, EBADMSG, "the name index points to missing snapshot ID %" PRIu64, id);
        _cleanup_free_ char *name = strndup(rec.name, rec.name_len);
        if (!name || name_key(rec.owner, name, rec.name_len, &k) < 0)
                return -ENOMEM;
        if (k.n != key->mv_size || memcmp(k.b, key->mv_data, k.n) != 0)
                return error_setf(e, EBADMSG, "the name index entry of snapshot ID %" PRIu64 " has the wrong key", id);
        return 0;
}

static int verify_child_link(StoreTxn *t, const MDB_val *key, Error *e) {
        MDB_val p = { .mv_size = 8, .mv_data = key->mv_data };
        MDB_val c = { .mv_size = 8, .mv_data = (uint8_t *) key->mv_data + 8 };
        Record parent, child;

        if (key->mv_size != 16 || record_get(t, id_from_val(&p), &parent) < 0 ||
            record_get(t, id_from_val(&c), &child) < 0 || child.parent_id != parent.id)
                return error_setf(e, EBADMSG, "child link %" PRIu64 " -> %" PRIu64 " is stale",
                                  id_from_val(&p), id_from_val(&c));
        return 0;
}

/* db_each() with the message for a failure that the check itself did not explain. */
static int verify_each(StoreTxn *t, MDB_dbi dbi, db_each_fn fn, void *userdata, size_t *ret_n, Error *e) {
        int r = db_each(t, dbi, fn, userdata, ret_n, e);

        return r < 0 ? error_set_errno(e, r, "cannot check the metadata") : 0;
}

static int verify_record_fn(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        return verify_record(t, id_from_val(key), val, *(const uint64_t *) userdata, e);
}

static int verify_name_fn(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        return verify_name_entry(t, key, val, e);
}

static int verify_child_fn(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        return verify_child_link(t, key, e);
}

int store_verify(StoreTxn *t, Error *e) {
        uint64_t next_id;
        size_t n_records, n_names;
        int r;

        assert(t);

        r = read_next_id(t, &next_id);
        if (r < 0)
                return error_set_errno(e, r, "cannot read the ID counter");
        r = verify_each(t, t->store->records, verify_record_fn, &next_id, &n_records, e);
        if (r >= 0)
                r = verify_each(t, t->store->names, verify_name_fn, NULL, &n_names, e);
        if (r >= 0)
                r = verify_each(t, t->store->children, verify_child_fn, NULL, NULL, e);
        if (r < 0)
                return r;
        if (n_records != n_names)
                return error_setf(e, EBADMSG, "%zu records but %zu name index entries", n_records, n_names);
        r = owner_totals_verify(t, n_records, e);
        if (r < 0)
                return r;
        return transient_index_verify(t, e);
}
