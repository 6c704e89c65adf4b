/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>

#include "backend-apply.h"
#include "backend.h"
#include "btrfs-util.h"
#include "fs-util.h"
#include "log.h"
#include "mount-api.h"
#include "strutil.h"
#include "tree-util.h"

/* Every snapshot is a subvolume at snapshots/<id>, a full tree (containerd-semantics.md
 * §3.8). Prepare snapshots the parent's subvolume (read-only for a view) or creates an
 * empty one; Commit makes the active subvolume read-only; Cleanup deletes subvolumes
 * with the ioctl. The mounts are what containerd gives: the filesystem's block device
 * with subvolid=<n>, plus "ro" unless active. */

/* <state>/btrfs is where the data goes: on the state directory's filesystem, or on a
 * btrfs an administrator mounted there. */
static int btrfs_available(int state_fd) {
        _cleanup_close_ int fd = openat(state_fd, "btrfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0 && errno != ENOENT)
                return -errno;
        return btrfs_is_fs(fd >= 0 ? fd : state_fd);
}

/* snapshots/<id> is a full tree as native's is: native's open, walk and removal serve here. */
static int open_subvol(Backend *b, uint64_t id, int *ret_fd, Error *e) {
        return backend_native.open_data(b, id, ret_fd, e);
}

/* The qgroup the new subvolume, a snapshot of src_fd (< 0: an empty one), joins (0: none):
 * charge->qgroup where the kernel keeps its counts up to date doing so. EXDEV when a
 * snapshot of src_fd could neither join nor stay outside without stale counts. */
static int qgroup_to_join(int dir_fd, int src_fd, const BackendCharge *charge, uint64_t *ret) {
        uint64_t srcid = 0, parent;
        int r;

        *ret = 0;
        r = src_fd >= 0 ? btrfs_subvol_id(src_fd, &srcid) : 0;
        if (r < 0)
                return r;
        if (charge && charge->qgroup != 0) {
                r = btrfs_qgroup_can_join(dir_fd, srcid, charge->qgroup);
                if (r < 0)
                        log_debug_errno(r, "btrfs: cannot tell whether a new subvolume can join qgroup %" PRIu64 ": %m",
                                        charge->qgroup);
                if (r > 0) {
                        *ret = charge->qgroup;
                        return 0;
                }
        }
        /* Made outside, a snapshot of a subvolume in a qgroup would take extents from it, and
         * full quotas would stop counting everyone's until a rescan. */
        if (srcid != 0 && btrfs_quota_simple(dir_fd) == 0 && btrfs_qgroup_parent(dir_fd, srcid, &parent) > 0)
                return -EXDEV;
        return 0;
}

/* Makes dir_fd/<prefix><random>, a snapshot of src_fd or an empty subvolume, charged to its
 * owner as charge says before it is handed out: a crash leaves it charged or unnamed. */
static int make_charged(int dir_fd, const char *prefix, int src_fd, bool read_only, BackendCharge *charge,
                        char **ret_name) {
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint64_t qgroup, subvolid;
        int r;

        r = qgroup_to_join(dir_fd, src_fd, charge, &qgroup);
        if (r < 0)
                return r;
        r = btrfs_subvol_make_temp(dir_fd, prefix, src_fd, read_only, qgroup, &name);
        if (r < 0)
                return r;
        if (qgroup != 0) {
                /* A write between the check and the snapshot (an extent shared in from
                 * outside the qgroup) made the kernel stop counting until a rescan. */
                if (btrfs_quota_consistent(dir_fd) == 0) {
                        charge->rescanned = true;
                        r = btrfs_quota_rescan(dir_fd);
                        if (r < 0)
                                log_debug_errno(r, "btrfs: cannot start a quota rescan: %m");
                }
        } else if (charge && charge->own_limit != UINT64_MAX) {
                fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = fd < 0 ? -errno : btrfs_subvol_id(fd, &subvolid);
                if (r >= 0)
                        r = btrfs_qgroup_limit_exclusive(dir_fd, subvolid, charge->own_limit);
                if (r < 0) {
                        (void) btrfs_subvol_destroy_at(dir_fd, name);
                        return r;
                }
        }
        *ret_name = TAKE_PTR(name);
        return 0;
}

/* FailedPrecondition: the owner can change what makes it so. */
static int qgroup_refused(Error *e) {
        return error_setf(e, ENOTEMPTY,
                          "btrfs would have to rescan all quotas to count a snapshot of this one: its owner's "
                          "snapshots share data with subvolumes outside the owner's qgroup (files cloned in from a "
                          "snapshot of another user's layer), or did when a snapshot was made; remove such files, "
                          "or ask the administrator");
}

static int btrfs_prepare(Backend *b, SnapshotKind kind, const uint64_t *parents, size_t n_parents,
                         BackendCharge *charge, char **ret_tmpname, Error *e) {
        _cleanup_close_ int pfd = -EBADF;
        int r;

        if (n_parents > 0) {
                r = open_subvol(b, parents[0], &pfd, e);
                if (r < 0)
                        return r;
        }
        r = make_charged(b->snapshots_fd, "new-", pfd, kind == SNAPSHOT_VIEW, charge, ret_tmpname);
        if (r == -EXDEV)
                return qgroup_refused(e);
        if (r < 0)
                return error_set_errno(e, r, "cannot create a subvolume in %s", b->snapshots_path);
        return 0;
}

static int btrfs_commit(Backend *b, uint64_t id, Error *e) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = open_subvol(b, id, &fd, e);
        if (r < 0)
                return r;
        r = btrfs_subvol_set_read_only(fd, true);
        if (r < 0)
                return error_set_errno(e, r, "cannot make the subvolume %s/%" PRIu64 " read-only",
                                       b->snapshots_path, id);
        return 0;
}

