/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A user namespace that a caller passes for an idmapped mount: what it is, whose it is and
 * which host ids it maps, checked before laminad (root, allowed any mapping) idmaps a mount
 * with it. The maps are read from a child that joins the namespace only to be looked at. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mount-api.h"
#include "mount-util.h"

/* The kernel nests user namespaces at most 32 deep and a map has at most 340 lines. */
#define USERNS_DEPTH_MAX 33
#define MAP_LINES_MAX 340
#define MAP_BYTES_MAX (MAP_LINES_MAX * 34)

static const char *ns_type_name(int type) {
        switch (type) {
        case CLONE_NEWNS: return "mount";
        case CLONE_NEWPID: return "PID";
        case CLONE_NEWNET: return "network";
        case CLONE_NEWIPC: return "IPC";
        case CLONE_NEWUTS: return "UTS";
        case CLONE_NEWCGROUP: return "cgroup";
        case CLONE_NEWTIME: return "time";
        default: return "unknown";
        }
}

/* 1 when fd is laminad's own user namespace. */
static int is_own_userns(int fd) {
        struct stat a, b;

        if (fstat(fd, &a) < 0 || stat("/proc/self/ns/user", &b) < 0)
                return -errno;
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int check_type(int fd, Error *e) {
        int flags, type;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return error_set_errno(e, errno, "cannot read the flags of the user namespace descriptor");
        if (flags & O_PATH)
                return error_setf(e, EINVAL,
                                  "the user namespace is an O_PATH descriptor; pass one opened from /proc/PID/ns/user");
        type = ioctl(fd, NS_GET_NSTYPE);
        if (type < 0)
                return error_setf(e, EINVAL, "the descriptor passed as the user namespace is not a namespace");
        if (type != CLONE_NEWUSER)
                return error_setf(e, EINVAL, "the descriptor passed as the user namespace is a %s namespace",
                                  ns_type_name(type));
        return 0;
}

/* The namespace and each ancestor up to laminad's own must belong to owner: a namespace
 * of the caller's nested in someone else's maps ids the caller never held. */
static int check_owner_chain(int fd, uid_t owner, Error *e) {
        _cleanup_close_ int cur = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        int r;

        if (cur < 0)
                return error_set_errno(e, errno, "cannot copy the user namespace descriptor");
        for (unsigned depth = 0; depth < USERNS_DEPTH_MAX; depth++) {
                uid_t o;
                int parent;

                r = is_own_userns(cur);
                if (r < 0)
                        return error_set_errno(e, -r, "cannot compare user namespaces");
                if (r > 0) {
                        if (depth == 0)
                                return error_setf(e, EPERM,
                                                  "the user namespace passed is the host's; pass one of your own");
                        return 0;
                }
                if (ioctl(cur, NS_GET_OWNER_UID, &o) < 0)
                        return error_set_errno(e, errno, "cannot read the owner of the user namespace");
                if (o != owner) {
                        if (depth == 0)
                                return error_setf(e, EPERM,
                                                  "the user namespace passed belongs to uid %u, not to the caller (uid %u)",
                                                  (unsigned) o, (unsigned) owner);
                        return error_setf(e, EPERM,
                                          "the user namespace passed is nested in one of uid %u (%u level%s up), not of the caller (uid %u)",
                                          (unsigned) o, depth, depth == 1 ? "" : "s", (unsigned) owner);
                }
                parent = ioctl(cur, NS_GET_PARENT);
                if (parent < 0)
                        return error_set_errno(e, errno, "cannot find the parent of the user namespace");
                safe_close(cur);
                cur = parent;
        }
        return error_setf(e, EINVAL, "the user namespace passed is nested deeper than the kernel allows");
}

static int read_bounded(int dirfd, const char *name, char *buf, size_t size) {
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        size_t used = 0;

        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t n = read(fd, buf + used, size - 1 - used);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                used += (size_t) n;
                if (used == size - 1)
                        return -EFBIG;
        }
        buf[used] = 0;
        return 0;
}

/* Reads uid_map and gid_map of the namespace through a child in it: opened by laminad, in
 * the initial namespace, their second column is in host ids. */
