/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Freeing disk space: what no metadata refers to any more goes, in the background.
 *
 * Remove commits the metadata change, then queues the snapshot's data here; one thread
 * per snapshotter removes what is queued, one entry at a time, so the caller and the
 * main loop never wait for a tree walk, and no two removals of one tree race. A crash
 * (or exit) leaves only orphans: entries of snapshots/ that no record names, which the
 * next start queues again, a page at a time between removals (core-orphans.c), so that
 * laminad serves calls at once however big the store is. Cleanup queues every orphan,
 * removes the work directories of mounts that a crash left (of the caller's snapshots;
 * root's: all of them, core-cleanup-work.c) and waits until what was queued before it and
 * by it is freed (not what others queue meanwhile), then says what could not be removed,
 * and how many bytes were freed for the caller's namespace since its last Cleanup (its
 * Removes, and the orphans it queued). One
 * search for orphans runs at a time, shared by the Cleanups of every caller that wait for
 * it (cleanup_search()).
 *
 * Woken by the first entry of a burst, the thread gathers the Removes that follow for
 * RECLAIM_GATHER_USEC before it frees them, unwoken: waking it costs the main loop and the
 * machine more than freeing an empty tree, once per Remove. A Cleanup (which waits for the
 * queue) or a stop ends the gathering at once.
 *
 * The thread also builds the store's totals per user when a full filesystem kept it from
 * doing so at start (store_derived_retry_due(): that reads every record, so never on the
 * event loop), sooner when it freed space. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core-apply-place.h"
#include "core-internal.h"
#include "core-mount.h"
#include "log.h"
#include "strutil.h"

#define RECLAIM_GATHER_USEC (20 * 1000ULL)

