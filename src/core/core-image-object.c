/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "core-internal.h"
#include "strutil.h"

/* Image records grouped into the image objects of the bus: one per (owner, top snapshot),
 * with all the owner's names for it. Read-only; core-image.c changes the records. */

typedef struct Entry {
        uid_t owner, top_owner;
        char *top, *name;
        uint64_t created_usec, updated_usec;
} Entry;

typedef struct Entries {
        Entry *items;
        size_t n, allocated;
        const SnapshotInfo *top; /* not NULL: only the names of this top snapshot */
} Entries;

static void entries_clear(Entries *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].top);
                free(l->items[i].name);
        }
        free(l->items);
        *l = (Entries) {};
}

static int collect_one(const ImageRecord *rec, void *userdata) {
        Entries *l = userdata;

        if (l->top && (rec->top_owner != l->top->owner || !streq(rec->top, l->top->name)))
                return 0;
        if (GREEDY_REALLOC(l->items, l->allocated, l->n + 1, 16) < 0)
                return -ENOMEM;
        l->items[l->n] = (Entry) {
                .owner = rec->owner,
                .top_owner = rec->top_owner,
                .top = strdup(rec->top),
                .name = strdup(rec->name),
                .created_usec = rec->created_usec,
                .updated_usec = rec->updated_usec,
        };
        if (!l->items[l->n].top || !l->items[l->n].name) {
                free(l->items[l->n].top);
                free(l->items[l->n].name);
                return -ENOMEM;
        }
        l->n++;
        return 0;
}

static int cmp_uid(uid_t a, uid_t b) {
        return a < b ? -1 : a > b;
}

static int entry_cmp(const void *pa, const void *pb) {
        const Entry *a = pa, *b = pb;
        int c;

        c = cmp_uid(a->owner, b->owner);
        if (c == 0)
                c = cmp_uid(a->top_owner, b->top_owner);
        if (c == 0)
                c = strcmp(a->top, b->top);
        return c != 0 ? c : strcmp(a->name, b->name);
}

static bool same_image(const Entry *a, const Entry *b) {
        return a->owner == b->owner && a->top_owner == b->top_owner && streq(a->top, b->top);
}

void core_image_object_list_clear(CoreImageObjectList *l) {
        for (size_t i = 0; l && i < l->n; i++) {
                free(l->items[i].top);
                strv_free(l->items[i].names);
        }
        if (l) {
                free(l->items);
                *l = (CoreImageObjectList) {};
        }
}

/* The digest and size of the config of owner's name. */
static int config_digest(StoreTxn *t, uid_t owner, const char *name, CoreImageObject *o) {
        _cleanup_(image_record_clear) ImageRecord rec = {};
        uint8_t d[32];
        int r;

        r = store_image_get(t, owner, name, &rec);
        if (r < 0)
                return r;
        o->config_size = strlen(rec.config);
        o->config_digest[0] = 0;
        if (o->config_size == 0)
                return 0;
        r = store_sha256(rec.config, o->config_size, d);
        if (r < 0)
                return r;
        strcpy(o->config_digest, "sha256:");
        for (size_t i = 0; i < sizeof d; i++)
                sprintf(o->config_digest + 7 + 2 * i, "%02x", d[i]);
        return 0;
}

/* The object of entries [first, end), one image; 0 when its top is not found (skipped). *o
 * is filled (empty at least) whatever it returns: on an error the caller frees it. */
static int make_object(StoreTxn *t, const Entry *first, const Entry *end, uint64_t top_id, CoreImageObject *o) {
        _cleanup_(snapshot_info_clear) SnapshotInfo top = {};
        const Entry *newest = first;
        int r;

        *o = (CoreImageObject) {};
        r = store_get_info(t, first->top_owner, first->top, &top, NULL);
        if (r == -ENOENT || (r >= 0 && top_id != 0 && top.id != top_id))
                return 0;
        if (r < 0)
                return r;
        *o = (CoreImageObject) {
                .top_id = top.id,
                .owner = first->owner,
                .top_owner = first->top_owner,
                .top = strdup(first->top),
                .created_usec = first->created_usec,
        };
        if (!o->top)
                return -ENOMEM;
        for (const Entry *i = first; i < end; i++) {
                r = strv_extend(&o->names, i->name);
                if (r < 0)
                        return r;
                if (i->created_usec < o->created_usec)
                        o->created_usec = i->created_usec;
                if (i->updated_usec > o->updated_usec) {
                        o->updated_usec = i->updated_usec;
                        newest = i;
                }
        }
        r = config_digest(t, newest->owner, newest->name, o);
        return r < 0 ? r : 1;
}

int core_image_objects(CoreSnapshotter *s, uid_t ns, uint64_t top_id, CoreImageObjectList *ret, Error *e) {
        _cleanup_(core_image_object_list_clear) CoreImageObjectList l = {};
        _cleanup_(snapshot_info_clear) SnapshotInfo top = {};
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(entries_clear) Entries entries = {};
        int r;

        assert(s);
        assert(ret);

        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        /* One image (a property read of its object, on the loop): its top is read once, and
         * only the names of that top are kept, instead of reading the top of every image of
         * the namespace (each with up to 64 KiB of labels). */
        if (top_id != 0) {
                r = store_get_info_by_id(t, top_id, &top, NULL);
                if (r == -ENOENT) {
                        core_image_object_list_clear(ret);
                        return 0;
                }
                if (r < 0)
                        return error_set_errno(e, -r, "cannot read the snapshot with ID %" PRIu64, top_id);
                entries.top = &top;
        }
        r = ns == CORE_NS_ALL ? store_image_walk(t, collect_one, &entries)
                              : store_image_walk_owner(t, ns, collect_one, &entries);
        if (r < 0)
                return error_set_errno(e, -r, "cannot list the images of snapshotter %s", s->name);
        if (entries.n > 0)
                qsort(entries.items, entries.n, sizeof *entries.items, entry_cmp);

        for (size_t i = 0, j; i < entries.n; i = j) {
                CoreImageObject *items;

                for (j = i + 1; j < entries.n && same_image(&entries.items[i], &entries.items[j]); j++)
                        ;
                items = reallocarray(l.items, l.n + 1, sizeof *items);
                if (!items)
                        return error_set_errno(e, ENOMEM, "out of memory");
                l.items = items;
                r = make_object(t, &entries.items[i], &entries.items[j], top_id, &l.items[l.n]);
                if (r > 0)
                        l.n++;
                else if (r < 0) {
                        l.n++; /* freed with the list */
                        return error_set_errno(e, -r, "cannot read the image %s of uid %u",
                                               QUOTE(entries.items[i].name), (unsigned) entries.items[i].owner);
                }
        }
        core_image_object_list_clear(ret);
        *ret = l;
        l = (CoreImageObjectList) {};
        return 0;
}
