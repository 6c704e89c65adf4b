/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The store's files: a lock file that cannot fault on a full disk, and compaction of a
 * data file that is mostly free, but only while no other process has it open. */
#include <fcntl.h>
#include <linux/magic.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "store-test-util.h"

#define N_SNAPSHOTS 400
#define LABEL_SIZE (16 * 1024)
#define MIN(a, b) ((a) < (b) ? (a) : (b))

static off_t file_size(const TestDir *d, const char *name) {
        char p[128];
        struct stat st;

        snprintf(p, sizeof p, "%s/%s", d->db, name);
        if (stat(p, &st) < 0)
                return -errno;
        return st.st_size;
}

static bool on_btrfs(const char *path) {
        struct statfs sfs;

        return statfs(path, &sfs) >= 0 && (uint32_t) sfs.f_type == (uint32_t) BTRFS_SUPER_MAGIC;
}

static void assert_fully_allocated(const TestDir *d, const char *name, off_t min_size) {
        char p[128];
        struct stat st;

        snprintf(p, sizeof p, "%s/%s", d->db, name);
        ASSERT_OK(stat(p, &st));
        ASSERT_TRUE(S_ISREG(st.st_mode));
        ASSERT_TRUE(st.st_size >= min_size);
        ASSERT_TRUE((off_t) st.st_blocks * 512 >= st.st_size);
}

typedef struct Range {
        unsigned from, to;
        const Labels *labels; /* NULL: remove */
} Range;

static int range_fn(StoreTxn *t, void *userdata, Error *e) {
        const Range *range = userdata;

        for (unsigned i = range->from; i < range->to; i++) {
                char name[32];
                uint64_t id;
                int r;

                snprintf(name, sizeof name, "s-%u", i);
                r = range->labels ? store_create(t, SNAPSHOT_ACTIVE, 0, name, 0, NULL, range->labels, test_now(),
                                                 NULL, e)
                                  : store_remove(t, 0, name, &id, NULL, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Snapshots s-<i> for i in [0, n), each with a LABEL_SIZE label, IDs 1..n. */
static void create_many(Store *s, unsigned n) {
        _cleanup_free_ char *big = malloc(LABEL_SIZE + 1);
        _cleanup_(labels_clear) Labels l = LABELS_NULL;

        ASSERT_TRUE(big);
        memset(big, 'v', LABEL_SIZE);
        big[LABEL_SIZE] = 0;
        ASSERT_OK(labels_set(&l, "big", big));
        for (unsigned i = 0; i < n; i += 50)
                ASSERT_OK(store_write(s, range_fn, &(Range) { i, MIN(i + 50, n), &l }, NULL));
}

static void remove_range(Store *s, unsigned from, unsigned to) {
        ASSERT_OK(store_write(s, range_fn, &(Range) { from, to, NULL }, NULL));
}

/* KiB of the data file that this process has mapped in (the sum of Rss over its maps). */
static unsigned long data_file_rss_kib(const TestDir *d) {
        char path[160], line[512];
        unsigned long kib = 0, v;
        bool in_data = false;
        FILE *f;

        snprintf(path, sizeof path, "%s/data.mdb", d->db);
        f = fopen("/proc/self/smaps", "re");
        ASSERT_TRUE(f);
        while (fgets(line, sizeof line, f)) {
                if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' '))
                        in_data = strstr(line, path) != NULL;
                else if (in_data && sscanf(line, "Rss: %lu kB", &v) == 1)
                        kib += v;
        }
        fclose(f);
        return kib;
}

static int count_fn(const SnapshotInfo *info, void *userdata) {
        (*(unsigned *) userdata)++;
        return 0;
}

/* After a read of many records the store gives the pages it touched back: they leave the
 * process's RSS (and are read again, unchanged, by the next walk). */
TEST(release_pages_after_a_large_read) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        StoreTxn *t;
        unsigned long before;
        unsigned n = 0;

        create_many(s, N_SNAPSHOTS);
        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_walk(t, NULL, count_fn, &n, NULL));
        store_read_end(t);
        ASSERT_TRUE(n == N_SNAPSHOTS);
        before = data_file_rss_kib(&ts.dir);
        ASSERT_TRUE(before >= N_SNAPSHOTS * LABEL_SIZE / 1024);
        store_release_pages(s);
        ASSERT_TRUE(data_file_rss_kib(&ts.dir) < before / 4);
        n = 0;
        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_walk(t, NULL, count_fn, &n, NULL));
        store_read_end(t);
        ASSERT_TRUE(n == N_SNAPSHOTS);
        test_store_done(&ts);
}

TEST(lock_file_is_fully_allocated) {
        TestStore ts;
        char p[128];
        struct stat before, after;
        int fd;

        test_store_new(&ts, 0);
        assert_fully_allocated(&ts.dir, "lock.mdb", 64 * 1024);
        ts.store = store_free(ts.store);

        /* A sparse lock file, as LMDB makes it, is replaced. */
        snprintf(p, sizeof p, "%s/lock.mdb", ts.dir.db);
        ASSERT_OK(unlink(p));
        fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(ftruncate(fd, 8192));
        ASSERT_OK(fstat(fd, &before));
        ASSERT_TRUE(before.st_blocks == 0);
        close(fd);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        assert_fully_allocated(&ts.dir, "lock.mdb", 64 * 1024);
        ASSERT_OK(stat(p, &after));
        ASSERT_TRUE(after.st_ino != before.st_ino);

        /* A safe one is kept. */
        ts.store = store_free(ts.store);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        ASSERT_OK(stat(p, &before));
        ASSERT_TRUE(after.st_ino == before.st_ino);
        ASSERT_TRUE(t_create(ts.store, SNAPSHOT_ACTIVE, "a", NULL, NULL) == 1);

        /* So is an older 8 KiB one without holes (not on btrfs, where it is not NOCOW):
         * a full disk then cannot stop the first start of this version. */
        ts.store = store_free(ts.store);
        ASSERT_OK(unlink(p));
        fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(pwrite(fd, (char[8192]) {}, 8192, 0) == 8192);
        ASSERT_OK(fsync(fd));
        ASSERT_OK(fstat(fd, &before));
        close(fd);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        ASSERT_OK(stat(p, &after));
        ASSERT_TRUE(after.st_ino == before.st_ino || on_btrfs(p));
        assert_fully_allocated(&ts.dir, "lock.mdb", 8192);
        ASSERT_TRUE(t_create(ts.store, SNAPSHOT_ACTIVE, "b", NULL, NULL) == 2);
        test_store_done(&ts);
}

