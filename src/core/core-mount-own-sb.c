/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A writable mount of a snapshot that the backend would bind (native, btrfs, an overlayfs
 * snapshot without parents) is made an overlay of its data directory instead
 * (mount_dir_own_sb): a bind mount shares the superblock of the whole state filesystem,
 * so nothing tells when the last copy, clone or file of it is gone, while an overlay's
 * superblock is its own and dies with the last of them (mount-sb-watch.c). Read-only
 * mounts stay bind mounts: nothing can be written through them, whoever keeps them.
 *
 * Its work directory and the empty lower live in <state>/<snapshotter>/mount-work/, on
 * the filesystem of the data and outside it: mount-work/empty, and mount-work/<ID> per
 * snapshot (one mount of a snapshot at a time), removed when its record goes. All three
 * directories are given by their paths below the state directory, opened there and handed
 * to overlayfs as fds (mount_overlay).
 *
 * The upper of native and btrfs snapshots is snapshots/ itself, shared by every such mount,
 * so the kernel logs "upperdir is in-use" for the second one at a time. Harmless: each
 * overlay shows and writes only its own snapshots/<ID>, disjoint from the others', and with
 * index=off overlayfs only warns. An upper of one's own needs a directory of its own above
 * each snapshot's data (a change of the backends' layout), as overlayfs snapshots have. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core-mount.h"
#include "log.h"
#include "strutil.h"
#include "tree-util.h"

static bool same_inode(const struct stat *a, const struct stat *b) {
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Where parent_fd (open_data_parent's, for snapshot id) is below the state directory, as
 * backend.h lays the data out: snapshots/ itself (native, btrfs: snapshots/<id> is the data)
 * or snapshots/<id> (overlayfs: its "fs"). Known by identity, not by name. */
static int data_parent_path(CoreSnapshotter *s, uint64_t id, int parent_fd, char ret[static 48]) {
        struct stat parent, st;
        char name[32];

        snprintf(name, sizeof name, "%" PRIu64, id);
        if (fstat(parent_fd, &parent) < 0 || fstat(s->backend->snapshots_fd, &st) < 0)
                return -errno;
        if (same_inode(&parent, &st)) {
                strcpy(ret, "snapshots");
                return 0;
        }
        if (fstatat(s->backend->snapshots_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!same_inode(&parent, &st))
                return -EXDEV; /* not a layout this file knows */
        snprintf(ret, 48, "snapshots/%s", name);
        return 0;
}

static int mkdirat_existing(int dirfd, const char *name, mode_t mode) {
        if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* mount-work/ with its empty directory, and a new, empty mount-work/<id>, whose path below
 * the state directory is MOUNT_WORK_DIR "/<id>". */
static int work_dirs_make(CoreSnapshotter *s, uint64_t id, char ret_work[static 48]) {
        _cleanup_close_ int fd = -EBADF;
        char name[32];
        int r;

        snprintf(name, sizeof name, "%" PRIu64, id);
        r = mkdirat_existing(s->backend->state_fd, MOUNT_WORK_DIR, 0700);
        if (r < 0)
                return r;
        fd = openat(s->backend->state_fd, MOUNT_WORK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = mkdirat_existing(fd, "empty", 0700);
        if (r < 0)
                return r;
        /* Left by a mount whose overlay is gone (its record went, or laminad restarted). */
        r = rm_rf_at(fd, name, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        if (mkdirat(fd, name, 0700) < 0)
                return -errno;
        snprintf(ret_work, 48, MOUNT_WORK_DIR "/%s", name);
        return 0;
}

void core_mount_work_remove(CoreSnapshotter *s, uint64_t id) {
        _cleanup_close_ int fd = -EBADF;
        char name[32];
        int r;

        fd = openat(s->backend->state_fd, MOUNT_WORK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return; /* never made */
        snprintf(name, sizeof name, "%" PRIu64, id);
        r = rm_rf_at(fd, name, NULL);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "%s: cannot remove %s/%s: %m", s->name, MOUNT_WORK_DIR, name);
}

/* What the backend's mount of snap costs the kernel; one: a bind mount. */
static uint64_t backend_cost(CoreSnapshotter *s, const Snapshot *snap) {
        const BackendVTable *v = s->backend->vtable;

        return v->kernel_mounts ? v->kernel_mounts(s->backend, snap) : 1;
}

/* A writable mount of what the backend binds. */
static bool own_sb_instead_of_bind(CoreSnapshotter *s, const Snapshot *snap, uint64_t attrs) {
        return snap->kind == SNAPSHOT_ACTIVE && !(attrs & MOUNT_ATTR_RDONLY) && backend_cost(s, snap) == 1;
}

uint64_t core_mount_cost(CoreSnapshotter *s, const Snapshot *snap, uint64_t attrs) {
        return own_sb_instead_of_bind(s, snap, attrs) ? MOUNT_DIR_OWN_SB_KERNEL_MOUNTS : backend_cost(s, snap);
}

int core_mount_build(CoreSnapshotter *s, const Snapshot *snap, uint64_t attrs, const MountIdmapping *idmap,
                     int *ret_mnt_fd, Error *e) {
        const BackendVTable *v = s->backend->vtable;
        _cleanup_close_ int parent_fd = -EBADF;
        char name[32], parent[48], work[48];
        int r;

        if (!own_sb_instead_of_bind(s, snap, attrs))
                return v->mount(s->backend, snap, attrs, idmap, ret_mnt_fd, e);

        /* What the backend would bind: the data of the active snapshot itself. */
        r = v->open_data_parent(s->backend, snap->id, &parent_fd, name, e);
        if (r < 0)
                return r;
        r = data_parent_path(s, snap->id, parent_fd, parent);
        if (r < 0)
                return error_set_errno(e, r, "cannot find the directory of snapshot %" PRIu64, snap->id);
        r = work_dirs_make(s, snap->id, work);
        if (r < 0)
                return error_set_errno(e, r, "cannot make the work directory of the mount of snapshot %" PRIu64,
                                       snap->id);
        /* All three opened below the state directory, handed to overlayfs as fds. */
        return mount_dir_own_sb(s->backend->state_fd, parent, name, MOUNT_WORK_DIR "/empty", work, attrs, idmap,
                                ret_mnt_fd, e);
}
