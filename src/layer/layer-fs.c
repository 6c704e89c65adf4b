/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "dir-util.h"
#include "layer-fs.h"
#include "strutil.h"

int layer_open_in(int dirfd, const char *path, int flags) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .resolve = LAYER_RESOLVE_FLAGS,
        };

        /* EAGAIN: a rename raced with the lookup; nothing else writes these trees, so a
         * few retries are plenty. */
        for (unsigned tries = 0;; tries++) {
                long fd = syscall(SYS_openat2, dirfd, isempty(path) ? "." : path, &how, sizeof how);
                if (fd >= 0)
                        return (int) fd;
                if (errno != EAGAIN || tries >= 16)
                        return -errno;
        }
}

int layer_open_dir_in(int dirfd, const char *path) {
        return layer_open_in(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
}

int layer_list_dir(int dir_fd, char ***ret) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        StrvBuilder b = {};
        int r;

        r = dir_open_fd(dir_fd, &d);
        if (r < 0)
                return r;
        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        r = errno > 0 ? -errno : 0;
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                r = strv_builder_extend(&b, de->d_name);
                if (r < 0)
                        break;
        }
        names = b.l;
        if (r < 0)
                return r;
        if (!names) {
                names = calloc(1, sizeof(char *));
                if (!names)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(names);
        return 0;
}

static bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool layer_xattr_allowed(const char *name) {
        if (startswith(name, "user."))
                return !startswith(name, "user.overlay.");
        return streq(name, "security.capability") ||
               streq(name, "system.posix_acl_access") ||
               streq(name, "system.posix_acl_default");
}

static int copy_xattrs(int src_fd, int dst_fd) {
        _cleanup_free_ char *names = NULL, *value = NULL;
        ssize_t n;

        names = malloc(XATTR_LIST_MAX);
        value = malloc(XATTR_SIZE_MAX);
        if (!names || !value)
                return -ENOMEM;

        n = flistxattr(src_fd, names, XATTR_LIST_MAX);
        if (n < 0)
                return errno == ENOTSUP ? 0 : -errno;
        for (char *name = names; name < names + n; name += strlen(name) + 1) {
                ssize_t len;

                if (!layer_xattr_allowed(name))
                        continue;
                len = fgetxattr(src_fd, name, value, XATTR_SIZE_MAX);
                if (len < 0) {
                        if (errno == ENODATA)
                                continue;
                        return -errno;
                }
                if (fsetxattr(dst_fd, name, value, (size_t) len, 0) < 0)
                        return -errno;
        }
        return 0;
}

int layer_clear_xattrs(int fd) {
        _cleanup_free_ char *names = malloc(XATTR_LIST_MAX);
        ssize_t n;

        if (!names)
                return -ENOMEM;
        n = flistxattr(fd, names, XATTR_LIST_MAX);
        if (n < 0)
                return errno == ENOTSUP ? 0 : -errno;
        for (char *name = names; name < names + n; name += strlen(name) + 1)
                if (layer_xattr_allowed(name) && fremovexattr(fd, name) < 0 && errno != ENODATA)
                        return -errno;
        return 0;
}

int layer_copy_dir_attrs(int src_fd, int dst_fd, struct stat *ret_st) {
        struct stat st;
        int r;

        if (fstat(src_fd, &st) < 0)
                return -errno;
        /* chown first: it may clear set-id bits that the chmod then restores. */
        if (fchown(dst_fd, st.st_uid, st.st_gid) < 0)
                return -errno;
        if (fchmod(dst_fd, st.st_mode & 07777) < 0)
                return -errno;
        if (ret_st)
                *ret_st = st;
        r = layer_clear_xattrs(dst_fd);
        if (r < 0)
                return r;
        return copy_xattrs(src_fd, dst_fd);
}

int layer_read_full(int fd, void *buf, size_t n) {
        size_t done = 0;

        while (done < n) {
                ssize_t k = read(fd, (char *) buf + done, n - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return done == 0 ? 0 : -EPIPE;
                done += (size_t) k;
        }
        return 1;
}

int layer_write_full(int fd, const void *buf, size_t n) {
        size_t done = 0;

        while (done < n) {
                ssize_t k = write(fd, (const char *) buf + done, n - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) k;
        }
        return 0;
}
