/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The transient index (store-transient.c): it holds exactly the active snapshots and views
 * carrying STORE_LABEL_TRANSIENT across creates, label updates, commits and removes, after
 * a writer killed mid-transaction and a reopen; the walk reads only those records (the
 * others may be unreadable); a store without it, or last written by a laminad that did not
 * keep it, gets it built at open. */
#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>

#include "store-internal.h"
#include "store-test-util.h"

typedef struct Seen {
        char names[16][32];
        size_t n_more; /* past names[] */
        size_t n;
} Seen;

static int seen_add(const SnapshotInfo *info, void *userdata) {
        Seen *s = userdata;

        ASSERT_TRUE(info->kind != SNAPSHOT_COMMITTED);
        ASSERT_TRUE(labels_get(&info->labels, STORE_LABEL_TRANSIENT) != NULL);
        if (s->n == ELEMENTSOF(s->names)) {
                s->n_more++;
                return 0;
        }
        snprintf(s->names[s->n++], sizeof s->names[0], "%s", info->name);
        return 0;
}

/* The names the walk finds, in ID order, joined by spaces. */
static char *walk_names(Store *s) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        Error e = ERROR_NULL;
        Seen seen = {};
        char *all;
        size_t len = 0;

        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_walk_transient(t, seen_add, &seen, &e));
        all = calloc(1, ELEMENTSOF(seen.names) * 33 + 1);
        ASSERT_TRUE(all);
        for (size_t i = 0; i < seen.n; i++)
                len += (size_t) sprintf(all + len, "%s%s", i ? " " : "", seen.names[i]);
        if (seen.n_more > 0)
                sprintf(all + len, " and %zu more", seen.n_more);
        return all;
}

static void expect_walk(Store *s, const char *want) {
        _cleanup_free_ char *got = walk_names(s);

        if (!streq(got, want))
                fprintf(stderr, "transient walk: got \"%s\", want \"%s\"\n", got, want);
        ASSERT_STREQ(got, want);
        t_verify(s);
}

static long create_labelled(Store *s, SnapshotKind kind, const char *name, const char *parent, bool transient) {
        _cleanup_(labels_clear) Labels l = LABELS_NULL;

        ASSERT_OK(labels_set(&l, "other", "x"));
        if (transient)
                ASSERT_OK(labels_set(&l, STORE_LABEL_TRANSIENT, ":1.42"));
        return t_create_as(s, kind, 0, name, 0, parent, &l, NULL);
}

static void update_transient(Store *s, const char *name, bool transient) {
        _cleanup_(labels_clear) Labels l = LABELS_NULL;
        char *paths[] = { (char *) "labels." STORE_LABEL_TRANSIENT, NULL };
        Op o = { .type = OP_UPDATE, .name = name, .fieldpaths = paths, .now = test_now() };

        if (transient)
                ASSERT_OK(labels_set(&l, STORE_LABEL_TRANSIENT, ":1.43"));
        o.labels = &l;
        ASSERT_OK(op_run(s, &o, NULL));
        op_done(&o);
}

static void reopen(TestStore *ts) {
        ts->store = store_free(ts->store);
        ASSERT_OK(store_open(ts->dir.db, NULL, &ts->store));
}

/* A writer that makes a transient snapshot and is killed before its commit. */
static int create_and_die(StoreTxn *t, void *userdata, Error *e) {
        _cleanup_(labels_clear) Labels l = LABELS_NULL;

        ASSERT_OK(labels_set(&l, STORE_LABEL_TRANSIENT, ":1.44"));
        ASSERT_OK(store_create(t, SNAPSHOT_ACTIVE, 0, "killed", 0, NULL, &l, test_now(), NULL, e));
        raise(SIGKILL);
        return 0;
}

TEST(index_follows_create_update_commit_remove_and_a_killed_writer) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        int status;
        pid_t pid;

        ASSERT_TRUE(create_labelled(s, SNAPSHOT_ACTIVE, "base", NULL, false) > 0);
        ASSERT_TRUE(t_commit(s, "base", "base-c", NULL) > 0);
        ASSERT_TRUE(create_labelled(s, SNAPSHOT_ACTIVE, "t1", "base-c", true) > 0);
        ASSERT_TRUE(create_labelled(s, SNAPSHOT_VIEW, "v1", "base-c", true) > 0);
        ASSERT_TRUE(create_labelled(s, SNAPSHOT_ACTIVE, "plain", NULL, false) > 0);
        expect_walk(s, "t1 v1");

        update_transient(s, "plain", true);
        expect_walk(s, "t1 v1 plain");
        update_transient(s, "t1", false);
        expect_walk(s, "v1 plain");

        /* committed with the label: no longer transient */
        {
                _cleanup_(labels_clear) Labels l = LABELS_NULL;
                ASSERT_OK(labels_set(&l, STORE_LABEL_TRANSIENT, ":1.42"));
                ASSERT_TRUE(t_commit_as(s, 0, "plain", "plain-c", 0, &l, NULL) > 0);
        }
        expect_walk(s, "v1");
        ASSERT_TRUE(t_remove(s, "v1", NULL, NULL) > 0);
        expect_walk(s, "");
        ASSERT_TRUE(create_labelled(s, SNAPSHOT_ACTIVE, "t2", "base-c", true) > 0);

        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                Store *child = NULL;
                if (store_open(ts.dir.db, NULL, &child) < 0)
                        _exit(1);
                (void) store_write(child, create_and_die, NULL, NULL);
                _exit(1);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        expect_walk(s, "t2");
        reopen(&ts);
        expect_walk(ts.store, "t2");
        ASSERT_TRUE(t_remove(ts.store, "t2", NULL, NULL) > 0);
        reopen(&ts);
        expect_walk(ts.store, "");
        test_store_done(&ts);
}

