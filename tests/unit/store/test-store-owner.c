/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The totals each owner holds (snapshots, label bytes, committed usage, images, mounts) are
 * kept in a record of their own: after any sequence of creates, commits, removes, updates,
 * image and mount changes, after an aborted transaction and after writers SIGKILLed at
 * random points, they equal a recount from the records; a store written without them gets
 * them when it is opened, and so does one a writer that did not keep them wrote last;
 * store_verify() finds a totals record that is off. */
#include <lmdb.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>

#include "store-internal.h"
#include "store-test-util.h"

static const uid_t owners[] = { 0, 1000, 1001 };

/* The ID of the last transaction committed to the store in db, read past the store. */
static uint64_t raw_last_txn(const char *db) {
        MDB_env *env;
        MDB_envinfo info;

        ASSERT_TRUE(mdb_env_create(&env) == 0);
        ASSERT_TRUE(mdb_env_set_maxdbs(env, STORE_MAX_DBS) == 0);
        ASSERT_TRUE(mdb_env_open(env, db, MDB_NOTLS | MDB_RDONLY, 0600) == 0);
        ASSERT_TRUE(mdb_env_info(env, &info) == 0);
        mdb_env_close(env);
        return (uint64_t) info.me_last_txnid;
}

/* Opens the store in db, which must write nothing while it opens: its totals are current,
 * not counted again (which would hide totals that are off). */
static Store *open_without_recount(const char *db) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        uint64_t before = raw_last_txn(db);
        Store *s = NULL;

        ASSERT_OK(store_open(db, NULL, &s));
        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_TRUE((uint64_t) mdb_txn_id(t->txn) == before);
        return s;
}

/* A small generator with a seed per test, printed so a failure can be replayed. */
static unsigned rnd(uint64_t *state, unsigned n) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        return (unsigned) (*state % n);
}

static uint64_t seed_new(const char *what) {
        uint64_t seed;

        ASSERT_TRUE(getrandom(&seed, sizeof seed, 0) == sizeof seed);
        seed |= 1;
        fprintf(stderr, "%s: seed %llu\n", what, (unsigned long long) seed);
        return seed;
}

static void random_labels(uint64_t *st, Labels *ret) {
        char key[16], value[301];

        *ret = LABELS_NULL;
        for (unsigned i = 0, n = rnd(st, 4); i < n; i++) {
                unsigned len = rnd(st, sizeof value);

                snprintf(key, sizeof key, "l%u", rnd(st, 5));
                memset(value, 'v', len);
                value[len] = 0;
                ASSERT_OK(labels_set(ret, key, value));
        }
}

/* One random change; the refusals the store gives for a taken name, a missing snapshot and
 * so on change nothing and are no failure. */
static int random_op(StoreTxn *t, uint64_t *st) {
        _cleanup_(labels_clear) Labels labels = LABELS_NULL;
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_(snapshot_clear) Snapshot snap = {};
        char key[16], other[16], config[2001];
        uid_t owner = owners[rnd(st, ELEMENTSOF(owners))];
        Error e = ERROR_NULL;
        int r;

        snprintf(key, sizeof key, "k%u", rnd(st, 24));
        snprintf(other, sizeof other, "k%u", rnd(st, 24));
        random_labels(st, &labels);
        switch (rnd(st, 9)) {
        case 0:
        case 1:
                r = store_create(t, SNAPSHOT_ACTIVE, owner, key, rnd(st, 2) ? owner : 0, rnd(st, 2) ? other : NULL,
                                 &labels, test_now(), &snap, &e);
                break;
        case 2:
                r = store_create(t, SNAPSHOT_VIEW, owner, key, owner, other, &labels, test_now(), &snap, &e);
                break;
        case 3:
                r = store_commit_active(t, owner, key, other, rnd(st, 1000000), rnd(st, 100), &labels, test_now(),
                                        NULL, &e);
                break;
        case 4:
                r = store_remove(t, owner, key, NULL, NULL, &e);
                break;
        case 5: {
                char *one[] = { (char *) "labels.l1", NULL };

                r = store_update_info(t, owner, key, &labels, rnd(st, 2) ? one : NULL, test_now(), &info, &e);
                break;
        }
        case 6: {
                unsigned len = rnd(st, sizeof config);
                ImageRecord img = { .owner = owner, .name = key, .top = other, .config = config };

                memset(config, 'c', len);
                config[len] = 0;
                r = store_image_put(t, &img);
                break;
        }
        case 7:
                r = store_image_delete(t, owner, key);
                break;
        default: {
                MountRecord m = { .snapshot_id = 1 + rnd(st, 30), .owner = owner, .target = (char *) "/m",
                                  .boot_id = "0123456789abcdef0123456789abcdef" };

                r = rnd(st, 2) ? store_mount_put(t, &m) : store_mount_delete(t, m.snapshot_id);
        }
        }
        return r == -ENOENT || r == -EEXIST || r == -EINVAL || r == -EWRONGKIND || r == -ENOTEMPTY ? 0 : r;
}

