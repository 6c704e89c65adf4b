/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Freeing disk space: what no metadata refers to any more goes, in the background.
 *
 * Remove commits the metadata change, then queues the snapshot's data here; one thread
 * per snapshotter removes what is queued, one entry at a time, so the caller and the
 * main loop never wait for a tree walk, and no two removals of one tree race. A crash
 * (or exit) leaves only orphans: entries of snapshots/ that no record names, which the
 * next start queues again. Cleanup queues every orphan and waits until the queue is
 * empty, then says what could not be removed, and how many bytes were freed for the
 * caller's namespace since its last Cleanup (its Removes, and the orphans it queued).
 *
 * Woken by the first entry of a burst, the thread gathers the Removes that follow for
 * RECLAIM_GATHER_USEC before it frees them, unwoken: waking it costs the main loop and the
 * machine more than freeing an empty tree, once per Remove. A Cleanup (which waits for the
 * queue) or a stop ends the gathering at once. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core-internal.h"
#include "log.h"
#include "strutil.h"

#define RECLAIM_GATHER_USEC (20 * 1000ULL)

typedef struct Entry {
        char *name;   /* in snapshots/ */
        uid_t uid;    /* whose Remove (or Cleanup) queued it: the bytes are reported to it */
} Entry;

/* Bytes freed for a uid that its next Cleanup reports. */
typedef struct Credit {
        uid_t uid;
        uint64_t bytes;
} Credit;

/* An entry whose last removal failed; forgotten once a removal of it succeeds. */
typedef struct Failure {
        char *name;
        uint64_t seq;  /* of its last failure */
} Failure;

typedef struct Reclaimer {
        CoreSnapshotter *s;
        pthread_t thread;
        pthread_cond_t changed;  /* with s->lock: the queue moved, or stop (CLOCK_MONOTONIC) */
        bool gathering;          /* the thread waits for more before freeing: not woken */
        unsigned hurry;          /* Cleanups waiting: no gathering */
        Entry *queue;            /* oldest first */
        size_t n_queue, allocated;
        Entry current;           /* being removed (name NULL: none) */
        Credit *credits;
        size_t n_credits;
        /* One per name, so a Cleanup that queues again what a Remove's removal is
         * failing on at that moment reports it once. */
        Failure *failures;
        size_t n_failures;
        uint64_t failure_seq;    /* failures since start */
        Error last_failure;
} Reclaimer;

static bool queued(const Reclaimer *rc, const char *name) {
        if (rc->current.name && streq(rc->current.name, name))
                return true;
        for (size_t i = 0; i < rc->n_queue; i++)
                if (streq(rc->queue[i].name, name))
                        return true;
        return false;
}

/* With s->lock held; 1 when queued: the caller wakes the thread (reclaim_wake) once it let
 * go of the lock, unless it was gathering. */
static int queue_locked(Reclaimer *rc, const char *name, uid_t uid) {
        char *copy;

        if (queued(rc, name))
                return 0;
        if (rc->n_queue == rc->allocated) {
                size_t n = rc->allocated ? rc->allocated * 2 : 16;
                Entry *q = realloc(rc->queue, n * sizeof(Entry));
                if (!q)
                        return -ENOMEM;
                rc->queue = q;
                rc->allocated = n;
        }
        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        rc->queue[rc->n_queue++] = (Entry) { copy, uid };
        return 1;
}

/* Without s->lock: a thread woken while the lock is still held would only wake up to wait
 * for it (one more context switch per Remove). */
static void reclaim_wake(Reclaimer *rc) {
        pthread_cond_broadcast(&rc->changed);
}

/* With s->lock held. The credit list holds one entry per uid that removed something. */
static void credit_locked(Reclaimer *rc, uid_t uid, uint64_t bytes) {
        Credit *c;

        for (size_t i = 0; i < rc->n_credits; i++)
                if (rc->credits[i].uid == uid) {
                        rc->credits[i].bytes += bytes;
                        return;
                }
        c = realloc(rc->credits, (rc->n_credits + 1) * sizeof(Credit));
        if (!c)
                return; /* only the report loses them */
        rc->credits = c;
        rc->credits[rc->n_credits++] = (Credit) { uid, bytes };
}

static uint64_t credit_take_locked(Reclaimer *rc, uid_t uid) {
        for (size_t i = 0; i < rc->n_credits; i++)
                if (rc->credits[i].uid == uid) {
                        uint64_t bytes = rc->credits[i].bytes;
                        rc->credits[i] = rc->credits[--rc->n_credits];
                        return bytes;
                }
        return 0;
}

/* With s->lock held. */
static void failure_forget_locked(Reclaimer *rc, const char *name) {
        for (size_t i = 0; i < rc->n_failures; i++)
                if (streq(rc->failures[i].name, name)) {
                        free(rc->failures[i].name);
                        rc->failures[i] = rc->failures[--rc->n_failures];
                        return;
                }
}

