/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "copy.h"
#include "inode-map.h"
#include "log.h"
#include "strutil.h"
#include "tree-walk.h"


/* The first copy of each inode with more than one link is remembered by a file handle
 * (a path could be longer than PATH_MAX in a deep tree, an fd per group is unbounded), so
 * later names of it become hardlinks to it. */
typedef struct Copy {
        int dst_root_fd;
        InodeMap links; /* the source's (dev, ino) -> struct file_handle of the copy */
        bool no_reflink; /* FICLONE failed once: the filesystem cannot share extents */
} Copy;

static void copy_clear(Copy *c) {
        inode_map_clear(&c->links);
}

static int link_remember(Copy *c, const struct stat *st, int ddir, const char *name) {
        union {
                struct file_handle handle;
                uint8_t space[sizeof(struct file_handle) + MAX_HANDLE_SZ];
        } h = { .handle.handle_bytes = MAX_HANDLE_SZ };
        _cleanup_free_ struct file_handle *copy = NULL;
        int mnt_id, r;

        if (name_to_handle_at(ddir, name, &h.handle, &mnt_id, 0) < 0)
                return -errno;
        copy = malloc(sizeof(struct file_handle) + h.handle.handle_bytes);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, &h.handle, sizeof(struct file_handle) + h.handle.handle_bytes);
        r = inode_map_put(&c->links, st->st_dev, st->st_ino, copy);
        if (r > 0)
                TAKE_PTR(copy);
        return r < 0 ? r : 0;
}

