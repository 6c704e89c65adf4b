/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whether a recorded mount still gives access to its snapshot: in laminad's mount table,
 * detached but held by processes, or copied into a user's own namespace. The one check
 * Commit, Apply, Remove and Mount make (core_check_not_mounted_pre), each with the state
 * found before its write transaction (core_mount_precheck). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core-internal.h"
#include "core-mount.h"
#include "log.h"
#include "mount-api.h"

/* Whether some directory above path (as recorded: a caller's target) is root's or owner's
 * and shut to everyone else (no search permission for group and others): then no other
 * user reaches a mount there by path, in any namespace, whatever copies of it exist. A
 * name that cannot be looked at, or a symlink on the way, counts as open. */
static bool target_shut_to_others(const char *path, uid_t owner) {
        _cleanup_free_ char *p = strdup(path);
        struct stat st;
        char *slash;

        if (!p || p[0] != '/')
                return false;
        while ((slash = strrchr(p, '/')) && slash != p) {
                *slash = 0;
                if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
                        return false;
                if ((st.st_uid == 0 || st.st_uid == owner) && (st.st_mode & (S_IXGRP | S_IXOTH)) == 0)
                        return true;
        }
        return false;
}

/* Whether users other than the owner and root can reach the mount by path: not when it
 * was handed out (MountFd), nor in the owner's 0700 directory that laminad made, nor
 * below a directory shut to them. Their processes hold it otherwise only through a file
 * descriptor or a working directory that the owner or root handed them. */
static bool mount_others_reach(const MountRecord *m) {
        return !isempty(m->target) && !m->daemon_made_target && !target_shut_to_others(m->target, m->owner);
}

/* Walking /proc costs a stat per open file of the machine: while the holder found last
 * time still holds the mount, calls on its snapshot ask only that process. */
int core_mount_count_holders(CoreSnapshotter *s, const MountRecord *m, unsigned *ret) {
        pid_t pid = 0, first = 0;
        unsigned n = 0;
        int r;

        pthread_mutex_lock(&s->lock);
        if (s->held_mnt_id == m->mnt_id) {
                pid = s->held_pid;
                n = s->held_n;
        }
        pthread_mutex_unlock(&s->lock);
        if (pid > 0 && mount_pid_holds(pid, m->mnt_id) > 0) {
                *ret = n;
                return 0;
        }

        r = mount_count_holders(m->mnt_id, m->owner, mount_others_reach(m), &n, &first);
        if (r < 0)
                return r;
        pthread_mutex_lock(&s->lock);
        if (n > 0) {
                s->held_mnt_id = m->mnt_id;
                s->held_pid = first;
                s->held_n = n;
        } else if (s->held_mnt_id == m->mnt_id)
                s->held_mnt_id = 0;
        pthread_mutex_unlock(&s->lock);
        *ret = n;
        return 0;
}

/* Whether a user keeps a copy of the mount in a user namespace of its own (unshare -Urm
 * copies every mount it can see, and a plain umount does not reach such copies). */
bool core_mount_has_user_ns_copies(CoreSnapshotter *s, const MountRecord *m) {
        unsigned n = 0;
        int r;

        if (!m->mnt_root)
                return false; /* not known: mounted by an older laminad */
        /* unshare -Urm copies every mount of the namespace, reachable or not, so a copy
         * counts only where its holder can reach the mount through it: a user's in that
         * user's namespaces, root's at a target of root's choosing in anyone's. Root's
         * mounts in the 0700 directory under the runtime dir are out of every user's
         * reach; counting other users' copies of them would let any user make root's
         * Unmount Busy at will; so are root's targets below a directory shut to users. */
        if (m->owner == 0 && (m->daemon_made_target || (m->target && target_shut_to_others(m->target, 0))))
                return false;
        /* A handed-out mount may have been passed on (SCM_RIGHTS) and attached in another
         * user's namespace: every user's count. */
        r = mount_count_user_ns_copies(m->sb_dev, m->mnt_root, m->owner != 0 ? m->owner : (uid_t) -1,
                                       m->owner != 0 && isempty(m->target), &n);
        if (r < 0) {
                log_warning_errno(r, "%s: cannot look for copies of mount %" PRIu64 ": %m", s->name, m->mnt_id);
                return true;
        }
        return n > 0;
}

