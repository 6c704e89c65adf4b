/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What an Apply under a Bytes= or Inodes= quota needs besides the records: the usage of
 * each of the uid's active snapshots and views as their data showed it when last walked,
 * kept in memory (a restart walks each once again), and the reservations of the uid's
 * Applies whose data is becoming the snapshot's (core-quota-apply.c), so that two racing Applies
 * cannot each be left what only one may take. The data of an unmounted active snapshot
 * changes only through laminad (Apply, whose end forgets its usage); a mounted one may
 * change at any moment: it is walked at each Apply, and its usage is forgotten when its
 * mount is recorded. Nothing of this is kept on disk: a crash leaves no reservation. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "core-internal.h"
#include "log.h"
#include "strutil.h"

typedef struct UsageEntry {
        uint64_t id, bytes, inodes;
} UsageEntry;

/* The usages known of one uid's snapshots in one snapshotter, ascending by ID, and a count
 * of what made any of them stale: a walk that began before a change is not kept. */
typedef struct UserUsage {
        CoreSnapshotter *s;
        uid_t uid;
        uint64_t generation;
        UsageEntry *entries;
        size_t n;
} UserUsage;

/* What one Apply reserved: its layer's bytes and entries, until it ends. */
typedef struct Reservation {
        uint64_t id;
        uid_t uid;
        uint64_t amount[2]; /* bytes, inodes */
} Reservation;

/* How many of one uid's reservations were released since start: what its Applies that
 * walked its usage look at. Another uid's releases change nothing of it. */
typedef struct Releases {
        uid_t uid;
        uint64_t n;
} Releases;

struct QuotaState {
        pthread_mutex_t lock;
        pthread_cond_t released;
        UserUsage *users;
        size_t n_users, n_users_allocated;
        Reservation *reservations;
        size_t n_reservations, n_reservations_allocated;
        uint64_t reserved_ids;
        Releases *releases; /* of each uid that reserved since start */
        size_t n_releases, n_releases_allocated;
};

int core_quota_state_new(Core *c) {
        QuotaState *q = calloc(1, sizeof *q);
        int r;

        if (!q)
                return -ENOMEM;
        r = cond_init_monotonic(&q->released);
        if (r < 0) {
                free(q);
                return r;
        }
        pthread_mutex_init(&q->lock, NULL);
        c->quota_state = q;
        return 0;
}

void core_quota_state_free(Core *c) {
        QuotaState *q = c->quota_state;

        if (!q)
                return;
        for (size_t i = 0; i < q->n_users; i++)
                free(q->users[i].entries);
        free(q->users);
        free(q->reservations);
        free(q->releases);
        pthread_cond_destroy(&q->released);
        pthread_mutex_destroy(&q->lock);
        free(q);
        c->quota_state = NULL;
}

/* With q->lock; NULL when it has none and add is false, or on ENOMEM. */
static UserUsage *user_usage(QuotaState *q, CoreSnapshotter *s, uid_t uid, bool add) {
        for (size_t i = 0; i < q->n_users; i++)
                if (q->users[i].s == s && q->users[i].uid == uid)
                        return &q->users[i];
        if (!add || GREEDY_REALLOC(q->users, q->n_users_allocated, q->n_users + 1, 8) < 0)
                return NULL;
        q->users[q->n_users] = (UserUsage) { .s = s, .uid = uid };
        return &q->users[q->n_users++];
}

uint64_t core_quota_cache_generation(CoreSnapshotter *s, uid_t uid) {
        QuotaState *q = s->core->quota_state;
        UserUsage *u;
        uint64_t g;

        pthread_mutex_lock(&q->lock);
        u = user_usage(q, s, uid, false);
        g = u ? u->generation : 0;
        pthread_mutex_unlock(&q->lock);
        return g;
}

static int entry_compare(const void *a, const void *b) {
        const UsageEntry *x = a, *y = b;

        return x->id < y->id ? -1 : x->id > y->id;
}

bool core_quota_cache_get(CoreSnapshotter *s, uid_t uid, uint64_t id, uint64_t *ret_bytes, uint64_t *ret_inodes) {
        QuotaState *q = s->core->quota_state;
        UsageEntry *found = NULL;
        UserUsage *u;

        pthread_mutex_lock(&q->lock);
        u = user_usage(q, s, uid, false);
        if (u && u->n > 0)
                found = bsearch(&(UsageEntry) { .id = id }, u->entries, u->n, sizeof *u->entries, entry_compare);
        if (found) {
                *ret_bytes = found->bytes;
                *ret_inodes = found->inodes;
        }
        pthread_mutex_unlock(&q->lock);
        return found;
}

void core_quota_cache_put(CoreSnapshotter *s, uid_t uid, uint64_t generation, const uint64_t *ids,
                          const uint64_t (*usage)[2], const bool *known, size_t n) {
        QuotaState *q = s->core->quota_state;
        UsageEntry *entries = NULL;
        size_t m = 0;
        UserUsage *u;

        for (size_t i = 0; i < n; i++)
                m += known[i];
        if (m > 0) {
                entries = malloc(m * sizeof *entries);
                if (!entries)
                        return; /* walked again next time */
        }
        m = 0;
        for (size_t i = 0; i < n; i++)
                if (known[i])
                        entries[m++] = (UsageEntry) { .id = ids[i], .bytes = usage[i][0], .inodes = usage[i][1] };
        if (m > 0)
                qsort(entries, m, sizeof *entries, entry_compare);

        pthread_mutex_lock(&q->lock);
        u = user_usage(q, s, uid, true);
        if (u && u->generation == generation) {
                /* Replaces what was known: the snapshots removed since go with it. */
                free(u->entries);
                u->entries = TAKE_PTR(entries);
                u->n = m;
        }
        pthread_mutex_unlock(&q->lock);
        free(entries);
}

