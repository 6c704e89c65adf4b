/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store-internal.h"

/* What one owner holds, for quotas: a totals record per owner (the "owners" database),
 * changed in the same write transaction as every record, image and mount of that owner,
 * so reading it is one lookup however much the owner holds, and a crash never leaves it
 * apart from what it counts. A store written before the totals existed gets them built
 * once, when it is opened or later (store-derived.c; the meta key OWNER_TOTALS_KEY says
 * they are). Every write
 * transaction also records its own ID (OWNER_TOTALS_TXN_KEY): when the store's last
 * transaction is not the one recorded, a laminad that did not keep the totals (an older
 * one, after a downgrade) wrote since, and they are built again at open. */

/* 2: with the kernel mounts of the owner's mount records. */
#define OWNER_TOTALS_VERSION 2
#define OWNER_TOTALS_KEY "owner-totals"
#define OWNER_TOTALS_TXN_KEY "owner-totals-txn"

static const size_t totals_fields[] = {
        offsetof(StoreOwnerTotals, snapshots),       offsetof(StoreOwnerTotals, label_bytes),
        offsetof(StoreOwnerTotals, committed_bytes), offsetof(StoreOwnerTotals, committed_inodes),
        offsetof(StoreOwnerTotals, images),          offsetof(StoreOwnerTotals, image_bytes),
        offsetof(StoreOwnerTotals, mounts),          offsetof(StoreOwnerTotals, kernel_mounts),
};

static uint64_t *totals_field(StoreOwnerTotals *o, size_t i) {
        return (uint64_t *) ((uint8_t *) o + totals_fields[i]);
}

static uint64_t totals_get(const StoreOwnerTotals *o, size_t i) {
        uint64_t v;

        memcpy(&v, (const uint8_t *) o + totals_fields[i], sizeof v);
        return v;
}

static bool totals_empty(const StoreOwnerTotals *o) {
        for (size_t i = 0; i < ELEMENTSOF(totals_fields); i++)
                if (totals_get(o, i) != 0)
                        return false;
        return true;
}

static void totals_add(StoreOwnerTotals *o, const StoreOwnerTotals *add) {
        for (size_t i = 0; i < ELEMENTSOF(totals_fields); i++)
                *totals_field(o, i) += totals_get(add, i);
}

bool store_owner_totals_equal(const StoreOwnerTotals *a, const StoreOwnerTotals *b) {
        for (size_t i = 0; i < ELEMENTSOF(totals_fields); i++)
                if (totals_get(a, i) != totals_get(b, i))
                        return false;
        return true;
}

/* --- what one record, image or mount counts --- */

/* The bytes of the labels as far as they can be read: a damaged record counts the same each
 * time, so that it can still be removed, and the totals still be built, with it there. */
static uint64_t record_label_bytes(const Record *rec) {
        Reader r = rec->labels;
        uint64_t n = 0;

        for (uint32_t i = 0; i < rec->n_labels && !r.bad; i++) {
                size_t k = 0, v = 0;

                (void) reader_str(&r, &k);
                (void) reader_str(&r, &v);
                if (!r.bad)
                        n += k + v;
        }
        return n;
}

static StoreOwnerTotals record_counts(const Record *rec) {
        StoreOwnerTotals o = { .snapshots = 1, .label_bytes = record_label_bytes(rec) };

        if (rec->kind == SNAPSHOT_COMMITTED) {
                o.committed_bytes = rec->size;
                o.committed_inodes = rec->inodes;
        }
        return o;
}

/* An image record counts its key and its value: the bytes it takes. */
static StoreOwnerTotals image_counts(const MDB_val *key, const MDB_val *val) {
        return (StoreOwnerTotals) { .images = 1, .image_bytes = key->mv_size + val->mv_size };
}

static uid_t key_owner(const MDB_val *key) {
        uint32_t be;

        memcpy(&be, key->mv_data, OWNER_LEN);
        return (uid_t) be32toh(be);
}

/* --- the totals records --- */

