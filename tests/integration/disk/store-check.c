/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-check DIR [MIN_SNAPSHOTS]: opens the metadata in DIR (laminad must not run) and
 * checks it with store_verify(); exits 0 when it is consistent and holds at least
 * MIN_SNAPSHOTS snapshots.
 * store-check --forget-derived DIR: makes DIR a store written before the totals per user
 * and the transient index existed (their databases and markers gone, with raw LMDB, never
 * opening it as a store: that would build them), and leaves free pages in its data file
 * for the writes a full filesystem still allows. */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

#define FREE_PAGES_BYTES (512u * 1024u)

static int raw_txn(MDB_env *env, int (*fn)(MDB_txn *txn)) {
        MDB_txn *txn;
        int rc;

        rc = mdb_txn_begin(env, NULL, 0, &txn);
        if (rc != 0)
                return rc;
        rc = fn(txn);
        if (rc != 0) {
                mdb_txn_abort(txn);
                return rc;
        }
        return mdb_txn_commit(txn);
}

static int del_key(MDB_txn *txn, MDB_dbi dbi, const char *key) {
        MDB_val k = { .mv_size = strlen(key), .mv_data = (void *) key };
        int rc = mdb_del(txn, dbi, &k, NULL);

        return rc == MDB_NOTFOUND ? 0 : rc;
}

static int forget(MDB_txn *txn) {
        static const char *const dbs[] = { "owners", "transients" };
        MDB_dbi meta, dbi;
        int rc;

        for (size_t i = 0; i < ELEMENTSOF(dbs); i++) {
                rc = mdb_dbi_open(txn, dbs[i], 0, &dbi);
                if (rc == 0)
                        rc = mdb_drop(txn, dbi, 1);
                if (rc != 0 && rc != MDB_NOTFOUND)
                        return rc;
        }
        rc = mdb_dbi_open(txn, "meta", 0, &meta);
        if (rc == 0)
                rc = del_key(txn, meta, "owner-totals");
        if (rc == 0)
                rc = del_key(txn, meta, "transient-index");
        return rc;
}

/* A value of FREE_PAGES_BYTES written, then deleted: as many free pages. */
static int pad(MDB_txn *txn) {
        _cleanup_free_ void *zeros = calloc(1, FREE_PAGES_BYTES);
        MDB_val k = { .mv_size = 3, .mv_data = (void *) "pad" }, v = { .mv_size = FREE_PAGES_BYTES, .mv_data = zeros };
        MDB_dbi meta;
        int rc;

        if (!zeros)
                return ENOMEM;
        rc = mdb_dbi_open(txn, "meta", 0, &meta);
        return rc != 0 ? rc : mdb_put(txn, meta, &k, &v, 0);
}

static int unpad(MDB_txn *txn) {
        MDB_dbi meta;
        int rc = mdb_dbi_open(txn, "meta", 0, &meta);

        return rc != 0 ? rc : del_key(txn, meta, "pad");
}

static int forget_derived(const char *dir) {
        MDB_env *env;
        int rc;

        rc = mdb_env_create(&env);
        if (rc != 0)
                return rc;
        rc = mdb_env_set_maxdbs(env, STORE_MAX_DBS);
        if (rc == 0)
                rc = mdb_env_open(env, dir, MDB_NOTLS, 0600);
        if (rc == 0)
                rc = raw_txn(env, forget);
        if (rc == 0)
                rc = raw_txn(env, pad);
        if (rc == 0)
                rc = raw_txn(env, unpad);
        mdb_env_close(env);
        if (rc != 0) {
                fprintf(stderr, "cannot forget the derived records in %s: %s\n", dir, mdb_strerror(rc));
                return 1;
        }
        printf("metadata in %s: no totals per user, no transient index\n", dir);
        return 0;
}

int main(int argc, char **argv) {
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_free_ uint64_t *ids = NULL;
        Error e = ERROR_NULL;
        size_t n = 0;
        int r;

        if (argc == 3 && streq(argv[1], "--forget-derived"))
                return forget_derived(argv[2]);
        if (argc < 2 || argc > 3) {
                fprintf(stderr, "usage: %s DIR [MIN_SNAPSHOTS] | --forget-derived DIR\n", argv[0]);
                return 2;
        }
        r = store_open(argv[1], NULL, &s);
        if (r < 0) {
                fprintf(stderr, "cannot open the metadata in %s: %s\n", argv[1], strerror(-r));
                return 1;
        }
        r = store_read_begin(s, &t);
        if (r >= 0)
                r = store_verify(t, &e);
        if (r >= 0)
                r = store_list_ids(t, &ids, &n);
        if (r < 0) {
                fprintf(stderr, "metadata in %s: %s\n", argv[1], e.code ? e.message : strerror(-r));
                return 1;
        }
        if (argc == 3 && n < strtoul(argv[2], NULL, 10)) {
                fprintf(stderr, "metadata in %s: %zu snapshots, expected at least %s\n", argv[1], n, argv[2]);
                return 1;
        }
        printf("metadata in %s: consistent, %zu snapshots\n", argv[1], n);
        return 0;
}
