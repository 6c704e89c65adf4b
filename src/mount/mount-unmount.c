/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unmounting exactly the mount laminad made, found by its unique ID, never by a path
 * looked up again after it was checked: a caller can rename the directories of a target of
 * its own (from a mount namespace of its own, where that directory is no mount point, even
 * the mount point itself) and could otherwise swap another mount in between. The mount is
 * opened where the kernel says it is and its ID checked; a forced unmount then detaches it
 * through that fd. A plain one cannot (the fd is a user of the mount: EBUSY), so it goes
 * through the directory the mount was attached to, found by its file handle (recorded when
 * it was mounted) on the mount it hangs on: the kernel unmounts what is mounted on that
 * very directory. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mount-api.h"
#include "mount-util.h"
#include "strutil.h"

/* A struct file_handle with room for the largest handle (MAX_HANDLE_SZ is 128). */
typedef union PointHandle {
        struct file_handle fh;
        uint8_t raw[MOUNT_POINT_HANDLE_MAX];
} PointHandle;

int mount_point_handle(int dir_fd, uint8_t ret[static MOUNT_POINT_HANDLE_MAX], size_t *ret_size) {
        PointHandle h = { .fh.handle_bytes = MOUNT_POINT_HANDLE_MAX - sizeof(struct file_handle) };
        struct statx sx = {};
        int ignored;

        assert(dir_fd >= 0);
        assert(ret_size);

        /* At the root of a mount its ".." is on another mount (open_mount_point()). */
        if (statx(dir_fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, 0, &sx) < 0)
                return -errno;
        if (sx.stx_attributes & sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                return -EOPNOTSUPP;
        /* Encoded by the kernel alone, no server asked (FUSE encodes its node ID). */
        if (name_to_handle_at(dir_fd, "", &h.fh, &ignored, AT_EMPTY_PATH) < 0)
                return -errno;
        *ret_size = sizeof h.fh + h.fh.handle_bytes;
        memcpy(ret, h.raw, *ret_size);
        return 0;
}

/* The directory that the mount whose root mnt_fd is was attached to, on the mount it hangs
 * on (O_PATH, *ret_fd): mnt_fd's ".." is the directory above it there (the kernel steps
 * from a mount's root to its mount point, then up: no name is looked up), in which the
 * handle is opened. A mount stays on the directory it was attached to (only root moves
 * mounts), and that directory was not the root of a mount (mount_point_handle). */
static int open_mount_point(int mnt_fd, const uint8_t *handle, size_t size, int *ret_fd) {
        _cleanup_close_ int parent_fd = -EBADF;
        PointHandle h;
        int fd;

        if (size < sizeof h.fh || size > sizeof h.raw)
                return -EINVAL;
        memcpy(h.raw, handle, size);
        if (h.fh.handle_bytes != size - sizeof h.fh)
                return -EINVAL;
        /* open_by_handle_at() takes no O_PATH fd. */
        parent_fd = openat(mnt_fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (parent_fd < 0)
                return -errno;
        fd = open_by_handle_at(parent_fd, &h.fh, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

static int unmount_fail(Error *e, int err, uint64_t mnt_id, const char *point, const char *name) {
        if (err == EBUSY)
                return error_setf(e, EBUSY, "mount %" PRIu64 " at %s/%s is in use", mnt_id, point, name);
        return error_set_errno(e, err, "unmounting %s/%s", point, name);
}

static int unmount_once(uint64_t mnt_id, bool detach, const uint8_t *point_handle, size_t point_handle_size, Error *e) {
        _cleanup_free_ char *point = NULL;
        _cleanup_close_ int parent_fd = -EBADF, fd = -EBADF, point_fd = -EBADF;
        char path[PROC_FD_PATH_MAX + NAME_MAX + 1];
        uint64_t id;
        char *slash;
        int r;

        r = mount_find(mnt_id, &point);
        if (r < 0)
                return error_set_errno(e, r, "looking up mount %" PRIu64, mnt_id);
        if (r == 0)
                return error_setf(e, ENOENT, "mount %" PRIu64 " is not mounted any more", mnt_id);

        slash = strrchr(point, '/');
        if (!slash || !slash[1] || strlen(slash + 1) > NAME_MAX)
                return error_setf(e, EINVAL, "mount %" PRIu64 " is at %s, which laminad does not unmount",
                                  mnt_id, QUOTE(point));
        *slash = 0;
        parent_fd = mount_openat_no_symlinks(AT_FDCWD, point[0] ? point : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (parent_fd < 0)
                return error_set_errno(e, parent_fd, "opening %s, where mount %" PRIu64 " is", QUOTE(point), mnt_id);

        /* The mount on top there: ours, or one on top of it (root's doing). */
        fd = mount_openat_no_symlinks(parent_fd, slash + 1, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return error_set_errno(e, fd, "opening mount %" PRIu64 " at %s/%s", mnt_id, point, slash + 1);
        r = mount_id_of_fd(fd, &id);
        if (r < 0)
                return error_set_errno(e, r, "reading the mount ID at %s/%s", point, slash + 1);
        if (id != mnt_id)
                return error_setf(e, EBUSY, "mount %" PRIu64 " at %s/%s is covered by another mount; unmount that first",
                                  mnt_id, point, slash + 1);

        if (!detach && point_handle_size > 0) {
                r = open_mount_point(fd, point_handle, point_handle_size, &point_fd);
                /* EPERM or ENOSYS: open_by_handle_at() is denied to laminad as a whole (a
                 * container's seccomp filter, as systemd-nspawn's), not by anything a caller
                 * chose: by name, as for a record without the handle. */
                if (r < 0 && r != -EPERM && r != -ENOSYS)
                        return error_set_errno(e, r,
                                               "cannot open the directory mount %" PRIu64 " at %s/%s was attached to; unmount it with \"force\"",
                                               mnt_id, point, slash + 1);
        }
        if (detach)
                /* Followed: the magic link leads to the root of the mount itself. */
                snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        else if (point_fd >= 0)
                /* Followed, then down onto what is mounted on that directory: the kernel
                 * unmounts a mount point's topmost mount. */
                snprintf(path, sizeof path, "/proc/self/fd/%d", point_fd);
        else
                /* Recorded without the handle (an older laminad, a filesystem without file
                 * handles), or handles denied: by name in the directory checked above. */
                snprintf(path, sizeof path, "/proc/self/fd/%d/%s", parent_fd, slash + 1);
        /* An fd of the mount itself counts as a user: a plain umount would be EBUSY. */
        if (!detach)
                fd = safe_close(fd);
        if (umount2(path, detach ? MNT_DETACH : point_fd >= 0 ? 0 : UMOUNT_NOFOLLOW) < 0)
                return unmount_fail(e, errno, mnt_id, point, slash + 1);
        /* The kernel took what was on top there by then: a mount put on the checked one
         * after the check (a caller's Mount on the same target lands there) went instead. */
        r = mount_find(mnt_id, NULL);
        if (r < 0)
                return error_set_errno(e, r, "looking up mount %" PRIu64 " again", mnt_id);
        if (r > 0)
                return error_setf(e, EBUSY, "mount %" PRIu64 " at %s/%s was covered by another mount meanwhile",
                                  mnt_id, point, slash + 1);
        log_debug("%s mount %" PRIu64 " at %s/%s", detach ? "detached" : "unmounted", mnt_id, point, slash + 1);
        return 0;
}

/* A plain umount is EBUSY, too, while a child of laminad's holds a copy of its file table
 * taken while an fd of the mount was open (unmount_once's own check, or a caller's look at
 * it just before): another thread started that child (posix_spawn of lamina-unpack for an
 * Apply, a fork for a lookup as a caller), which lets go of the copy at its exec or when it
 * closes what it inherited, within moments. The crash campaign saw it as ~11 Busy Unmounts
 * in 40 000 calls. So EBUSY is asked again, 1, 2, 4 ... 512 ms apart (about a second in
 * all), before the mount counts as in use. */
#define UNMOUNT_BUSY_RETRIES 10

int mount_unmount(uint64_t mnt_id, bool detach, const uint8_t *point_handle, size_t point_handle_size, Error *e) {
        for (unsigned i = 0;; i++) {
                Error attempt = ERROR_NULL;
                int r = unmount_once(mnt_id, detach, point_handle, point_handle_size, &attempt);

                if (r != -EBUSY || detach || i >= UNMOUNT_BUSY_RETRIES) {
                        if (r < 0 && e && e->code == 0)
                                *e = attempt;
                        return r;
                }
                (void) usleep(1000u << i);
        }
}

int mount_detach_fd(int mnt_fd, Error *e) {
        char path[PROC_FD_PATH_MAX];

        assert(mnt_fd >= 0);

        /* Followed: the magic link leads to the root of the mount itself, wherever it is. */
        snprintf(path, sizeof path, "/proc/self/fd/%d", mnt_fd);
        if (umount2(path, MNT_DETACH) < 0)
                return error_set_errno(e, errno, "detaching the mount");
        return 0;
}
