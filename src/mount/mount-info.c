/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mount table from /proc/PID/mountinfo, for when statmount(2)
 * and listmount(2) cannot be used: a kernel older than 6.8, or a seccomp policy that does
 * not know them and refuses them (systemd 252's @mount, SystemCallFilter= answers EPERM).
 * mountinfo has only the reusable 32-bit mount IDs; an entry gets its unique ID from its
 * mount point, opened without following symlinks: when statx() there reports the entry's
 * own 32-bit ID, the unique ID statx() reports is that mount's. A mount covered by another
 * one on the same mount point cannot be reached that way and is left out (only root can
 * cover a mount in laminad's mount namespace). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "error.h"
#include "file-util.h"
#include "mount-api.h"
#include "mount-util.h"

/* The kernel writes space, tab, newline and backslash in paths as \ooo (and nothing else
 * escaped): decoded in place, so that no path can run into the next field or line. */
static bool is_octal(char c) {
        return c >= '0' && c <= '7';
}

static void unescape_octal(char *s) {
        char *w = s;

        for (const char *r = s; *r;) {
                unsigned v = 0;

                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && is_octal(r[2]) && is_octal(r[3]))
                        v = ((unsigned) (r[1] - '0') << 6) | ((unsigned) (r[2] - '0') << 3) | (unsigned) (r[3] - '0');
                if (v == 0) { /* not an escape (a path never holds NUL) */
                        *w++ = *r++;
                        continue;
                }
                *w++ = (char) v;
                r += 4;
        }
        *w = 0;
}

/* The next field of a line (fields are separated by one space); NULL past the last. */
static char *next_field(char **p) {
        char *s = *p, *end;

        if (!s)
                return NULL;
        end = strchr(s, ' ');
        if (end) {
                *end = 0;
                *p = end + 1;
        } else
                *p = NULL;
        return s;
}

static int parse_uint(const char *s, unsigned *ret) {
        uint64_t v = 0;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t) (*s - '0');
                if (v > UINT32_MAX)
                        return -EINVAL;
        }
        *ret = (unsigned) v;
        return 0;
}

int mount_info_parse_line(char *line, MountInfoLine *ret) {
        char *p = line, *id, *devno, *colon, *root, *point;
        unsigned parsed_id, major, minor;

        assert(line);
        assert(ret);

        line[strcspn(line, "\n")] = 0;
        id = next_field(&p);
        (void) next_field(&p); /* the parent's ID */
        devno = next_field(&p);
        root = next_field(&p);
        point = next_field(&p);
        if (!point || !p) /* the mount options and the rest follow */
                return -EINVAL;
        colon = strchr(devno, ':');
        if (!colon)
                return -EINVAL;
        *colon = 0;
        if (parse_uint(id, &parsed_id) < 0 || parsed_id > INT32_MAX || parse_uint(devno, &major) < 0 ||
            parse_uint(colon + 1, &minor) < 0)
                return -EINVAL;
        unescape_octal(root);
        unescape_octal(point);
        *ret = (MountInfoLine) { .id = (int) parsed_id, .dev = makedev(major, minor), .root = root, .point = point };
        return 0;
}

/* Opens the mountinfo file of /proc/PID (proc_pid_fd, or AT_FDCWD with "self"). */
static int mountinfo_open(int proc_pid_fd, FILE **ret) {
        FILE *f;
        int fd;

        fd = openat(proc_pid_fd, proc_pid_fd == AT_FDCWD ? "/proc/self/mountinfo" : "mountinfo",
                    O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "re");
        if (!f) {
                safe_close(fd);
                return -errno;
        }
        *ret = f;
        return 0;
}

/* The next entry of f; 0 at the end. line and *size belong to getline(). */
static int mountinfo_next(FILE *f, char **line, size_t *size, MountInfoLine *ret) {
        errno = 0;
        if (getline(line, size, f) < 0)
                return errno == 0 ? 0 : -errno;
        return mount_info_parse_line(*line, ret) < 0 ? -EBADMSG : 1;
}

/* The unique ID of the mount e when its mount point leads to it (not covered), else 0. */
static uint64_t entry_unique_id(const MountInfoLine *e) {
        _cleanup_close_ int fd = -EBADF;
        struct statx sx = {};
        uint64_t id;

        if (e->point[0] != '/')
                return 0;
        fd = mount_openat_no_symlinks(AT_FDCWD, e->point, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return 0; /* renamed, unmounted meanwhile, or a symlink on the way */
        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_MNT_ID, &sx) < 0 ||
            !(sx.stx_mask & STATX_MNT_ID) || sx.stx_mnt_id != (uint64_t) e->id)
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
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t size = 0, n = 0;
        MountInfo *all = NULL;
        MountInfoLine e;
        int r;

        assert(ret);
        assert(ret_n);

        r = mountinfo_open(AT_FDCWD, &f);
        if (r < 0)
                return r;
        while ((r = mountinfo_next(f, &line, &size, &e)) > 0) {
                uint64_t id = entry_unique_id(&e);
                MountInfo *grown;

                if (id == 0)
                        continue;
                grown = realloc(all, (n + 1) * sizeof *all);
                if (!grown) {
                        r = -ENOMEM;
                        break;
                }
                all = grown;
                all[n] = (MountInfo) { .id = id, .point = strdup(e.point), .dev = e.dev, .root = strdup(e.root) };
                if (!all[n++].point || !all[n - 1].root) {
                        r = -ENOMEM;
                        break;
                }
        }
        if (r < 0) {
                mount_info_free(all, n);
                return r;
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
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        MountInfoLine e;
        int r;

        assert(proc_pid_fd >= 0);
        assert(root);

        r = mountinfo_open(proc_pid_fd, &f);
        if (r < 0)
                return process_gone(proc_pid_fd) ? 0 : r;
        while ((r = mountinfo_next(f, &line, &size, &e)) > 0)
                if (e.dev == dev && mount_path_within(e.root, root, false))
                        return 1;
        if (r < 0)
                return process_gone(proc_pid_fd) ? 0 : r; /* it exited while we read */
        return 0;
}