typedef struct Ops {
        uint64_t *state;
        unsigned n;
        int fail; /* < 0: fail with it after the changes (the transaction is aborted) */
} Ops;

static int ops_fn(StoreTxn *t, void *userdata, Error *e) {
        Ops *o = userdata;
        int r;

        for (unsigned i = 0; i < o->n; i++) {
                r = random_op(t, o->state);
                if (r < 0)
                        return error_set_errno(e, r, "random operation");
        }
        return o->fail;
}

static void run_ops(Store *s, uint64_t *st, unsigned n) {
        Error e = ERROR_NULL;
        int r = store_write(s, ops_fn, &(Ops) { st, n, 0 }, &e);

        if (r < 0)
                fprintf(stderr, "%s\n", e.message);
        ASSERT_OK(r);
}

static void read_totals(Store *s, StoreOwnerTotals ret[static ELEMENTSOF(owners)]) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;

        ASSERT_OK(store_read_begin(s, &t));
        for (size_t i = 0; i < ELEMENTSOF(owners); i++)
                ASSERT_OK(store_owner_totals(t, owners[i], &ret[i], NULL));
}

/* Every owner's totals equal a recount, and store_verify() agrees. */
static void check_totals(Store *s) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;

        ASSERT_OK(store_read_begin(s, &t));
        for (size_t i = 0; i < ELEMENTSOF(owners); i++) {
                StoreOwnerTotals kept, counted;

                ASSERT_OK(store_owner_totals(t, owners[i], &kept, NULL));
                ASSERT_OK(store_owner_recount(t, owners[i], &counted));
                if (!store_owner_totals_equal(&kept, &counted))
                        fprintf(stderr,
                                "uid %u: kept %llu snapshots, %llu label bytes, %llu committed bytes, %llu images, "
                                "%llu image bytes, %llu mounts; counted %llu, %llu, %llu, %llu, %llu, %llu\n",
                                (unsigned) owners[i], (unsigned long long) kept.snapshots,
                                (unsigned long long) kept.label_bytes, (unsigned long long) kept.committed_bytes,
                                (unsigned long long) kept.images, (unsigned long long) kept.image_bytes,
                                (unsigned long long) kept.mounts, (unsigned long long) counted.snapshots,
                                (unsigned long long) counted.label_bytes,
                                (unsigned long long) counted.committed_bytes, (unsigned long long) counted.images,
                                (unsigned long long) counted.image_bytes, (unsigned long long) counted.mounts);
                ASSERT_TRUE(store_owner_totals_equal(&kept, &counted));
        }
        store_read_end(TAKE_PTR(t));
        t_verify(s);
}

/* The totals of uid 1001: n snapshots with label_bytes bytes of labels. */
static void assert_totals_of_1001(Store *s, uint64_t n, uint64_t label_bytes) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        StoreOwnerTotals o;

        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_owner_totals(t, 1001, &o, NULL));
        ASSERT_TRUE(o.snapshots == n && o.label_bytes == label_bytes);
}