static int totals_read(StoreTxn *t, uid_t owner, StoreOwnerTotals *ret) {
        uint32_t be = htobe32((uint32_t) owner);
        Reader rd;
        MDB_val v;
        int r;

        *ret = (StoreOwnerTotals) {};
        r = db_get(t, t->store->owners, &be, sizeof be, &v);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        rd = (Reader) { .p = v.mv_data, .left = v.mv_size };
        if (reader_u8(&rd) != OWNER_TOTALS_VERSION)
                return -EBADMSG;
        for (size_t i = 0; i < ELEMENTSOF(totals_fields); i++)
                *totals_field(ret, i) = reader_u64(&rd);
        return rd.bad || rd.left != 0 ? -EBADMSG : 0;
}

/* An owner holding nothing has no record. */
static int totals_write(StoreTxn *t, uid_t owner, const StoreOwnerTotals *o) {
        _cleanup_(buf_done) Buf b = {};
        uint32_t be = htobe32((uint32_t) owner);
        int r;

        if (totals_empty(o)) {
                r = db_del(t, t->store->owners, &be, sizeof be, NULL, 0);
                return r == -ENOENT ? 0 : r;
        }
        buf_put_u8(&b, OWNER_TOTALS_VERSION);
        for (size_t i = 0; i < ELEMENTSOF(totals_fields); i++)
                buf_put_u64(&b, totals_get(o, i));
        if (b.oom)
                return -ENOMEM;
        return db_put(t, t->store->owners, &be, sizeof be, b.data, b.n, 0);
}

/* --- counting from the records themselves --- */

static int recount_record(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        StoreOwnerTotals *o = userdata, c;
        Record rec;
        int r;

        r = record_get(t, id_from_val(val), &rec);
        if (r < 0)
                return r == -ENOENT ? -EBADMSG : r;
        c = record_counts(&rec);
        totals_add(o, &c);
        return 0;
}

static int recount_image(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        StoreOwnerTotals *o = userdata, c = image_counts(key, val);

        totals_add(o, &c);
        return 0;
}

typedef struct RecountMounts {
        uid_t owner;
        bool every_owner;
        uint64_t n, kernel_mounts;
} RecountMounts;

/* The mount records of a->owner (or of every owner); a record without a readable owner
 * counts for nobody (as mount_uncount() does). */
static int recount_mount(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        RecountMounts *a = userdata;
        uint64_t kernel_mounts;
        uid_t owner;

        if (mount_value_cost(val, &owner, &kernel_mounts) < 0 || (!a->every_owner && owner != a->owner))
                return 0;
        a->n++;
        a->kernel_mounts += kernel_mounts;
        return 0;
}

int store_owner_recount(StoreTxn *t, uid_t owner, StoreOwnerTotals *ret) {
        uint32_t be = htobe32((uint32_t) owner);
        StoreOwnerTotals o = {};
        RecountMounts m = { .owner = owner };
        int r;

        assert(t && ret);

        r = db_each_prefix(t, t->store->names, &be, sizeof be, recount_record, &o, NULL);
        if (r >= 0)
                r = db_each_prefix(t, t->store->images, &be, sizeof be, recount_image, &o, NULL);
        /* Mounts are keyed by snapshot ID: all of them are read (a recount is rare). */
        if (r >= 0)
                r = db_each(t, t->store->mounts, recount_mount, &m, NULL, NULL);
        if (r < 0)
                return r;
        o.mounts = m.n;
        o.kernel_mounts = m.kernel_mounts;
        *ret = o;
        return 0;
}

/* --- keeping them --- */

static int change_apply(StoreTxn *t, uid_t owner, const StoreOwnerTotals *add, const StoreOwnerTotals *sub) {
        StoreOwnerTotals o;
        bool under = false;
        int r;

        r = totals_read(t, owner, &o);
        if (r < 0 && r != -EBADMSG)
                return r;
        under = r < 0;
        for (size_t i = 0; !under && i < ELEMENTSOF(totals_fields); i++) {
                uint64_t *f = totals_field(&o, i), v = *f + totals_get(add, i), s = totals_get(sub, i);

                under = v < s;
                *f = v - s;
        }
        if (under) {
                /* The record did not hold what it counts (damaged, or records changed by a
                 * laminad that did not keep it): count again, from the records as they are now. */
                log_debug("the totals of uid %u do not match its records; counting them again", (unsigned) owner);
                r = store_owner_recount(t, owner, &o);
                if (r < 0)
                        return r;
        }
        return totals_write(t, owner, &o);
}