/* With s->lock held. */
static void failure_record_locked(Reclaimer *rc, const char *name, const Error *e) {
        Failure *f;
        char *copy;

        rc->failure_seq++;
        rc->last_failure = *e;
        for (size_t i = 0; i < rc->n_failures; i++)
                if (streq(rc->failures[i].name, name)) {
                        rc->failures[i].seq = rc->failure_seq;
                        return;
                }
        copy = strdup(name);
        f = copy ? realloc(rc->failures, (rc->n_failures + 1) * sizeof(Failure)) : NULL;
        if (!f) {
                free(copy);
                return; /* only the count in Cleanup's report loses it */
        }
        rc->failures = f;
        rc->failures[rc->n_failures++] = (Failure) { copy, rc->failure_seq };
}

static uint64_t failures_since_locked(const Reclaimer *rc, uint64_t seq) {
        uint64_t n = 0;

        for (size_t i = 0; i < rc->n_failures; i++)
                if (rc->failures[i].seq > seq)
                        n++;
        return n;
}

/* With s->lock held, after the thread was woken for a new entry. */
static void gather_locked(Reclaimer *rc) {
        struct timespec deadline = monotonic_deadline(RECLAIM_GATHER_USEC);

        rc->gathering = true;
        while (!atomic_load(&rc->s->stopping) && rc->hurry == 0 &&
               pthread_cond_timedwait(&rc->changed, &rc->s->lock, &deadline) != ETIMEDOUT)
                ;
        rc->gathering = false;
}

