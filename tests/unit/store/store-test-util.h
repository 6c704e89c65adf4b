/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers for the store tests: a scratch directory and one-operation write
 * transactions. */

#include <endian.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-internal.h"
#include "strutil.h"
#include "test-util.h"

typedef struct TestDir {
        char root[64];
        char db[80];
} TestDir;

static inline void test_dir_make(TestDir *d) {
        snprintf(d->root, sizeof d->root, "/tmp/test-store-XXXXXX");
        ASSERT_TRUE(mkdtemp(d->root));
        snprintf(d->db, sizeof d->db, "%s/db", d->root);
}

static inline void test_dir_remove(TestDir *d) {
        char p[128];

        snprintf(p, sizeof p, "%s/data.mdb", d->db);
        (void) unlink(p);
        snprintf(p, sizeof p, "%s/lock.mdb", d->db);
        (void) unlink(p);
        (void) rmdir(d->db);
        (void) rmdir(d->root);
}

/* A store in a fresh directory, removed again by test_store_done(). */
typedef struct TestStore {
        TestDir dir;
        Store *store;
} TestStore;

static inline Store *test_store_new(TestStore *ts, size_t initial_map_size) {
        StoreOptions o = { .initial_map_size = initial_map_size };

        test_dir_make(&ts->dir);
        ASSERT_OK(store_open(ts->dir.db, &o, &ts->store));
        return ts->store;
}

static inline void test_store_done(TestStore *ts) {
        ts->store = store_free(ts->store);
        test_dir_remove(&ts->dir);
}

/* One store operation with its arguments and results, run by op_run(). */
typedef enum OpType {
        OP_CREATE,
        OP_COMMIT,
        OP_REMOVE,
        OP_UPDATE,
} OpType;

typedef struct Op {
        OpType type;
        SnapshotKind kind;
        uid_t owner, parent_owner;
        const char *name, *key, *parent;
        const Labels *labels;
        char **fieldpaths;
        uint64_t now, size, inodes;
        /* results */
        Snapshot snapshot;
        SnapshotInfo info;
        uint64_t id;
        SnapshotKind removed_kind;
} Op;

static inline int op_fn(StoreTxn *t, void *userdata, Error *e) {
        Op *o = userdata;

        switch (o->type) {
        case OP_CREATE:
                return store_create(t, o->kind, o->owner, o->name, o->parent_owner, o->parent, o->labels,
                                    o->now, &o->snapshot, e);
        case OP_COMMIT:
                return store_commit_active(t, o->owner, o->key, o->name, o->size, o->inodes, o->labels,
                                           o->now, &o->id, e);
        case OP_REMOVE:
                return store_remove(t, o->owner, o->name, &o->id, &o->removed_kind, e);
        case OP_UPDATE:
                return store_update_info(t, o->owner, o->name, o->labels, o->fieldpaths, o->now, &o->info, e);
        }
        return -EINVAL;
}

static inline int op_run(Store *s, Op *o, Error *e) {
        return store_write(s, op_fn, o, e);
}

static inline void op_done(Op *o) {
        snapshot_clear(&o->snapshot);
        snapshot_info_clear(&o->info);
}

static inline uint64_t test_now(void) {
        static uint64_t t = 1700000000000000ULL;
        return t += 1000;
}

/* Creates a snapshot of owner 0 (parent also of owner 0); returns its ID or -errno. */
static inline long t_create_as(Store *s, SnapshotKind kind, uid_t owner, const char *name,
                               uid_t parent_owner, const char *parent, const Labels *labels, Error *e) {
        Op o = { .type = OP_CREATE, .kind = kind, .owner = owner, .name = name, .parent_owner = parent_owner,
                 .parent = parent, .labels = labels, .now = test_now() };
        int r = op_run(s, &o, e);
        long id = r < 0 ? r : (long) o.snapshot.id;

        op_done(&o);
        return id;
}

static inline long t_create(Store *s, SnapshotKind kind, const char *name, const char *parent, Error *e) {
        return t_create_as(s, kind, 0, name, 0, parent, NULL, e);
}

static inline long t_commit_as(Store *s, uid_t owner, const char *key, const char *name, uint64_t size,
                               const Labels *labels, Error *e) {
        Op o = { .type = OP_COMMIT, .owner = owner, .key = key, .name = name, .size = size,
                 .labels = labels, .now = test_now() };
        int r = op_run(s, &o, e);

        return r < 0 ? r : (long) o.id;
}

static inline long t_commit(Store *s, const char *key, const char *name, Error *e) {
        return t_commit_as(s, 0, key, name, 0, NULL, e);
}

