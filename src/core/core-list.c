/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Listing the snapshots a namespace sees: whole (the object manager), up to a limit (List)
 * or one page after a cursor (ListPage), reading no more than the limit or page needs. */
#include <stdlib.h>
#include <string.h>

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
} ListArgs;

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

static int list_one(const SnapshotInfo *info, void *userdata) {
        ListArgs *a = userdata;
        SnapshotInfo *item;

        if (a->ns != CORE_NS_ALL && info->owner != a->ns &&
            !(a->ns != 0 && info->owner == 0 && info->kind == SNAPSHOT_COMMITTED))
                return 0;
        if (a->skip && streq(info->name, a->skip))
                return 0;
        /* Only now: the caller's patterns never run over snapshots it may not see. */
        if (!filter_match(a->filter, info))
                return 0;
        if (!list_fits(a, info)) {
                a->more = true;
                return 1; /* stops the walk */
        }
        if (a->list->n == a->allocated) {
                size_t n = a->allocated ? a->allocated * 2 : 64;
                SnapshotInfo *items = realloc(a->list->items, n * sizeof(SnapshotInfo));
                if (!items)
                        return -ENOMEM;
                a->list->items = items;
                a->allocated = n;
        }
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

/* A List this long has touched many pages of the store's map: give them back (a List of
 * 100 000 left 15 MiB of them in laminad's RSS). */
#define CORE_LIST_RELEASE_MIN 4096

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
        ListArgs a = { .ns = ns, .limit = limit, .list = &l };
        int r;

        assert(!limit || ns != CORE_NS_ALL); /* store_walk() does not stop early */

        r = filter_parse(filters, &f, e);
        if (r < 0)
                return r;
        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        a.filter = f;
        /* Only the namespaces the caller sees are read: root's (for its committed
         * snapshots), then the caller's own; never every user's records. */
        if (ns == CORE_NS_ALL)
                r = store_walk(t, NULL, list_one, &a, e);
        else {
                r = store_walk_owner(t, 0, NULL, list_one, &a, e);
                if (r >= 0 && ns != 0 && !a.more)
                        r = store_walk_owner(t, ns, NULL, list_one, &a, e);
        }
        r = list_end(s, TAKE_PTR(t), r, l.n, e);
        if (r < 0)
                return r;
        *ret = l;
        l = (SnapshotInfoList) {};
        if (ret_more)
                *ret_more = a.more;
        return 0;
}

int core_list(CoreSnapshotter *s, uid_t ns, char *const *filters, SnapshotInfoList *ret, Error *e) {
        return core_list_limited(s, ns, filters, NULL, ret, NULL, e);
}

static int info_compare(const SnapshotInfo *x, const SnapshotInfo *y) {
        int c = strcmp(x->name, y->name);

        if (c != 0)
                return c;
        return x->owner < y->owner ? -1 : x->owner > y->owner;
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

/* Merges two owners' parts into the page, moving their items. Where a part was cut at its
 * limit, the page ends: what was cut would come next, and does not fit. */
static int page_merge(ListArgs *x, ListArgs *y, const CoreListLimit *limit, SnapshotInfoList *ret,
                      bool *ret_more) {
        _cleanup_(snapshot_info_list_clear) SnapshotInfoList page = {};
        ListArgs p = { .limit = limit, .list = &page };
        size_t i = 0, j = 0;

        page.items = calloc(x->list->n + y->list->n + 1, sizeof(SnapshotInfo));
        if (!page.items)
                return -ENOMEM;
        for (;;) {
                bool has_x = i < x->list->n, has_y = j < y->list->n;
                SnapshotInfo *next;

                if ((!has_x && x->more) || (!has_y && y->more) || (!has_x && !has_y))
                        break;
                if (!has_y || (has_x && info_compare(&x->list->items[i], &y->list->items[j]) < 0))
                        next = &x->list->items[i];
                else
                        next = &y->list->items[j];
                if (!list_fits(&p, next))
                        break;
                page.items[page.n++] = *next;
                *next = (SnapshotInfo) {};
                if (next == &x->list->items[i])
                        i++;
                else
                        j++;
        }
        *ret_more = x->more || y->more || i < x->list->n || j < y->list->n;
        *ret = page;
        page = (SnapshotInfoList) {};
        return 0;
}

int core_list_page(CoreSnapshotter *s, uid_t ns, char *const *filters, uid_t after_owner, const char *after_name,
                   const CoreListLimit *limit, SnapshotInfoList *ret, bool *ret_more, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(filter_freep) Filter *f = NULL;
        _cleanup_(snapshot_info_list_clear) SnapshotInfoList root = {}, own = {};
        ListArgs a = { .ns = ns, .limit = limit, .list = &root }, b = { .ns = ns, .limit = limit, .list = &own };
        int r;

        assert(limit && ret_more);
        assert(ns != CORE_NS_ALL);

        r = filter_parse(filters, &f, e);
        if (r < 0)
                return r;
        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        a.filter = b.filter = f;
        /* Root's snapshots and the caller's are two runs in name order in the store: each is
         * read only as far as a page could reach into it, then the two are merged. */
        r = page_walk(t, 0, after_owner, after_name, &a, e);
        if (r >= 0 && ns != 0)
                r = page_walk(t, ns, after_owner, after_name, &b, e);
        r = list_end(s, TAKE_PTR(t), r, root.n + own.n, e);
        if (r < 0)
                return r;
        r = page_merge(&a, &b, limit, ret, ret_more);
        if (r < 0)
                return error_set_errno(e, r, "cannot page the list of snapshots");
        return 0;
}