static void change_count(OwnerChange *c, uid_t owner, bool add, const StoreOwnerTotals *n) {
        assert(!c->set || c->owner == owner);
        c->owner = owner;
        c->set = true;
        totals_add(add ? &c->add : &c->sub, n);
}

int owner_change_record(StoreTxn *t, uint64_t id, bool add, OwnerChange *c) {
        StoreOwnerTotals n;
        Record rec;
        int r;

        r = record_get(t, id, &rec);
        if (r < 0)
                return r;
        n = record_counts(&rec);
        change_count(c, rec.owner, add, &n);
        return 0;
}

void owner_change_image(uid_t owner, const MDB_val *key, const MDB_val *val, bool add, OwnerChange *c) {
        StoreOwnerTotals n = image_counts(key, val);

        change_count(c, owner, add, &n);
}

void owner_change_mount(uid_t owner, uint64_t kernel_mounts, bool add, OwnerChange *c) {
        change_count(c, owner, add, &(StoreOwnerTotals) { .mounts = 1, .kernel_mounts = kernel_mounts });
}

int owner_change_commit(StoreTxn *t, const OwnerChange *c) {
        assert(t && t->write);

        /* Missing: counted from the records when they are built. */
        if (!c->set || t->derived_missing)
                return 0;
        return change_apply(t, c->owner, &c->add, &c->sub);
}

/* --- building them for a store that has none --- */

static int build_record(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        OwnerChange c = {};
        int r;

        r = owner_change_record(t, id_from_val(key), true, &c);
        return r < 0 ? r : owner_change_commit(t, &c);
}

static int build_image(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        OwnerChange c = {};

        if (key->mv_size < OWNER_LEN)
                return -EBADMSG;
        owner_change_image(key_owner(key), key, val, true, &c);
        return owner_change_commit(t, &c);
}

static int build_mount(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        OwnerChange c = {};
        uint64_t kernel_mounts;
        uid_t owner;

        if (mount_value_cost(val, &owner, &kernel_mounts) < 0)
                return 0;
        owner_change_mount(owner, kernel_mounts, true, &c);
        return owner_change_commit(t, &c);
}

int owner_totals_stamp(StoreTxn *t) {
        return derived_stamp(t, OWNER_TOTALS_TXN_KEY);
}

int owner_totals_current(StoreTxn *t) {
        return derived_kept(t, OWNER_TOTALS_KEY, OWNER_TOTALS_VERSION, OWNER_TOTALS_TXN_KEY);
}

int owner_totals_build(StoreTxn *t) {
        int r;

        r = txn_result(t, mdb_drop(t->txn, t->store->owners, 0));
        if (r >= 0)
                r = db_each(t, t->store->records, build_record, NULL, NULL, NULL);
        if (r >= 0)
                r = db_each(t, t->store->images, build_image, NULL, NULL, NULL);
        if (r >= 0)
                r = db_each(t, t->store->mounts, build_mount, NULL, NULL, NULL);
        if (r >= 0)
                r = derived_mark_built(t, OWNER_TOTALS_KEY, OWNER_TOTALS_VERSION);
        return r;
}

/* --- checking them (store_verify()) --- */

typedef struct VerifyArgs {
        StoreOwnerTotals sum;
} VerifyArgs;

static int verify_owner(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        VerifyArgs *a = userdata;
        StoreOwnerTotals kept, counted;
        uid_t owner;
        int r;

        if (key->mv_size != OWNER_LEN)
                return error_setf(e, EBADMSG, "a totals record has a key of %zu bytes", key->mv_size);
        owner = key_owner(key);
        r = totals_read(t, owner, &kept);
        if (r == -EBADMSG)
                return error_setf(e, EBADMSG, "the totals record of uid %u is damaged", (unsigned) owner);
        if (r >= 0)
                r = store_owner_recount(t, owner, &counted);
        if (r < 0)
                return r;
        if (!store_owner_totals_equal(&kept, &counted))
                return error_setf(e, EBADMSG,
                                  "the totals record of uid %u says %" PRIu64 " snapshots, %" PRIu64
                                  " label bytes, %" PRIu64 " images, %" PRIu64 " mounts (%" PRIu64
                                  " kernel mounts); its records hold %" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64
                                  " (%" PRIu64 ") (or their usage differs)",
                                  (unsigned) owner, kept.snapshots, kept.label_bytes, kept.images, kept.mounts,
                                  kept.kernel_mounts, counted.snapshots, counted.label_bytes, counted.images,
                                  counted.mounts, counted.kernel_mounts);
        if (totals_empty(&kept))
                return error_setf(e, EBADMSG, "uid %u has an empty totals record", (unsigned) owner);
        totals_add(&a->sum, &kept);
        return 0;
}