TEST(compaction_after_removing_most) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        off_t full, compacted;

        create_many(s, N_SNAPSHOTS);
        remove_range(s, 0, N_SNAPSHOTS - 3);
        ts.store = store_free(ts.store);
        full = file_size(&ts.dir, "data.mdb");
        ASSERT_TRUE(full >= 6 << 20);

        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        compacted = file_size(&ts.dir, "data.mdb");
        ASSERT_TRUE(compacted < full / 10);
        ASSERT_TRUE(file_size(&ts.dir, "data.mdb.compact") == -ENOENT);
        t_verify(ts.store);

        /* Everything that was left is still there, labels and the ID counter included. */
        ASSERT_OK(t_info(ts.store, "s-399", &info, NULL));
        ASSERT_TRUE(info.id == N_SNAPSHOTS && strlen(labels_get(&info.labels, "big")) == LABEL_SIZE);
        ASSERT_ERR(t_info(ts.store, "s-0", &info, NULL), ENOENT);
        ASSERT_TRUE(t_create(ts.store, SNAPSHOT_ACTIVE, "new", NULL, NULL) == N_SNAPSHOTS + 1);

        /* Nothing more to gain: the next open leaves the file alone. */
        ts.store = store_free(ts.store);
        compacted = file_size(&ts.dir, "data.mdb");
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        ASSERT_TRUE(file_size(&ts.dir, "data.mdb") == compacted);
        t_verify(ts.store);
        test_store_done(&ts);
}

TEST(leftover_compaction_file_removed) {
        TestStore ts;
        char p[128];
        int fd;

        test_store_new(&ts, 0);
        ASSERT_TRUE(t_create(ts.store, SNAPSHOT_ACTIVE, "a", NULL, NULL) == 1);
        ts.store = store_free(ts.store);
        snprintf(p, sizeof p, "%s/data.mdb.compact", ts.dir.db);
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0 && write(fd, "half a copy", 11) == 11);
        close(fd);

        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        ASSERT_TRUE(file_size(&ts.dir, "data.mdb.compact") == -ENOENT);
        ASSERT_TRUE(t_create(ts.store, SNAPSHOT_ACTIVE, "b", NULL, NULL) == 2);
        test_store_done(&ts);
}

/* A child holds the environment open with plain LMDB until the pipe closes. */
static pid_t hold_open(const char *dir, int *ret_release) {
        int ready[2], release[2];
        pid_t pid;
        char c;

        ASSERT_OK(pipe2(ready, O_CLOEXEC));
        ASSERT_OK(pipe2(release, O_CLOEXEC));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                MDB_env *env;
                MDB_txn *txn;

                close(ready[0]);
                close(release[1]);
                if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 16) != 0 ||
                    mdb_env_open(env, dir, MDB_NOTLS, 0600) != 0 ||
                    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
                        _exit(1);
                mdb_txn_abort(txn);
                (void) !write(ready[1], "r", 1);
                (void) !read(release[0], &c, 1);
                mdb_env_close(env);
                _exit(0);
        }
        close(ready[1]);
        close(release[0]);
        ASSERT_TRUE(read(ready[0], &c, 1) == 1);
        close(ready[0]);
        *ret_release = release[1];
        return pid;
}

TEST(files_left_alone_while_another_process_has_them_open) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        off_t full;
        int release, status;
        pid_t pid;

        create_many(s, N_SNAPSHOTS);
        remove_range(s, 0, N_SNAPSHOTS);
        ts.store = store_free(ts.store);
        full = file_size(&ts.dir, "data.mdb");

        pid = hold_open(ts.dir.db, &release);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        ASSERT_TRUE(file_size(&ts.dir, "data.mdb") == full);
        ASSERT_TRUE(t_create(ts.store, SNAPSHOT_ACTIVE, "shared", NULL, NULL) == N_SNAPSHOTS + 1);
        ts.store = store_free(ts.store);
        close(release);
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* Alone again: compacted. */
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        ASSERT_TRUE(file_size(&ts.dir, "data.mdb") < full / 10);
        ASSERT_TRUE(t_create(ts.store, SNAPSHOT_ACTIVE, "after", NULL, NULL) == N_SNAPSHOTS + 2);
        t_verify(ts.store);
        test_store_done(&ts);
}

TEST_MAIN(TEST_ENTRY(lock_file_is_fully_allocated), TEST_ENTRY(release_pages_after_a_large_read), TEST_ENTRY(compaction_after_removing_most),
          TEST_ENTRY(leftover_compaction_file_removed),
          TEST_ENTRY(files_left_alone_while_another_process_has_them_open))
