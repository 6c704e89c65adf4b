/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opening and closing the environment, transactions, and LMDB's errors as errno. */

#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>

#include "file-util.h"
#include "log.h"
#include "store-internal.h"

#define DEFAULT_MAP_SIZE ((size_t) 64 << 20)
#define WRITE_ATTEMPTS_MAX 32
#define FILESYSTEM_FULL_BELOW ((uint64_t) 1 << 20)

/* --- errors --- */

int errno_from_mdb(int rc) {
        switch (rc) {
        case 0:
                return 0;
        case MDB_NOTFOUND:
                return -ENOENT;
        case MDB_KEYEXIST:
                return -EEXIST;
        case MDB_MAP_FULL:
                return -ENOSPC;
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
        case MDB_INVALID:
                return -EBADMSG;
        case MDB_VERSION_MISMATCH:
                return -EPROTO;
        default:
                return rc > 0 ? -rc : -EIO;
        }
}

int txn_result(StoreTxn *t, int rc) {
        if (rc == MDB_MAP_FULL)
                t->map_full = true;
        return errno_from_mdb(rc);
}

uint64_t txn_last_committed(StoreTxn *t) {
        /* A write transaction has the ID of the last one committed, plus one. */
        return (uint64_t) mdb_txn_id(t->txn) - t->write;
}

/* --- open, close, transactions --- */

static int open_databases(Store *s) {
        static const struct {
                const char *name;
                size_t offset;
                unsigned flags;
        } table[] = {
                { "meta", offsetof(Store, meta), 0 },
                { "records", offsetof(Store, records), 0 },
                { "names", offsetof(Store, names), MDB_DUPSORT | MDB_DUPFIXED },
                { "children", offsetof(Store, children), 0 },
                { "mounts", offsetof(Store, mounts), 0 },
                { "images", offsetof(Store, images), 0 },
        };
        MDB_txn *txn;
        int r, rc;

        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc != 0)
                return errno_from_mdb(rc);
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                rc = mdb_dbi_open(txn, table[i].name, table[i].flags | MDB_CREATE,
                                  (MDB_dbi *) ((uint8_t *) s + table[i].offset));
                if (rc != 0) {
                        mdb_txn_abort(txn);
                        return errno_from_mdb(rc);
                }
        }
        /* Those of the derived records only where they exist: creating one is a write. */
        r = derived_dbs_open(s, txn, false);
        if (r < 0) {
                mdb_txn_abort(txn);
                return r;
        }
        return errno_from_mdb(mdb_txn_commit(txn));
}

static int prepare_directory(const char *dir, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0700) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int store_env_open(Store *s, size_t map_size) {
        MDB_env *env = NULL;
        MDB_stat st;
        int r, rc, dead;

        assert(!s->env);

        rc = mdb_env_create(&env);
        if (rc != 0)
                return errno_from_mdb(rc);
        rc = mdb_env_set_maxdbs(env, STORE_MAX_DBS);
        if (rc == 0)
                rc = mdb_env_set_mapsize(env, map_size);
        if (rc == 0)
                /* MDB_NOTLS: read transactions may nest in one thread. */
                rc = mdb_env_open(env, s->dir, MDB_NOTLS, 0600);
        if (rc != 0) {
                mdb_env_close(env);
                return log_debug_errno(errno_from_mdb(rc), "cannot open metadata in %s: %s", s->dir, mdb_strerror(rc));
        }

        /* Reader slots of processes that died (crash, SIGKILL). */
        (void) mdb_reader_check(env, &dead);
        (void) mdb_env_stat(env, &st);
        s->page_size = st.ms_psize;
        s->env = env;

        r = open_databases(s);
        if (r < 0) {
                mdb_env_close(TAKE_PTR(s->env));
                return log_debug_errno(r, "cannot open metadata databases in %s: %m", s->dir);
        }
        return 0;
}

/* While no other process has the environment open: compaction, and a lock file that
 * cannot fault. Compaction is an optimisation; a lock file that may fault is not
 * acceptable. */
