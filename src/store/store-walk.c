/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Listing snapshots in name order, and all IDs. */

#include <endian.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "filter.h"
#include "store-internal.h"

/* Long names sharing their first NAME_PREFIX_MAX bytes are ordered by hash in the index;
 * walk collects such a group, names and IDs only (labels are decoded and the filter is
 * matched only as it calls back: a group can be all of an owner's snapshots, and a page
 * starting in it may stop after a few), sorts it by name and reads each record again as
 * it calls back. */
typedef struct GroupItem {
        char *name;
        uint64_t id;
} GroupItem;

typedef struct WalkGroup {
        uint8_t prefix[NAME_GROUP_LEN];
        GroupItem *items;
        size_t n, allocated;
} WalkGroup;

static int item_compare(const void *a, const void *b) {
        return strcmp(((const GroupItem *) a)->name, ((const GroupItem *) b)->name);
}

static void walk_group_clear(WalkGroup *g) {
        for (size_t i = 0; i < g->n; i++)
                free(g->items[i].name);
        free(g->items);
        g->items = NULL;
        g->n = g->allocated = 0;
}

static int walk_group_call(StoreTxn *t, uint64_t id, const Filter *filter, store_walk_fn fn, void *userdata) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        Record rec;
        int r;

        r = record_get(t, id, &rec);
        if (r < 0)
                return r == -ENOENT ? -EBADMSG : r;
        r = record_to_info(t, &rec, &info);
        if (r < 0)
                return r;
        if (filter && !filter_match(filter, &info))
                return 0;
        return fn(&info, userdata);
}

static int walk_group_flush(StoreTxn *t, WalkGroup *g, const Filter *filter, store_walk_fn fn, void *userdata) {
        int r = 0;

        if (g->n == 0)
                return 0;
        qsort(g->items, g->n, sizeof(GroupItem), item_compare);
        for (size_t i = 0; i < g->n && r == 0; i++)
                r = walk_group_call(t, g->items[i].id, filter, fn, userdata);
        walk_group_clear(g);
        return r;
}

static int walk_group_add(WalkGroup *g, const uint8_t *prefix, const Record *rec) {
        char *name;

        if (GREEDY_REALLOC(g->items, g->allocated, g->n + 1, 16) < 0)
                return -ENOMEM;
        name = strndup(rec->name, rec->name_len);
        if (!name)
                return -ENOMEM;
        memcpy(g->prefix, prefix, NAME_GROUP_LEN);
        g->items[g->n++] = (GroupItem) { .name = name, .id = rec->id };
        return 0;
}

/* strcmp() of a record's name (not NUL-terminated) and s. */
static int name_compare(const Record *rec, const char *s) {
        size_t n = strlen(s);
        int c = memcmp(rec->name, s, MIN(rec->name_len, n));

        if (c != 0)
                return c;
        return rec->name_len < n ? -1 : rec->name_len > n;
}

typedef struct WalkArgs {
        const Filter *filter;
        const char *from;
        WalkGroup group;
        store_walk_fn fn;
        void *userdata;
        bool stopped; /* fn returned > 0 */
} WalkArgs;

static int walk_result(WalkArgs *a, int r) {
        if (r > 0)
                a->stopped = true;
        return r;
}

static int walk_entry(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        WalkArgs *a = userdata;
        WalkGroup *g = &a->group;
        bool long_name = key->mv_size == NAME_KEY_LONG;
        Record rec;
        int r;

        if (g->n > 0 && !(long_name && memcmp(key->mv_data, g->prefix, NAME_GROUP_LEN) == 0)) {
                r = walk_result(a, walk_group_flush(t, g, a->filter, a->fn, a->userdata));
                if (r != 0)
                        return r;
        }

        r = record_get(t, id_from_val(val), &rec);
        if (r < 0)
                return r == -ENOENT ? -EBADMSG : r;
        /* The seek lands on from's group of long names: those before from are skipped. */
        if (a->from && name_compare(&rec, a->from) < 0)
                return 0;
        if (long_name)
                return walk_group_add(g, key->mv_data, &rec);
        r = record_to_info(t, &rec, &info);
        if (r < 0)
                return r;
        if (a->filter && !filter_match(a->filter, &info))
                return 0;
        return walk_result(a, a->fn(&info, a->userdata));
}

int store_walk(StoreTxn *t, const Filter *filter, store_walk_fn fn, void *userdata, Error *e) {
        WalkArgs a = { .filter = filter, .fn = fn, .userdata = userdata };
        int r;

        assert(t && fn);

        r = db_each(t, t->store->names, walk_entry, &a, NULL, NULL);
        if (r >= 0)
                r = walk_group_flush(t, &a.group, filter, fn, userdata);
        walk_group_clear(&a.group);
        if (r < 0)
                return error_set_errno(e, r, "cannot list snapshots");
        return 0;
}

int store_walk_owner_from(StoreTxn *t, uid_t owner, const char *from, const Filter *filter, store_walk_fn fn,
                          void *userdata, Error *e) {
        WalkArgs a = { .filter = filter, .from = from, .fn = fn, .userdata = userdata };
        NameKey start;
        int r;

        assert(t && fn);

        /* Long names are keyed by their first NAME_PREFIX_MAX bytes: seek to that. */
        r = name_key(owner, from ?: "", from ? MIN(strlen(from), (size_t) NAME_PREFIX_MAX) : 0, &start);
        if (r >= 0)
                r = db_each_from(t, t->store->names, start.b, start.n, OWNER_LEN, walk_entry, &a, NULL);
        if (r >= 0 && !a.stopped)
                r = walk_group_flush(t, &a.group, filter, fn, userdata);
        walk_group_clear(&a.group);
        if (r < 0)
                return error_set_errno(e, r, "cannot list snapshots");
        return 0;
}

int store_walk_owner(StoreTxn *t, uid_t owner, const Filter *filter, store_walk_fn fn, void *userdata, Error *e) {
        return store_walk_owner_from(t, owner, NULL, filter, fn, userdata, e);
}

static int list_id(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        return id_list_add(userdata, id_from_val(key));
}

int store_list_ids(StoreTxn *t, uint64_t **ret_ids, size_t *ret_n) {
        IdList l = {};
        int r;

        assert(t && ret_ids && ret_n);

        r = db_each(t, t->store->records, list_id, &l, NULL, NULL);
        if (r < 0) {
                free(l.ids);
                return r;
        }
        *ret_ids = l.ids;
        *ret_n = l.n;
        return 0;
}