void core_quota_forget(CoreSnapshotter *s, uid_t uid, uint64_t id) {
        QuotaState *q = s->core->quota_state;
        UserUsage *u;

        pthread_mutex_lock(&q->lock);
        u = user_usage(q, s, uid, true);
        if (u) {
                u->generation++;
                for (size_t i = 0; i < u->n; i++)
                        if (u->entries[i].id == id) {
                                memmove(u->entries + i, u->entries + i + 1, (u->n - i - 1) * sizeof *u->entries);
                                u->n--;
                                break;
                        }
        } else /* out of memory: nothing known of s stays */
                for (size_t i = 0; i < q->n_users; i++)
                        if (q->users[i].s == s) {
                                q->users[i].generation++;
                                q->users[i].n = 0;
                        }
        pthread_mutex_unlock(&q->lock);
}

static bool cancelled(CoreSnapshotter *s, int cancel_fd) {
        struct pollfd p = { .fd = cancel_fd, .events = POLLIN };

        return atomic_load(&s->stopping) || (cancel_fd > 0 && poll(&p, 1, 0) > 0);
}

/* With q->lock. */
static void reserved_locked(QuotaState *q, uid_t uid, uint64_t ret[static 2]) {
        ret[0] = ret[1] = 0;
        for (size_t i = 0; i < q->n_reservations; i++)
                if (q->reservations[i].uid == uid)
                        for (size_t k = 0; k < 2; k++)
                                ret[k] += q->reservations[i].amount[k];
}

/* With q->lock: uid's count of released reservations; NULL when it has none and add is
 * false, or on ENOMEM. */
static uint64_t *releases_of(QuotaState *q, uid_t uid, bool add) {
        for (size_t i = 0; i < q->n_releases; i++)
                if (q->releases[i].uid == uid)
                        return &q->releases[i].n;
        if (!add || GREEDY_REALLOC(q->releases, q->n_releases_allocated, q->n_releases + 1, 4) < 0)
                return NULL;
        q->releases[q->n_releases] = (Releases) { .uid = uid };
        return &q->releases[q->n_releases++].n;
}

static uint64_t released_locked(QuotaState *q, uid_t uid) {
        uint64_t *n = releases_of(q, uid, false);

        return n ? *n : 0;
}

uint64_t core_quota_reserved(CoreSnapshotter *s, uid_t uid, uint64_t ret[static 2]) {
        QuotaState *q = s->core->quota_state;
        uint64_t n;

        pthread_mutex_lock(&q->lock);
        reserved_locked(q, uid, ret);
        n = released_locked(q, uid);
        pthread_mutex_unlock(&q->lock);
        return n;
}

int core_quota_reserve(CoreSnapshotter *s, uid_t uid, uint64_t released, const uint64_t used[static 2],
                       const uint64_t add[static 2], const uint64_t max[static 2], uint64_t ret_others[static 2],
                       uint64_t *ret_id) {
        QuotaState *q = s->core->quota_state;
        uint64_t *n_released;
        int r = 0;

        pthread_mutex_lock(&q->lock);
        reserved_locked(q, uid, ret_others);
        n_released = releases_of(q, uid, true); /* made now: the release counts there */
        if (!n_released)
                r = -ENOMEM;
        else if (*n_released != released)
                r = -EAGAIN;
        for (size_t k = 0; k < 2 && r == 0; k++)
                if (max[k] != QUOTA_NONE &&
                    (used[k] > max[k] || ret_others[k] > max[k] - used[k] || add[k] > max[k] - used[k] - ret_others[k]))
                        r = -EDQUOT;
        if (r == 0)
                r = GREEDY_REALLOC(q->reservations, q->n_reservations_allocated, q->n_reservations + 1, 4);
        if (r == 0) {
                *ret_id = ++q->reserved_ids;
                q->reservations[q->n_reservations++] =
                        (Reservation) { .id = *ret_id, .uid = uid, .amount = { add[0], add[1] } };
        }
        pthread_mutex_unlock(&q->lock);
        return r;
}

void core_quota_release(CoreSnapshotter *s, uint64_t id) {
        QuotaState *q = s->core->quota_state;

        pthread_mutex_lock(&q->lock);
        for (size_t i = 0; i < q->n_reservations; i++)
                if (q->reservations[i].id == id) {
                        uint64_t *n_released = releases_of(q, q->reservations[i].uid, false);

                        if (n_released) /* always: made by the reservation */
                                (*n_released)++;
                        q->reservations[i] = q->reservations[--q->n_reservations];
                        break;
                }
        pthread_cond_broadcast(&q->released);
        pthread_mutex_unlock(&q->lock);
}

int core_quota_wait_released(CoreSnapshotter *s, uid_t uid, uint64_t released, int cancel_fd) {
        QuotaState *q = s->core->quota_state;
        int r = 0;

        pthread_mutex_lock(&q->lock);
        while (released_locked(q, uid) == released) {
                struct timespec deadline = monotonic_deadline(200 * 1000);

                /* The caller may leave or laminad stop meanwhile: looked at 5 times a
                 * second, the cancel fd being an eventfd nothing else wakes us for. */
                if (cancelled(s, cancel_fd)) {
                        r = -ECANCELED;
                        break;
                }
                (void) pthread_cond_timedwait(&q->released, &q->lock, &deadline);
        }
        pthread_mutex_unlock(&q->lock);
        return r;
}
