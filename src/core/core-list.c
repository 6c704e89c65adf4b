/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Listing the snapshots a namespace sees: whole (the object manager), up to a limit (List)
 * or one page after a cursor (ListPage), reading no more than the limit or page needs, and
 * a page no more than limit->max_read snapshots however few of them its filters keep. */
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "core-internal.h"
#include "filter.h"
#include "strutil.h"

void snapshot_info_list_clear(SnapshotInfoList *l) {
        for (size_t i = 0; i < l->n; i++)
                snapshot_info_clear(&l->items[i]);
        free(l->items);
        *l = (SnapshotInfoList) {};
}

typedef struct ListArgs {
        uid_t ns;
        const Filter *filter;
        const CoreListLimit *limit; /* NULL: none */
        const char *skip;           /* a name left out (the cursor's, in its owner's walk) */
        SnapshotInfoList *list;
        size_t allocated, bytes;
        bool more; /* a snapshot past the limit was left out and the walk stopped */
        bool exhausted; /* the filters' patterns took their CPU time; the walk stopped */
        size_t read;
        char *stop_name; /* the walk read limit->max_read snapshots, this one the last */
        uid_t stop_owner;
} ListArgs;

static void list_args_done(ListArgs *a) {
        free(a->stop_name);
        a->stop_name = NULL;
}

/* Whether info fits in what a holds; counts it when it does. */
static bool list_fits(ListArgs *a, const SnapshotInfo *info) {
        size_t n;

        if (!a->limit)
                return true;
        n = a->limit->size(info);
        if (a->list->n >= a->limit->max_items || (a->list->n > 0 && a->bytes + n > a->limit->max_bytes))
                return false;
        a->bytes += n;
        return true;
}

/* Adds info to the list if the caller sees it, its filters keep it and it fits: 0, or 1
 * when it does not fit (the walk stops there). */
static int list_take(ListArgs *a, const SnapshotInfo *info) {
        SnapshotInfo *item;

        if (a->ns != CORE_NS_ALL && info->owner != a->ns &&
            !(a->ns != 0 && info->owner == 0 && info->kind == SNAPSHOT_COMMITTED))
                return 0;
        /* Only now: the caller's patterns never run over snapshots it may not see. */
        if (!filter_match(a->filter, info))
                return 0;
        if (!list_fits(a, info)) {
                a->more = true;
                return 1; /* stops the walk */
        }
        if (GREEDY_REALLOC(a->list->items, a->allocated, a->list->n + 1, 64) < 0)
                return -ENOMEM;
        item = &a->list->items[a->list->n];
        *item = *info;
        item->labels = LABELS_NULL;
        item->name = strdup(info->name);
        item->parent = info->parent ? strdup(info->parent) : NULL;
        a->list->n++;
        if (!item->name || (info->parent && !item->parent))
                return -ENOMEM;
        return labels_copy(&item->labels, &info->labels);
}

static int list_one(const SnapshotInfo *info, void *userdata) {
        ListArgs *a = userdata;
        int r;

        /* The cursor's own snapshot: not after it, and not read for the page either. */
        if (a->skip && streq(info->name, a->skip))
                return 0;
        r = list_take(a, info);
        if (r == 0 && filter_exhausted(a->filter)) {
                a->exhausted = true;
                if (!a->limit || a->limit->max_read == 0)
                        return 1; /* the caller refuses the List */
        } else if (r != 0 || !a->limit || a->limit->max_read == 0 || ++a->read < a->limit->max_read)
                return r;
        /* Read enough for one reply, kept or not: the walk stops, and remembers where. */
        a->stop_name = strdup(info->name);
        a->stop_owner = info->owner;
        return a->stop_name ? 1 : -ENOMEM;
}

/* A List this long has touched many pages of the store's map: give them back (a List of
 * 100 000 left 15 MiB of them in laminad's RSS). */
#define CORE_LIST_RELEASE_MIN 4096

/* Parses a list's filters, then begins its read: filters are refused before the store is read. */
static int list_begin(CoreSnapshotter *s, char *const *filters, Filter **ret_filter, StoreTxn **ret_txn, Error *e) {
        int r;

        r = filter_parse(filters, ret_filter, e);
        if (r < 0)
                return r;
        return core_read_begin(s, ret_txn, e);
}