TEST(totals_equal_a_recount_after_random_changes) {
        uint64_t st = seed_new("random changes");
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        StoreOwnerTotals sum = {};

        for (unsigned i = 0; i < 1500; i++) {
                run_ops(s, &st, 1);
                check_totals(s);
        }
        /* The sequence did something: owners hold snapshots with labels, images, mounts. */
        {
                StoreOwnerTotals o[ELEMENTSOF(owners)];

                read_totals(s, o);
                for (size_t i = 0; i < ELEMENTSOF(owners); i++) {
                        sum.snapshots += o[i].snapshots;
                        sum.label_bytes += o[i].label_bytes;
                        sum.committed_bytes += o[i].committed_bytes;
                        sum.images += o[i].images;
                        sum.mounts += o[i].mounts;
                }
        }
        ASSERT_TRUE(sum.snapshots > 0 && sum.label_bytes > 0 && sum.committed_bytes > 0 && sum.images > 0 &&
                    sum.mounts > 0);
        test_store_done(&ts);
}

TEST(an_aborted_transaction_changes_no_totals) {
        uint64_t st = seed_new("aborted transactions");
        TestStore ts;
        Store *s = test_store_new(&ts, 0);

        run_ops(s, &st, 300);
        for (unsigned i = 0; i < 100; i++) {
                StoreOwnerTotals before[ELEMENTSOF(owners)], after[ELEMENTSOF(owners)];
                Error e = ERROR_NULL;

                read_totals(s, before);
                /* Many changes, then a failure: store_write() aborts the transaction. */
                ASSERT_ERR(store_write(s, ops_fn, &(Ops) { &st, 1 + rnd(&st, 20), -ECANCELED }, &e), ECANCELED);
                read_totals(s, after);
                for (size_t k = 0; k < ELEMENTSOF(owners); k++)
                        ASSERT_TRUE(store_owner_totals_equal(&before[k], &after[k]));
                run_ops(s, &st, 1 + rnd(&st, 5));
                check_totals(s);
        }
        test_store_done(&ts);
}

_noreturn_ static void writer(const char *db, uint64_t seed) {
        Store *s = NULL;

        ASSERT_OK(store_open(db, NULL, &s));
        for (;;)
                run_ops(s, &seed, 1 + rnd(&seed, 5));
}

TEST(writers_killed_at_random_points_leave_exact_totals) {
        uint64_t st = seed_new("killed writers");
        TestStore ts;

        /* Made (and its totals built) here: a writer killed while it opens writes nothing. */
        test_store_new(&ts, 0);
        ts.store = store_free(ts.store);
        for (unsigned i = 0; i < 40; i++) {
                struct timespec delay = { 0, (long) rnd(&st, 20000) * 1000L };
                uint64_t seed = st ^ (i + 1) * 0x9e3779b97f4a7c15ULL;
                Store *s = NULL;
                int status;
                pid_t pid = fork();

                ASSERT_TRUE(pid >= 0);
                if (pid == 0)
                        writer(ts.dir.db, seed | 1);
                nanosleep(&delay, NULL);
                ASSERT_OK(kill(pid, SIGKILL));
                ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
                /* Killed, not failed on its own. */
                ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
                s = open_without_recount(ts.dir.db);
                check_totals(s);
                store_free(s);
        }
        test_store_done(&ts);
}

/* --- a store without totals, or with one that is off, changed behind the store's back --- */

/* As a store written before the totals existed: no owners database, no marker. */
static void drop_totals(MDB_txn *txn, void *userdata) {
        test_raw_drop_derived(txn, true, false);
}

static void drop_totals_of_1001(MDB_txn *txn, void *userdata) {
        uint8_t be[4] = { 0, 0, 0x03, 0xe9 };
        MDB_val k = { .mv_size = sizeof be, .mv_data = be };

        ASSERT_TRUE(mdb_del(txn, test_raw_dbi(txn, "owners"), &k, NULL) == 0);
}

