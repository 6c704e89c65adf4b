/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The store under load: a map growing from 64 KiB to 100 000 snapshots, and writers
 * SIGKILLed at random points. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "store-test-util.h"

#define TINY_MAP (64 * 1024)

typedef struct Batch {
        unsigned first, n;
        unsigned runs; /* how often fn ran: more than batches when the map was full */
} Batch;

/* s-<i>: every tenth one committed and the parent of the next nine. */
static void batch_name(unsigned i, bool committed, char buf[static 32]) {
        snprintf(buf, 32, committed ? "c-%06u" : "s-%06u", i);
}

static int batch_fn(StoreTxn *t, void *userdata, Error *e) {
        Batch *b = userdata;
        char name[32], parent[32];
        int r;

        b->runs++;
        for (unsigned i = b->first; i < b->first + b->n; i++) {
                bool base = i % 10 == 0;

                batch_name(i, false, name);
                batch_name(i - i % 10, true, parent);
                r = store_create(t, SNAPSHOT_ACTIVE, 0, name, 0, base ? NULL : parent, NULL, test_now(), NULL, e);
                if (r < 0)
                        return r;
                if (base) {
                        r = store_commit_active(t, 0, name, parent, i, 1, NULL, test_now(), NULL, e);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

TEST(map_grows_to_100000_snapshots) {
        TestStore ts;
        Store *s = test_store_new(&ts, TINY_MAP);
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_free_ uint64_t *ids = NULL;
        _cleanup_(snapshot_clear) Snapshot snap = {};
        unsigned runs = 0;
        size_t n;

        for (unsigned first = 0; first < 100000; first += 2000) {
                Batch b = { .first = first, .n = 2000 };
                Error e = ERROR_NULL;
                int r = store_write(s, batch_fn, &b, &e);

                if (r < 0)
                        fprintf(stderr, "batch at %u: %s\n", first, e.message);
                ASSERT_OK(r);
                runs += b.runs;
        }
        ASSERT_TRUE(runs > 50); /* some batches hit a full map and ran again */

        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_list_ids(t, &ids, &n));
        ASSERT_TRUE(n == 100000 && ids[0] == 1 && ids[n - 1] == 100000);
        ASSERT_OK(store_get_snapshot(t, 0, "s-099999", &snap, NULL));
        ASSERT_TRUE(snap.n_parents == 1 && snap.parent_ids[0] == 99991);
        t = (store_read_end(t), NULL);
        t_verify(s);
        test_store_done(&ts);
}

/* --- crash --- */

#define CRASH_NAMES 24
#define IN_SET_REFUSED(err) \
        ((err) == ENOENT || (err) == EEXIST || (err) == EINVAL || (err) == EWRONGKIND || (err) == ENOTEMPTY)

static void random_name(char buf[static 16], char prefix) {
        snprintf(buf, 16, "%c%d", prefix, rand() % CRASH_NAMES);
}

static int random_op(StoreTxn *t, Error *e) {
        _cleanup_(labels_clear) Labels l = LABELS_NULL;
        char key[16], name[16];
        uid_t owner = rand() % 2 ? 0 : 1000;
        int r;

        random_name(key, 'k');
        random_name(name, 'c');
        switch (rand() % 5) {
        case 0:
        case 1:
                return store_create(t, rand() % 3 ? SNAPSHOT_ACTIVE : SNAPSHOT_VIEW, owner, key, 0,
                                    rand() % 2 ? name : NULL, NULL, test_now(), NULL, e);
        case 2:
                r = labels_set(&l, "x", "y");
                if (r < 0)
                        return r;
                return store_commit_active(t, owner, key, name, 1, 1, &l, test_now(), NULL, e);
        case 3:
                return store_remove(t, owner, rand() % 2 ? key : name, NULL, NULL, e);
        default:
                r = labels_set(&l, key, name);
                if (r < 0)
                        return r;
                return store_update_info(t, owner, rand() % 2 ? key : name, &l, NULL, test_now(), NULL, e);
        }
}

/* Several random operations in one transaction; refused ones change nothing. */
static int random_ops_fn(StoreTxn *t, void *userdata, Error *e) {
        int ops = 1 + rand() % 8;

        for (int i = 0; i < ops; i++) {
                Error op_error = ERROR_NULL;
                int r = random_op(t, &op_error);

                if (r < 0 && !IN_SET_REFUSED(-r))
                        return error_setf(e, -r, "%s", op_error.message);
        }
        return 0;
}

static int create_first_fn(StoreTxn *t, void *userdata, Error *e) {
        return store_create(t, SNAPSHOT_ACTIVE, 0, userdata, 0, NULL, NULL, test_now(), NULL, e);
}

/* Tells the parent through ready_fd once the store is open and a first snapshot of its
 * own is committed (so every child takes an ID however late a loaded machine runs it),
 * then writes until killed. */
static _noreturn_ void crash_child(const char *db, unsigned seed, int ready_fd) {
        StoreOptions o = { .initial_map_size = TINY_MAP };
        char key[64];
        Store *s;

        srand(seed);
        snprintf(key, sizeof key, "first-%u-%d", seed, (int) getpid());
        if (store_open(db, &o, &s) < 0 || store_write(s, create_first_fn, key, NULL) < 0 ||
            write(ready_fd, "x", 1) != 1)
                _exit(EXIT_FAILURE);
        for (;;)
                (void) store_write(s, random_ops_fn, NULL, NULL);
}

/* The public view of the invariants: everything reachable, a fresh ID above all others.
 * Returns that ID. */
static long check_after_crash(const char *db) {
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_free_ uint64_t *ids = NULL;
        size_t n;
        long probe;

        ASSERT_OK(store_open(db, NULL, &s));
        t_verify(s);
        {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;
                ASSERT_OK(store_read_begin(s, &t));
                ASSERT_OK(store_list_ids(t, &ids, &n));
        }
        probe = t_create(s, SNAPSHOT_ACTIVE, "probe", NULL, NULL);
        ASSERT_TRUE(probe > 0 && (n == 0 || (uint64_t) probe > ids[n - 1]));
        ASSERT_TRUE(t_remove(s, "probe", NULL, NULL) == probe);
        return probe;
}

TEST(sigkill_at_random_points) {
        TestDir d;
        unsigned seed = (unsigned) time(NULL);
        long probe = 0;

        fprintf(stderr, "seed %u\n", seed);
        srand(seed);
        test_dir_make(&d);
        for (int i = 0; i < 300; i++) {
                struct timespec delay = { .tv_nsec = (rand() % 20000) * 1000L };
                unsigned child_seed = (unsigned) rand();
                int status, ready[2];
                char c;
                pid_t pid;

                ASSERT_OK(pipe2(ready, O_CLOEXEC));
                pid = fork();
                ASSERT_TRUE(pid >= 0);
                if (pid == 0)
                        crash_child(d.db, child_seed, ready[1]);
                (void) close(ready[1]);
                (void) read(ready[0], &c, 1); /* EOF if the child died early: waitpid tells */
                (void) close(ready[0]);
                nanosleep(&delay, NULL);
                ASSERT_OK(kill(pid, SIGKILL));
                ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
                /* Killed by us, not exited or aborted on its own. */
                ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
                probe = check_after_crash(d.db);
        }
        /* The probes took 300 IDs, the children's first writes 300 more, their random
         * writes more: fewer than 600 means committed IDs were given out again. */
        fprintf(stderr, "highest ID after 300 kills: %ld\n", probe);
        ASSERT_TRUE(probe >= 600);
        test_dir_remove(&d);
}

TEST_MAIN(TEST_ENTRY(map_grows_to_100000_snapshots), TEST_ENTRY(sigkill_at_random_points))
