/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Compaction at start-up.
 *
 * LMDB reuses free pages but never gives them back: data.mdb keeps the size of its
 * fullest moment (25 MiB after all of 400 snapshots were removed). When most of a file
 * of some size is free, store_open() copies the live pages into data.mdb.compact
 * (mdb_env_copyfd2() with MDB_CP_COMPACT), checks that the copy holds exactly the same
 * entries, and renames it over data.mdb: a crash at any moment leaves one whole file.
 * It runs only while no other process has the environment open (store_lock_take()),
 * with environments of its own that use no lock file, and only when the live data is
 * small enough to copy in a few tens of milliseconds, so start-up stays quick.
 *
 * On btrfs a data file without the NOCOW attribute (made by an older laminad) is copied
 * the same way whatever it holds free: the copy is NOCOW (store-nocow.c). */

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "strutil.h"
#include "store-internal.h"

#define DATA_FILE STORE_DATA_FILE
#define COMPACT_FILE "data.mdb.compact"
#define COMPACT_MIN_FILE_SIZE ((uint64_t) 4 << 20)
#define COMPACT_MAX_LIVE_SIZE ((uint64_t) 8 << 20) /* copies in well under 100 ms */

static void env_closep(MDB_env **env) {
        if (*env)
                mdb_env_close(*env);
}

static void txn_abortp(MDB_txn **txn) {
        if (*txn)
                mdb_txn_abort(*txn);
}

/* A read-only environment on one data file, without a lock file. */
static int env_open_file(const char *path, MDB_env **ret_env, MDB_txn **ret_txn) {
        MDB_env *env = NULL;
        int rc;

        rc = mdb_env_create(&env);
        if (rc == 0)
                rc = mdb_env_set_maxdbs(env, STORE_MAX_DBS);
        if (rc == 0)
                rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK | MDB_RDONLY, 0600);
        if (rc == 0)
                rc = mdb_txn_begin(env, NULL, MDB_RDONLY, ret_txn);
        if (rc != 0) {
                if (env)
                        mdb_env_close(env);
                return errno_from_mdb(rc);
        }
        *ret_env = env;
        return 0;
}

/* Pages on the free list (the values of LMDB's database 0 are lists of page numbers,
 * each starting with its length). */
static int count_free_pages(MDB_txn *txn, uint64_t *ret) {
        _cleanup_cursor_ MDB_cursor *c = NULL;
        MDB_val key, val;
        uint64_t n = 0;
        int rc;

        rc = mdb_cursor_open(txn, 0, &c);
        if (rc != 0)
                return errno_from_mdb(rc);
        while ((rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) == 0) {
                size_t count;

                if (val.mv_size < sizeof count)
                        return -EBADMSG;
                memcpy(&count, val.mv_data, sizeof count);
                n += count;
        }
        if (rc != MDB_NOTFOUND)
                return errno_from_mdb(rc);
        *ret = n;
        return 0;
}

/* Whether dbi holds the same entries in a and b; values too unless keys_only. */
static int db_equal(MDB_txn *a, MDB_dbi dbi_a, MDB_txn *b, MDB_dbi dbi_b, bool keys_only) {
        _cleanup_cursor_ MDB_cursor *ca = NULL, *cb = NULL;
        MDB_val ka, va, kb, vb;
        int ra, rb;

        if (mdb_cursor_open(a, dbi_a, &ca) != 0 || mdb_cursor_open(b, dbi_b, &cb) != 0)
                return -EIO;
        for (;;) {
                ra = mdb_cursor_get(ca, &ka, &va, MDB_NEXT);
                rb = mdb_cursor_get(cb, &kb, &vb, MDB_NEXT);
                if (ra != 0 || rb != 0)
                        break;
                if (ka.mv_size != kb.mv_size || memcmp(ka.mv_data, kb.mv_data, ka.mv_size) != 0)
                        return -EBADMSG;
                if (!keys_only && (va.mv_size != vb.mv_size || memcmp(va.mv_data, vb.mv_data, va.mv_size) != 0))
                        return -EBADMSG;
        }
        if (ra != MDB_NOTFOUND || rb != MDB_NOTFOUND)
                return ra != MDB_NOTFOUND && ra != 0 ? errno_from_mdb(ra) : -EBADMSG;
        return 0;
}

/* Every named database of a, entry by entry, in b; the main database holds their names
 * (and their root pages, which differ: compared by key only). */
