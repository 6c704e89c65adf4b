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
 * snapshot (one mount of a snapshot at a time), removed when its record goes. */
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

/* The path of what fd refers to, as laminad sees it. */
static int fd_path(int fd, char **ret) {
        char proc[sizeof("/proc/self/fd/") + 11], buf[PATH_MAX];
        ssize_t n;

        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        n = readlink(proc, buf, sizeof buf - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        if (buf[0] != '/')
                return -EBADF; /* not a path (deleted, or no file system object) */
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

static int mkdirat_existing(int dirfd, const char *name, mode_t mode) {
        if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* mount-work/ with its empty directory, and a new, empty mount-work/<id>: their paths. */
static int work_dirs_make(CoreSnapshotter *s, uint64_t id, char **ret_empty, char **ret_work) {
        _cleanup_free_ char *state = NULL;
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
        r = fd_path(fd, &state);
        if (r < 0)
                return r;
        *ret_empty = strdup_printf("%s/empty", state);
        *ret_work = strdup_printf("%s/%s", state, name);
        return *ret_empty && *ret_work ? 0 : -ENOMEM;
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
        _cleanup_free_ char *parent = NULL, *empty = NULL, *work = NULL;
        const BackendVTable *v = s->backend->vtable;
        _cleanup_close_ int parent_fd = -EBADF;
        char name[32];
        int r;

        if (!own_sb_instead_of_bind(s, snap, attrs))
                return v->mount(s->backend, snap, attrs, idmap, ret_mnt_fd, e);

        /* What the backend would bind: the data of the active snapshot itself. */
        r = v->open_data_parent(s->backend, snap->id, &parent_fd, name, e);
        if (r < 0)
                return r;
        r = fd_path(parent_fd, &parent);
        if (r < 0)
                return error_set_errno(e, r, "cannot find the directory of snapshot %" PRIu64, snap->id);
        r = work_dirs_make(s, snap->id, &empty, &work);
        if (r < 0)
                return error_set_errno(e, r, "cannot make the work directory of the mount of snapshot %" PRIu64,
                                       snap->id);
        return mount_dir_own_sb(parent, name, empty, work, attrs, idmap, ret_mnt_fd, e);
}