/* Ends the read of a list that read n snapshots, with the walk's result r. */
static int list_end(CoreSnapshotter *s, StoreTxn *t, int r, size_t n, Error *e) {
        store_read_end(t);
        if (r < 0)
                return error_from_errno(e, r, "cannot list snapshots");
        if (n >= CORE_LIST_RELEASE_MIN)
                store_release_pages(s->store);
        return 0;
}

int core_list_limited(CoreSnapshotter *s, uid_t ns, char *const *filters, const CoreListLimit *limit,
                      SnapshotInfoList *ret, bool *ret_more, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(filter_freep) Filter *f = NULL;
        _cleanup_(snapshot_info_list_clear) SnapshotInfoList l = {};
        _cleanup_(list_args_done) ListArgs a = { .ns = ns, .limit = limit, .list = &l };
        int r;

        assert(!limit || ns != CORE_NS_ALL); /* store_walk() does not stop early */

        r = list_begin(s, filters, &f, &t, e);
        if (r < 0)
                return r;
        a.filter = f;
        filter_budget_start(f, limit ? limit->max_filter_cpu_usec : 0);
        /* Only the namespaces the caller sees are read: root's (for its committed
         * snapshots), then the caller's own; never every user's records. */
        if (ns == CORE_NS_ALL)
                r = store_walk(t, NULL, list_one, &a, e);
        else {
                r = store_walk_owner(t, 0, NULL, list_one, &a, e);
                if (r >= 0 && ns != 0 && !a.more && !a.stop_name)
                        r = store_walk_owner(t, ns, NULL, list_one, &a, e);
        }
        r = list_end(s, TAKE_PTR(t), r, l.n, e);
        if (r < 0)
                return r;
        if (a.exhausted && !a.stop_name)
                return error_setf(e, EUSERS,
                                  "the filters' regular expressions took more than %.1f s of CPU time; list with simpler patterns, or page through the list (ListPage) to spread their cost",
                                  (double) limit->max_filter_cpu_usec / 1e6);
        *ret = l;
        l = (SnapshotInfoList) {};
        if (ret_more)
                *ret_more = a.more || a.stop_name;
        return 0;
}

int core_list(CoreSnapshotter *s, uid_t ns, char *const *filters, SnapshotInfoList *ret, Error *e) {
        return core_list_limited(s, ns, filters, NULL, ret, NULL, e);
}

int core_list_transient(CoreSnapshotter *s, SnapshotInfoList *ret, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(snapshot_info_list_clear) SnapshotInfoList l = {};
        ListArgs a = { .ns = CORE_NS_ALL, .list = &l };
        int r;

        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        r = store_walk_transient(t, list_one, &a, e);
        r = list_end(s, TAKE_PTR(t), r, l.n, e);
        if (r < 0)
                return r;
        *ret = l;
        l = (SnapshotInfoList) {};
        return 0;
}

/* Name-then-owner order: ListPage's. */
static int position_compare(const char *x_name, uid_t x_owner, const char *y_name, uid_t y_owner) {
        int c = strcmp(x_name, y_name);

        if (c != 0)
                return c;
        return x_owner < y_owner ? -1 : x_owner > y_owner;
}

static int info_compare(const SnapshotInfo *x, const SnapshotInfo *y) {
        return position_compare(x->name, x->owner, y->name, y->owner);
}

/* One owner's part of a page: its snapshots after the cursor, in name order, as many as
 * fit the page by themselves (no more can be on it). */
static int page_walk(StoreTxn *t, uid_t owner, uid_t after_owner, const char *after_name, ListArgs *a,
                     Error *e) {
        /* After (after_name, after_owner) in name-then-owner order: from after_name on,
         * the name itself only for owners above after_owner. */
        a->skip = after_name && owner <= after_owner ? after_name : NULL;
        return store_walk_owner_from(t, owner, after_name, NULL, list_one, a, e);
}

/* Where reading a part stopped before its end (false: it read to the end): at the last
 * snapshot read when it read its most, after its last item when the limit cut it. */
static bool part_stop(const ListArgs *x, const char **ret_name, uid_t *ret_owner) {
        if (x->stop_name) {
                *ret_name = x->stop_name;
                *ret_owner = x->stop_owner;
                return true;
        }
        if (!x->more)
                return false;
        assert(x->list->n > 0); /* a limit always lets one snapshot in */
        *ret_name = x->list->items[x->list->n - 1].name;
        *ret_owner = x->list->items[x->list->n - 1].owner;
        return true;
}

