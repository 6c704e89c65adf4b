/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h> /* glibc 2.36 wraps the new mount API; never with <linux/mount.h> */
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "mount-api.h"
#include "mount-util.h"

static int openat2_resolve(int dirfd, const char *path, int flags, uint64_t resolve) {
        struct open_how how = {
                .flags = (uint64_t) flags,
                .resolve = resolve,
        };

        /* glibc 2.36 has no openat2() wrapper. */
        return RET_NERRNO((int) syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

int mount_openat_no_symlinks(int dirfd, const char *path, int flags) {
        return openat2_resolve(dirfd, path, flags, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
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

int mount_attach(int mnt_fd, int target_fd, Error *e) {
        assert(mnt_fd >= 0);
        assert(target_fd >= 0);

        if (move_mount(mnt_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return error_set_errno(e, errno, "attaching the new mount to its target");
        return 0;
}

int mount_clone_detached(int mnt_fd, bool lock_flags, int *ret_fd, Error *e) {
        _cleanup_close_ int fd = -EBADF;
        struct mount_attr attr = { .propagation = MS_PRIVATE };
        int r;

        assert(mnt_fd >= 0);
        assert(ret_fd);

        if (lock_flags) {
                r = mount_clone_locked(mnt_fd, &fd);
                if (r < 0)
                        return error_set_errno(e, r, "cloning the new mount with its flags locked");
        } else {
                fd = open_tree(mnt_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
                if (fd < 0)
                        return error_set_errno(e, errno, "cloning the new mount");
        }
        if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
                return error_set_errno(e, errno, "making the clone of the new mount private");
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int mount_sb_is_read_only(int mnt_fd) {
        struct statfs sf;

        /* statfs reports ST_RDONLY for a read-only mount or superblock; callers ask for a
         * mount they did not make read-only, so it is the superblock's doing. */
        if (fstatfs(mnt_fd, &sf) < 0)
                return -errno;
        return !!(sf.f_flags & ST_RDONLY);
}

/* An idmapped, non-recursive clone of root_fd, in which the directories of an idmapped
 * overlay are opened; kept until the overlay is created: closing it dissolves the clone. */
static int idmapped_clone(int root_fd, const MountIdmapping *idmap, int *ret_fd, Error *e) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = open_tree(root_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        if (fd < 0)
                return error_set_errno(e, errno, "cloning the directory of the layers for idmapped layers");
        r = mount_set_idmap(fd, idmap->userns_fd, 0);
        if (r < 0)
                return error_set_errno(e, r, "idmapping the directory of the layers");
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static _Atomic MountOverlayDirsBy overlay_dirs_by = MOUNT_OVERLAY_DIRS_PROBE;

MountOverlayDirsBy mount_overlay_dirs_by(void) {
        return atomic_load(&overlay_dirs_by);
}

void mount_overlay_dirs_by_set(MountOverlayDirsBy by) {
        atomic_store(&overlay_dirs_by, by);
}

/* Hands the directory fd to overlayfs as key, by fd or by its /proc/self/fd path. */
static int fs_set_dir_by(int fs_fd, const char *key, int fd, MountOverlayDirsBy by) {
        char proc[PROC_FD_PATH_MAX];

        if (by == MOUNT_OVERLAY_DIRS_BY_FD)
                return RET_NERRNO(fsconfig(fs_fd, FSCONFIG_SET_FD, key, NULL, fd));
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        return RET_NERRNO(fsconfig(fs_fd, FSCONFIG_SET_STRING, key, proc, 0));
}

/* Opens path below base_fd and hands it to overlayfs as key. The first time, the fd form is
 * tried: Linux 6.15 takes O_PATH fds, 6.13 and 6.14 only opened ones (EBADF), older kernels
 * strings only (EINVAL). When the fd is refused so and its path is taken, the kernel was the
 * reason and the path form is kept; when the path is refused too, the directory is, and
 * nothing is learnt. */
static int fs_set_dir(int fs_fd, const char *key, int base_fd, const char *path, Error *e) {
        _cleanup_close_ int fd = -EBADF;
        MountOverlayDirsBy by = mount_overlay_dirs_by();
        char why[256] = "";
        int r;

        fd = openat2_resolve(base_fd, path, O_PATH | O_DIRECTORY | O_CLOEXEC,
                             RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        if (fd < 0)
                return overlay_fail(e, fs_fd, fd, key, path);
        if (by != MOUNT_OVERLAY_DIRS_PROBE)
                r = fs_set_dir_by(fs_fd, key, fd, by);
        else {
                r = fs_set_dir_by(fs_fd, key, fd, MOUNT_OVERLAY_DIRS_BY_FD);
                by = MOUNT_OVERLAY_DIRS_BY_FD;
                if (r == -EINVAL || r == -EBADF) {
                        fs_context_log_read(fs_fd, why, sizeof why);
                        log_debug_errno(r, "overlayfs refused the directory fd of %s (%m; kernel: %s): trying its path",
                                        key, why[0] ? why : "no message");
                        r = fs_set_dir_by(fs_fd, key, fd, MOUNT_OVERLAY_DIRS_BY_PATH);
                        by = MOUNT_OVERLAY_DIRS_BY_PATH;
                }
                if (r >= 0) {
                        log_debug("overlayfs takes directories by %s here", by == MOUNT_OVERLAY_DIRS_BY_FD ? "fd" : "path");
                        mount_overlay_dirs_by_set(by);
                }
        }
        return r < 0 ? overlay_fail(e, fs_fd, r, key, path) : 0;
}

/* FSCONFIG_CMD_CREATE; with an idmap as its uid/gid, so that overlayfs can create its work
 * directories on the idmapped upper (host root has no id there: EOVERFLOW, and the overlay
 * would fall back to read-only). */
static int fs_create(int fs_fd, const MountIdmapping *idmap) {
        int r;

        if (idmap) {
                r = mount_fs_ids_set(idmap->uid, idmap->gid);
                if (r < 0) {
                        (void) mount_fs_ids_set(0, 0);
                        return r;
                }
        }
        r = RET_NERRNO(fsconfig(fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0));
        if (idmap && mount_fs_ids_set(0, 0) < 0) {
                log_error("cannot return to root's file system ids after creating an overlay; exiting");
                abort();
        }
        return r;
}

/* Options that keep an upper exactly as it was but for what is written through the
 * overlay: no uuid xattr on its root, and with no redirects, index or metacopy (and xino not
 * forced on) overlayfs marks no directory opaque when it makes one. */
static const char *const overlay_pristine_upper[] = { "uuid", "off", "redirect_dir", "off", "xino", "off", NULL };

static int overlay_make(const MountOverlayDirs *d, const char *const *options, uint64_t attrs,
                        const MountIdmapping *idmap, int *ret_mnt_fd, Error *e) {
        _cleanup_close_ int fs_fd = -EBADF, mnt_fd = -EBADF, clone_fd = -EBADF;
        int base_fd = d->root_fd, r;

        assert(d);
        assert(d->root_fd >= 0);
        assert(d->lowers || d->n_lowers == 0);
        assert(!d->upper == !d->work);
        assert(ret_mnt_fd);

        if (d->n_lowers > MOUNT_MAX_LAYERS)
                return error_setf(e, EINVAL,
                                  "an overlay of %zu layers cannot be mounted: the kernel stacks at most %d layers",
                                  d->n_lowers, MOUNT_MAX_LAYERS);
        if (d->n_lowers == 0 || (!d->upper && d->n_lowers < 2))
                return error_setf(e, EINVAL,
                                  "a read-only overlay needs at least 2 layers (got %zu); use a read-only bind mount",
                                  d->n_lowers);

        fs_fd = fsopen("overlay", FSOPEN_CLOEXEC);
        if (fs_fd < 0)
                return error_set_errno(e, errno, "opening an overlay filesystem context (is overlayfs available?)");

        if (idmap) {
                r = idmapped_clone(d->root_fd, idmap, &clone_fd, e);
                if (r < 0)
                        return r;
                base_fd = clone_fd;
        }
        r = fs_set_string(fs_fd, "source", "lamina", e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->n_lowers; i++) {
                r = fs_set_dir(fs_fd, "lowerdir+", base_fd, d->lowers[i], e);
                if (r < 0)
                        return r;
        }
        if (d->upper) {
                r = fs_set_dir(fs_fd, "upperdir", base_fd, d->upper, e);
                if (r < 0)
                        return r;
                r = fs_set_dir(fs_fd, "workdir", base_fd, d->work, e);
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
        for (const char *const *o = options; o && *o; o += 2) {
                r = fs_set_string(fs_fd, o[0], o[1], e);
                if (r < 0)
                        return r;
        }

        r = fs_create(fs_fd, idmap);
        if (r < 0)
                return overlay_fail(e, fs_fd, r, "create", NULL);

        mnt_fd = fsmount(fs_fd, FSMOUNT_CLOEXEC, (unsigned) attrs);
        if (mnt_fd < 0)
                return overlay_fail(e, fs_fd, -errno, "fsmount", NULL);

        log_debug("made an overlay of %zu%s layers%s", d->n_lowers, idmap ? " idmapped" : "",
                  d->upper ? " with an upper" : "");
        *ret_mnt_fd = TAKE_FD(mnt_fd);
        return 0;
}

int mount_overlay(const MountOverlayDirs *d, uint64_t attrs, const MountIdmapping *idmap, int *ret_mnt_fd, Error *e) {
        return overlay_make(d, NULL, attrs, idmap, ret_mnt_fd, e);
}

int mount_dir_own_sb(int root_fd, const char *parent, const char *name, const char *empty, const char *work,
                     uint64_t attrs, const MountIdmapping *idmap, int *ret_mnt_fd, Error *e) {
        _cleanup_close_ int ovl_fd = -EBADF, fd = -EBADF;
        struct mount_attr attr = {
                .attr_set = attrs,
                .propagation = MS_PRIVATE,
        };
        MountOverlayDirs d = {
                .root_fd = root_fd,
                .lowers = (const char *const[]) { empty },
                .n_lowers = 1,
                .upper = parent,
                .work = work,
        };
        int r;

        assert(parent);
        assert(name);
        assert(ret_mnt_fd);

        r = overlay_make(&d, overlay_pristine_upper, attrs, idmap, &ovl_fd, e);
        if (r < 0)
                return r;
        /* Only name, not a merged directory (its parent is, the upper's root being over the
         * empty lower): overlayfs would mark directories moved into a merged one opaque. */
        fd = open_tree(ovl_fd, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
        if (fd < 0)
                return error_set_errno(e, errno, "cloning %s of the overlay of %s", QUOTE(name), QUOTE(parent));
        if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
                return error_set_errno(e, errno, "setting the flags of the overlay of %s/%s", parent, name);
        *ret_mnt_fd = TAKE_FD(fd);
        return 0;
}

int mount_bind(int root_fd, const char *source, uint64_t attrs, const MountIdmapping *idmap, int *ret_mnt_fd,
               Error *e) {
        _cleanup_close_ int fd = -EBADF, tree_fd = -EBADF;
        struct mount_attr attr = {
                .attr_set = attrs,
                .propagation = MS_PRIVATE,
        };

        assert(root_fd >= 0);
        assert(source);
        assert(ret_mnt_fd);

        /* Opened once below root_fd, then cloned as that fd: no path is looked up again. */
        fd = openat2_resolve(root_fd, source, O_PATH | O_DIRECTORY | O_CLOEXEC,
                             RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        if (fd < 0)
                return error_set_errno(e, fd, "opening %s for a bind mount", QUOTE(source));
        tree_fd = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
        if (tree_fd < 0)
                return error_set_errno(e, errno, "cloning %s for a bind mount", QUOTE(source));

        if (mount_setattr(tree_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
                return error_set_errno(e, errno, "setting the flags of the bind mount of %s", QUOTE(source));
        if (idmap) {
                /* Not recursive: mounts below the snapshot's data are not ours to idmap. */
                int r = mount_set_idmap(tree_fd, idmap->userns_fd, 0);
                if (r < 0)
                        return error_set_errno(e, r, "idmapping the bind mount of %s", QUOTE(source));
        }

        *ret_mnt_fd = TAKE_FD(tree_fd);
        return 0;
}

int mount_id_of_path(int dirfd, const char *path, uint64_t *ret) {
        struct statx sx = {};

        assert(path);
        assert(ret);

        /* DONT_SYNC: a holder's file on a hung network filesystem must not hang us. */
        if (statx(dirfd, path, AT_STATX_DONT_SYNC | (path[0] ? 0 : AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW),
                  STATX_MNT_ID_UNIQUE, &sx) < 0)
                return -errno;
        if (!(sx.stx_mask & STATX_MNT_ID_UNIQUE))
                return -EOPNOTSUPP;
        *ret = sx.stx_mnt_id;
        return 0;
}

int mount_id_of_fd(int fd, uint64_t *ret) {
        assert(fd >= 0);
        return mount_id_of_path(fd, "", ret);
}
