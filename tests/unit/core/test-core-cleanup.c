/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Finding orphans (core-orphans.c) costs other writers a page at a time: Cleanup and the
 * search at start read the snapshot directory and the records without the write lock, and
 * take it only for the entries no record names, ORPHAN_PAGE at most per write transaction.
 * One search runs at a time, shared by the Cleanups waiting for it. This program counts,
 * by wrapping liblmdb's calls, the records each write transaction reads, how many write
 * transactions there are, and what each thread reads; and by wrapping fdopendir and
 * pthread_cond_wait, the searches Cleanup callers start and when they wait. */
#include <dirent.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>

#include "core-internal.h"
#include "core-test-util.h"
#include "interpose.h"

/* --- counting what write transactions read, in every thread --- */

static _Thread_local MDB_txn *write_txn;
static _Thread_local unsigned write_reads, reads_here;
static atomic_uint max_write_reads, write_txns;

int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned flags, MDB_txn **txn) {
        int rc = REAL(mdb_txn_begin)(env, parent, flags, txn);

        if (rc == 0 && !(flags & MDB_RDONLY) && !parent) {
                write_txn = *txn;
                write_reads = 0;
                atomic_fetch_add(&write_txns, 1);
        }
        return rc;
}

static void write_txn_end(MDB_txn *txn) {
        if (txn != write_txn)
                return;
        write_txn = NULL;
        for (unsigned m = atomic_load(&max_write_reads);
             write_reads > m && !atomic_compare_exchange_weak(&max_write_reads, &m, write_reads);)
                ;
}

int mdb_txn_commit(MDB_txn *txn) {
        write_txn_end(txn);
        return REAL(mdb_txn_commit)(txn);
}

void mdb_txn_abort(MDB_txn *txn) {
        write_txn_end(txn);
        REAL(mdb_txn_abort)(txn);
}

int mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data) {
        reads_here++;
        if (txn == write_txn)
                write_reads++;
        return REAL(mdb_get)(txn, dbi, key, data);
}

int mdb_cursor_get(MDB_cursor *cursor, MDB_val *key, MDB_val *data, MDB_cursor_op op) {
        reads_here++;
        if (write_txn && mdb_cursor_txn(cursor) == write_txn)
                write_reads++;
        return REAL(mdb_cursor_get)(cursor, key, data, op);
}

/* A gate on the start of the searches of Cleanup callers' threads (each opens snapshots/
 * with fdopendir), and those of them that have come to wait (their first
 * pthread_cond_wait). */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_changed = PTHREAD_COND_INITIALIZER;
static bool gate_armed, gate_closed;
static unsigned searches, arrived;
static _Thread_local bool caller, caller_waits_once, caller_arrived;

DIR *fdopendir(int fd) {
        pthread_mutex_lock(&gate_lock);
        if (gate_armed && caller) {
                searches++;
                pthread_cond_broadcast(&gate_changed);
                while (gate_closed)
                        REAL(pthread_cond_wait)(&gate_changed, &gate_lock);
        }
        pthread_mutex_unlock(&gate_lock);
        return REAL(fdopendir)(fd);
}

int pthread_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex) {
        if (caller_waits_once && !caller_arrived) {
                caller_arrived = true;
                pthread_mutex_lock(&gate_lock);
                arrived++;
                pthread_cond_broadcast(&gate_changed);
                pthread_mutex_unlock(&gate_lock);
        }
        return REAL(pthread_cond_wait)(cond, mutex);
}

/* With gate_lock held. */
static void gate_wait_until(unsigned *counter, unsigned n) {
        while (*counter < n)
                REAL(pthread_cond_wait)(&gate_changed, &gate_lock);
}

static void counters_reset(void) {
        atomic_store(&max_write_reads, 0);
        atomic_store(&write_txns, 0);
}

/* --- a state directory with many snapshots --- */

typedef struct Populate {
        size_t n;            /* records created: IDs 1..n */
        size_t remove_every; /* then every such one removed (0: none) */
} Populate;