static int store_prepare_files(int dir_fd, const char *dir) {
        _cleanup_close_ int lock_fd = -EBADF;
        int r, compacted;

        r = store_lock_take(dir_fd, &lock_fd);
        if (r < 0)
                return log_debug_errno(r, "cannot lock the metadata in %s: %m", dir);
        if (r == 0) {
                log_debug("metadata in %s is open in another process, leaving its files alone", dir);
                return 0;
        }
        r = store_data_file_create(dir_fd);
        if (r < 0)
                return log_debug_errno(r, "cannot create the metadata file in %s: %m", dir);
        compacted = store_compact(dir_fd, dir);
        if (compacted < 0)
                log_debug_errno(compacted, "cannot compact the metadata in %s, going on without: %m", dir);
        r = store_lock_prepare(dir_fd, &lock_fd, compacted > 0);
        if (r < 0)
                return log_debug_errno(r, "cannot prepare the lock file of the metadata in %s: %m", dir);
        /* Closing drops the lock, which would conflict with LMDB's own. */
        return 0;
}

int store_open(const char *dir, const StoreOptions *opts, Store **ret) {
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        size_t size = opts && opts->initial_map_size ? opts->initial_map_size : DEFAULT_MAP_SIZE;
        int r;

        assert(dir);
        assert(ret);

        r = prepare_directory(dir, &dir_fd);
        if (r < 0)
                return log_debug_errno(r, "cannot prepare metadata directory %s: %m", dir);

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->mutex, NULL);
        pthread_cond_init(&s->cond, NULL);
        s->dir = strdup(dir);
        if (!s->dir)
                return -ENOMEM;
        s->initial_map_size = size;

        r = store_prepare_files(dir_fd, dir);
        if (r < 0)
                return r;
        r = store_env_open(s, size);
        if (r < 0)
                return r;
        (void) store_reserve_top_up(s);
        r = store_derived_ensure(s);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

Store *store_free(Store *s) {
        if (!s)
                return NULL;
        assert(s->active == 0);
        if (s->env)
                mdb_env_close(s->env);
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->mutex);
        free(s->dir);
        free(s);
        return NULL;
}

/* Begins a transaction, adopting a map another process grew and reopening an
 * environment that a failed write left unusable. */
static int txn_begin(Store *s, unsigned flags, MDB_txn **ret) {
        for (unsigned attempt = 0;; attempt++) {
                MDB_env *env;
                int rc, r;

                txn_enter(s);
                env = s->env; /* stays while this thread has a transaction entered */
                rc = env ? mdb_txn_begin(env, NULL, flags, ret) : MDB_PANIC;
                if (rc == 0)
                        return 0;
                txn_leave(s);
                if ((rc != MDB_MAP_RESIZED && rc != MDB_PANIC) || attempt > 0)
                        return errno_from_mdb(rc);
                r = rc == MDB_PANIC ? store_reopen(s, env) : store_grow(s, 0);
                if (r < 0)
                        return r;
        }
}

int store_read_begin(Store *s, StoreTxn **ret) {
        _cleanup_free_ StoreTxn *t = NULL;
        int r;

        assert(s);
        assert(ret);

        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        r = txn_begin(s, MDB_RDONLY, &t->txn);
        if (r < 0)
                return r;
        t->store = s;
        *ret = TAKE_PTR(t);
        return 0;
}

void store_read_end(StoreTxn *t) {
        if (!t)
                return;
        assert(!t->write);
        mdb_txn_abort(t->txn);
        txn_leave(t->store);
        free(t);
}

/* LMDB does not say where it mapped the file (mdb_env_info gives a fixed address only):
 * the mappings of the data file's inode, read from /proc/self/maps. */
static void release_file_mappings(int data_fd) {
        _cleanup_(fclosep) FILE *f = NULL;
        struct stat st;
        char line[512];

        if (fstat(data_fd, &st) < 0)
                return;
        f = fopen("/proc/self/maps", "re");
        if (!f)
                return;
        while (fgets(line, sizeof line, f)) {
                unsigned long start, end, ino;
                unsigned maj, min;

                if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu", &start, &end, &maj, &min, &ino) != 5 ||
                    ino != (unsigned long) st.st_ino || maj != major(st.st_dev) || min != minor(st.st_dev))
                        continue;
                if (madvise((void *) start, end - start, MADV_DONTNEED) < 0)
                        log_debug_errno(errno, "cannot release the store's mapped pages: %m");
        }
}