MountState core_mount_record_state(CoreSnapshotter *s, const MountRecord *m, char **ret_path, unsigned *ret_holders) {
        unsigned holders = 0;
        int r;

        if (!streq(m->boot_id, s->core->boot_id))
                return MOUNT_RELEASED; /* unique IDs start afresh at each boot */
        if (core_is_busy(s, CORE_MOUNT_ATTACHING(m->snapshot_id)) || m->legacy_mnt_id)
                return MOUNT_MOUNTED;
        r = mount_find(m->mnt_id, ret_path);
        if (r != 0) {
                if (r < 0)
                        log_warning_errno(r, "cannot look up mount %" PRIu64 ": %m", m->mnt_id);
                return MOUNT_MOUNTED; /* a passing failure must never lose a record */
        }
        r = core_mount_count_holders(s, m, &holders);
        if (r == -E2BIG) {
                /* The owner or root (or, where others reach the mount, another user) holds
                 * more open files than laminad looks through per call. */
                log_warning("%s: too many open files to look through for the users of mount %" PRIu64
                            " of uid %u; it counts as still in use", s->name, m->mnt_id, (unsigned) m->owner);
                holders = 1;
        } else if (r < 0) {
                log_warning_errno(r, "cannot find the users of mount %" PRIu64 ": %m", m->mnt_id);
                holders = 1;
        }
        if (ret_holders)
                *ret_holders = holders;
        if (holders > 0 || core_mount_has_user_ns_copies(s, m))
                return MOUNT_HELD;
        /* Held where no search looks: a file descriptor in flight in a socket, a namespace
         * no process is in, or past what a search looks at of another user's. */
        if (core_mount_held_unseen(s, m, 0)) {
                if (ret_holders)
                        *ret_holders = CORE_MOUNT_HOLDERS_UNSEEN;
                return MOUNT_HELD;
        }
        return MOUNT_RELEASED;
}

bool core_mount_held_unseen(CoreSnapshotter *s, const MountRecord *m, unsigned wait_ms) {
        unsigned n = 0;
        int r;

        if (!core_mount_own_sb(m->kernel_mounts) || mount_sb_watch_wait_gone(s->sb_watch, m->mnt_id, wait_ms))
                return false;
        /* unshare copies every mount, also ones its user cannot reach, and root's own
         * namespaces are root's: a live copy anywhere may be what keeps the filesystem, and
         * then it tells nothing (the copies that count were looked for already). A search
         * that could not look everywhere it had to says nothing: the watch stays, and the
         * next call asks again. */
        r = m->mnt_root ? mount_count_any_copies(m->sb_dev, m->mnt_root, &n) : 0;
        if (r < 0) {
                log_debug_errno(r, "%s: cannot look for copies of mount %" PRIu64 " anywhere: %m", s->name, m->mnt_id);
                return true;
        }
        if (!m->mnt_root || n > 0) {
                mount_sb_watch_forget(s->sb_watch, m->mnt_id);
                return false;
        }
        return true;
}

bool core_mount_filesystems_watched(Core *c) {
        for (size_t i = 0; i < c->n_snapshotters; i++)
                if (mount_sb_watch_live(c->snapshotters[i]->sb_watch) > 0)
                        return true;
        return false;
}

void core_mount_watch_sb(CoreSnapshotter *s, int mnt_fd, uint64_t mnt_id) {
        int r = mount_sb_watch_add(s->sb_watch, mnt_fd, mnt_id);

        if (r < 0)
                log_warning_errno(r, "%s: cannot watch the filesystem of mount %" PRIu64 " (%m); its holders are looked for instead",
                                  s->name, mnt_id);
}