static int env_equal(MDB_txn *a, MDB_txn *b) {
        _cleanup_cursor_ MDB_cursor *c = NULL;
        MDB_val key, val;
        int r, rc;

        MDB_dbi main_a, main_b;

        if (mdb_dbi_open(a, NULL, 0, &main_a) != 0 || mdb_dbi_open(b, NULL, 0, &main_b) != 0)
                return -EBADMSG;
        r = db_equal(a, main_a, b, main_b, true);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(a, main_a, &c);
        if (rc != 0)
                return errno_from_mdb(rc);
        while ((rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) == 0) {
                _cleanup_free_ char *name = strndup(key.mv_data, key.mv_size);
                MDB_dbi da, db;

                if (!name)
                        return -ENOMEM;
                if (mdb_dbi_open(a, name, 0, &da) != 0 || mdb_dbi_open(b, name, 0, &db) != 0)
                        return -EBADMSG;
                r = db_equal(a, da, b, db, false);
                if (r < 0)
                        return r;
        }
        return rc == MDB_NOTFOUND ? 0 : errno_from_mdb(rc);
}

static int compact_copy(int dir_fd, const char *dir, MDB_env *env, MDB_txn *txn) {
        _cleanup_(env_closep) MDB_env *copy_env = NULL;
        _cleanup_(txn_abortp) MDB_txn *copy_txn = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *path = NULL;
        int r, rc;

        fd = openat(dir_fd, COMPACT_FILE, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        store_file_nocow(fd, "file");
        rc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);
        if (rc != 0)
                return errno_from_mdb(rc);
        if (fdatasync(fd) < 0)
                return -errno;

        path = strdup_printf("%s/" COMPACT_FILE, dir);
        if (!path)
                return -ENOMEM;
        r = env_open_file(path, &copy_env, &copy_txn);
        if (r < 0)
                return r;
        r = env_equal(txn, copy_txn);
        if (r < 0)
                return log_debug_errno(r, "the compacted copy of the metadata in %s differs: %m", dir);
        if (renameat(dir_fd, COMPACT_FILE, dir_fd, DATA_FILE) < 0)
                return -errno;
        return RET_NERRNO(fsync(dir_fd));
}

int store_compact(int dir_fd, const char *dir) {
        _cleanup_(env_closep) MDB_env *env = NULL;
        _cleanup_(txn_abortp) MDB_txn *txn = NULL;
        _cleanup_free_ char *path = NULL;
        MDB_envinfo info;
        MDB_stat st;
        _cleanup_close_ int data_fd = -EBADF;
        struct stat fst;
        uint64_t free_pages = 0, used_pages, live;
        bool nocow;
        int r;

        /* What a crash during an earlier compaction left. */
        if (unlinkat(dir_fd, COMPACT_FILE, 0) < 0 && errno != ENOENT)
                return -errno;
        data_fd = openat(dir_fd, DATA_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (data_fd < 0)
                return errno == ENOENT ? 0 : errno == ELOOP ? -EBADMSG : -errno;
        if (fstat(data_fd, &fst) < 0)
                return -errno;
        if (!S_ISREG(fst.st_mode))
                return -EBADMSG;
        if (fst.st_size == 0)
                return 0; /* new: LMDB has not written it yet */
        nocow = store_file_needs_nocow(data_fd);
        if ((uint64_t) fst.st_size < COMPACT_MIN_FILE_SIZE && !nocow)
                return 0;

        path = strdup_printf("%s/" DATA_FILE, dir);
        if (!path)
                return -ENOMEM;
        r = env_open_file(path, &env, &txn);
        if (r < 0)
                return r;
        if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &st) != 0)
                return -EIO;
        r = count_free_pages(txn, &free_pages);
        if (r < 0)
                return r;
        used_pages = info.me_last_pgno + 1;
        live = (used_pages - MIN(free_pages, used_pages)) * st.ms_psize;
        if ((free_pages * 2 < used_pages && !nocow) || live > COMPACT_MAX_LIVE_SIZE)
                return 0;

        r = compact_copy(dir_fd, dir, env, txn);
        if (r < 0) {
                (void) unlinkat(dir_fd, COMPACT_FILE, 0);
                return r;
        }
        log_debug("metadata in %s compacted%s: %" PRIu64 " of %" PRIu64 " pages were free",
                  dir, nocow ? " into a NOCOW file" : "", free_pages, used_pages);
        return 1;
}
