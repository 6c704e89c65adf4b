/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

/* What one owner holds, for quotas: one pass over the owner's part of the name index. */

typedef struct OwnerArgs {
        StoreOwnerTotals *totals;
        size_t max_uncommitted; /* IDs of active snapshots and views kept, at most */
        size_t allocated;
} OwnerArgs;

static uint64_t record_label_bytes(const Record *rec, bool *bad) {
        Reader r = rec->labels;
        uint64_t n = 0;

        for (uint32_t i = 0; i < rec->n_labels; i++) {
                size_t k = 0, v = 0;

                (void) reader_str(&r, &k);
                (void) reader_str(&r, &v);
                n += k + v;
        }
        *bad = r.bad;
        return n;
}

static int owner_entry(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        OwnerArgs *a = userdata;
        StoreOwnerTotals *o = a->totals;
        Record rec;
        bool bad;
        int r;

        r = record_get(t, id_from_val(val), &rec);
        if (r < 0)
                return r == -ENOENT ? -EBADMSG : r;
        o->snapshots++;
        o->label_bytes += record_label_bytes(&rec, &bad);
        if (bad)
                return -EBADMSG;
        if (rec.kind == SNAPSHOT_COMMITTED) {
                o->committed_bytes += rec.size;
                o->committed_inodes += rec.inodes;
        } else if (o->n_uncommitted < a->max_uncommitted) {
                if (o->n_uncommitted == a->allocated) {
                        size_t n = a->allocated ? a->allocated * 2 : 16;
                        uint64_t *ids = realloc(o->uncommitted_ids, n * sizeof(uint64_t));

                        if (!ids)
                                return -ENOMEM;
                        o->uncommitted_ids = ids;
                        a->allocated = n;
                }
                o->uncommitted_ids[o->n_uncommitted++] = rec.id;
        }
        return 0;
}

void store_owner_totals_clear(StoreOwnerTotals *o) {
        free(o->uncommitted_ids);
        *o = (StoreOwnerTotals) {};
}

int store_owner_totals(StoreTxn *t, uid_t owner, size_t max_uncommitted, StoreOwnerTotals *ret, Error *e) {
        uint32_t be = htobe32((uint32_t) owner);
        StoreOwnerTotals o = {};
        OwnerArgs a = { .totals = &o, .max_uncommitted = max_uncommitted };
        int r;

        assert(t && ret);

        r = db_each_prefix(t, t->store->names, &be, sizeof be, owner_entry, &a, NULL);
        if (r < 0) {
                store_owner_totals_clear(&o);
                return error_set_errno(e, -r, "cannot count the snapshots of uid %u", (unsigned) owner);
        }
        store_owner_totals_clear(ret);
        *ret = o;
        return 0;
}

int store_list_owners(StoreTxn *t, uid_t **ret, size_t *ret_n) {
        _cleanup_cursor_ MDB_cursor *c = NULL;
        _cleanup_free_ uid_t *uids = NULL;
        size_t n = 0;
        uint32_t be = 0;
        MDB_val key = { .mv_size = sizeof be, .mv_data = &be }, val;
        int r, rc;

        assert(t && ret && ret_n);

        r = cursor_open(t, t->store->names, &c);
        if (r < 0)
                return r;
        /* One seek per owner: past the last possible key of the one just seen. */
        for (rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE); rc == 0;) {
                uint32_t owner;
                uid_t *u;

                if (key.mv_size < OWNER_LEN)
                        return -EBADMSG;
                memcpy(&owner, key.mv_data, OWNER_LEN);
                owner = be32toh(owner);
                u = realloc(uids, (n + 1) * sizeof(uid_t));
                if (!u)
                        return -ENOMEM;
                uids = u;
                uids[n++] = (uid_t) owner;
                if (owner == UINT32_MAX)
                        break;
                be = htobe32(owner + 1);
                key = (MDB_val) { .mv_size = sizeof be, .mv_data = &be };
                rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
        }
        if (rc != 0 && rc != MDB_NOTFOUND)
                return txn_result(t, rc);
        *ret = TAKE_PTR(uids);
        *ret_n = n;
        return 0;
}