int owner_totals_verify(StoreTxn *t, size_t n_records, Error *e) {
        VerifyArgs a = {};
        RecountMounts all = { .every_owner = true };
        size_t n_images = 0;
        int r;

        r = derived_built(t, OWNER_TOTALS_KEY, OWNER_TOTALS_VERSION);
        if (r < 0)
                return error_set_errno(e, r, "cannot check the totals per user");
        if (r == 0)
                return error_setf(e, EBADMSG, "the totals per user have not been counted");
        r = db_each(t, t->store->owners, verify_owner, &a, NULL, e);
        if (r >= 0)
                r = db_each(t, t->store->images, recount_image, &(StoreOwnerTotals) {}, &n_images, NULL);
        if (r >= 0)
                r = db_each(t, t->store->mounts, recount_mount, &all, NULL, NULL);
        if (r < 0)
                return error_set_errno(e, r, "cannot check the totals per user");
        /* Every owner's record matches its own; the sums show none is missing. */
        if (a.sum.snapshots != n_records || a.sum.images != n_images || a.sum.mounts != all.n ||
            a.sum.kernel_mounts != all.kernel_mounts)
                return error_setf(e, EBADMSG,
                                  "the totals per user add up to %" PRIu64 " snapshots, %" PRIu64 " images, %" PRIu64
                                  " mounts (%" PRIu64 " kernel mounts); the store holds %zu, %zu, %" PRIu64 " (%" PRIu64 ")",
                                  a.sum.snapshots, a.sum.images, a.sum.mounts, a.sum.kernel_mounts, n_records,
                                  n_images, all.n, all.kernel_mounts);
        return 0;
}

/* --- reading them --- */

int store_owner_totals(StoreTxn *t, uid_t owner, StoreOwnerTotals *ret, Error *e) {
        int r;

        assert(t && ret);

        if (atomic_load(&t->store->derived_missing))
                return error_setf(e, ENOSPC,
                                  "cannot tell what uid %u holds: the totals per user are not counted yet, the "
                                  "filesystem holding the snapshot metadata has been too full to count them since "
                                  "laminad started; free space there (Remove, Cleanup) and try again",
                                  (unsigned) owner);
        r = totals_read(t, owner, ret);
        if (r == -EBADMSG) {
                /* A damaged record (the next change of the owner's writes a good one):
                 * counted from the records meanwhile. */
                log_debug("the totals record of uid %u is damaged; counting its records", (unsigned) owner);
                r = store_owner_recount(t, owner, ret);
        }
        if (r < 0)
                return error_set_errno(e, -r, "cannot read what uid %u holds", (unsigned) owner);
        return 0;
}

static int uncommitted_entry(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        Record rec;
        int r;

        r = record_get(t, id_from_val(val), &rec);
        if (r < 0)
                return r == -ENOENT ? -EBADMSG : r;
        return rec.kind == SNAPSHOT_COMMITTED ? 0 : id_list_add(userdata, rec.id);
}

int store_owner_uncommitted(StoreTxn *t, uid_t owner, uint64_t **ret_ids, size_t *ret_n, Error *e) {
        uint32_t be = htobe32((uint32_t) owner);
        IdList a = {};
        int r;

        assert(t && ret_ids && ret_n);

        r = db_each_prefix(t, t->store->names, &be, sizeof be, uncommitted_entry, &a, NULL);
        if (r < 0) {
                free(a.ids);
                return error_set_errno(e, -r, "cannot list the active snapshots and views of uid %u",
                                       (unsigned) owner);
        }
        *ret_ids = a.ids;
        *ret_n = a.n;
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
                owner = (uint32_t) key_owner(&key);
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
