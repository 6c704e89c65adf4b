/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What laminad has mounted now, from its records and the mount table: every mount of a
 * namespace (core_list_mounts) or where one key is mounted (core_mount_path). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core-internal.h"
#include "mount-api.h"
#include "strutil.h"

void core_mount_info_list_clear(CoreMountInfoList *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].key);
                free(l->items[i].path);
        }
        free(l->items);
        *l = (CoreMountInfoList) {};
}

typedef struct ListArgs {
        CoreSnapshotter *s;
        StoreTxn *t;
        uid_t ns;
        CoreMountInfoList *list;
        MountTable *table;
} ListArgs;

/* Lists the mounts of ns that are in the mount table now, at their current mount point. */
static int list_one(const MountRecord *r, void *userdata) {
        ListArgs *a = userdata;
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_free_ char *path = NULL;
        CoreMountInfo *items;
        int k;

        if ((a->ns != CORE_NS_ALL && r->owner != a->ns) || !streq(r->boot_id, a->s->core->boot_id) ||
            r->legacy_mnt_id)
                return 0;
        if (isempty(r->target)) { /* handed out (core_mount_fd): listed until found released */
                path = strdup("");
                if (!path)
                        return -ENOMEM;
        } else {
                k = mount_table_find(a->table, r->mnt_id, &path);
                if (k <= 0)
                        return k; /* being attached, detached, or gone */
        }
        k = store_get_info_by_id(a->t, r->snapshot_id, &info, NULL);
        if (k == -ENOENT)
                return 0; /* cannot happen: Remove refuses mounted snapshots */
        if (k < 0)
                return k;

        items = realloc(a->list->items, (a->list->n + 1) * sizeof *items);
        if (!items)
                return -ENOMEM;
        a->list->items = items;
        items[a->list->n++] = (CoreMountInfo) {
                .key = TAKE_PTR(info.name),
                .path = TAKE_PTR(path),
                .owner = r->owner,
                .mounted_usec = r->mounted_usec,
                .snapshot_id = r->snapshot_id,
                .attrs = r->attrs,
                .attrs_known = r->attrs_known,
        };
        return 0;
}

int core_list_mounts(CoreSnapshotter *s, uid_t ns, CoreMountInfoList *ret, Error *e) {
        _cleanup_(mount_table_freep) MountTable *table = NULL;
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        CoreMountInfoList list = {};
        ListArgs a = { .s = s, .ns = ns, .list = &list };
        int r;

        assert(s);
        assert(ret);

        r = mount_table_load(&table);
        if (r < 0)
                return error_set_errno(e, r, "cannot read the mount table");
        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        a.t = t;
        a.table = table;
        r = store_mount_walk(t, list_one, &a);
        if (r < 0) {
                core_mount_info_list_clear(&list);
                return error_set_errno(e, r, "cannot list the mounts of %s", s->name);
        }
        *ret = list;
        return 0;
}

int core_mount_path(CoreSnapshotter *s, uid_t ns, const char *key, char **ret, Error *e) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_(mount_record_clear) MountRecord m = {};
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        assert(ret);

        r = core_read_own(s, ns, key, &t, &info, e);
        if (r < 0)
                return r;
        r = store_mount_get(t, info.id, &m);
        if (r < 0 && r != -ENOENT)
                return error_set_errno(e, r, "cannot read the mount records of snapshot %s", QUOTE(key));
        /* Like core_list_mounts(): this boot's mounts in the mount table now, at their
         * current mount point; handed out ones (core_mount_fd) have none. */
        if (r >= 0 && streq(m.boot_id, s->core->boot_id) && !m.legacy_mnt_id && !isempty(m.target)) {
                r = mount_find(m.mnt_id, &path);
                if (r < 0)
                        return error_set_errno(e, r, "cannot look up the mount of snapshot %s", QUOTE(key));
        }
        if (!path) {
                path = strdup("");
                if (!path)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(path);
        return 0;
}