int core_mount_record_forget(CoreSnapshotter *s, StoreTxn *t, const MountRecord *m) {
        int r;

        if (!store_txn_is_write(t))
                return 0;
        r = store_mount_delete(t, m->snapshot_id);
        if (r < 0)
                return r;
        core_mount_work_remove(s, m->snapshot_id);
        if (m->daemon_made_target) {
                int k = mount_point_remove(m->target);
                if (k < 0)
                        log_warning_errno(k, "cannot remove mount point %s: %m", m->target);
        }
        return 0;
}

/* Who keeps a detached mount: "N process(es) still use(s) it", or a user's copy of it. */
const char *core_mount_held_by(unsigned holders, char buf[static 64]) {
        if (holders == 0)
                return "a copy of it is still mounted in a user namespace (unshare)";
        if (holders == CORE_MOUNT_HOLDERS_UNSEEN)
                return "its filesystem is still in use (a descriptor of it passed on, in flight in a socket, or a copy in a namespace no process is in)";
        snprintf(buf, 64, "%u process%s still use%s it", holders, holders == 1 ? "" : "es", holders == 1 ? "s" : "");
        return buf;
}

void core_mount_precheck(CoreSnapshotter *s, uid_t ns, const char *key, MountPrecheck *ret) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_(mount_record_clear) MountRecord m = {};
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        Error e = ERROR_NULL;

        *ret = (MountPrecheck) {};
        if (store_read_begin(s->store, &t) < 0 || core_lookup_own(t, ns, key, &info, &e) < 0 ||
            store_mount_get(t, info.id, &m) < 0)
                return; /* no record, or not known: the write transaction looks itself */
        store_read_end(t);
        t = NULL;
        ret->known = true;
        ret->state = core_mount_record_state(s, &m, NULL, &ret->holders);
        ret->snapshot_id = m.snapshot_id;
        ret->mnt_id = m.mnt_id;
        memcpy(ret->boot_id, m.boot_id, sizeof ret->boot_id);
}

/* Whether what core_mount_precheck() found still holds for record m: the same mount and,
 * when it was found gone, still not being attached nor in the mount table (a detached
 * mount nobody holds cannot gain holders or copies). Busy found may have ended since:
 * the caller asks again. */
static bool precheck_applies(CoreSnapshotter *s, const MountPrecheck *pre, const MountRecord *m) {
        if (!pre || !pre->known || pre->snapshot_id != m->snapshot_id || pre->mnt_id != m->mnt_id ||
            !streq(pre->boot_id, m->boot_id) || m->legacy_mnt_id)
                return false;
        if (pre->state != MOUNT_RELEASED || !streq(m->boot_id, s->core->boot_id))
                return true;
        return !core_is_busy(s, CORE_MOUNT_ATTACHING(m->snapshot_id)) && mount_find(m->mnt_id, NULL) == 0;
}

int core_check_not_mounted_pre(CoreSnapshotter *s, StoreTxn *t, uint64_t id, const char *key,
                               const MountPrecheck *pre, Error *e) {
        _cleanup_(mount_record_clear) MountRecord m = {};
        _cleanup_free_ char *path = NULL;
        unsigned holders = 0;
        MountState state;
        char buf[64];
        int r;

        r = store_mount_get(t, id, &m);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return error_set_errno(e, r, "cannot read the mount records of snapshot %s", QUOTE(key));

        if (precheck_applies(s, pre, &m)) {
                state = pre->state;
                holders = pre->holders;
        } else
                state = core_mount_record_state(s, &m, &path, &holders);
        switch (state) {
        case MOUNT_MOUNTED:
                return error_setf(e, EBUSY, "snapshot %s is mounted at %s; unmount it first", QUOTE(key),
                                  path ?: m.target);
        case MOUNT_HELD:
                return error_setf(e, EBUSY, "snapshot %s %s, but %s; it stays busy until then", QUOTE(key),
                                  isempty(m.target) ? "was handed out as a mount fd" : "was unmounted",
                                  core_mount_held_by(holders, buf));
        case MOUNT_RELEASED:
                break;
        }
        r = core_mount_record_forget(s, t, &m);
        if (r < 0)
                return error_set_errno(e, r, "cannot delete the mount record of snapshot %s", QUOTE(key));
        return 0;
}
