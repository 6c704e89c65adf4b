/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mount-api.h"
#include "mount-util.h"
#include "strutil.h"

/* Opens dirfd/name as a directory without following symlinks, creating it with exactly
 * `mode` (whatever the umask) when it is missing. */
static int mkdir_open_at(int dirfd, const char *name, mode_t mode, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        char proc_path[PROC_FD_PATH_MAX];
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

/* The kernel's form of the access ACL "u::rwx,u:OWNER:--x,g::---,m::--x,o::---". */
struct owner_dir_acl {
        uint32_t version;
        struct {
                uint16_t tag, perm;
                uint32_t id;
        } entries[5];
};

static void owner_dir_acl_init(struct owner_dir_acl *acl, uid_t owner) {
        static const struct { uint16_t tag, perm; } entries[5] = {
                { 0x01, 07 }, /* ACL_USER_OBJ: rwx */
                { 0x02, 01 }, /* ACL_USER owner: --x */
                { 0x04, 00 }, /* ACL_GROUP_OBJ */
                { 0x10, 01 }, /* ACL_MASK: --x */
                { 0x20, 00 }, /* ACL_OTHER */
        };

        acl->version = htole32(2);
        for (size_t i = 0; i < ELEMENTSOF(entries); i++) {
                acl->entries[i].tag = htole16(entries[i].tag);
                acl->entries[i].perm = htole16(entries[i].perm);
                acl->entries[i].id = htole32(entries[i].tag == 0x02 ? (uint32_t) owner : UINT32_MAX);
        }
}

/* Opens (creating it when missing) the directory of owner in parent_fd. It is root's, and
 * an ACL lets the owner search it and nothing more: the owner reaches its mounts there by
 * their random names, other users cannot (mount points are public in mountinfo), and the
 * owner cannot create files on laminad's runtime filesystem (/run, shared by every service
 * and counted by no quota). Owner and ACL are set again whatever happened to them, which
 * also takes back the directories older versions gave to the owner. */
static int owner_dir_open(int parent_fd, uid_t owner, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        char name[11], proc_path[PROC_FD_PATH_MAX];
        struct owner_dir_acl acl;
        struct stat st;
        int r;

        snprintf(name, sizeof name, "%u", (unsigned) owner);
        r = mkdir_open_at(parent_fd, name, 0700, &fd);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return -errno;
        snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
        if ((st.st_uid != 0 || st.st_gid != 0) && chown(proc_path, 0, 0) < 0)
                return -errno;
        if (owner != 0) {
                owner_dir_acl_init(&acl, owner);
                if (setxattr(proc_path, "system.posix_acl_access", &acl, sizeof acl, 0) < 0)
                        return -errno;
        } else if ((st.st_mode & 07777) != 0700 && chmod(proc_path, 0700) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* 16 random hex digits: a mount's name tells nothing and cannot be guessed. */
static int random_name(char ret[static 17]) {
        uint64_t v;

        if (getrandom(&v, sizeof v, 0) != sizeof v)
                return -EIO;
        snprintf(ret, 17, "%016" PRIx64, v);
        return 0;
}

int mount_point_create(const char *parent_path, uid_t owner, char **ret_path, int *ret_fd, Error *e) {
        _cleanup_close_ int parent_fd = -EBADF, owner_fd = -EBADF, fd = -EBADF;
        char name[17];
        int r;

        assert(parent_path);
        assert(ret_path);
        assert(ret_fd);

        r = mkdir_p_open(parent_path, &parent_fd);
        if (r < 0)
                return error_set_errno(e, r, "cannot create the mount directory %s", QUOTE(parent_path));
        r = owner_dir_open(parent_fd, owner, &owner_fd);
        if (r == -EOPNOTSUPP)
                return error_set_errno(e, r, "cannot give uid %u its mount directory in %s: its filesystem has no "
                                       "POSIX ACLs", (unsigned) owner, QUOTE(parent_path));
        if (r < 0)
                return error_set_errno(e, r, "cannot create the mount directory of uid %u in %s", (unsigned) owner,
                                       QUOTE(parent_path));

        /* The owner can create entries in its directory: only a directory we made
         * ourselves, just now, is taken. */
        for (unsigned attempt = 0;; attempt++) {
                r = random_name(name);
                if (r < 0)
                        return error_set_errno(e, r, "cannot pick a mount point name");
                if (mkdirat(owner_fd, name, 0700) >= 0)
                        break;
                if (errno != EEXIST || attempt >= 8)
                        return error_set_errno(e, errno, "cannot create a mount point in %s/%u", parent_path,
                                               (unsigned) owner);
        }
        fd = mount_openat_no_symlinks(owner_fd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return error_set_errno(e, fd, "cannot open the new mount point %s/%u/%s", parent_path,
                                       (unsigned) owner, name);

        *ret_path = strdup_printf("%s/%u/%s", parent_path, (unsigned) owner, name);
        if (!*ret_path)
                return error_set_errno(e, ENOMEM, "mount point");
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