/* Merges two owners' parts into the page, moving their items, as far as both parts were
 * read: up to the earlier of the places where they stopped (whatever comes after it
 * might not have been read). The page ends there, or earlier where it is full;
 * *ret_stop_name and *ret_stop_owner: where it ended, NULL after the last page. */
static int page_merge(ListArgs *x, ListArgs *y, const CoreListLimit *limit, SnapshotInfoList *ret,
                      char **ret_stop_name, uid_t *ret_stop_owner) {
        _cleanup_(snapshot_info_list_clear) SnapshotInfoList page = {};
        ListArgs p = { .limit = limit, .list = &page }, *parts[] = { x, y };
        const char *stop_name = NULL, *name;
        uid_t stop_owner = 0, owner;
        size_t i = 0, j = 0;
        bool full = false;

        for (size_t k = 0; k < ELEMENTSOF(parts); k++)
                if (part_stop(parts[k], &name, &owner) &&
                    (!stop_name || position_compare(name, owner, stop_name, stop_owner) < 0)) {
                        stop_name = name;
                        stop_owner = owner;
                }

        page.items = calloc(x->list->n + y->list->n + 1, sizeof(SnapshotInfo));
        if (!page.items)
                return -ENOMEM;
        for (;;) {
                bool has_x = i < x->list->n, has_y = j < y->list->n;
                SnapshotInfo *next;

                if (!has_x && !has_y)
                        break;
                if (!has_y || (has_x && info_compare(&x->list->items[i], &y->list->items[j]) < 0))
                        next = &x->list->items[i];
                else
                        next = &y->list->items[j];
                if (stop_name && position_compare(stop_name, stop_owner, next->name, next->owner) < 0)
                        break;
                if (!list_fits(&p, next)) {
                        full = true;
                        break;
                }
                page.items[page.n++] = *next;
                *next = (SnapshotInfo) {};
                if (next == &x->list->items[i])
                        i++;
                else
                        j++;
        }
        if (full) {
                stop_name = page.items[page.n - 1].name;
                stop_owner = page.items[page.n - 1].owner;
        }
        *ret_stop_name = NULL;
        if (stop_name) {
                *ret_stop_name = strdup(stop_name);
                if (!*ret_stop_name)
                        return -ENOMEM;
        }
        *ret_stop_owner = stop_owner;
        *ret = page;
        page = (SnapshotInfoList) {};
        return 0;
}

int core_list_page(CoreSnapshotter *s, uid_t ns, char *const *filters, uid_t after_owner, const char *after_name,
                   const CoreListLimit *limit, SnapshotInfoList *ret, char **ret_next_name, uid_t *ret_next_owner,
                   Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(filter_freep) Filter *f = NULL;
        _cleanup_(snapshot_info_list_clear) SnapshotInfoList root = {}, own = {};
        _cleanup_(list_args_done) ListArgs a = { .ns = ns, .limit = limit, .list = &root },
                                           b = { .ns = ns, .limit = limit, .list = &own };
        int r;

        assert(limit && ret_next_name && ret_next_owner);
        assert(ns != CORE_NS_ALL);

        r = list_begin(s, filters, &f, &t, e);
        if (r < 0)
                return r;
        a.filter = b.filter = f;
        /* Root's snapshots and the caller's are two runs in name order in the store: each is
         * read only as far as a page could reach into it, then the two are merged. */
        filter_budget_start(f, limit->max_filter_cpu_usec);
        r = page_walk(t, 0, after_owner, after_name, &a, e);
        /* Each part stops where its patterns ran out of time as where it read its most. */
        filter_budget_start(f, limit->max_filter_cpu_usec);
        if (r >= 0 && ns != 0)
                r = page_walk(t, ns, after_owner, after_name, &b, e);
        r = list_end(s, TAKE_PTR(t), r, root.n + own.n, e);
        if (r < 0)
                return r;
        r = page_merge(&a, &b, limit, ret, ret_next_name, ret_next_owner);
        if (r < 0)
                return error_set_errno(e, r, "cannot page the list of snapshots");
        return 0;
}
