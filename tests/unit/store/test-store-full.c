/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A full disk under the store, simulated: this program's pwrite() and writev(), which
 * LMDB calls, fail with ENOSPC on data.mdb while armed. Writes then fail with ENOSPC and
 * a message saying what is full, reads keep working, and once space is back writes work
 * again on the last committed state. A failed write of only the meta page leaves LMDB
 * refusing every transaction (MDB_PANIC) until the environment is reopened, which the
 * store does by itself. (The real thing, on loop filesystems: tests/integration/disk.) */
#include <sys/syscall.h>
#include <sys/uio.h>

#include "store-test-util.h"

typedef enum Fault {
        FAULT_NONE,
        FAULT_ALL,  /* every write to data.mdb: a full filesystem */
        FAULT_META, /* only writes shorter than a page: the meta page, after the data */
} Fault;

static Fault fault;
static ino_t fault_ino;
static unsigned faults_hit;

static bool fails(int fd, size_t n) {
        struct stat st;

        if (fault == FAULT_NONE || fstat(fd, &st) < 0 || st.st_ino != fault_ino)
                return false;
        if (fault == FAULT_META && n >= 4096)
                return false;
        faults_hit++;
        errno = ENOSPC;
        return true;
}

/* Named by symbol: with _FILE_OFFSET_BITS=64 the headers turn "pwrite" into pwrite64,
 * but liblmdb calls pwrite. */
ssize_t fault_pwrite(int fd, const void *buf, size_t n, off_t off) __asm__("pwrite");
ssize_t fault_pwrite(int fd, const void *buf, size_t n, off_t off) {
        if (fails(fd, n))
                return -1;
        return syscall(SYS_pwrite64, fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
        if (fails(fd, SIZE_MAX))
                return -1;
        return syscall(SYS_writev, fd, iov, iovcnt);
}

static void arm(TestStore *ts, Fault f) {
        char p[128];
        struct stat st;

        snprintf(p, sizeof p, "%s/data.mdb", ts->dir.db);
        ASSERT_OK(stat(p, &st));
        fault_ino = st.st_ino;
        faults_hit = 0;
        fault = f;
}

static void assert_reads_as(Store *s, uid_t owner, const char *name) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};

        ASSERT_OK(t_info_as(s, owner, name, &info, NULL));
        ASSERT_STREQ(info.name, name);
}

static void assert_reads(Store *s, const char *name) {
        assert_reads_as(s, 0, name);
}

static void assert_write_refused(Store *s, const char *name) {
        Error e = ERROR_NULL;

        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, name, NULL, &e), ENOSPC);
        ASSERT_TRUE(e.code == ENOSPC);
        ASSERT_TRUE(strstr(e.message, "full") != NULL);
        ASSERT_TRUE(faults_hit > 0);
}

TEST(full_filesystem_refuses_writes_keeps_reads) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);

        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "a", NULL, NULL) == 1);
        arm(&ts, FAULT_ALL);
        assert_write_refused(s, "b");
        assert_reads(s, "a");
        assert_write_refused(s, "c");
        assert_reads(s, "a");

        fault = FAULT_NONE;
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "b", NULL, NULL) == 2);
        assert_reads(s, "a");
        assert_reads(s, "b");
        t_verify(s);
        test_store_done(&ts);
}

TEST(failed_meta_write_is_survived) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};

        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "a", NULL, NULL) == 1);
        arm(&ts, FAULT_META);
        assert_write_refused(s, "b");
        /* LMDB now refuses every transaction until reopened: reads reopen it. */
        assert_reads(s, "a");
        ASSERT_ERR(t_info(s, "b", &info, NULL), ENOENT);
        assert_write_refused(s, "c");
        assert_reads(s, "a");

        fault = FAULT_NONE;
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "b", NULL, NULL) == 2);
        t_verify(s);

        /* What is on disk is whole. */
        ts.store = store_free(ts.store);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        assert_reads(ts.store, "a");
        assert_reads(ts.store, "b");
        t_verify(ts.store);
        test_store_done(&ts);
}

static void drop_derived(MDB_txn *txn, void *userdata) {
        test_raw_drop_derived(txn, true, true);
}

static int count_transient(const SnapshotInfo *info, void *userdata) {
        ASSERT_STREQ(info->name, "t");
        (*(unsigned *) userdata)++;
        return 0;
}

/* Without the totals and the transient index on a full filesystem, the store opens anyway:
 * reads work, the totals refuse to be read saying why, the transient walk reads every
 * record; writes made meanwhile are counted when they are built, at the next open or by
 * store_derived_retry_due() once there is space. */
