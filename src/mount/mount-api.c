/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h> /* glibc 2.36 wraps the new mount API; never with <linux/mount.h> */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <libmount.h>

#include "dir-util.h"
#include "log.h"
#include "mount-api.h"
#include "mount-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct libmnt_table *, mnt_unref_table);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct libmnt_iter *, mnt_free_iter);

/* "/proc/self/fd/" + an int */
#define PROC_FD_PATH_MAX (sizeof("/proc/self/fd/") + 11)

int mount_openat_no_symlinks(int dirfd, const char *path, int flags) {
        struct open_how how = {
                .flags = (uint64_t) flags,
                .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };

        /* glibc 2.36 has no openat2() wrapper. */
        return RET_NERRNO((int) syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

static int openat2_no_symlinks(const char *path, int flags) {
        return mount_openat_no_symlinks(AT_FDCWD, path, flags);
}

/* Appends the fs_context log of fs_fd ("e overlay: …" lines) to buf as "; "-separated
 * messages without their severity prefix. The log is drained: each read() returns one
 * message until ENODATA. */
static void fs_context_log_read(int fs_fd, char *buf, size_t size) {
        size_t used = strlen(buf);

        for (;;) {
                char line[512];
                ssize_t n = read(fs_fd, line, sizeof line - 1);
                if (n <= 0)
                        return;
                line[n] = 0;
                if (line[n - 1] == '\n')
                        line[n - 1] = 0;
                const char *msg = strlen(line) > 2 && line[1] == ' ' ? line + 2 : line;
                int k = snprintf(buf + used, size - used, "%s%s", used > 0 ? "; " : "", msg);
                if (k < 0 || (size_t) k >= size - used)
                        return;
                used += (size_t) k;
        }
}

/* Fills e for a failed step of building an overlay, with the kernel's own words. */
static int overlay_fail(Error *e, int fs_fd, int r, const char *step, const char *value) {
        char kernel[ERROR_MESSAGE_MAX / 2] = "";

        if (fs_fd >= 0)
                fs_context_log_read(fs_fd, kernel, sizeof kernel);
        /* Overlay reports only option parsing errors there; the rest goes to dmesg. */
        return error_setf(e, r, "mounting overlay failed at %s%s%s: %s (kernel: %s)", step,
                          value ? " " : "", value ? QUOTE(value) : "", strerror(-r),
                          kernel[0] ? kernel : "see its log (dmesg) for the reason");
}

static int fs_set_string(int fs_fd, const char *key, const char *value, Error *e) {
        if (fsconfig(fs_fd, FSCONFIG_SET_STRING, key, value, 0) < 0)
                return overlay_fail(e, fs_fd, -errno, key, value);
        return 0;
}

/* Moves the detached mount mnt_fd onto target_fd and returns its mount ID. */
static int attach(int mnt_fd, int target_fd, uint64_t *ret_mnt_id, const char *what, Error *e) {
        uint64_t id;
        int r;

        r = mount_id_of_fd(mnt_fd, &id);
        if (r < 0)
                return error_set_errno(e, r, "reading the mount ID of the new %s mount", what);

        if (move_mount(mnt_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return error_set_errno(e, errno, "attaching the new %s mount to its target", what);

        if (ret_mnt_id)
                *ret_mnt_id = id;
        return 0;
}

int mount_overlay(const char *const *lowers, size_t n_lowers, const char *upper, const char *work,
                  int target_fd, uint64_t attrs, uint64_t *ret_mnt_id, Error *e) {
        _cleanup_close_ int fs_fd = -EBADF, mnt_fd = -EBADF;
        int r;

        assert(lowers || n_lowers == 0);
        assert(!upper == !work);
        assert(target_fd >= 0);

        if (n_lowers > MOUNT_MAX_LAYERS)
                return error_setf(e, EINVAL,
                                  "an overlay of %zu layers cannot be mounted: the kernel stacks at most %d layers",
                                  n_lowers, MOUNT_MAX_LAYERS);
        if (n_lowers == 0 || (!upper && n_lowers < 2))
                return error_setf(e, EINVAL,
                                  "a read-only overlay needs at least 2 layers (got %zu); use a read-only bind mount",
                                  n_lowers);

        fs_fd = fsopen("overlay", FSOPEN_CLOEXEC);
        if (fs_fd < 0)
                return error_set_errno(e, errno, "opening an overlay filesystem context (is overlayfs available?)");

        r = fs_set_string(fs_fd, "source", "lamina", e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_lowers; i++) {
                r = fs_set_string(fs_fd, "lowerdir+", lowers[i], e);
                if (r < 0)
                        return r;
        }
        if (upper) {
                r = fs_set_string(fs_fd, "upperdir", upper, e);
                if (r < 0)
                        return r;
                r = fs_set_string(fs_fd, "workdir", work, e);
                if (r < 0)
                        return r;
        }
        /* index=on ties an upper to its lowers' file handles; metacopy is unsafe with
         * untrusted layers. Both explicit, whatever the module defaults are. */
        r = fs_set_string(fs_fd, "index", "off", e);
        if (r < 0)
                return r;
        r = fs_set_string(fs_fd, "metacopy", "off", e);
        if (r < 0)
                return r;

        if (fsconfig(fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return overlay_fail(e, fs_fd, -errno, "create", NULL);

        mnt_fd = fsmount(fs_fd, FSMOUNT_CLOEXEC, (unsigned) attrs);
        if (mnt_fd < 0)
                return overlay_fail(e, fs_fd, -errno, "fsmount", NULL);

        r = attach(mnt_fd, target_fd, ret_mnt_id, "overlay", e);
        if (r < 0)
                return r;

        log_debug("mounted an overlay of %zu layers%s", n_lowers, upper ? " with an upper" : "");
        return 0;
}

int mount_bind(const char *source, int target_fd, uint64_t attrs, uint64_t *ret_mnt_id, Error *e) {
        _cleanup_close_ int tree_fd = -EBADF;
        struct mount_attr attr = {
                .attr_set = attrs,
                .propagation = MS_PRIVATE,
        };

        assert(source);
        assert(target_fd >= 0);

        tree_fd = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW);
        if (tree_fd < 0)
                return error_set_errno(e, errno, "cloning %s for a bind mount", QUOTE(source));

        if (mount_setattr(tree_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
                return error_set_errno(e, errno, "setting the flags of the bind mount of %s", QUOTE(source));

        return attach(tree_fd, target_fd, ret_mnt_id, "bind", e);
}

int mount_dir_is_empty(int fd) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        r = dir_open_fd(fd, &d);
        if (r < 0)
                return r;

        for (errno = 0; (de = readdir(d)); errno = 0)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        return 0;
        return errno > 0 ? -errno : 1;
}

int mount_open_target(const char *path, int *ret_fd, Error *e) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        assert(path);
        assert(ret_fd);

        if (path[0] != '/')
                return error_setf(e, EINVAL, "target %s is not an absolute path; give the full path of an empty directory",
                                  QUOTE(path));

        fd = openat2_no_symlinks(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd == -ELOOP || fd == -EXDEV)
                return error_setf(e, EINVAL, "target %s is or passes through a symbolic link; give the real path",
                                  QUOTE(path));
        if (fd == -ENOENT)
                return error_setf(e, ENOENT, "target %s does not exist; create an empty directory first", QUOTE(path));
        if (fd == -ENOTDIR)
                return error_setf(e, EINVAL, "target %s is not a directory; give an empty directory", QUOTE(path));
        if (fd < 0)
                return error_set_errno(e, fd, "opening target %s", QUOTE(path));

        r = mount_dir_is_empty(fd);
        if (r < 0)
                return error_set_errno(e, r, "reading target %s", QUOTE(path));
        if (r == 0)
                return error_setf(e, EINVAL, "target %s is not empty; give an empty directory", QUOTE(path));

        *ret_fd = TAKE_FD(fd);
        return 0;
}

int mount_id_of_fd(int fd, uint64_t *ret) {
        struct statx sx = {};

        assert(fd >= 0);
        assert(ret);

        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) < 0)
                return -errno;
        if (!(sx.stx_mask & STATX_MNT_ID))
                return -EOPNOTSUPP;
        *ret = sx.stx_mnt_id;
        return 0;
}

/* Opens what is mounted at path and compares its mount ID: 1 and the fd when it is
 * mnt_id, 0 when it is not (or path is gone). */
static int open_mount_at(const char *path, uint64_t mnt_id, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        uint64_t id;
        int r;

        fd = openat2_no_symlinks(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd == -ENOENT || fd == -ENOTDIR)
                return 0;
        if (fd < 0)
                return fd;
        r = mount_id_of_fd(fd, &id);
        if (r < 0)
                return r;
        if (id != mnt_id)
                return 0;
        if (ret_fd)
                *ret_fd = TAKE_FD(fd);
        return 1;
}

int mount_is_at(const char *path, uint64_t mnt_id) {
        assert(path);
        return open_mount_at(path, mnt_id, NULL);
}

int mount_detach(const char *path, uint64_t mnt_id, Error *e) {
        _cleanup_close_ int fd = -EBADF;
        char proc_path[PROC_FD_PATH_MAX];
        int r;

        assert(path);

        r = open_mount_at(path, mnt_id, &fd);
        if (r < 0)
                return error_set_errno(e, r, "checking the mount at %s", QUOTE(path));
        if (r == 0)
                return error_setf(e, ENOENT, "the mount made at %s is gone already", QUOTE(path));

        /* Unmount exactly what fd refers to: the path may change after the check. */
        snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
        if (umount2(proc_path, MNT_DETACH) < 0)
                return error_set_errno(e, errno, "detaching the mount at %s", QUOTE(path));
        return 0;
}

int mount_id_exists(uint64_t mnt_id) {
        _cleanup_(mnt_unref_tablep) struct libmnt_table *tb = NULL;
        _cleanup_(mnt_free_iterp) struct libmnt_iter *it = NULL;
        struct libmnt_fs *fs;

        errno = 0;
        tb = mnt_new_table_from_file("/proc/self/mountinfo");
        if (!tb)
                return errno > 0 ? -errno : -EIO;
        it = mnt_new_iter(MNT_ITER_FORWARD);
        if (!it)
                return -ENOMEM;

        while (mnt_table_next_fs(tb, it, &fs) == 0) {
                int id = mnt_fs_get_id(fs);
                if (id >= 0 && (uint64_t) id == mnt_id)
                        return 1;
        }
        return 0;
}
