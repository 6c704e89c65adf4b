/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Idmapped mounts for unprivileged callers: the mapping a caller is entitled to (its own
 * ids and its /etc/subuid, /etc/subgid ranges, as newuidmap(1) and newgidmap(1) would
 * allow it), a user namespace carrying it, and applying it to a detached mount. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "mount-api.h"
#include "mount-util.h"

int mount_subid_range(const char *path, const char *name, uint32_t who, uint32_t *ret_start, uint32_t *ret_count) {
        SubidRange range;
        size_t n;
        int r;

        assert(ret_start);
        assert(ret_count);

        r = subid_ranges(path, name, who, &range, 1, &n);
        if (r < 0)
                return r;
        *ret_start = n > 0 ? range.start : 0;
        *ret_count = n > 0 ? range.count : 0;
        return 0;
}

/* One map: id 0 to the caller's own id, 1.. to the first subordinate range of user name
 * or uid `who` (if any). */
static int idmap_derive(const char *path, const char *name, uid_t who, uint32_t own, MountIdmapRange ret[static 2],
                        size_t *ret_n) {
        uint32_t start = 0, count = 0;
        int r;

        r = mount_subid_range(path, name, who, &start, &count);
        if (r < 0)
                return r;
        ret[0] = (MountIdmapRange) { .inside = 0, .outside = own, .count = 1 };
        *ret_n = 1;
        /* A range holding the caller's own id would map it twice. */
        if (count > 0 && !(own >= start && own - start < count)) {
                ret[1] = (MountIdmapRange) { .inside = 1, .outside = start, .count = count };
                *ret_n = 2;
        }
        return 0;
}

/* The user's name and primary gid (getpwuid_r: NSS, may block); without a passwd entry
 * no name and the uid's number as gid. */
static int user_lookup(uid_t uid, char **ret_name, gid_t *ret_gid) {
        _cleanup_free_ char *buf = NULL;
        struct passwd pw, *pwp = NULL;
        long size = sysconf(_SC_GETPW_R_SIZE_MAX);
        size_t n = size > 0 ? (size_t) size : 16384;

        buf = malloc(n);
        if (!buf)
                return -ENOMEM;
        (void) getpwuid_r(uid, &pw, buf, n, &pwp);
        *ret_gid = pwp ? pwp->pw_gid : (gid_t) uid;
        *ret_name = NULL;
        if (pwp) {
                *ret_name = strdup(pwp->pw_name);
                if (!*ret_name)
                        return -ENOMEM;
        }
        return 0;
}

int mount_idmap_for_caller(uid_t uid, gid_t gid, const char *subuid_path, const char *subgid_path, MountIdmap *ret) {
        _cleanup_free_ char *name = NULL;
        gid_t primary;
        MountIdmap m = {};
        int r;

        assert(ret);

        if (uid == (uid_t) -1)
                return -EINVAL;
        /* newuidmap and newgidmap both look for the user's name or uid. */
        r = user_lookup(uid, &name, &primary);
        if (r < 0)
                return r;
        if (gid == (gid_t) -1)
                gid = primary;
        r = idmap_derive(subuid_path, name, uid, uid, m.uid, &m.n_uid);
        if (r < 0)
                return r;
        r = idmap_derive(subgid_path, name, uid, gid, m.gid, &m.n_gid);
        if (r < 0)
                return r;
        *ret = m;
        return 0;
}

int mount_entitlement_for_caller(uid_t uid, const char *subuid_path, const char *subgid_path,
                                 MountEntitlement *ret) {
        _cleanup_free_ char *name = NULL;
        MountEntitlement m = { .uid = uid };
        int r;

        assert(ret);

        if (uid == (uid_t) -1)
                return -EINVAL;
        r = user_lookup(uid, &name, &m.gid);
        if (r < 0)
                return r;
        r = subid_ranges(subuid_path, name, uid, m.subuid, ELEMENTSOF(m.subuid), &m.n_subuid);
        if (r < 0)
                return r;
        r = subid_ranges(subgid_path, name, uid, m.subgid, ELEMENTSOF(m.subgid), &m.n_subgid);
        if (r < 0)
                return r;
        *ret = m;
        return 0;
}

static int write_map(int proc_fd, const char *file, const MountIdmapRange *ranges, size_t n) {
        _cleanup_close_ int fd = -EBADF;
        char text[128] = "";
        size_t used = 0;
        int k;

        for (size_t i = 0; i < n; i++) {
                k = snprintf(text + used, sizeof text - used, "%" PRIu32 " %" PRIu32 " %" PRIu32 "\n",
                             ranges[i].inside, ranges[i].outside, ranges[i].count);
                if (k < 0 || (size_t) k >= sizeof text - used)
                        return -E2BIG;
                used += (size_t) k;
        }
        fd = openat(proc_fd, file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        return write(fd, text, used) == (ssize_t) used ? 0 : -errno;
}

int mount_userns_new(const MountIdmap *m, int *ret_fd) {
        _cleanup_close_ int proc_fd = -EBADF, fd = -EBADF;
        pid_t pid;
        int r;

        assert(m);
        assert(ret_fd);

        r = mount_userns_child_start(-EBADF, &pid, &proc_fd, &fd);
        if (r < 0)
                return r;
        r = write_map(proc_fd, "uid_map", m->uid, m->n_uid);
        if (r >= 0)
                r = write_map(proc_fd, "gid_map", m->gid, m->n_gid);
        mount_userns_child_end(pid);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int mount_set_idmap(int mnt_fd, int userns_fd, uint64_t attr_set) {
        struct mount_attr attr = {
                .attr_set = attr_set | MOUNT_ATTR_IDMAP,
                .userns_fd = (uint64_t) userns_fd,
                .propagation = MS_PRIVATE,
        };

        assert(mnt_fd >= 0);
        assert(userns_fd >= 0);

        return RET_NERRNO(mount_setattr(mnt_fd, "", AT_EMPTY_PATH, &attr, sizeof attr));
}

static int caps_raise(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};

        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        d[0].effective = d[0].permitted;
        d[1].effective = d[1].permitted;
        return RET_NERRNO((int) syscall(SYS_capset, &h, d));
}

int mount_fs_ids_set(uid_t uid, gid_t gid) {
        /* Per thread, unlike setresuid(); changing the fsuid from 0 drops the file
         * capabilities from the effective set, hence caps_raise. */
        (void) setfsgid(gid);
        (void) setfsuid(uid);
        if ((uid_t) setfsuid((uid_t) -1) != uid || (gid_t) setfsgid((gid_t) -1) != gid)
                return -EPERM;
        return caps_raise();
}
