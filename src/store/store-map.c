/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Growing the map.
 *
 * mdb_env_set_mapsize() needs no open transaction in the process, so every transaction is
 * counted and a grow waits until the count drops to zero while new outermost transactions
 * wait for the grow. A thread that already holds a transaction never waits (its nested
 * reads must not deadlock), and cannot grow. */

#include <lmdb.h>
#include <pthread.h>

#include "log.h"
#include "store-internal.h"

#define GROW_THRESHOLD_PERCENT 70

/* Transactions the calling thread holds open (in any store). */
static _Thread_local unsigned thread_txns;

void txn_enter(Store *s) {
        pthread_mutex_lock(&s->mutex);
        /* The grow waits for this thread's open transactions: never wait for it then. */
        while (s->grow_pending && thread_txns == 0)
                pthread_cond_wait(&s->cond, &s->mutex);
        s->active++;
        thread_txns++;
        pthread_mutex_unlock(&s->mutex);
}

void txn_leave(Store *s) {
        pthread_mutex_lock(&s->mutex);
        assert(s->active > 0 && thread_txns > 0);
        s->active--;
        thread_txns--;
        if (s->active == 0)
                pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mutex);
}

static size_t map_size_locked(Store *s) {
        MDB_envinfo info;

        if (!s->env || mdb_env_info(s->env, &info) != 0)
                return 0;
        return info.me_mapsize;
}

size_t store_map_size(Store *s) {
        size_t size;

        pthread_mutex_lock(&s->mutex);
        size = map_size_locked(s);
        pthread_mutex_unlock(&s->mutex);
        return size;
}

/* Waits until no transaction is open in the process and keeps new ones waiting, until
 * exclusive_end(). The mutex stays held. */
static int exclusive_begin(Store *s) {
        if (thread_txns > 0)
                return -EDEADLK; /* we would wait for ourselves */

        pthread_mutex_lock(&s->mutex);
        while (s->grow_pending)
                pthread_cond_wait(&s->cond, &s->mutex);
        s->grow_pending = true;
        while (s->active > 0)
                pthread_cond_wait(&s->cond, &s->mutex);
        return 0;
}

static void exclusive_end(Store *s) {
        s->grow_pending = false;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mutex);
}

/* Doubles the map unless another thread grew it past `seen` meanwhile. seen == 0: adopt
 * the size another process set (MDB_MAP_RESIZED). */
int store_grow(Store *s, size_t seen) {
        int rc = 0;

        if (exclusive_begin(s) < 0)
                return -ENOSPC;

        size_t now = map_size_locked(s);
        if (!s->env)
                rc = EIO; /* a reopen failed; the next transaction tries again */
        else if (seen == 0)
                rc = mdb_env_set_mapsize(s->env, 0);
        else if (now <= seen) {
                rc = mdb_env_set_mapsize(s->env, now * 2);
                if (rc == 0)
                        log_debug("metadata map grown from %zu to %zu bytes", now, now * 2);
        }

        exclusive_end(s);
        return errno_from_mdb(rc);
}

/* Grows before a write once the map is mostly used, so writes rarely have to rerun. */
void store_maybe_grow(Store *s) {
        MDB_envinfo info;
        bool grow;

        if (thread_txns > 0)
                return;
        pthread_mutex_lock(&s->mutex);
        grow = s->env && mdb_env_info(s->env, &info) == 0 &&
                (info.me_last_pgno + 1) * s->page_size * 100 >= info.me_mapsize * GROW_THRESHOLD_PERCENT;
        pthread_mutex_unlock(&s->mutex);
        if (grow)
                (void) store_grow(s, info.me_mapsize);
}

/* After a failed write of a meta page (a full disk) LMDB refuses every transaction with
 * MDB_PANIC until the environment is opened again; on disk it is still the last
 * committed state. seen: the environment that failed, so that a reopen by another
 * thread meanwhile is not repeated. */
int store_reopen(Store *s, const MDB_env *seen) {
        int r = 0;

        if (exclusive_begin(s) < 0)
                return -EIO;
        if (s->env == seen) {
                size_t size = map_size_locked(s) ?: s->initial_map_size;

                if (s->env)
                        mdb_env_close(TAKE_PTR(s->env));
                r = store_env_open(s, size);
                if (r >= 0)
                        log_debug("metadata in %s reopened after a failed write", s->dir);
        }
        exclusive_end(s);
        return r;
}
