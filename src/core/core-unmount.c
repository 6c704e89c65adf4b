/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unmount: plain (Busy while anything uses the mount) or forced (detached; the snapshot
 * stays busy while it is held). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core-mount.h"
#include "log.h"
#include "strutil.h"

typedef struct UnmountArgs {
        CoreSnapshotter *s;
        uid_t ns;
        const char *key;
        bool force;
        MountRecord rec;
        unsigned holders; /* still holding it after a forced unmount */
        bool held;        /* ... or copies of it */
} UnmountArgs;

/* ns's record of key, in a read transaction. */
static int unmount_find_record(UnmountArgs *a, Error *e) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        int r;

        r = core_read_own(a->s, a->ns, a->key, &t, &info, e);
        if (r < 0)
                return r;
        r = store_mount_get(t, info.id, &a->rec);
        if (r == -ENOENT)
                return error_setf(e, ENOENT, "snapshot %s is not mounted; nothing to unmount", QUOTE(a->key));
        if (r < 0)
                return error_set_errno(e, r, "cannot read the mount record of snapshot %s", QUOTE(a->key));
        if (core_is_busy(a->s, CORE_MOUNT_ATTACHING(info.id)))
                return error_setf(e, EBUSY, "snapshot %s is being mounted; try again when that is done", QUOTE(a->key));
        return 0;
}

/* An overlay's filesystem is watched before it is unmounted, plain or forced: a copy of it
 * (a user's namespace copies every mount) can outlive the namespace it was made in, held
 * by a file of it kept where no search looks (in flight in a socket, in any process: its
 * mount is not this one), and only the filesystem tells that it lives on. The mount is
 * opened where it is now and must show that filesystem. */
static void watch_before_unmount(UnmountArgs *a) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (!core_mount_own_sb(a->rec.kernel_mounts) || !a->rec.mnt_root || mount_find(a->rec.mnt_id, &path) <= 0)
                return;
        /* Whatever the path leads to now: only that filesystem is ever watched. */
        fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0 || st.st_dev != a->rec.sb_dev)
                return;
        core_mount_watch_sb(a->s, fd, a->rec.mnt_id);
}

/* A namespace that just ended lets go of its copies a little later: after the kernel has
 * synced the overlay's upper filesystem, which under heavy writeback takes seconds (1 s was
 * too short for `laminactl run --rm` on a loaded machine: nspawn's namespace still held the
 * overlay, and the Unmount said Busy). Only an overlay really held on costs the wait. */
#define PLAIN_UNMOUNT_SB_WAIT_MS 5000u

/* Whether nothing can hold the mount any more after a plain umount succeeded: that proves
 * no process holds this mount, but not that no copy of it lives on, in a user's namespace
 * (the search for copies) or detached, held by a file of it that a process passed out of
 * its namespace before that ended (its filesystem tells). */
static bool released_by_plain_unmount(UnmountArgs *a) {
        return !core_mount_has_user_ns_copies(a->s, &a->rec) &&
               !core_mount_held_unseen(a->s, &a->rec, PLAIN_UNMOUNT_SB_WAIT_MS);
}

/* Unmounts what a->rec names and finds out whether anything still holds it: the kernel's
 * part, outside the store's write lock (looking for holders and copies may take up to
 * MOUNT_HOLDERS_MAX_USEC; no one else should wait for it). 1: released, the record can go;
 * 0: held after a forced unmount, the record stays. While the record exists nobody else
 * can mount the snapshot again. */