static int btrfs_mounts(Backend *b, const Snapshot *s, MountSpecList *ret, Error *e) {
        _cleanup_strv_free_ char **opts = NULL;
        _cleanup_free_ char *device = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint64_t subvolid;
        char opt[32];
        int r;

        r = open_subvol(b, s->id, &fd, e);
        if (r < 0)
                return r;
        r = btrfs_subvol_id(fd, &subvolid);
        if (r < 0)
                return error_set_errno(e, r, "cannot find the subvolume ID of %s/%" PRIu64, b->snapshots_path, s->id);
        r = btrfs_device_path(b->snapshots_fd, &device);
        if (r < 0)
                return error_set_errno(e, r, "cannot find the block device of %s", b->snapshots_path);

        snprintf(opt, sizeof opt, "subvolid=%" PRIu64, subvolid);
        r = strv_extend(&opts, opt);
        if (r >= 0 && s->kind != SNAPSHOT_ACTIVE)
                r = strv_extend(&opts, "ro");
        if (r >= 0)
                r = mount_spec_list_add(ret, "btrfs", device, TAKE_PTR(opts));
        return r < 0 ? error_set_errno(e, r, "mounts") : 0;
}

/* A bind of the subvolume's directory shows the same tree as mounting it by subvolid. */
static int btrfs_mount(Backend *b, const Snapshot *s, uint64_t attrs, const MountIdmapping *idmap, int *ret_mnt_fd,
                       Error *e) {
        char name[32];

        snprintf(name, sizeof name, "%" PRIu64, s->id);
        if (s->kind == SNAPSHOT_VIEW)
                attrs |= MOUNT_ATTR_RDONLY;
        return mount_bind(b->snapshots_fd, name, attrs, idmap, ret_mnt_fd, e);
}

/* Bytes from the subvolume's qgroup when quotas are on (only what this snapshot holds
 * alone: extents shared with its parent are not its usage); else, and for the inode
 * count always, a walk of the tree. Up-to-date qgroup figures take a syncfs() of the whole
 * filesystem, as long as everyone's unwritten data makes it: not within a budget (E2BIG). */
