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

size_t store_map_size(Store *s) {
        MDB_envinfo info;

        (void) mdb_env_info(s->env, &info);
        return info.me_mapsize;
}

/* Doubles the map unless another thread grew it past `seen` meanwhile. seen == 0: adopt
 * the size another process set (MDB_MAP_RESIZED). */
int store_grow(Store *s, size_t seen) {
        int rc = 0;

        if (thread_txns > 0)
                return -ENOSPC; /* we would wait for ourselves */

        pthread_mutex_lock(&s->mutex);
        while (s->grow_pending)
                pthread_cond_wait(&s->cond, &s->mutex);
        s->grow_pending = true;
        while (s->active > 0)
                pthread_cond_wait(&s->cond, &s->mutex);

        size_t now = store_map_size(s);
        if (seen == 0)
                rc = mdb_env_set_mapsize(s->env, 0);
        else if (now <= seen) {
                rc = mdb_env_set_mapsize(s->env, now * 2);
                if (rc == 0)
                        log_debug("metadata map grown from %zu to %zu bytes", now, now * 2);
        }

        s->grow_pending = false;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mutex);
        return errno_from_mdb(rc);
}

/* Grows before a write once the map is mostly used, so writes rarely have to rerun. */
void store_maybe_grow(Store *s) {
        MDB_envinfo info;

        if (thread_txns > 0 || mdb_env_info(s->env, &info) != 0)
                return;
        if ((info.me_last_pgno + 1) * s->page_size * 100 >= info.me_mapsize * GROW_THRESHOLD_PERCENT)
                (void) store_grow(s, info.me_mapsize);
}