/* Links ddir/name to the copy that handle names (a symlink too: O_PATH does not follow it). */
static int link_to_first(Copy *c, struct file_handle *handle, int ddir, const char *name) {
        _cleanup_close_ int fd = open_by_handle_at(c->dst_root_fd, handle, O_PATH | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return RET_NERRNO(linkat(fd, "", ddir, name, AT_EMPTY_PATH));
}

/* An inode whose metadata is read or written: an open fd, or, for symlinks and special
 * files (never opened), dirfd/name plus a /proc path that l*xattr() resolves through
 * the directory fd without following the last component. */
typedef struct Node {
        int fd;
        int dirfd;
        const char *name;
        char proc_path[sizeof("/proc/self/fd//") + 11 + NAME_MAX];
} Node;

static Node node_fd(int fd) {
        return (Node) { .fd = fd, .dirfd = -EBADF };
}

static Node node_at(int dirfd, const char *name) {
        Node n = { .fd = -EBADF, .dirfd = dirfd, .name = name };

        snprintf(n.proc_path, sizeof n.proc_path, "/proc/self/fd/%d/%s", dirfd, name);
        return n;
}

static ssize_t node_listxattr(const Node *n, char *buf, size_t size) {
        return n->fd >= 0 ? flistxattr(n->fd, buf, size) : llistxattr(n->proc_path, buf, size);
}

static ssize_t node_getxattr(const Node *n, const char *name, char *buf, size_t size) {
        return n->fd >= 0 ? fgetxattr(n->fd, name, buf, size) : lgetxattr(n->proc_path, name, buf, size);
}

static int node_setxattr(const Node *n, const char *name, const char *value, size_t size) {
        return n->fd >= 0 ? fsetxattr(n->fd, name, value, size, 0) : lsetxattr(n->proc_path, name, value, size, 0);
}

/* The list of xattr names (name NULL) or one value; retries when it grew in between. */
static int xattr_read(const Node *n, const char *name, char **ret, size_t *ret_size) {
        for (;;) {
                _cleanup_free_ char *buf = NULL;
                ssize_t size, k;

                size = name ? node_getxattr(n, name, NULL, 0) : node_listxattr(n, NULL, 0);
                if (size < 0)
                        return -errno;
                buf = malloc((size_t) size + 1);
                if (!buf)
                        return -ENOMEM;
                k = name ? node_getxattr(n, name, buf, (size_t) size) : node_listxattr(n, buf, (size_t) size);
                if (k >= 0) {
                        *ret = TAKE_PTR(buf);
                        *ret_size = (size_t) k;
                        return 0;
                }
                if (errno != ERANGE)
                        return -errno;
        }
}

static int copy_xattrs(const Node *src, const Node *dst) {
        _cleanup_free_ char *list = NULL;
        size_t size;
        int r;

        r = xattr_read(src, NULL, &list, &size);
        if (r == -EOPNOTSUPP)
                return 0;
        if (r < 0)
                return r;
        for (const char *p = list; p < list + size; p += strlen(p) + 1) {
                _cleanup_free_ char *value = NULL;
                size_t value_size;

                r = xattr_read(src, p, &value, &value_size);
                if (r == -ENODATA)
                        continue; /* removed since it was listed */
                if (r < 0)
                        return r;
                if (node_setxattr(dst, p, value, value_size) >= 0)
                        continue;
                if (errno != EOPNOTSUPP)
                        return -errno;
                log_debug("copy: the destination cannot store xattr %s; skipped", p);
        }
        return 0;
}

/* Owner, mode, xattrs and times, in that order: chown clears set-id bits and
 * security.capability, and every change before the times would touch them. */
static int copy_metadata(const Node *src, const Node *dst, const struct stat *st) {
        const struct timespec ts[2] = { st->st_atim, st->st_mtim };
        mode_t mode = st->st_mode & 07777;
        int r;

        if ((dst->fd >= 0 ? fchown(dst->fd, st->st_uid, st->st_gid)
                          : fchownat(dst->dirfd, dst->name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW)) < 0)
                return -errno;
        /* Symlinks have no mode of their own. A special file was just made by mknodat() in
         * our private directory, so fchmodat() resolves to it. */
        if (!S_ISLNK(st->st_mode) &&
            (dst->fd >= 0 ? fchmod(dst->fd, mode) : fchmodat(dst->dirfd, dst->name, mode, 0)) < 0)
                return -errno;
        r = copy_xattrs(src, dst);
        if (r < 0)
                return r;
        if ((dst->fd >= 0 ? futimens(dst->fd, ts) : utimensat(dst->dirfd, dst->name, ts, AT_SYMLINK_NOFOLLOW)) < 0)
                return -errno;
        return 0;
}

static int copy_range_rw(int sfd, int dfd, off_t off, off_t len) {
        _cleanup_free_ char *buf = malloc(128 * 1024);

        if (!buf)
                return -ENOMEM;
        while (len > 0) {
                ssize_t n = pread(sfd, buf, len < 128 * 1024 ? (size_t) len : 128 * 1024, off);
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0; /* the source shrank */
                for (ssize_t done = 0; done < n;) {
                        ssize_t w = pwrite(dfd, buf + done, (size_t) (n - done), off + done);
                        if (w < 0)
                                return -errno;
                        done += w;
                }
                off += n;
                len -= n;
        }
        return 0;
}

static int copy_range(int sfd, int dfd, off_t off, off_t len) {
        while (len > 0) {
                loff_t in = off, out = off;
                ssize_t n = copy_file_range(sfd, &in, dfd, &out, len < (1 << 30) ? (size_t) len : (1 << 30), 0);

                if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS))
                        return copy_range_rw(sfd, dfd, off, len);
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                off += n;
                len -= n;
        }
        return 0;
}

/* Shares the extents, or copies only the data regions so holes stay holes. */
static int copy_data(Copy *c, int sfd, int dfd, off_t size) {
        off_t pos = 0;

        if (!c->no_reflink) {
                if (ioctl(dfd, FICLONE, sfd) >= 0)
                        return 0;
                if (errno == EOPNOTSUPP || errno == ENOTTY || errno == EXDEV || errno == EINVAL)
                        c->no_reflink = true;
        }
        while (pos < size) {
                off_t data, end;
                int r;

                data = lseek(sfd, pos, SEEK_DATA);
                if (data < 0 && errno == ENXIO)
                        break; /* only a hole is left */
                if (data < 0)
                        return -errno;
                end = lseek(sfd, data, SEEK_HOLE);
                if (end < 0)
                        return -errno;
                if (end > size)
                        end = size;
                r = copy_range(sfd, dfd, data, end - data);
                if (r < 0)
                        return r;
                pos = end;
        }
        return RET_NERRNO(ftruncate(dfd, size));
}