static bool db_has_owners(const char *db) {
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        int rc;

        ASSERT_TRUE(mdb_env_create(&env) == 0);
        ASSERT_TRUE(mdb_env_set_maxdbs(env, STORE_MAX_DBS) == 0);
        ASSERT_TRUE(mdb_env_open(env, db, MDB_NOTLS | MDB_RDONLY, 0600) == 0);
        ASSERT_TRUE(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
        rc = mdb_dbi_open(txn, "owners", 0, &dbi);
        mdb_txn_abort(txn);
        mdb_env_close(env);
        return rc == 0;
}

TEST(a_store_without_totals_gets_them_when_opened) {
        uint64_t st = seed_new("upgrade");
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        StoreOwnerTotals before[ELEMENTSOF(owners)], after[ELEMENTSOF(owners)];

        run_ops(s, &st, 400);
        read_totals(s, before);
        ts.store = store_free(ts.store);
        test_raw_change(ts.dir.db, drop_totals, NULL);
        ASSERT_TRUE(!db_has_owners(ts.dir.db));

        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        s = ts.store;
        read_totals(s, after);
        for (size_t i = 0; i < ELEMENTSOF(owners); i++)
                ASSERT_TRUE(store_owner_totals_equal(&before[i], &after[i]));
        check_totals(s);
        /* And they are kept from then on, without counting again at the next open. */
        run_ops(s, &st, 200);
        check_totals(s);
        ts.store = store_free(ts.store);
        ts.store = open_without_recount(ts.dir.db);
        check_totals(ts.store);
        test_store_done(&ts);
}

/* A laminad that did not keep the totals (an older one, after a downgrade) wrote last: they
 * are counted again when the store is opened. */
TEST(totals_are_counted_again_after_a_writer_that_did_not_keep_them) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Labels l = LABELS_NULL;

        ASSERT_OK(labels_set(&l, "key", "value"));
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1001, "a", 0, NULL, &l, NULL) > 0);
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1001, "b", 0, NULL, &l, NULL) > 0);
        ts.store = store_free(ts.store);
        test_raw_change(ts.dir.db, drop_totals_of_1001, NULL);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        s = ts.store;
        check_totals(s);
        assert_totals_of_1001(s, 2, 2 * (strlen("key") + strlen("value")));
        labels_clear(&l);
        test_store_done(&ts);
}

/* Loses the totals record of uid 1001 inside the store (as damage would). */
static int lose_totals_of_1001(StoreTxn *t, void *userdata, Error *e) {
        uint8_t be[4] = { 0, 0, 0x03, 0xe9 };

        return db_del(t, t->store->owners, be, sizeof be, NULL, 0);
}

/* Writes a record of the wrong size for uid 1001. */
static int damage_totals_of_1001(StoreTxn *t, void *userdata, Error *e) {
        uint8_t be[4] = { 0, 0, 0x03, 0xe9 }, bad[3] = { 1, 2, 3 };

        return db_put(t, t->store->owners, be, sizeof be, bad, sizeof bad, 0);
}

/* A damaged totals record: reading it counts the records instead (a quota check still
 * works), verify says so, and the next change writes a good one. */
TEST(a_damaged_totals_record_is_read_as_a_recount_and_replaced) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Labels l = LABELS_NULL;
        StoreOwnerTotals o;

        ASSERT_OK(labels_set(&l, "key", "value"));
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1001, "a", 0, NULL, &l, NULL) > 0);
        ASSERT_OK(store_write(s, damage_totals_of_1001, NULL, NULL));
        {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;
                Error e = ERROR_NULL;

                ASSERT_OK(store_read_begin(s, &t));
                ASSERT_OK(store_owner_totals(t, 1001, &o, NULL));
                ASSERT_TRUE(o.snapshots == 1 && o.label_bytes == strlen("key") + strlen("value"));
                ASSERT_ERR(store_verify(t, &e), EBADMSG);
                ASSERT_TRUE(strstr(e.message, "totals record of uid 1001 is damaged"));
        }
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1001, "b", 0, NULL, &l, NULL) > 0);
        check_totals(s);
        labels_clear(&l);
        test_store_done(&ts);
}