static inline long t_remove_as(Store *s, uid_t owner, const char *name, SnapshotKind *ret_kind, Error *e) {
        Op o = { .type = OP_REMOVE, .owner = owner, .name = name };
        int r = op_run(s, &o, e);

        if (r >= 0 && ret_kind)
                *ret_kind = o.removed_kind;
        return r < 0 ? r : (long) o.id;
}

static inline long t_remove(Store *s, const char *name, SnapshotKind *ret_kind, Error *e) {
        return t_remove_as(s, 0, name, ret_kind, e);
}

/* Read-only helpers, each in its own read transaction. */
static inline int t_info_as(Store *s, uid_t owner, const char *name, SnapshotInfo *ret, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;

        ASSERT_OK(store_read_begin(s, &t));
        return store_get_info(t, owner, name, ret, e);
}

static inline int t_info(Store *s, const char *name, SnapshotInfo *ret, Error *e) {
        return t_info_as(s, 0, name, ret, e);
}

static inline int t_snapshot(Store *s, const char *name, Snapshot *ret, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;

        ASSERT_OK(store_read_begin(s, &t));
        return store_get_snapshot(t, 0, name, ret, e);
}

static inline void t_verify(Store *s) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        Error e = ERROR_NULL;
        int r;

        ASSERT_OK(store_read_begin(s, &t));
        r = store_verify(t, &e);
        if (r < 0)
                fprintf(stderr, "store_verify: %s\n", e.message);
        ASSERT_OK(r);
}

/* A long name: `len` bytes of `fill`, ending in `tail` (may be NULL). */
static inline char *long_name(size_t len, char fill, const char *tail) {
        char *s = malloc(len + 1);
        size_t n = tail ? strlen(tail) : 0;

        ASSERT_TRUE(s && n <= len);
        memset(s, fill, len - n);
        memcpy(s + len - n, tail ?: "", n);
        s[len] = 0;
        return s;
}

/* A change made behind the store's back (it must not be open), in one raw LMDB write
 * transaction of the store in db. */
typedef void (*test_raw_fn)(MDB_txn *txn, void *userdata);

static inline void test_raw_change(const char *db, test_raw_fn fn, void *userdata) {
        MDB_env *env;
        MDB_txn *txn;

        ASSERT_TRUE(mdb_env_create(&env) == 0);
        ASSERT_TRUE(mdb_env_set_maxdbs(env, STORE_MAX_DBS) == 0);
        ASSERT_TRUE(mdb_env_open(env, db, MDB_NOTLS, 0600) == 0);
        ASSERT_TRUE(mdb_txn_begin(env, NULL, 0, &txn) == 0);
        fn(txn, userdata);
        ASSERT_TRUE(mdb_txn_commit(txn) == 0);
        mdb_env_close(env);
}

static inline MDB_dbi test_raw_dbi(MDB_txn *txn, const char *name) {
        MDB_dbi dbi;

        ASSERT_TRUE(mdb_dbi_open(txn, name, 0, &dbi) == 0);
        return dbi;
}

/* As a store written before the totals per owner and/or the transient index existed: the
 * database and its marker gone. */
static inline void test_raw_drop_derived(MDB_txn *txn, bool totals, bool index) {
        MDB_dbi meta = test_raw_dbi(txn, "meta");
        MDB_val k;

        if (totals) {
                ASSERT_TRUE(mdb_drop(txn, test_raw_dbi(txn, "owners"), 1) == 0);
                k = (MDB_val) { .mv_size = strlen("owner-totals"), .mv_data = (void *) "owner-totals" };
                ASSERT_TRUE(mdb_del(txn, meta, &k, NULL) == 0);
        }
        if (index) {
                ASSERT_TRUE(mdb_drop(txn, test_raw_dbi(txn, "transients"), 1) == 0);
                k = (MDB_val) { .mv_size = strlen("transient-index"), .mv_data = (void *) "transient-index" };
                ASSERT_TRUE(mdb_del(txn, meta, &k, NULL) == 0);
        }
}

/* Records txn as a write of a laminad that kept the totals per owner (and the transient
 * index too when index): what it changed is taken as kept at the next open. */
static inline void test_raw_stamp_derived(MDB_txn *txn, bool index) {
        uint64_t le = htole64((uint64_t) mdb_txn_id(txn));
        MDB_val v = { .mv_size = sizeof le, .mv_data = &le };
        MDB_val k = { .mv_size = strlen("owner-totals-txn"), .mv_data = (void *) "owner-totals-txn" };
        MDB_dbi meta = test_raw_dbi(txn, "meta");

        ASSERT_TRUE(mdb_put(txn, meta, &k, &v, 0) == 0);
        k = (MDB_val) { .mv_size = strlen("transient-index-txn"), .mv_data = (void *) "transient-index-txn" };
        if (index)
                ASSERT_TRUE(mdb_put(txn, meta, &k, &v, 0) == 0);
}