static int btrfs_usage(Backend *b, uint64_t id, const TreeWalkBudget *budget, uint64_t *ret_size,
                       uint64_t *ret_inodes, Error *e) {
        _cleanup_close_ int fd = -EBADF;
        uint64_t subvolid, excl;
        int r;

        r = backend_usage_walk(b, id, budget, ret_size, ret_inodes, e);
        if (r < 0)
                return r;
        r = open_subvol(b, id, &fd, e);
        if (r < 0)
                return r;
        r = btrfs_subvol_id(fd, &subvolid);
        if (r >= 0 && budget) {
                r = btrfs_qgroup_exclusive_committed(fd, subvolid, &excl);
                if (r >= 0)
                        return error_setf(e, E2BIG, "the usage of %s/%" PRIu64 " needs a sync of its filesystem",
                                          b->snapshots_path, id);
        } else if (r >= 0)
                r = btrfs_qgroup_exclusive(fd, subvolid, &excl);
        if (r >= 0)
                *ret_size = excl;
        else if (r != -ENOENT)
                log_debug_errno(r, "btrfs: no qgroup figures for %s/%" PRIu64 ", using the walk: %m",
                                b->snapshots_path, id);
        return 0;
}

/* Counts what the subvolume holds (extents it shares with others are freed only with the
 * last of them, so this is an upper bound) and deletes it. */
static int remove_subvol(Backend *b, const char *name, uint64_t *reclaimed) {
        _cleanup_close_ int fd = openat(b->snapshots_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        uint64_t size = 0, inodes;
        int r;

        if (fd < 0)
                return -errno;
        r = tree_disk_usage(fd, NULL, &size, &inodes);
        if (r < 0)
                log_debug_errno(r, "btrfs: cannot count %s/%s before deleting it: %m", b->snapshots_path, name);
        r = btrfs_subvol_destroy_at(b->snapshots_fd, name);
        if (r < 0)
                return r;
        *reclaimed += size;
        return 0;
}

static int btrfs_remove_data(Backend *b, const char *name, uint64_t *reclaimed, Error *e) {
        int r = btrfs_is_subvol_at(b->snapshots_fd, name);

        if (r > 0)
                r = remove_subvol(b, name, reclaimed);
        else if (r == 0)
                return backend_remove_tree(b, name, reclaimed, e);
        else if (r == -ENOENT)
                r = 0;
        if (r < 0)
                return error_set_errno(e, r, "cannot remove %s/%s", b->snapshots_path, name);
        return 0;
}

/* A clone for Apply: a writable snapshot of the subvolume, made in no time. */
static int btrfs_clone_data(Backend *b, uint64_t id, int dir_fd, const char *prefix, BackendCharge *charge,
                            char **ret_name, Error *e) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = open_subvol(b, id, &fd, e);
        if (r < 0)
                return r;
        r = make_charged(dir_fd, prefix, fd, false, charge, ret_name);
        if (r == -EXDEV)
                return qgroup_refused(e);
        if (r < 0)
                return error_set_errno(e, r, "cannot snapshot the subvolume %s/%" PRIu64, b->snapshots_path, id);
        return 0;
}

static int btrfs_remove_clone(int dir_fd, const char *name) {
        int r = btrfs_is_subvol_at(dir_fd, name);

        if (r > 0)
                return btrfs_subvol_destroy_at(dir_fd, name);
        if (r == 0)
                return rm_rf_at(dir_fd, name, NULL);
        return r == -ENOENT ? 0 : r;
}

const BackendVTable backend_btrfs = {
        .name = "btrfs",
        .layered = false,
        .available = btrfs_available,
        .prepare = btrfs_prepare,
        .commit = btrfs_commit,
        .mounts = btrfs_mounts,
        .mount = btrfs_mount,
        .usage = btrfs_usage,
        .open_data = open_subvol,
        .remove_data = btrfs_remove_data,
        .clone_data = btrfs_clone_data,
        .open_data_parent = backend_open_data_parent_id,
        .remove_clone = btrfs_remove_clone,
};