TEST(verify_finds_totals_that_are_off_and_a_change_counts_them_again) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Labels l = LABELS_NULL;

        ASSERT_OK(labels_set(&l, "key", "value"));
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1001, "a", 0, NULL, &l, NULL) > 0);
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1001, "b", 0, NULL, &l, NULL) > 0);
        ASSERT_OK(store_write(s, lose_totals_of_1001, NULL, NULL));
        {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;
                Error e = ERROR_NULL;

                ASSERT_OK(store_read_begin(s, &t));
                ASSERT_ERR(store_verify(t, &e), EBADMSG);
                ASSERT_TRUE(strstr(e.message, "totals per user add up to 0 snapshots"));
        }
        /* Taking a snapshot away from a total of none: counted again from the records. */
        ASSERT_TRUE(t_remove_as(s, 1001, "a", NULL, NULL) > 0);
        check_totals(s);
        assert_totals_of_1001(s, 1, strlen("key") + strlen("value"));
        labels_clear(&l);
        test_store_done(&ts);
}

static uint64_t damaged_id;

/* The record of damaged_id loses the last 3 bytes of its last label's value. */
static void damage_labels(MDB_txn *txn, void *userdata) {
        uint8_t key[8], *copy;
        MDB_dbi records = test_raw_dbi(txn, "records");
        MDB_val k = { .mv_size = sizeof key, .mv_data = key }, v;

        for (int i = 0; i < 8; i++)
                key[i] = (uint8_t) (damaged_id >> (56 - 8 * i));
        ASSERT_TRUE(mdb_get(txn, records, &k, &v) == 0);
        copy = malloc(v.mv_size);
        ASSERT_TRUE(copy);
        memcpy(copy, v.mv_data, v.mv_size);
        v = (MDB_val) { .mv_size = v.mv_size - 3, .mv_data = copy };
        ASSERT_TRUE(mdb_put(txn, records, &k, &v, 0) == 0);
        free(copy);
        test_raw_drop_derived(txn, true, false);
}

/* Damaged labels count what can be read of them: the store still opens and builds its
 * totals, and the snapshot can be removed. */
TEST(a_record_with_damaged_labels_is_counted_and_removed) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Labels l = LABELS_NULL;
        long id;

        ASSERT_OK(labels_set(&l, "key", "value"));
        ASSERT_OK(labels_set(&l, "other", "value"));
        id = t_create_as(s, SNAPSHOT_ACTIVE, 1001, "a", 0, NULL, &l, NULL);
        ASSERT_TRUE(id > 0);
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1001, "b", 0, NULL, &l, NULL) > 0);
        damaged_id = (uint64_t) id;
        ts.store = store_free(ts.store);
        test_raw_change(ts.dir.db, damage_labels, NULL);

        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        s = ts.store;
        check_totals(s);
        assert_totals_of_1001(s, 2, 18 + 8); /* b's 18, and of a's only its first label, 8 (its second cannot be read) */
        ASSERT_TRUE(t_remove_as(s, 1001, "a", NULL, NULL) == id);
        check_totals(s);
        labels_clear(&l);
        test_store_done(&ts);
}

TEST_MAIN(TEST_ENTRY(totals_equal_a_recount_after_random_changes), TEST_ENTRY(an_aborted_transaction_changes_no_totals),
          TEST_ENTRY(writers_killed_at_random_points_leave_exact_totals),
          TEST_ENTRY(a_store_without_totals_gets_them_when_opened),
          TEST_ENTRY(totals_are_counted_again_after_a_writer_that_did_not_keep_them),
          TEST_ENTRY(verify_finds_totals_that_are_off_and_a_change_counts_them_again),
          TEST_ENTRY(a_record_with_damaged_labels_is_counted_and_removed),
          TEST_ENTRY(a_damaged_totals_record_is_read_as_a_recount_and_replaced))