static int read_maps(int userns_fd, char *uid_map, char *gid_map, size_t size) {
        _cleanup_close_ int proc_fd = -EBADF;
        pid_t pid;
        int r;

        r = mount_userns_child_start(userns_fd, &pid, &proc_fd, NULL);
        if (r < 0)
                return r;
        r = read_bounded(proc_fd, "uid_map", uid_map, size);
        if (r >= 0)
                r = read_bounded(proc_fd, "gid_map", gid_map, size);
        mount_userns_child_end(pid);
        return r;
}

static bool range_within(uint64_t start, uint64_t count, uint64_t allowed_start, uint64_t allowed_count) {
        return start >= allowed_start && start + count <= allowed_start + allowed_count;
}

static bool entitled(uint32_t outside, uint32_t count, uint32_t own, const SubidRange *ranges, size_t n) {
        if (range_within(outside, count, own, 1))
                return true;
        for (size_t i = 0; i < n; i++)
                if (range_within(outside, count, ranges[i].start, ranges[i].count))
                        return true;
        return false;
}

/* Checks each line of a map ("inside outside count"); *ret_zero is the host id of image
 * id 0, else of the first line's first id. */
static int check_map(char *text, const char *what, uint32_t own, const SubidRange *ranges, size_t n,
                     bool any, uint32_t *ret_zero, Error *e) {
        unsigned lines = 0;
        bool have_zero = false;

        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                unsigned long inside, outside, count;

                if (sscanf(line, "%lu %lu %lu", &inside, &outside, &count) != 3)
                        return error_setf(e, EINVAL, "cannot read the %s map of the user namespace", what);
                if (!any && !entitled(outside, count, own, ranges, n))
                        return error_setf(e, EPERM,
                                          "the user namespace maps host %ss %lu-%lu, which the caller may not use (it may map its own %s %u and its /etc/sub%s ranges, as new%smap does)",
                                          what, outside, outside + count - 1, what, (unsigned) own, what, what);
                if (inside == 0 || (lines == 0 && !have_zero))
                        *ret_zero = (uint32_t) outside;
                have_zero = have_zero || inside == 0;
                lines++;
        }
        if (lines == 0)
                return error_setf(e, EINVAL, "the user namespace maps no %ss; write its %s_map first", what, what);
        return 0;
}

int mount_userns_check(int userns_fd, const MountEntitlement *ent, MountIdmapping *ret, Error *e) {
        _cleanup_free_ char *uid_map = NULL, *gid_map = NULL;
        uint32_t uid0 = 0, gid0 = 0;
        int fd, r;

        assert(ret);

        r = check_type(userns_fd, e);
        if (r < 0)
                return r;
        if (ent) {
                r = check_owner_chain(userns_fd, ent->uid, e);
                if (r < 0)
                        return r;
        } else {
                r = is_own_userns(userns_fd);
                if (r < 0)
                        return error_set_errno(e, -r, "cannot compare user namespaces");
                if (r > 0)
                        return error_setf(e, EINVAL, "the user namespace passed is the host's; pass another");
        }

        uid_map = malloc(MAP_BYTES_MAX);
        gid_map = malloc(MAP_BYTES_MAX);
        if (!uid_map || !gid_map)
                return error_set_errno(e, ENOMEM, "reading the maps of the user namespace");
        r = read_maps(userns_fd, uid_map, gid_map, MAP_BYTES_MAX);
        if (r < 0)
                return error_set_errno(e, -r, "cannot read the maps of the user namespace");
        r = check_map(uid_map, "uid", ent ? ent->uid : 0, ent ? ent->subuid : NULL, ent ? ent->n_subuid : 0,
                      !ent, &uid0, e);
        if (r < 0)
                return r;
        r = check_map(gid_map, "gid", ent ? ent->gid : 0, ent ? ent->subgid : NULL, ent ? ent->n_subgid : 0,
                      !ent, &gid0, e);
        if (r < 0)
                return r;

        fd = fcntl(userns_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return error_set_errno(e, errno, "cannot copy the user namespace descriptor");
        *ret = (MountIdmapping) { .userns_fd = fd, .uid = uid0, .gid = gid0 };
        log_debug("user namespace checked: image id 0 is host uid %" PRIu32 " gid %" PRIu32, uid0, gid0);
        return 0;
}
