/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Building the records derived from the others: the totals per owner (store-owner.c) and
 * the transient index (store-transient.c). A store written before they existed, or last by
 * a laminad that did not keep them, gets them built in one write transaction when it is
 * opened. That transaction reads every record and writes new pages: on a full filesystem
 * (less than DERIVED_FREE_MIN free, or the build failing with ENOSPC/EDQUOT) the store opens
 * without them (derived_missing), so that reads, and the writes that free space (Remove,
 * Cleanup), still work: the free pages of the data file are left to them. Meanwhile neither
 * is kept, no write stamps them as kept, the totals refuse to be read and the transient walk
 * reads every record. store_derived_retry_due() tries again, off the event loop (the core's
 * reclaim thread): it looks at the filesystem every DERIVED_POLL_USEC (statvfs), and once it
 * has space builds them, which reads every record: after a failure again only after
 * DERIVED_RETRY_FIRST_USEC, doubled after each up to DERIVED_RETRY_MAX_USEC, or
 * DERIVED_RETRY_FIRST_USEC after the last try once space was freed. Whatever is killed when, the build is one transaction, and a store
 * whose last writer did not stamp them is built again at the next open. */

#include <endian.h>
#include <inttypes.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "log.h"
#include "store-internal.h"
#include "strutil.h"

#define DERIVED_FREE_MIN ((uint64_t) 1 << 20)
#define DERIVED_POLL_USEC (10 * (uint64_t) 1000000)
#define DERIVED_RETRY_FIRST_USEC (10 * (uint64_t) 1000000)
#define DERIVED_RETRY_MAX_USEC (300 * (uint64_t) 1000000)

int derived_dbs_open(Store *s, MDB_txn *txn, bool create) {
        static const struct {
                const char *name;
                size_t offset;
        } table[] = {
                { "owners", offsetof(Store, owners) },
                { "transients", offsetof(Store, transients) },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                int rc = mdb_dbi_open(txn, table[i].name, create ? MDB_CREATE : 0,
                                      (MDB_dbi *) ((uint8_t *) s + table[i].offset));
                if (rc == MDB_NOTFOUND && !create)
                        return 0;
                if (rc != 0)
                        return errno_from_mdb(rc);
        }
        return 1;
}

int derived_built(StoreTxn *t, const char *key, uint8_t version) {
        MDB_val v;
        int r;

        r = db_get(t, t->store->meta, key, strlen(key), &v);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        return v.mv_size == 1 && *(const uint8_t *) v.mv_data == version;
}

int derived_mark_built(StoreTxn *t, const char *key, uint8_t version) {
        return db_put(t, t->store->meta, key, strlen(key), &version, 1, 0);
}

int derived_stamp(StoreTxn *t, const char *txn_key) {
        uint64_t le = htole64((uint64_t) mdb_txn_id(t->txn));

        assert(t->write);
        return db_put(t, t->store->meta, txn_key, strlen(txn_key), &le, sizeof le, 0);
}

/* Whether the last write transaction t sees stamped txn_key. */
static int derived_stamped_last(StoreTxn *t, const char *txn_key) {
        uint64_t le;
        MDB_val v;
        int r;

        r = db_get(t, t->store->meta, txn_key, strlen(txn_key), &v);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (v.mv_size != sizeof le)
                return 0;
        memcpy(&le, v.mv_data, sizeof le);
        return le64toh(le) == txn_last_committed(t);
}

int derived_kept(StoreTxn *t, const char *key, uint8_t version, const char *txn_key) {
        int r = derived_built(t, key, version);

        return r > 0 ? derived_stamped_last(t, txn_key) : r;
}

/* 1 when both are built and kept by the last writer. */
static int derived_current(StoreTxn *t) {
        int r = owner_totals_current(t);

        return r > 0 ? transient_index_current(t) : r;
}

typedef struct BuildArgs {
        uint64_t seen; /* the last transaction when they were found missing */
} BuildArgs;

static int build_in_txn(StoreTxn *t, void *userdata, Error *e) {
        BuildArgs *a = userdata;
        int r;

        /* This transaction builds them, and stamps them as kept (store_write_once()). */
        t->derived_missing = false;
        /* Another process wrote meanwhile (a write transaction has the ID of the last one
         * committed, plus one): look again. */
        if ((uint64_t) mdb_txn_id(t->txn) != a->seen + 1) {
                r = derived_current(t);
                if (r != 0)
                        return r;
        }
        r = derived_dbs_open(t->store, t->txn, true);
        if (r >= 0)
                r = owner_totals_build(t);
        if (r >= 0)
                r = transient_index_build(t);
        if (r < 0)
                return error_set_errno(e, -r, "cannot count what each user holds in the metadata");
        return 0;
}

/* What the filesystem holding the store has free; UINT64_MAX when it cannot tell. */
static uint64_t filesystem_available(Store *s) {
        struct statvfs sv;

        if (statvfs(s->dir, &sv) < 0)
                return UINT64_MAX;
        return (uint64_t) sv.f_bavail * sv.f_frsize;
}