typedef struct Entry {
        char *name;   /* in snapshots/ */
        uid_t uid;    /* whose Remove (or Cleanup) queued it: the bytes are reported to it */
        uint64_t seq; /* queued as the seq-th entry since start */
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
        uint64_t queued_seq;     /* entries queued since start */
        Entry current;           /* being removed (name NULL: none) */
        OrphanScan *start_scan;  /* the search at start, a page between removals (NULL: done) */
        bool start_work_sweep;   /* then the work directories of mounts that a crash left */
        /* Cleanup's searches, one at a time (cleanup_search()). */
        bool searching;
        uint64_t searches_started, searches_done;
        int search_result;       /* of the last one done */
        Error search_error;
        /* When to ask the store to build its totals again (0: now; UINT64_MAX: never); the
         * thread's. */
        uint64_t derived_next;
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
        rc->queue[rc->n_queue++] = (Entry) { copy, uid, ++rc->queued_seq };
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

/* With s->lock held: whether every entry queued up to seq is freed (or given up). */
static bool done_through_locked(const Reclaimer *rc, uint64_t seq) {
        return !(rc->current.name && rc->current.seq <= seq) && !(rc->n_queue > 0 && rc->queue[0].seq <= seq);
}

/* With s->lock held, let go of while the oldest entry is removed. */
static void reclaim_one_locked(Reclaimer *rc) {
        CoreSnapshotter *s = rc->s;
        Error e = ERROR_NULL;
        uint64_t freed = 0, id;
        int r;

        rc->current = rc->queue[0];
        memmove(rc->queue, rc->queue + 1, --rc->n_queue * sizeof(Entry));
        pthread_mutex_unlock(&s->lock);

        /* Apply builds away from where this was, for a while (core-apply-place.c). */
        apply_place_note_removal(s, s->backend->snapshots_fd, rc->current.name);
        r = s->backend->vtable->remove_data(s->backend, rc->current.name, &freed, &e);
        if (r < 0 && r != -ECANCELED)
                log_warning("%s: cannot free %s: %s", s->name, rc->current.name, e.message);
        else if (r >= 0) {
                log_debug("%s: freed %s (%" PRIu64 " bytes)", s->name, rc->current.name, freed);
                /* A work directory that a Mount cut off left goes with the snapshot: no
                 * record names its ID any more, nor ever will. */
                if (core_data_id(rc->current.name, &id))
                        core_mount_work_remove(s, id);
        }

        if (freed > 0 && store_derived_missing(s->store)) {
                store_derived_space_freed(s->store);
                rc->derived_next = 0;
        }
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

/* With s->lock held, let go of during the page: a page of the search at start. */
static void start_scan_step_locked(Reclaimer *rc) {
        CoreSnapshotter *s = rc->s;
        Error e = ERROR_NULL;
        int r;

        pthread_mutex_unlock(&s->lock);
        r = orphan_scan_page(rc->start_scan, &e);
        if (r < 0)
                log_warning("%s: %s; what a crash left is freed by the next Cleanup", s->name, e.message);
        else if (r == 0 && orphan_scan_queued(rc->start_scan) > 0)
                log_info("%s: freeing the data of %zu removed snapshots in the background", s->name,
                         orphan_scan_queued(rc->start_scan));
        pthread_mutex_lock(&s->lock);
        if (r <= 0)
                rc->start_scan = orphan_scan_free(rc->start_scan);
}

/* With s->lock held, let go of during the sweep: every work directory of no mount, once
 * at start, after the search (what a crash left between a Mount's making it and its
 * recording, or between freeing a snapshot's data and its work directory). */
static void start_work_sweep_locked(Reclaimer *rc) {
        CoreSnapshotter *s = rc->s;
        Error e = ERROR_NULL;
        int r;

        pthread_mutex_unlock(&s->lock);
        r = core_mount_work_sweep(s, 0, &e);
        if (r < 0 && r != -ECANCELED)
                log_warning("%s: %s; what a crash left is removed by root's next Cleanup", s->name, e.message);
        pthread_mutex_lock(&s->lock);
        rc->start_work_sweep = false;
}

static bool derived_due(const Reclaimer *rc) {
        return rc->derived_next != UINT64_MAX && clock_usec(CLOCK_MONOTONIC) >= rc->derived_next;
}

/* With s->lock held, let go of during the try. */
static void derived_step_locked(Reclaimer *rc) {
        CoreSnapshotter *s = rc->s;
        uint64_t next;
        int r;

        pthread_mutex_unlock(&s->lock);
        r = store_derived_retry_due(s->store, clock_usec(CLOCK_MONOTONIC), &next);
        if (r > 0)
                log_info("%s: counted what each user holds; quotas are checked again", s->name);
        else if (r < 0)
                log_warning_errno(r, "%s: cannot count what each user holds (tried again later): %m", s->name);
        pthread_mutex_lock(&s->lock);
        rc->derived_next = next;
}

/* With s->lock held: until something is queued, or the totals are due. */
static void wait_locked(Reclaimer *rc) {
        struct timespec deadline;
        uint64_t now;

        if (rc->derived_next == UINT64_MAX) {
                pthread_cond_wait(&rc->changed, &rc->s->lock);
                return;
        }
        now = clock_usec(CLOCK_MONOTONIC);
        deadline = monotonic_deadline(rc->derived_next > now ? rc->derived_next - now : 0);
        (void) pthread_cond_timedwait(&rc->changed, &rc->s->lock, &deadline);
}

static void *reclaim_thread(void *userdata) {
        Reclaimer *rc = userdata;
        CoreSnapshotter *s = rc->s;

        pthread_mutex_lock(&s->lock);
        for (;;) {
                bool woken = false;

                while (!atomic_load(&s->stopping) && rc->n_queue == 0 && !rc->start_scan && !rc->start_work_sweep &&
                       !derived_due(rc)) {
                        wait_locked(rc);
                        woken = true;
                }
                if (woken && rc->n_queue > 0)
                        gather_locked(rc);
                if (atomic_load(&s->stopping))
                        break;
                /* What Removes queue waits for one page of the search at most, and the
                 * search queues no faster than the thread frees. */
                if (rc->start_scan && rc->n_queue < ORPHAN_PAGE)
                        start_scan_step_locked(rc);
                else if (!rc->start_scan && rc->start_work_sweep)
                        start_work_sweep_locked(rc);
                if (derived_due(rc))
                        derived_step_locked(rc);
                if (rc->n_queue > 0 && !atomic_load(&s->stopping))
                        reclaim_one_locked(rc);
        }
        pthread_cond_broadcast(&rc->changed);
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

void core_reclaim_wait_room(CoreSnapshotter *s) {
        Reclaimer *rc = s->reclaimer;

        pthread_mutex_lock(&s->lock);
        while (!atomic_load(&s->stopping) && rc->n_queue >= ORPHAN_PAGE)
                pthread_cond_wait(&rc->changed, &s->lock);
        pthread_mutex_unlock(&s->lock);
}

int core_reclaim_queue_orphans(CoreSnapshotter *s, char *const *names, size_t n, uid_t uid, size_t *ret_queued) {
        Reclaimer *rc = s->reclaimer;
        size_t queued = 0;
        bool wake;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        wake = !rc->gathering;
        for (size_t i = 0; i < n && r >= 0; i++) {
                /* What a Prepare of this process is still building is no orphan yet. */
                bool building = s->n_preparing > 0 && strncmp(names[i], "new-", 4) == 0;

                for (char **b = s->building; b && *b && !building; b++)
                        building = streq(*b, names[i]);
                if (building)
                        continue;
                r = queue_locked(rc, names[i], uid);
                if (r > 0)
                        queued++;
        }
        pthread_mutex_unlock(&s->lock);
        if (queued > 0 && wake)
                reclaim_wake(rc);
        *ret_queued = queued;
        return r < 0 ? r : 0;
}

int core_reclaim_start(CoreSnapshotter *s) {
        Reclaimer *rc;
        int r;

        rc = calloc(1, sizeof *rc);
        if (!rc)
                return -ENOMEM;
        rc->s = s;
        rc->start_work_sweep = true;
        /* What a crash cut off: data of snapshots removed before it, searched for by the
         * thread. Temporaries ("new-") are left to Cleanup: another laminad could still be
         * building them. */
        r = orphan_scan_new(s, 0, true, &rc->start_scan);
        if (r < 0)
                log_warning_errno(r, "%s: cannot read the data directory; what a crash left is freed by the next "
                                  "Cleanup: %m", s->name);
        r = cond_init_monotonic(&rc->changed);
        if (r < 0) {
                orphan_scan_free(rc->start_scan);
                free(rc);
                return log_error_errno(r, "%s: cannot start the thread that frees removed data: %m", s->name);
        }
        s->reclaimer = rc; /* the thread's search queues through it */
        r = -pthread_create(&rc->thread, NULL, reclaim_thread, rc);
        if (r < 0) {
                s->reclaimer = NULL;
                pthread_cond_destroy(&rc->changed);
                orphan_scan_free(rc->start_scan);
                free(rc);
                return log_error_errno(r, "%s: cannot start the thread that frees removed data: %m", s->name);
        }
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
        orphan_scan_free(rc->start_scan);
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

/* One search for orphans at a time, whoever asks: a Cleanup that comes while one runs waits
 * for the next, which serves every Cleanup that came meanwhile (what it queues is credited
 * to the caller that runs it). The Cleanups of any number of callers thus cost one search
 * of the directory at a time, not one each. */
static int cleanup_search(CoreSnapshotter *s, uid_t ns, Error *e) {
        Reclaimer *rc = s->reclaimer;
        uint64_t want;
        int r;

        pthread_mutex_lock(&s->lock);
        /* The next search to start: it sees every orphan made before this call. */
        want = rc->searches_started + 1;
        while (rc->searches_done < want && !atomic_load(&s->stopping)) {
                Error found = ERROR_NULL;
                uint64_t mine;

                if (rc->searching) {
                        pthread_cond_wait(&rc->changed, &s->lock);
                        continue;
                }
                rc->searching = true;
                mine = ++rc->searches_started;
                pthread_mutex_unlock(&s->lock);
                r = orphan_scan_run(s, ns, false, NULL, &found);
                pthread_mutex_lock(&s->lock);
                rc->searching = false;
                rc->searches_done = mine;
                rc->search_result = r < 0 ? r : 0;
                rc->search_error = found;
                pthread_cond_broadcast(&rc->changed);
        }
        if (rc->searches_done < want)
                r = error_setf(e, ECANCELED, "laminad is stopping; cleanup of %s given up", s->name);
        else {
                r = rc->search_result;
                if (r < 0 && e && e->code == 0)
                        *e = rc->search_error;
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

int core_cleanup(CoreSnapshotter *s, uid_t ns, uint64_t *ret_reclaimed, Error *e) {
        Reclaimer *rc = s->reclaimer;
        uint64_t reclaimed, seq, mark, n_failed;
        bool stopped;
        Error failure;
        int r;

        pthread_mutex_lock(&s->lock);
        seq = rc->failure_seq;
        pthread_mutex_unlock(&s->lock);

        r = cleanup_search(s, ns, e);
        if (r >= 0)
                r = core_mount_work_sweep(s, ns, e);
        if (r < 0)
                return r;

        pthread_mutex_lock(&s->lock);
        /* What was queued until now, by the search or before it; later entries are for
         * later calls to wait for. */
        mark = rc->queued_seq;
        rc->hurry++;
        pthread_cond_broadcast(&rc->changed); /* ends a gathering */
        while (!atomic_load(&s->stopping) && !done_through_locked(rc, mark))
                pthread_cond_wait(&rc->changed, &s->lock);
        rc->hurry--;
        reclaimed = credit_take_locked(rc, ns);
        n_failed = failures_since_locked(rc, seq);
        failure = rc->last_failure;
        stopped = !done_through_locked(rc, mark);
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
                pending = s->reclaimer && (s->reclaimer->n_queue > 0 || s->reclaimer->current.name ||
                                           s->reclaimer->start_scan || s->reclaimer->start_work_sweep);
                pthread_mutex_unlock(&s->lock);
        }
        return pending;
}