TEST(a_store_without_totals_opens_on_a_full_filesystem) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(labels_clear) Labels l = LABELS_NULL;
        StoreOwnerTotals o;
        Error e = ERROR_NULL;
        uint64_t next;
        unsigned n = 0;

        ASSERT_OK(labels_set(&l, STORE_LABEL_TRANSIENT, ":1.1"));
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1000, "t", 0, NULL, &l, NULL) == 1);
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1000, "p", 0, NULL, NULL, NULL) == 2);
        ts.store = store_free(ts.store);
        test_raw_change(ts.dir.db, drop_derived, NULL);

        arm(&ts, FAULT_ALL);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        s = ts.store;
        ASSERT_TRUE(faults_hit > 0 && store_derived_missing(s));
        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_ERR(store_owner_totals(t, 1000, &o, &e), ENOSPC);
        ASSERT_TRUE(strstr(e.message, "not counted yet") && strstr(e.message, "too full"));
        ASSERT_OK(store_walk_transient(t, count_transient, &n, NULL));
        ASSERT_TRUE(n == 1);
        store_read_end(TAKE_PTR(t));
        assert_reads_as(s, 1000, "p");

        /* space again: writes work (counted by the next try, every few seconds at most) */
        fault = FAULT_NONE;
        ASSERT_TRUE(t_remove_as(s, 1000, "p", NULL, NULL) == 2);
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_VIEW, 1000, "t2", 0, NULL, &l, NULL) == 3);
        /* a crash now: the next open counts them, with what was written meanwhile */
        ts.store = store_free(ts.store);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        s = ts.store;
        ASSERT_TRUE(!store_derived_missing(s));
        t_verify(s);
        ts.store = store_free(ts.store);

        /* the same, built by a retry once it is due (a write never tries: it may run on the
         * event loop, and the try reads every record) */
        test_raw_change(ts.dir.db, drop_derived, NULL);
        arm(&ts, FAULT_ALL);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        s = ts.store;
        ASSERT_TRUE(store_derived_missing(s));
        fault = FAULT_NONE;
        ASSERT_TRUE(t_remove_as(s, 1000, "t2", NULL, NULL) == 3);
        ASSERT_TRUE(store_derived_missing(s));
        ASSERT_TRUE(store_derived_retry_due(s, 0, &next) == 0 && next < UINT64_MAX);
        ASSERT_TRUE(store_derived_retry_due(s, next, &next) == 1);
        ASSERT_TRUE(!store_derived_missing(s) && next == UINT64_MAX);
        t_verify(s);
        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_owner_totals(t, 1000, &o, NULL));
        ASSERT_TRUE(o.snapshots == 1);
        store_read_end(TAKE_PTR(t));
        test_store_done(&ts);
}

#define SEC ((uint64_t) 1000000)

/* Building the totals reads every record: a store that cannot build them (here every write
 * fails, though the filesystem shows space) tries again with back-off, on the caller's
 * clock: 10 s after it opened, then 20, 40, 80, 160 s, then every 5 min, never before it is
 * due (it only looks at the free space, every 10 s, meanwhile); once space was freed, 10 s
 * after the last try, and the waits start over; a store that built them asks for nothing
 * more. */
static bool try_at(Store *s, uint64_t now) {
        unsigned hits = faults_hit;
        uint64_t next;

        ASSERT_TRUE(store_derived_retry_due(s, now, &next) == 0);
        ASSERT_TRUE(next > now);
        return faults_hit > hits;
}

TEST(building_the_totals_again_backs_off) {
        static const uint64_t waits[] = { 20 * SEC, 40 * SEC, 80 * SEC, 160 * SEC, 300 * SEC, 300 * SEC };
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        uint64_t due, next, last, before = clock_usec(CLOCK_MONOTONIC);

        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1000, "a", 0, NULL, NULL, NULL) == 1);
        ts.store = store_free(ts.store);
        test_raw_change(ts.dir.db, drop_derived, NULL);
        arm(&ts, FAULT_ALL);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        s = ts.store;
        ASSERT_TRUE(store_derived_missing(s) && faults_hit > 0);

        /* not due before the clock says so: the first try 10 s after the open's */
        ASSERT_TRUE(!try_at(s, 0));
        ASSERT_TRUE(store_derived_retry_due(s, 0, &due) == 0);
        ASSERT_TRUE(due >= before + 10 * SEC && due <= clock_usec(CLOCK_MONOTONIC) + 10 * SEC);
        for (size_t i = 0; i < ELEMENTSOF(waits); i++) {
                for (uint64_t t = due - waits[i] / 2; t < due; t += 10 * SEC)
                        ASSERT_TRUE(!try_at(s, t));
                ASSERT_TRUE(!try_at(s, due - 1));
                ASSERT_TRUE(try_at(s, due));
                last = due;
                due += waits[i];
        }

        /* space freed: 10 s after the last try, then 10, 20 s... again */
        store_derived_space_freed(s);
        ASSERT_TRUE(!try_at(s, last + 10 * SEC - 1));
        ASSERT_TRUE(try_at(s, last + 10 * SEC));
        last += 10 * SEC;
        ASSERT_TRUE(!try_at(s, last + 10 * SEC - 1));
        ASSERT_TRUE(try_at(s, last + 10 * SEC));
        last += 10 * SEC;
        ASSERT_TRUE(!try_at(s, last + 20 * SEC - 1));

        fault = FAULT_NONE;
        ASSERT_TRUE(store_derived_retry_due(s, last + 20 * SEC, &next) == 1);
        ASSERT_TRUE(!store_derived_missing(s) && next == UINT64_MAX);
        ASSERT_TRUE(store_derived_retry_due(s, last + 3600 * SEC, &next) == 0 && next == UINT64_MAX);
        t_verify(s);
        test_store_done(&ts);
}

TEST_MAIN(TEST_ENTRY(full_filesystem_refuses_writes_keeps_reads), TEST_ENTRY(failed_meta_write_is_survived),
          TEST_ENTRY(a_store_without_totals_opens_on_a_full_filesystem), TEST_ENTRY(building_the_totals_again_backs_off))
