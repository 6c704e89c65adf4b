/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "mount-api.h"
#include "mount-util.h"

/* Opens dirfd/name as a directory without following symlinks, creating it with exactly
 * `mode` (whatever the umask) when it is missing. */
static int mkdir_open_at(int dirfd, const char *name, mode_t mode, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        char proc_path[sizeof("/proc/self/fd/") + 11];
        bool created;

        created = mkdirat(dirfd, name, mode) >= 0;
        if (!created && errno != EEXIST)
                return -errno;
        fd = mount_openat_no_symlinks(dirfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return fd;
        if (created) {
                snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
                if (chmod(proc_path, mode) < 0)
                        return -errno;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Opens the absolute path as a directory, creating missing components 0755. */
static int mkdir_p_open(const char *path, int *ret_fd) {
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int fd = -EBADF;
        char *save = NULL;
        int r;

        if (!copy)
                return -ENOMEM;
        if (path[0] != '/')
                return -EINVAL;
        fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                int next;

                r = mkdir_open_at(fd, c, 0755, &next);
                if (r < 0)
                        return r;
                safe_close(fd);
                fd = next;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int mount_point_create(const char *parent_path, const char *name, int *ret_fd, Error *e) {
        _cleanup_close_ int parent_fd = -EBADF, fd = -EBADF;
        int r;

        assert(parent_path);
        assert(name);
        assert(!strchr(name, '/'));
        assert(ret_fd);

        r = mkdir_p_open(parent_path, &parent_fd);
        if (r < 0)
                return error_set_errno(e, r, "cannot create the mount directory %s", QUOTE(parent_path));
        r = mkdir_open_at(parent_fd, name, 0700, &fd);
        if (r < 0)
                return error_set_errno(e, r, "cannot create mount point %s in %s", QUOTE(name), QUOTE(parent_path));
        r = mount_dir_is_empty(fd);
        if (r < 0)
                return error_set_errno(e, r, "cannot read mount point %s in %s", QUOTE(name), QUOTE(parent_path));
        if (r == 0)
                return error_setf(e, EBUSY, "mount point %s in %s is in use; unmount what is there first",
                                  QUOTE(name), QUOTE(parent_path));

        *ret_fd = TAKE_FD(fd);
        return 0;
}

int mount_point_remove(const char *path) {
        _cleanup_free_ char *parent = strdup(path);
        _cleanup_close_ int fd = -EBADF;
        char *slash;

        if (!parent)
                return -ENOMEM;
        slash = strrchr(parent, '/');
        if (!slash || slash == parent || !slash[1])
                return -EINVAL;
        *slash = 0;

        fd = mount_openat_no_symlinks(AT_FDCWD, parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        if (unlinkat(fd, slash + 1, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}