static int unmount_kernel(UnmountArgs *a, Error *e) {
        Error kernel = ERROR_NULL;
        MountState state;
        char buf[64];
        int r;

        if (streq(a->rec.boot_id, a->s->core->boot_id))
                watch_before_unmount(a);
        r = streq(a->rec.boot_id, a->s->core->boot_id) ? mount_unmount(a->rec.mnt_id, a->force, a->rec.point_handle, a->rec.point_handle_size, &kernel) : -ENOENT;
        if (r < 0 && r != -ENOENT) /* still attached, where laminad sees it */
                mount_sb_watch_forget(a->s->sb_watch, a->rec.mnt_id);
        if (r == -EBUSY) {
                unsigned n = 0;
                char by[64] = "";

                if (core_mount_count_holders(a->s, &a->rec, &n) >= 0 && n > 0)
                        snprintf(by, sizeof by, " by %u process%s", n, n == 1 ? "" : "es");
                return error_setf(e, EBUSY,
                                  "snapshot %s is in use%s (a file, a working directory or a mount in it); stop what uses it, or unmount with \"force\" (it then stays busy until that stops)",
                                  QUOTE(a->key), by);
        }
        if (r < 0 && r != -ENOENT)
                return core_mount_error_with_key(e, r, &kernel, "unmount", a->key, "");

        /* A plain umount succeeds only when nothing holds the mount. Detached now or
         * earlier (by someone else): whoever still holds it keeps the snapshot busy. */
        if (r == 0 && !a->force && released_by_plain_unmount(a))
                state = MOUNT_RELEASED;
        else
                state = core_mount_record_state(a->s, &a->rec, NULL, &a->holders);
        switch (state) {
        case MOUNT_MOUNTED:
                return error_setf(e, EBUSY, "snapshot %s is still mounted at %s; try again", QUOTE(a->key),
                                  a->rec.target);
        case MOUNT_HELD:
                if (!a->force)
                        return error_setf(e, EBUSY,
                                          "snapshot %s was unmounted, but %s; stop that, or unmount with \"force\" (it then stays busy until that stops)",
                                          QUOTE(a->key), core_mount_held_by(a->holders, buf));
                a->held = true;
                return 0;
        case MOUNT_RELEASED:
                break;
        }
        return 1;
}

/* Deletes the record of the released mount, unless it is not that one any more (another
 * Unmount forgot it, and the snapshot was mounted again). */
static int forget_in_txn(StoreTxn *t, void *userdata, Error *e) {
        UnmountArgs *a = userdata;
        _cleanup_(mount_record_clear) MountRecord now = {};
        int r;

        r = store_mount_get(t, a->rec.snapshot_id, &now);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return error_set_errno(e, r, "cannot read the mount record of snapshot %s", QUOTE(a->key));
        if (now.mnt_id != a->rec.mnt_id || !streq(now.boot_id, a->rec.boot_id))
                return 0;
        r = core_mount_record_forget(a->s, t, &a->rec);
        if (r < 0)
                return error_set_errno(e, r, "cannot delete the mount record of snapshot %s", QUOTE(a->key));
        return 0;
}

static void unmount_args_done(UnmountArgs *a) {
        mount_record_clear(&a->rec);
}

int core_unmount(CoreSnapshotter *s, uid_t ns, const char *key, bool force, char **ret_path, Error *e) {
        _cleanup_(unmount_args_done) UnmountArgs a = { .s = s, .ns = ns, .key = key, .force = force };
        int r;

        assert(s);

        r = core_validate_key("key", key, e);
        if (r < 0)
                return r;
        r = unmount_find_record(&a, e);
        if (r < 0)
                return r;
        r = unmount_kernel(&a, e);
        if (r < 0)
                return r;
        if (r > 0) {
                r = store_write_freeing(s->store, forget_in_txn, &a, e);
                if (r < 0)
                        return r;
        }

        if (a.held) {
                char buf[64];
                log_info("%s: detached %s of uid %u from %s, but %s", s->name, QUOTE(key), (unsigned) ns,
                         QUOTE(a.rec.target), core_mount_held_by(a.holders, buf));
        } else
                log_debug("%s: unmounted %s of uid %u from %s", s->name, QUOTE(key), (unsigned) ns, QUOTE(a.rec.target));
        if (ret_path)
                *ret_path = TAKE_PTR(a.rec.target);
        return 0;
}