/* Opens sdir/name without following it and checks it is still what the walk saw. */
static int open_checked(int sdir, const char *name, int flags, const struct stat *seen, struct stat *ret) {
        _cleanup_close_ int fd = openat(sdir, name, flags | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        if (fstat(fd, ret) < 0)
                return -errno;
        if (ret->st_dev != seen->st_dev || ret->st_ino != seen->st_ino)
                return -ESTALE; /* replaced while we copied */
        return TAKE_FD(fd);
}

static int copy_regular(Copy *c, int sdir, int ddir, const char *name, const struct stat *seen) {
        _cleanup_close_ int sfd = -EBADF, dfd = -EBADF;
        struct stat st;
        Node src, dst;
        int r;

        sfd = open_checked(sdir, name, O_RDONLY | O_NONBLOCK, seen, &st);
        if (sfd < 0)
                return sfd;
        dfd = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (dfd < 0)
                return -errno;
        r = copy_data(c, sfd, dfd, st.st_size);
        if (r < 0)
                return r;
        src = node_fd(sfd);
        dst = node_fd(dfd);
        r = copy_metadata(&src, &dst, &st);
        if (r < 0)
                return r;
        return RET_NERRNO(close(TAKE_FD(dfd)));
}

static int copy_symlink(int sdir, int ddir, const char *name, const struct stat *st) {
        size_t size = st->st_size > 0 ? (size_t) st->st_size + 1 : PATH_MAX;
        Node src, dst;

        for (;;) {
                _cleanup_free_ char *target = malloc(size);
                ssize_t n;

                if (!target)
                        return -ENOMEM;
                n = readlinkat(sdir, name, target, size);
                if (n < 0)
                        return -errno;
                if ((size_t) n < size) {
                        target[n] = 0;
                        if (symlinkat(target, ddir, name) < 0)
                                return -errno;
                        break;
                }
                size *= 2;
        }
        src = node_at(sdir, name);
        dst = node_at(ddir, name);
        return copy_metadata(&src, &dst, st);
}

/* FIFOs, sockets and device nodes. */
static int copy_special(int sdir, int ddir, const char *name, const struct stat *st) {
        Node src, dst;

        if (mknodat(ddir, name, st->st_mode & S_IFMT, st->st_rdev) < 0)
                return -errno;
        src = node_at(sdir, name);
        dst = node_at(ddir, name);
        return copy_metadata(&src, &dst, st);
}

static int copy_nondir(Copy *c, const TreeWalkItem *item) {
        const struct stat *st = item->st;
        bool linked = st->st_nlink > 1;
        int r;

        if (linked) {
                struct file_handle *first = inode_map_get(&c->links, st->st_dev, st->st_ino);
                if (first)
                        return link_to_first(c, first, item->mirror_dirfd, item->name);
        }
        switch (st->st_mode & S_IFMT) {
        case S_IFREG:
                r = copy_regular(c, item->dirfd, item->mirror_dirfd, item->name, st);
                break;
        case S_IFLNK:
                r = copy_symlink(item->dirfd, item->mirror_dirfd, item->name, st);
                break;
        default:
                r = copy_special(item->dirfd, item->mirror_dirfd, item->name, st);
        }
        if (r >= 0 && linked)
                r = link_remember(c, st, item->mirror_dirfd, item->name);
        return r;
}

static int copy_one(TreeWalkEvent event, const TreeWalkItem *item, void *userdata) {
        Copy *c = userdata;
        Node src, dst;
        int r;

        if (event == TREE_WALK_FILE)
                r = copy_nondir(c, item);
        else if (event == TREE_WALK_ENTER)
                r = RET_NERRNO(mkdirat(item->mirror_dirfd, item->name, 0700));
        else {
                /* After its entries, so their creation does not change its times. */
                src = node_fd(item->fd);
                dst = node_fd(item->mirror_fd);
                r = copy_metadata(&src, &dst, item->st);
        }
        if (r < 0)
                return log_debug_errno(r, "copy: %s (depth %zu): %m", item->name, item->depth);
        return 0;
}

int copy_tree(int src_fd, int dst_fd) {
        _cleanup_(copy_clear) Copy c = { .dst_root_fd = dst_fd, .links.free_value = free };
        struct stat st;
        Node src, dst;
        int r;

        assert(src_fd >= 0);
        assert(dst_fd >= 0);

        if (fstat(src_fd, &st) < 0)
                return -errno;
        r = tree_walk(src_fd, dst_fd, copy_one, &c);
        if (r < 0)
                return r;
        src = node_fd(src_fd);
        dst = node_fd(dst_fd);
        return copy_metadata(&src, &dst, &st);
}
