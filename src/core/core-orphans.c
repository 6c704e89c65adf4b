/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Finding orphans: entries of snapshots/ that no record names — the data of snapshots whose
 * removal or whose creation a crash cut off, and temporaries of Prepares cut off.
 *
 * A page of ORPHAN_PAGE entries at a time, so that no step costs more than a page however
 * big the store is: the entries are read from the directory and those that a record names
 * are dropped in a read transaction, with no lock held; only what is left (normally
 * nothing) is looked up again in a write transaction, where no Prepare or Commit of any
 * process is between renaming its data into place and recording it, and queued for freeing
 * from there (core-reclaim.c). A write transaction thus reads at most ORPHAN_PAGE records,
 * and a store without orphans takes none. A search queues a page only once fewer than a
 * page are queued: the queue stays short (each Remove and Cleanup looks through it with
 * the snapshotter's lock held) however many orphans a crash left. Entries made or removed
 * while the directory is read may be seen or not: the new ones are snapshots being
 * recorded, the removed ones data that its Remove queued. */
#include <stdlib.h>
#include <string.h>

#include "core-internal.h"
#include "dir-util.h"
#include "strutil.h"

struct OrphanScan {
        CoreSnapshotter *s;
        DIR *dir;
        uid_t uid;
        bool ids_only;
        size_t n_queued;
        char *page[ORPHAN_PAGE];
        size_t n_page;
};

bool core_data_id(const char *name, uint64_t *ret) {
        char *end;

        if (name[0] < '1' || name[0] > '9')
                return false;
        errno = 0;
        *ret = strtoull(name, &end, 10);
        return errno == 0 && *end == 0;
}

static void page_clear(OrphanScan *o) {
        for (size_t i = 0; i < o->n_page; i++)
                free(o->page[i]);
        o->n_page = 0;
}

OrphanScan *orphan_scan_free(OrphanScan *o) {
        if (!o)
                return NULL;
        page_clear(o);
        if (o->dir)
                closedir(o->dir);
        free(o);
        return NULL;
}

int orphan_scan_new(CoreSnapshotter *s, uid_t uid, bool ids_only, OrphanScan **ret) {
        _cleanup_(orphan_scan_freep) OrphanScan *o = NULL;
        int r;

        o = calloc(1, sizeof *o);
        if (!o)
                return -ENOMEM;
        *o = (OrphanScan) { .s = s, .uid = uid, .ids_only = ids_only };
        r = dir_open_fd(s->backend->snapshots_fd, &o->dir);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

size_t orphan_scan_queued(const OrphanScan *o) {
        return o->n_queued;
}

/* The next entries into o->page: 1 when the directory may have more, 0 at its end. */
static int page_read(OrphanScan *o) {
        page_clear(o);
        while (o->n_page < ORPHAN_PAGE) {
                struct dirent *de;
                uint64_t id;

                errno = 0;
                de = readdir(o->dir);
                if (!de)
                        return errno > 0 ? -errno : 0;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (o->ids_only && !core_data_id(de->d_name, &id))
                        continue;
                o->page[o->n_page] = strdup(de->d_name);
                if (!o->page[o->n_page])
                        return -ENOMEM;
                o->n_page++;
        }
        return 1;
}

/* Drops the entries of the page that a record names in t; *ret_max_id: the highest ID of
 * those left (0: none). */
static int page_drop_named(OrphanScan *o, StoreTxn *t, uint64_t *ret_max_id) {
        size_t kept = 0;

        *ret_max_id = 0;
        for (size_t i = 0; i < o->n_page; i++) {
                uint64_t id;
                int r = core_data_id(o->page[i], &id) ? store_has_id(t, id) : 0;

                if (r < 0)
                        return r;
                if (r > 0) {
                        free(o->page[i]);
                        continue;
                }
                if (core_data_id(o->page[i], &id) && id > *ret_max_id)
                        *ret_max_id = id;
                o->page[kept++] = o->page[i];
        }
        o->n_page = kept;
        return 0;
}

static int page_queue_in_txn(StoreTxn *t, void *userdata, Error *e) {
        OrphanScan *o = userdata;
        uint64_t max_id;
        size_t n = 0;
        int r;

        r = page_drop_named(o, t, &max_id);
        /* Data under an ID that no record has yet, as a crash before its record was
         * committed leaves it: the ID must never be given out again, or the snapshot that
         * gets it would find its data freed by this queue. */
        if (r >= 0 && max_id > 0)
                r = store_retire_id(t, max_id);
        if (r < 0)
                return error_set_errno(e, -r, "cannot look up the snapshots of %s", o->s->name);
        r = core_reclaim_queue_orphans(o->s, o->page, o->n_page, o->uid, &n);
        if (r < 0)
                return error_set_errno(e, -r, "cannot queue the orphaned data of %s", o->s->name);
        o->n_queued += n; /* n counts what was not queued yet: a rerun adds nothing */
        return 0;
}

int orphan_scan_page(OrphanScan *o, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        uint64_t max_id;
        int more, r;

        more = page_read(o);
        if (more < 0)
                return error_set_errno(e, -more, "cannot read the data directory of %s", o->s->name);
        if (o->n_page == 0)
                return more;
        r = core_read_begin(o->s, &t, e);
        if (r < 0)
                return r;
        r = page_drop_named(o, t, &max_id);
        store_read_end(TAKE_PTR(t));
        if (r < 0)
                return error_set_errno(e, -r, "cannot look up the snapshots of %s", o->s->name);
        if (o->n_page > 0) {
                r = store_write_freeing(o->s->store, page_queue_in_txn, o, e);
                if (r < 0)
                        return r;
        }
        return more;
}

int orphan_scan_run(CoreSnapshotter *s, uid_t uid, bool ids_only, size_t *ret_queued, Error *e) {
        _cleanup_(orphan_scan_freep) OrphanScan *o = NULL;
        int r;

        r = orphan_scan_new(s, uid, ids_only, &o);
        if (r < 0)
                return error_set_errno(e, -r, "cannot read the data directory of %s", s->name);
        do {
                core_reclaim_wait_room(s);
                if (atomic_load(&s->stopping))
                        return error_setf(e, ECANCELED, "laminad is stopping; cleanup of %s given up", s->name);
                r = orphan_scan_page(o, e);
        } while (r > 0);
        if (ret_queued)
                *ret_queued = o->n_queued;
        return r;
}
