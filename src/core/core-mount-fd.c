/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MountFd: a mount of a snapshot handed out detached, for the caller to attach in a mount
 * namespace of its own. */
#include <inttypes.h>
#include <linux/mount.h>
#include <string.h>

#include "core-mount.h"
#include "log.h"
#include "strutil.h"

/* The record of a handed-out mount: the clone's ID, no mount point. */
static int hand_out_in_txn(StoreTxn *t, void *userdata, Error *e) {
        MountArgs *a = userdata;
        _cleanup_(mount_record_clear) MountRecord m = {};
        int r;

        r = store_mount_get(t, a->id, &m);
        if (r < 0)
                return error_set_errno(e, r, "cannot read the mount record of snapshot %s", QUOTE(a->key));
        free(m.target);
        m.target = strdup("");
        if (!m.target)
                return error_set_errno(e, ENOMEM, "snapshot %s", QUOTE(a->key));
        m.mnt_id = a->mnt_id;
        m.daemon_made_target = false;
        m.point_handle_size = 0; /* the clone was never attached there */
        r = store_mount_put(t, &m);
        if (r < 0)
                return error_set_errno(e, r, "cannot record the mount of snapshot %s", QUOTE(a->key));
        return 0;
}

/* Made like core_mount's, attached in root's own directory only so that what it shows can
 * be recorded (statmount cannot see a detached mount), then cloned: the record follows the
 * clone, the original goes. Its holders (/proc), its copies in any user's namespaces (the
 * fd may be passed on) and, for an overlay, its filesystem while it lives keep the
 * snapshot busy. */
int core_mount_fd(CoreSnapshotter *s, uid_t ns, const char *key, const CoreMountOptions *o, int *ret_fd,
                  Error *e) {
        MountArgs a = {
                .s = s,
                .ns = ns,
                .key = key,
                .hand_out = true,
                .attrs = core_mount_attrs(ns, o),
                .o = o,
                .prepared.userns_fd = -EBADF,
                .target_fd = -EBADF,
                .mnt_fd = -EBADF,
        };
        _cleanup_close_ int clone_fd = -EBADF;
        Error inner = ERROR_NULL, umount_error = ERROR_NULL;
        uint64_t original;
        int r, k;

        assert(s);
        assert(ret_fd);

        r = core_mount_recorded(&a, e);
        if (r < 0)
                return r;
        original = a.mnt_id;
        /* A user attaches it in a mount namespace of its own user namespace, where it could
         * clear nosuid and nodev of a clone made here: the flags of a forced nosuid,nodev
         * mount go out locked. */
        r = mount_clone_detached(a.mnt_fd, (a.attrs & (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)) != 0, &clone_fd,
                                 &inner);
        if (r >= 0) {
                r = mount_id_of_fd(clone_fd, &a.mnt_id);
                if (r < 0)
                        (void) error_set_errno(&inner, r, "reading the mount ID of the clone");
        }
        if (r >= 0)
                r = store_write(s->store, hand_out_in_txn, &a, &inner);
        /* A descriptor of it may be kept where no search for holders looks (in flight in a
         * socket): an overlay's filesystem tells when it is really gone. */
        if (r >= 0 && core_mount_own_sb(a.kernel_mounts))
                core_mount_watch_sb(s, clone_fd, a.mnt_id);
        if (r < 0) {
                clone_fd = safe_close(clone_fd);
                a.mnt_id = original; /* the record still names it: Unmount or the next start forget it */
        }

        /* The original is laminad's alone: nothing else can hold it once our fds are closed. */
        a.mnt_fd = safe_close(a.mnt_fd);
        a.target_fd = safe_close(a.target_fd);
        k = mount_unmount(original, false, NULL, 0, &umount_error);
        if (k < 0 && k != -ENOENT) {
                log_warning("%s: cannot unmount the original of the handed-out mount of %s: %s", s->name, QUOTE(key),
                            umount_error.message);
                a.made_dir = false; /* still a mount point: the next start unmounts it */
        }
        if (r < 0) {
                Error forget = ERROR_NULL;

                if (a.made_dir && store_write_freeing(s->store, core_mount_forget_in_txn, &a, &forget) < 0)
                        log_warning("%s: %s", s->name, forget.message); /* the next start drops it */
                core_mount_args_undo(&a);
                return core_mount_error_with_key(e, r, &inner, "hand out a mount of", key, "");
        }
        log_debug("%s: handed out a mount of %s of uid %u (mount %" PRIu64 ")", s->name, QUOTE(key), (unsigned) ns,
                  a.mnt_id);
        core_mount_args_undo(&a);
        *ret_fd = TAKE_FD(clone_fd);
        return 0;
}