static int populate_in_txn(StoreTxn *t, void *userdata, Error *e) {
        Populate *p = userdata;

        for (size_t i = 1; i <= p->n; i++) {
                _cleanup_(snapshot_clear) Snapshot snap = {};
                char name[32];
                int r;

                snprintf(name, sizeof name, "s%zu", i);
                r = store_create(t, SNAPSHOT_ACTIVE, 1000, name, 0, NULL, NULL, 1, &snap, e);
                if (r < 0)
                        return r;
                ASSERT_TRUE(snap.id == i);
        }
        for (size_t i = p->remove_every; p->remove_every > 0 && i <= p->n; i += p->remove_every) {
                char name[32];
                int r;

                snprintf(name, sizeof name, "s%zu", i);
                r = store_remove(t, 1000, name, NULL, NULL, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static char *snapshots_dir(const char *dir) {
        char *p = strdup_printf("%s/state/overlayfs/snapshots", dir);

        ASSERT_TRUE(p);
        return p;
}

/* dir/state/overlayfs with p's records, and a data directory for each ID 1..n_dirs (those
 * past p->n or removed are orphans). */
static void populate(const char *dir, Populate *p, size_t n_dirs) {
        _cleanup_free_ char *store = strdup_printf("%s/state/overlayfs", dir), *snaps = snapshots_dir(dir);
        char *cmd = strdup_printf("mkdir -p '%s'", snaps);
        Store *s = NULL;
        Error e = ERROR_NULL;
        int fd;

        ASSERT_TRUE(cmd && system(cmd) == 0);
        free(cmd);
        if (p) {
                ASSERT_OK(store_open(store, NULL, &s));
                ASSERT_OK(store_write(s, populate_in_txn, p, &e));
                store_free(s);
        }
        fd = open(snaps, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        for (size_t i = 1; i <= n_dirs; i++) {
                char name[32];

                snprintf(name, sizeof name, "%zu", i);
                ASSERT_OK(mkdirat(fd, name, 0700) < 0 ? -errno : 0);
        }
        close(fd);
}

static bool entry_exists(const char *dir, const char *name) {
        _cleanup_free_ char *snaps = snapshots_dir(dir);

        return access(test_path(snaps, name), F_OK) == 0;
}

static size_t entries(const char *dir) {
        _cleanup_free_ char *snaps = snapshots_dir(dir);

        return test_count_entries(snaps);
}

/* Cleanup reads every entry and record, but holds the write lock only for the entries that
 * no record names, a page at a time: no write transaction reads more than a page of records
 * (before: all of them, in one), and with no orphans it takes none at all. What it frees
 * are exactly the orphans: data of removed snapshots, of IDs never recorded, temporaries. */
TEST(cleanup_holds_the_write_lock_for_a_page_of_orphans_at_a_time) {
        Populate p = { .n = 3000, .remove_every = 5 };
        char *dir = test_mkdtemp();
        CoreSnapshotter *s;
        SnapshotInfo info = {};
        Error e = ERROR_NULL;
        uint64_t reclaimed;
        Core *c;

        /* 600 removed (orphans below the next ID), 100 past the last recorded ID, two
         * temporaries a crash left */
        populate(dir, &p, p.n + 100);
        ASSERT_OK(mkdir(test_path(dir, "state/overlayfs/snapshots/new-crashed"), 0700) < 0 ? -errno : 0);
        ASSERT_OK(mkdir(test_path(dir, "state/overlayfs/snapshots/stale-7-1"), 0700) < 0 ? -errno : 0);
        /* counted from the start on: its own search may find the orphans first */
        counters_reset();
        c = test_core_new(dir, 0);
        s = core_snapshotter_by_name(c, "overlayfs");
        ASSERT_OK(core_cleanup(s, 0, &reclaimed, &e));
        fprintf(stderr, "start and cleanup of %zu entries: %u write transactions, at most %u records read in "
                "one\n", p.n + 102, atomic_load(&write_txns), atomic_load(&max_write_reads));
        ASSERT_TRUE(atomic_load(&write_txns) >= (600 + 100 + 2) / ORPHAN_PAGE);
        ASSERT_TRUE(atomic_load(&max_write_reads) <= ORPHAN_PAGE + 16);
        ASSERT_TRUE(entries(dir) == p.n - p.n / p.remove_every);
        ASSERT_TRUE(entry_exists(dir, "1") && !entry_exists(dir, "5") && !entry_exists(dir, "3001"));
        ASSERT_TRUE(!entry_exists(dir, "new-crashed") && !entry_exists(dir, "stale-7-1"));

        /* nothing left to free: no write transaction at all */
        ASSERT_EVENTUALLY(!core_reclaim_pending(c));
        counters_reset();
        ASSERT_OK(core_cleanup(s, 0, &reclaimed, &e));
        ASSERT_TRUE(atomic_load(&write_txns) == 0);
        ASSERT_TRUE(reclaimed == 0);

        /* the IDs of the data that was never recorded are never given out */
        ASSERT_OK(core_prepare(s, 0, "new", NULL, NULL, NULL, &e));
        ASSERT_OK(core_stat(s, 0, "new", &info, &e));
        ASSERT_TRUE(info.id == p.n + 101);
        snapshot_info_clear(&info);
        core_free(c);
        test_rm_rf(dir);
        free(dir);
}

/* Starting reads no more records however many there are: the search for what a crash left
 * runs in the background (the reclaim thread), a page at a time, and frees it. An orphan
 * whose ID was never recorded (a crash between moving a Prepare's data into place and
 * recording it) has its ID retired: the next snapshot gets another, and keeps its data. */
TEST(start_searches_for_orphans_in_the_background) {
        Populate p = { .n = 3000, .remove_every = 1000 };
        char *dir = test_mkdtemp();
        CoreSnapshotter *s;
        SnapshotInfo info = {};
        Error e = ERROR_NULL;
        uint64_t reclaimed;
        unsigned reads;
        Core *c;

        populate(dir, &p, p.n + 1);
        reads_here = 0;
        c = test_core_new(dir, 0);
        reads = reads_here;
        fprintf(stderr, "start with %zu records: %u read by the starting thread\n", p.n, reads);
        ASSERT_TRUE(reads < 64);

        s = core_snapshotter_by_name(c, "overlayfs");
        ASSERT_EVENTUALLY(!core_reclaim_pending(c));
        ASSERT_TRUE(!entry_exists(dir, "1000") && !entry_exists(dir, "3001") && entry_exists(dir, "2999"));

        ASSERT_OK(core_prepare(s, 0, "a", NULL, NULL, NULL, &e));
        ASSERT_OK(core_stat(s, 0, "a", &info, &e));
        ASSERT_TRUE(info.id == p.n + 2);
        ASSERT_OK(core_cleanup(s, 0, &reclaimed, &e));
        ASSERT_TRUE(entry_exists(dir, "3002/fs"));
        snapshot_info_clear(&info);
        core_free(c);
        test_rm_rf(dir);
        free(dir);
}

/* Cleanups of several callers share one search: while one runs, those that come wait for
 * the next, which serves them all (a search started before a call may miss what it must
 * free). Four callers here cost two searches, not four, whatever the order they come in. */
typedef struct Caller {
        CoreSnapshotter *s;
        uid_t uid;
        bool waits_first; /* counted in `arrived` */
        int r;
} Caller;

static void *cleanup_thread(void *userdata) {
        Caller *c = userdata;
        Error e = ERROR_NULL;
        uint64_t reclaimed;

        caller = true;
        caller_waits_once = c->waits_first;
        c->r = core_cleanup(c->s, c->uid, &reclaimed, &e);
        return NULL;
}

TEST(cleanups_of_many_callers_share_one_search) {
        char *dir = test_mkdtemp();
        Caller callers[4];
        pthread_t threads[4];
        CoreSnapshotter *s;
        Core *c;

        populate(dir, NULL, 0);
        ASSERT_OK(mkdir(test_path(dir, "state/overlayfs/snapshots/new-crashed"), 0700) < 0 ? -errno : 0);
        c = test_core_new(dir, 0);
        s = core_snapshotter_by_name(c, "overlayfs");
        ASSERT_EVENTUALLY(!core_reclaim_pending(c));

        pthread_mutex_lock(&gate_lock);
        gate_armed = gate_closed = true;
        searches = arrived = 0;
        pthread_mutex_unlock(&gate_lock);
        for (size_t i = 0; i < ELEMENTSOF(callers); i++)
                callers[i] = (Caller) { s, 1000 + i, i > 0, 1 };

        /* the first starts a search, held at its start; the others come meanwhile */
        ASSERT_OK(-pthread_create(&threads[0], NULL, cleanup_thread, &callers[0]));
        pthread_mutex_lock(&gate_lock);
        gate_wait_until(&searches, 1);
        pthread_mutex_unlock(&gate_lock);
        for (size_t i = 1; i < ELEMENTSOF(callers); i++)
                ASSERT_OK(-pthread_create(&threads[i], NULL, cleanup_thread, &callers[i]));
        pthread_mutex_lock(&gate_lock);
        gate_wait_until(&arrived, ELEMENTSOF(callers) - 1);
        gate_closed = false;
        pthread_cond_broadcast(&gate_changed);
        pthread_mutex_unlock(&gate_lock);

        for (size_t i = 0; i < ELEMENTSOF(callers); i++) {
                ASSERT_TRUE(pthread_join(threads[i], NULL) == 0);
                ASSERT_OK(callers[i].r);
        }
        pthread_mutex_lock(&gate_lock);
        gate_armed = false;
        fprintf(stderr, "%zu Cleanups: %u searches\n", ELEMENTSOF(callers), searches);
        ASSERT_TRUE(searches == 2);
        pthread_mutex_unlock(&gate_lock);
        ASSERT_TRUE(!entry_exists(dir, "new-crashed"));
        core_free(c);
        test_rm_rf(dir);
        free(dir);
}

TEST_MAIN(TEST_ENTRY(cleanup_holds_the_write_lock_for_a_page_of_orphans_at_a_time),
          TEST_ENTRY(start_searches_for_orphans_in_the_background),
          TEST_ENTRY(cleanups_of_many_callers_share_one_search))