/* 1 when built now, 0 when there already, -ENOSPC/-EDQUOT when the filesystem is too full;
 * *ret_tried: whether it read the records to build them (not when the filesystem has less
 * than DERIVED_FREE_MIN free, avail). */
static int derived_build(Store *s, uint64_t avail, bool *ret_tried) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        Error e = ERROR_NULL;
        BuildArgs a;
        int r;

        r = store_read_begin(s, &t);
        if (r < 0)
                return r;
        r = derived_current(t);
        a.seen = (uint64_t) mdb_txn_id(t->txn);
        store_read_end(TAKE_PTR(t));
        if (r != 0)
                return r < 0 ? r : 0;
        if (avail < DERIVED_FREE_MIN)
                return log_debug_errno(-ENOSPC, "metadata in %s: too little space to count what each user holds",
                                       s->dir);
        *ret_tried = true;
        log_debug("metadata in %s has no totals per user or transient index, or was written by a laminad "
                  "that did not keep them: counting them", s->dir);
        r = store_write(s, build_in_txn, &a, &e);
        if (r < 0)
                return log_debug_errno(r, "metadata in %s: %s", s->dir, e.message ?: "cannot count");
        return 1;
}

int store_derived_missing_in(StoreTxn *t) {
        int r;

        /* Found missing before: the transaction that built them may have committed since,
         * before derived_settle() said so (this one then keeps them on top of it). */
        if (!atomic_load(&t->store->derived_missing))
                return 0;
        r = derived_current(t);
        return r < 0 ? r : r == 0;
}

/* With the build's result: whether they are missing from now on. */
static int derived_settle(Store *s, int r) {
        if (r == -ENOSPC || r == -EDQUOT) {
                atomic_store(&s->derived_missing, true);
                return 0;
        }
        if (r >= 0)
                atomic_store(&s->derived_missing, false);
        return r;
}

/* With s->mutex held: space was freed, the next try is due DERIVED_RETRY_FIRST_USEC after
 * the last, and the waits start over. */
static void derived_space_freed_locked(Store *s) {
        s->derived_delay_usec = DERIVED_RETRY_FIRST_USEC;
        s->derived_due_usec = MIN(s->derived_due_usec, s->derived_tried_usec + DERIVED_RETRY_FIRST_USEC);
}

/* A look at the filesystem at now, and a try when one is due: as derived_build(), except
 * that a filesystem too full is 0. */
static int derived_look(Store *s, uint64_t now) {
        uint64_t avail = filesystem_available(s);
        bool due, tried = false;
        int r;

        pthread_mutex_lock(&s->mutex);
        s->derived_look_usec = now + DERIVED_POLL_USEC;
        /* More than twice as much free as at the last failed try: freed meanwhile (by
         * someone else than laminad: it says so, store_derived_space_freed()). */
        if (avail >= DERIVED_FREE_MIN && (avail - DERIVED_FREE_MIN) / 2 >= s->derived_avail_tried)
                derived_space_freed_locked(s);
        due = now >= s->derived_due_usec;
        pthread_mutex_unlock(&s->mutex);
        if (!due)
                return 0;

        r = derived_build(s, avail, &tried);
        if (tried && r < 0) {
                pthread_mutex_lock(&s->mutex);
                s->derived_tried_usec = now;
                s->derived_avail_tried = avail;
                s->derived_due_usec = now + s->derived_delay_usec;
                s->derived_delay_usec = MIN(2 * s->derived_delay_usec, DERIVED_RETRY_MAX_USEC);
                pthread_mutex_unlock(&s->mutex);
        }
        return derived_settle(s, r);
}

int store_derived_ensure(Store *s) {
        /* Missing until found or built. */
        atomic_store(&s->derived_missing, true);
        s->derived_delay_usec = DERIVED_RETRY_FIRST_USEC;
        return derived_look(s, clock_usec(CLOCK_MONOTONIC));
}

bool store_derived_missing(Store *s) {
        assert(s);
        return atomic_load(&s->derived_missing);
}

int store_derived_retry_due(Store *s, uint64_t now_usec, uint64_t *ret_next_usec) {
        bool look;
        int r = 0;

        assert(s);
        assert(ret_next_usec);

        if (atomic_load(&s->derived_missing)) {
                pthread_mutex_lock(&s->mutex);
                look = now_usec >= MIN(s->derived_look_usec, s->derived_due_usec);
                pthread_mutex_unlock(&s->mutex);
                if (look)
                        r = derived_look(s, now_usec);
        }
        pthread_mutex_lock(&s->mutex);
        if (!atomic_load(&s->derived_missing))
                *ret_next_usec = UINT64_MAX;
        else if (s->derived_due_usec > now_usec)
                *ret_next_usec = MIN(s->derived_look_usec, s->derived_due_usec);
        else /* due, but too full to try */
                *ret_next_usec = s->derived_look_usec;
        pthread_mutex_unlock(&s->mutex);
        return r;
}

void store_derived_space_freed(Store *s) {
        assert(s);

        pthread_mutex_lock(&s->mutex);
        derived_space_freed_locked(s);
        pthread_mutex_unlock(&s->mutex);
}
