/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mount table from /proc/PID/mountinfo (parsed by libmount), for when statmount(2)
 * and listmount(2) cannot be used: a kernel older than 6.8, or a seccomp policy that does
 * not know them and refuses them (systemd 252's @mount, SystemCallFilter= answers EPERM).
 * mountinfo has only the reusable 32-bit mount IDs; an entry gets its unique ID from its
 * mount point, opened without following symlinks: when statx() there reports the entry's
 * own 32-bit ID, the unique ID statx() reports is that mount's. A mount covered by another
 * one on the same mount point cannot be reached that way and is left out (only root can
 * cover a mount in laminad's mount namespace). */
#include <fcntl.h>
#include <libmount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "mount-api.h"
#include "mount-util.h"

static void mnt_unref_tablep(struct libmnt_table **t) {
        mnt_unref_table(*t);
}

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

static void mnt_free_iterp(struct libmnt_iter **i) {
        mnt_free_iter(*i);
}

/* Parses the mountinfo file of /proc/PID (proc_pid_fd, or AT_FDCWD with "self"). */
static int mountinfo_parse(int proc_pid_fd, struct libmnt_table **ret) {
        struct libmnt_table *t = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        int fd, r;

        fd = openat(proc_pid_fd, proc_pid_fd == AT_FDCWD ? "/proc/self/mountinfo" : "mountinfo",
                    O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "re");
        if (!f) {
                safe_close(fd);
                return -errno;
        }
        t = mnt_new_table();
        if (!t)
                return -ENOMEM;
        r = mnt_table_parse_stream(t, f, "mountinfo");
        if (r < 0) {
                mnt_unref_table(t);
                return r;
        }
        *ret = t;
        return 0;
}

/* The unique ID of the mount fs when its mount point leads to it (not covered), else 0. */
static uint64_t entry_unique_id(struct libmnt_fs *fs) {
        _cleanup_close_ int fd = -EBADF;
        const char *point = mnt_fs_get_target(fs);
        struct statx sx = {};
        uint64_t id;

        if (!point || point[0] != '/')
                return 0;
        fd = mount_openat_no_symlinks(AT_FDCWD, point, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return 0; /* renamed, unmounted meanwhile, or a symlink on the way */
        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_MNT_ID, &sx) < 0 ||
            !(sx.stx_mask & STATX_MNT_ID) || sx.stx_mnt_id != (uint64_t) mnt_fs_get_id(fs))
                return 0;
        return mount_id_of_fd(fd, &id) < 0 ? 0 : id;
}

void mount_info_free(MountInfo *m, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(m[i].point);
                free(m[i].root);
        }
        free(m);
}

int mount_info_read_self(MountInfo **ret, size_t *ret_n) {
        _cleanup_(mnt_unref_tablep) struct libmnt_table *t = NULL;
        _cleanup_(mnt_free_iterp) struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
        MountInfo *all = NULL;
        struct libmnt_fs *fs;
        size_t n = 0;
        int r;

        assert(ret);
        assert(ret_n);

        if (!it)
                return -ENOMEM;
        r = mountinfo_parse(AT_FDCWD, &t);
        if (r < 0)
                return r;
        while (mnt_table_next_fs(t, it, &fs) == 0) {
                uint64_t id = entry_unique_id(fs);
                const char *root = mnt_fs_get_root(fs);
                MountInfo *grown;

                if (id == 0)
                        continue;
                grown = realloc(all, (n + 1) * sizeof *all);
                if (!grown) {
                        mount_info_free(all, n);
                        return -ENOMEM;
                }
                all = grown;
                all[n] = (MountInfo) {
                        .id = id,
                        .point = strdup(mnt_fs_get_target(fs)),
                        .dev = mnt_fs_get_devno(fs),
                        .root = strdup(root ?: "/"),
                };
                if (!all[n++].point || !all[n - 1].root) {
                        mount_info_free(all, n);
                        return -ENOMEM;
                }
        }
        *ret = all;
        *ret_n = n;
        return 0;
}

/* Whether the process of /proc/PID (proc_pid_fd) has exited: its namespaces are gone. */
static bool process_gone(int proc_pid_fd) {
        _cleanup_close_ int fd = openat(proc_pid_fd, "ns/mnt", O_RDONLY | O_CLOEXEC);

        return fd < 0 && (errno == ENOENT || errno == ESRCH);
}

int mount_info_has_copy(int proc_pid_fd, dev_t dev, const char *root) {
        _cleanup_(mnt_unref_tablep) struct libmnt_table *t = NULL;
        _cleanup_(mnt_free_iterp) struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
        struct libmnt_fs *fs;
        int r;

        assert(proc_pid_fd >= 0);
        assert(root);

        if (!it)
                return -ENOMEM;
        r = mountinfo_parse(proc_pid_fd, &t);
        if (r < 0)
                return process_gone(proc_pid_fd) ? 0 : r; /* it exited while we read */
        while (mnt_table_next_fs(t, it, &fs) == 0) {
                const char *copy_root = mnt_fs_get_root(fs);

                if (mnt_fs_get_devno(fs) == dev && copy_root && mount_path_within(copy_root, root, false))
                        return 1;
        }
        return 0;
}
