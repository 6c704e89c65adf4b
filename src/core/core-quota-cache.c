/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What an Apply under a Bytes= or Inodes= quota needs besides the records: the usage of
 * each of the uid's active snapshots and views as their data showed it when last walked,
 * kept in memory (a restart walks each once again), and one Apply under quota per uid at a
 * time, so that two racing Applies cannot each be left what only one may take. The data
 * of an unmounted active snapshot changes only through laminad (Apply, whose end forgets
 * its usage); a mounted one may change at any moment: it is walked at each Apply, and its
 * usage is forgotten when its mount is recorded. */
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

struct QuotaState {
        pthread_mutex_t lock;
        pthread_cond_t released;
        UserUsage *users;
        size_t n_users, n_users_allocated;
        uid_t *applying; /* uids with an Apply under quota running */
        size_t n_applying, n_applying_allocated;
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
        free(q->applying);
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

static bool applying(QuotaState *q, uid_t uid) {
        for (size_t i = 0; i < q->n_applying; i++)
                if (q->applying[i] == uid)
                        return true;
        return false;
}

static bool cancelled(CoreSnapshotter *s, int cancel_fd) {
        struct pollfd p = { .fd = cancel_fd, .events = POLLIN };

        return atomic_load(&s->stopping) || (cancel_fd > 0 && poll(&p, 1, 0) > 0);
}

int core_quota_apply_begin(CoreSnapshotter *s, uid_t uid, int cancel_fd) {
        QuotaState *q = s->core->quota_state;
        int r = 0;

        pthread_mutex_lock(&q->lock);
        while (applying(q, uid)) {
                struct timespec deadline = monotonic_deadline(200 * 1000);

                /* The caller may leave or laminad stop meanwhile: looked at 5 times a
                 * second, the cancel fd being an eventfd nothing else wakes us for. */
                if (cancelled(s, cancel_fd)) {
                        r = -ECANCELED;
                        break;
                }
                (void) pthread_cond_timedwait(&q->released, &q->lock, &deadline);
        }
        if (r >= 0)
                r = GREEDY_REALLOC(q->applying, q->n_applying_allocated, q->n_applying + 1, 4);
        if (r >= 0)
                q->applying[q->n_applying++] = uid;
        pthread_mutex_unlock(&q->lock);
        return r;
}

void core_quota_apply_end(CoreSnapshotter *s, uid_t uid) {
        QuotaState *q = s->core->quota_state;

        pthread_mutex_lock(&q->lock);
        for (size_t i = 0; i < q->n_applying; i++)
                if (q->applying[i] == uid) {
                        q->applying[i] = q->applying[--q->n_applying];
                        break;
                }
        pthread_cond_broadcast(&q->released);
        pthread_mutex_unlock(&q->lock);
}
