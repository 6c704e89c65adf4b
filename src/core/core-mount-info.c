/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core-internal.h"
#include "mount-api.h"
#include "strutil.h"

/* One mount as core_list_mounts() lists it, for the bus's mount objects: one record and
 * one mount looked up, never the whole table. */

void core_mount_info_clear(CoreMountInfo *i) {
        if (!i)
                return;
        free(i->key);
        free(i->path);
        *i = (CoreMountInfo) {};
}

int core_mount_info(CoreSnapshotter *s, uid_t ns, uint64_t snapshot_id, CoreMountInfo *ret, Error *e) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_(mount_record_clear) MountRecord m = {};
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        assert(s);
        assert(ret);

        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        r = store_mount_get(t, snapshot_id, &m);
        if (r == -ENOENT || (r >= 0 && (m.owner != ns || !streq(m.boot_id, s->core->boot_id) || m.legacy_mnt_id)))
                return -ENOENT; /* no mount of ns (or of an earlier boot, about to be forgotten) */
        if (r < 0)
                return error_set_errno(e, r, "cannot read the mount record of snapshot %" PRIu64, snapshot_id);
        if (isempty(m.target)) /* handed out (core_mount_fd): listed until found released */
                path = strdup("");
        else {
                r = mount_find(m.mnt_id, &path);
                if (r == 0)
                        return -ENOENT; /* being attached, detached, or gone */
                if (r < 0)
                        return error_set_errno(e, r, "cannot look up mount %" PRIu64, m.mnt_id);
        }
        if (!path)
                return -ENOMEM;
        r = store_get_info_by_id(t, snapshot_id, &info, NULL);
        if (r < 0)
                return r == -ENOENT ? -ENOENT : error_set_errno(e, r, "cannot read snapshot %" PRIu64, snapshot_id);

        core_mount_info_clear(ret);
        *ret = (CoreMountInfo) {
                .key = TAKE_PTR(info.name),
                .path = TAKE_PTR(path),
                .owner = m.owner,
                .mounted_usec = m.mounted_usec,
                .snapshot_id = snapshot_id,
                .attrs = m.attrs,
                .attrs_known = m.attrs_known,
        };
        return 0;
}