/* --- changed behind the store's back --- */

/* As a store written before the index existed. */
static void drop_index(MDB_txn *txn, void *userdata) {
        test_raw_drop_derived(txn, false, true);
}

/* As a laminad that keeps the totals but not the index: it stamps the totals only, and its
 * transient snapshot ("older") is in no index. */
static void older_writer(MDB_txn *txn, void *userdata) {
        uint64_t be = htobe64(*(uint64_t *) userdata);
        MDB_val k = { .mv_size = sizeof be, .mv_data = &be };

        /* "older" made without its index entry; only the totals stamped as kept */
        ASSERT_TRUE(mdb_del(txn, test_raw_dbi(txn, "transients"), &k, NULL) == 0);
        test_raw_stamp_derived(txn, false);
}

TEST(a_store_without_the_index_or_written_by_an_older_laminad_gets_it_built) {
        TestStore ts;
        uint64_t older_id;

        test_store_new(&ts, 0);
        ASSERT_TRUE(create_labelled(ts.store, SNAPSHOT_ACTIVE, "t1", NULL, true) > 0);
        ASSERT_TRUE(create_labelled(ts.store, SNAPSHOT_ACTIVE, "p1", NULL, false) > 0);
        ts.store = store_free(ts.store);

        test_raw_change(ts.dir.db, drop_index, NULL);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        ASSERT_TRUE(!store_derived_missing(ts.store));
        expect_walk(ts.store, "t1");

        older_id = (uint64_t) create_labelled(ts.store, SNAPSHOT_ACTIVE, "older", NULL, true);
        ts.store = store_free(ts.store);
        test_raw_change(ts.dir.db, older_writer, &older_id);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        expect_walk(ts.store, "t1 older");
        test_store_done(&ts);
}

/* Every record that is not transient made a copy of t1's (a transient one) without its
 * index entry: a walk reading them would find MANY more. */
#define MANY 3000

static void disguise_non_transient(MDB_txn *txn, void *userdata) {
        MDB_dbi records = test_raw_dbi(txn, "records"), transients = test_raw_dbi(txn, "transients");
        _cleanup_free_ void *t1 = NULL;
        MDB_cursor *c;
        MDB_val k, v, idx;
        size_t changed = 0, t1_len;
        int rc;

        /* t1 is the first snapshot: ID 1 */
        k = (MDB_val) { .mv_size = 8, .mv_data = (uint8_t[8]) { 0, 0, 0, 0, 0, 0, 0, 1 } };
        ASSERT_TRUE(mdb_get(txn, transients, &k, &idx) == 0);
        ASSERT_TRUE(mdb_get(txn, records, &k, &v) == 0);
        t1 = malloc(v.mv_size);
        ASSERT_TRUE(t1);
        memcpy(t1, v.mv_data, v.mv_size);
        t1_len = v.mv_size;

        ASSERT_TRUE(mdb_cursor_open(txn, records, &c) == 0);
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
                if (mdb_get(txn, transients, &k, &idx) == 0)
                        continue;
                v = (MDB_val) { .mv_size = t1_len, .mv_data = t1 };
                ASSERT_TRUE(mdb_cursor_put(c, &k, &v, MDB_CURRENT) == 0);
                changed++;
        }
        ASSERT_TRUE(rc == MDB_NOTFOUND);
        mdb_cursor_close(c);
        ASSERT_TRUE(changed == MANY);
        /* not a writer that did not keep them: nothing to build at open */
        test_raw_stamp_derived(txn, true);
}

static int create_many(StoreTxn *t, void *userdata, Error *e) {
        for (unsigned i = 0; i < MANY; i++) {
                char name[32];
                int r;

                snprintf(name, sizeof name, "c%05u", i);
                r = store_create(t, SNAPSHOT_ACTIVE, 1000 + i % 7, name, 0, NULL, NULL, test_now(), NULL, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

TEST(the_walk_reads_only_the_transient_records) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Error e = ERROR_NULL;

        ASSERT_TRUE(create_labelled(s, SNAPSHOT_ACTIVE, "t1", NULL, true) > 0);
        ASSERT_OK(store_write(s, create_many, NULL, &e));
        ASSERT_TRUE(create_labelled(s, SNAPSHOT_VIEW, "t2", NULL, true) > 0);
        ts.store = store_free(ts.store);

        test_raw_change(ts.dir.db, disguise_non_transient, NULL);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        {
                _cleanup_free_ char *got = walk_names(ts.store);
                ASSERT_STREQ(got, "t1 t2");
        }
        test_store_done(&ts);
}

TEST_MAIN(TEST_ENTRY(index_follows_create_update_commit_remove_and_a_killed_writer),
          TEST_ENTRY(a_store_without_the_index_or_written_by_an_older_laminad_gets_it_built),
          TEST_ENTRY(the_walk_reads_only_the_transient_records))