void store_release_pages(Store *s) {
        mdb_filehandle_t fd;

        /* Entered like a transaction: the map is neither grown nor reopened meanwhile, so
         * the range is still LMDB's read-only file mapping (MADV_DONTNEED loses nothing). */
        txn_enter(s);
        if (s->env && mdb_env_get_fd(s->env, &fd) == 0)
                release_file_mappings(fd);
        txn_leave(s);
}

/* LMDB reports a short write as EIO: on a full filesystem that means ENOSPC. */
static int commit_errno(Store *s, int r) {
        struct statvfs sv;

        if (r == -EIO && statvfs(s->dir, &sv) >= 0 && (uint64_t) sv.f_bavail * sv.f_frsize < FILESYSTEM_FULL_BELOW)
                return -ENOSPC;
        return r;
}

/* The message names what is full; the bus layer reports ENOSPC and EDQUOT as
 * QuotaExceeded. */
static int commit_failed(Store *s, int r, Error *e) {
        r = commit_errno(s, r);
        log_debug_errno(r, "cannot commit a metadata transaction in %s: %m", s->dir);
        if (r == -ENOSPC)
                return error_setf(e, ENOSPC, "no space left for snapshot metadata: the filesystem holding it is full; free space and try again");
        if (r == -EDQUOT)
                return error_setf(e, EDQUOT, "no space left for snapshot metadata: the disk quota on the filesystem holding it is exhausted");
        return error_set_errno(e, r, "cannot commit a metadata transaction");
}

/* One attempt; *ret_map_full tells the caller to grow and retry. */
static int store_write_once(Store *s, store_write_fn fn, void *userdata, Error *e,
                            size_t *ret_seen, bool *ret_map_full) {
        StoreTxn t = { .store = s, .write = true };
        int r, rc;

        *ret_seen = store_map_size(s);
        r = txn_begin(s, 0, &t.txn);
        if (r < 0) {
                *ret_map_full = false;
                return error_set_errno(e, r, "cannot begin a metadata transaction");
        }

        r = store_derived_missing_in(&t);
        if (r < 0)
                r = error_set_errno(e, r, "cannot begin a metadata transaction");
        else {
                t.derived_missing = r > 0;
                r = fn(&t, userdata, e);
        }
        if (r >= 0 && !t.map_full && !t.derived_missing) {
                int k = owner_totals_stamp(&t);
                if (k >= 0)
                        k = transient_index_stamp(&t);
                if (k < 0)
                        r = error_set_errno(e, k, "cannot write a metadata transaction");
        }
        if (r < 0 || t.map_full)
                mdb_txn_abort(t.txn);
        else {
                rc = mdb_txn_commit(t.txn);
                if (rc != 0)
                        r = commit_failed(s, txn_result(&t, rc), e);
        }
        txn_leave(s);
        if (r >= 0 && !t.map_full)
                (void) store_reserve_top_up(s);
        *ret_map_full = t.map_full;
        return r;
}

static int write_attempts(Store *s, store_write_fn fn, void *userdata, Error *e) {
        Error saved = e ? *e : ERROR_NULL;
        int r = -ENOSPC;

        for (unsigned attempt = 0; attempt < WRITE_ATTEMPTS_MAX; attempt++) {
                size_t seen;
                bool map_full;

                if (e)
                        *e = saved;
                store_maybe_grow(s);
                r = store_write_once(s, fn, userdata, e, &seen, &map_full);
                if (!map_full)
                        return r;
                r = store_grow(s, seen);
                if (r < 0)
                        break;
        }
        if (e)
                *e = saved;
        return error_set_errno(e, r, "no space left for snapshot metadata: its map is full and cannot grow");
}

int store_write(Store *s, store_write_fn fn, void *userdata, Error *e) {
        int r;

        assert(s);
        assert(fn);

        r = store_reserve_check(s, e);
        if (r < 0)
                return r;
        return write_attempts(s, fn, userdata, e);
}

int store_write_freeing(Store *s, store_write_fn fn, void *userdata, Error *e) {
        assert(s);
        assert(fn);

        return write_attempts(s, fn, userdata, e);
}