static void *reclaim_thread(void *userdata) {
        Reclaimer *rc = userdata;
        CoreSnapshotter *s = rc->s;

        pthread_mutex_lock(&s->lock);
        for (;;) {
                Error e = ERROR_NULL;
                uint64_t freed = 0;
                bool woken = false;
                int r;

                while (!atomic_load(&s->stopping) && rc->n_queue == 0) {
                        pthread_cond_wait(&rc->changed, &s->lock);
                        woken = true;
                }
                if (woken)
                        gather_locked(rc);
                if (atomic_load(&s->stopping))
                        break;
                rc->current = rc->queue[0];
                memmove(rc->queue, rc->queue + 1, --rc->n_queue * sizeof(Entry));
                pthread_mutex_unlock(&s->lock);

                r = s->backend->vtable->remove_data(s->backend, rc->current.name, &freed, &e);
                if (r < 0 && r != -ECANCELED)
                        log_warning("%s: cannot free %s: %s", s->name, rc->current.name, e.message);
                else if (r >= 0)
                        log_debug("%s: freed %s (%" PRIu64 " bytes)", s->name, rc->current.name, freed);

                pthread_mutex_lock(&s->lock);
                credit_locked(rc, rc->current.uid, freed);
                if (r < 0 && r != -ECANCELED)
                        failure_record_locked(rc, rc->current.name, &e);
                else if (r >= 0)
                        failure_forget_locked(rc, rc->current.name);
                free(rc->current.name);
                rc->current.name = NULL;
                pthread_cond_broadcast(&rc->changed);
        }
        pthread_cond_broadcast(&rc->changed);
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

typedef struct OrphanArgs {
        CoreSnapshotter *s;
        uid_t uid;       /* credited with what they free */
        bool ids_only;   /* only data of removed snapshots, not temporaries */
        size_t n_queued;
} OrphanArgs;

static bool is_id(const char *name) {
        return name[0] >= '1' && name[0] <= '9' && strspn(name, "0123456789") == strlen(name);
}

/* In a write transaction, so no Prepare or Commit of any process is between renaming its
 * data into place and recording it: what no record names is garbage. */
static int queue_orphans_in_txn(StoreTxn *t, void *userdata, Error *e) {
        OrphanArgs *a = userdata;
        CoreSnapshotter *s = a->s;
        _cleanup_strv_free_ char **orphans = NULL;
        _cleanup_free_ uint64_t *ids = NULL;
        size_t n = 0;
        bool wake;
        int r = 0;

        r = store_list_ids(t, &ids, &n);
        if (r < 0)
                return error_set_errno(e, r, "cannot list the snapshots of %s", s->name);
        r = backend_list_orphans(s->backend, ids, n, &orphans);
        if (r < 0)
                return error_set_errno(e, r, "cannot list the data of %s", s->name);

        pthread_mutex_lock(&s->lock);
        wake = !s->reclaimer->gathering;
        for (char **o = orphans; o && *o && r >= 0; o++) {
                /* What a Prepare of this process is still building is no orphan yet. */
                bool building = s->n_preparing > 0 && strncmp(*o, "new-", 4) == 0;

                for (char **b = s->building; b && *b && !building; b++)
                        building = streq(*b, *o);
                if (building || (a->ids_only && !is_id(*o)))
                        continue;
                r = queue_locked(s->reclaimer, *o, a->uid);
                if (r > 0)
                        a->n_queued++;
        }
        pthread_mutex_unlock(&s->lock);
        if (a->n_queued > 0 && wake)
                reclaim_wake(s->reclaimer);
        return r < 0 ? error_set_errno(e, r, "cannot queue the orphaned data of %s", s->name) : 0;
}

int core_reclaim_start(CoreSnapshotter *s) {
        Reclaimer *rc;
        OrphanArgs a = { .s = s, .ids_only = true };
        Error e = ERROR_NULL;
        int r;

        rc = calloc(1, sizeof *rc);
        if (!rc)
                return -ENOMEM;
        rc->s = s;
        r = cond_init_monotonic(&rc->changed);
        if (r < 0) {
                free(rc);
                return log_error_errno(r, "%s: cannot start the thread that frees removed data: %m", s->name);
        }
        r = -pthread_create(&rc->thread, NULL, reclaim_thread, rc);
        if (r < 0) {
                pthread_cond_destroy(&rc->changed);
                free(rc);
                return log_error_errno(r, "%s: cannot start the thread that frees removed data: %m", s->name);
        }
        s->reclaimer = rc;

        /* What a crash cut off: data of snapshots removed before it. Temporaries
         * ("new-") are left to Cleanup: another laminad could still be building them. */
        r = store_write(s->store, queue_orphans_in_txn, &a, &e);
        if (r < 0)
                log_warning("%s: %s", s->name, e.message);
        else if (a.n_queued > 0)
                log_info("%s: freeing the data of %zu removed snapshots in the background", s->name, a.n_queued);
        return 0;
}

void core_reclaim_stop(CoreSnapshotter *s) {
        Reclaimer *rc = s->reclaimer;

        if (!rc)
                return;
        pthread_mutex_lock(&s->lock);
        atomic_store(&s->stopping, true);
        pthread_cond_broadcast(&rc->changed);
        pthread_mutex_unlock(&s->lock);
        (void) pthread_join(rc->thread, NULL);
        for (size_t i = 0; i < rc->n_queue; i++)
                free(rc->queue[i].name);
        free(rc->queue);
        free(rc->credits);
        for (size_t i = 0; i < rc->n_failures; i++)
                free(rc->failures[i].name);
        free(rc->failures);
        pthread_cond_destroy(&rc->changed);
        free(rc);
        s->reclaimer = NULL;
}

void core_reclaim_queue(CoreSnapshotter *s, uint64_t id, uid_t uid) {
        char name[32];
        bool wake;
        int r;

        snprintf(name, sizeof name, "%" PRIu64, id);
        pthread_mutex_lock(&s->lock);
        r = queue_locked(s->reclaimer, name, uid);
        wake = r > 0 && !s->reclaimer->gathering;
        pthread_mutex_unlock(&s->lock);
        if (wake)
                reclaim_wake(s->reclaimer);
        /* Not lost: an orphan, queued again by the next Cleanup or start. */
        if (r < 0)
                log_warning_errno(r, "%s: cannot queue %s for freeing: %m", s->name, name);
}

int core_cleanup(CoreSnapshotter *s, uid_t ns, uint64_t *ret_reclaimed, Error *e) {
        Reclaimer *rc = s->reclaimer;
        OrphanArgs a = { .s = s, .uid = ns };
        uint64_t reclaimed, seq, n_failed;
        bool stopped;
        Error failure;
        int r;

        pthread_mutex_lock(&s->lock);
        seq = rc->failure_seq;
        pthread_mutex_unlock(&s->lock);

        /* The write lock is held only while the list is computed, as in containerd. */
        r = store_write(s->store, queue_orphans_in_txn, &a, e);
        if (r < 0)
                return r;

        pthread_mutex_lock(&s->lock);
        rc->hurry++;
        pthread_cond_broadcast(&rc->changed); /* ends a gathering */
        while (!atomic_load(&s->stopping) && (rc->n_queue > 0 || rc->current.name))
                pthread_cond_wait(&rc->changed, &s->lock);
        rc->hurry--;
        reclaimed = credit_take_locked(rc, ns);
        n_failed = failures_since_locked(rc, seq);
        failure = rc->last_failure;
        stopped = rc->n_queue > 0 || rc->current.name;
        pthread_mutex_unlock(&s->lock);

        *ret_reclaimed = reclaimed;
        if (stopped)
                return error_setf(e, ECANCELED, "laminad is stopping; cleanup of %s freed %" PRIu64
                                  " bytes, the rest is freed at its next start", s->name, reclaimed);
        /* What could not be removed is an error naming it, never a success with the data
         * left behind. */
        if (n_failed > 0)
                return error_setf(e, failure.code ?: EIO, "cleanup of %s freed %" PRIu64 " bytes but could not "
                                  "remove %" PRIu64 " entries; the last: %s", s->name, reclaimed, n_failed,
                                  failure.message);
        return 0;
}

bool core_reclaim_pending(Core *c) {
        bool pending = false;

        for (size_t i = 0; i < c->n_snapshotters && !pending; i++) {
                CoreSnapshotter *s = c->snapshotters[i];

                pthread_mutex_lock(&s->lock);
                pending = s->reclaimer && (s->reclaimer->n_queue > 0 || s->reclaimer->current.name);
                pthread_mutex_unlock(&s->lock);
        }
        return pending;
}
