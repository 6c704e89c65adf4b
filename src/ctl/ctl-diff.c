/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "alloc-util.h"
#include "ctl-diff.h"
#include "ctl.h"
#include "strutil.h"

/* The changes from an old tree to a new one as an OCI layer (image-spec layer.md), like
 * containerd's archive.WriteDiff: what is new or changed in new (type, mode, owner, size,
 * mtime, link target, device, xattrs; content when the times cannot tell), and a whiteout
 * .wh.NAME for what is gone. Both trees are read-only mounts the caller made; the current
 * directory is the new tree and old is a directory fd; nothing follows a symbolic link. */

typedef struct Diff {
        struct archive *disk, *out;
        struct archive_entry_linkresolver *links;
        int old_fd;
} Diff;

static int fail_archive(struct archive *a, const char *what, const char *path) {
        return ctl_fail(-EIO, "cannot %s %s: %s", what, path, archive_error_string(a));
}

static int copy_file(Diff *d, const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        char buf[64 * 1024];
        ssize_t n;

        if (fd < 0)
                return ctl_fail(-errno, "cannot open %s: %m", path);
        while ((n = read(fd, buf, sizeof buf)) > 0)
                if (archive_write_data(d->out, buf, (size_t) n) != n)
                        return fail_archive(d->out, "write", path);
        return n < 0 ? ctl_fail(-errno, "cannot read %s: %m", path) : 0;
}

static int write_one(Diff *d, struct archive_entry *e) {
        if (archive_write_header(d->out, e) < ARCHIVE_WARN)
                return fail_archive(d->out, "write the header of", archive_entry_pathname(e));
        if (archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0 && !archive_entry_hardlink(e))
                return copy_file(d, archive_entry_sourcepath(e) ?: archive_entry_pathname(e));
        return 0;
}

/* Adds path (relative to the new tree) as it is there. */
static int add(Diff *d, const char *path) {
        struct archive_entry *e = archive_entry_new(), *sparse = NULL;
        int r = 0;

        if (!e)
                return -ENOMEM;
        archive_entry_copy_pathname(e, path);
        archive_entry_copy_sourcepath(e, path);
        if (archive_read_disk_entry_from_file(d->disk, e, -1, NULL) < ARCHIVE_WARN) {
                r = fail_archive(d->disk, "read", path);
                archive_entry_free(e);
                return r;
        }
        archive_entry_set_uname(e, NULL);
        archive_entry_set_gname(e, NULL);
        archive_entry_linkify(d->links, &e, &sparse);
        if (e)
                r = write_one(d, e);
        if (r >= 0 && sparse)
                r = write_one(d, sparse);
        archive_entry_free(e);
        return r;
}

static int whiteout(Diff *d, const char *dir, const char *name) {
        _cleanup_free_ char *path = strdup_printf("%s/.wh.%s", dir, name);
        struct archive_entry *e = archive_entry_new();
        int r = 0;

        if (!path || !e) {
                archive_entry_free(e);
                return -ENOMEM;
        }
        archive_entry_copy_pathname(e, path);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 0);
        if (archive_write_header(d->out, e) < ARCHIVE_WARN)
                r = fail_archive(d->out, "write", path);
        archive_entry_free(e);
        return r;
}

/* Whether the two files' xattrs differ. */
static bool xattrs_differ(int old_fd, const char *path) {
        _cleanup_free_ char *pold = NULL;
        char a[64 * 1024], b[64 * 1024];
        ssize_t na, nb;

        pold = strdup_printf("/proc/self/fd/%d/%s", old_fd, path);
        if (!pold)
                return true;
        na = llistxattr(path, a, sizeof a);
        nb = llistxattr(pold, b, sizeof b);
        if (na != nb || (na > 0 && memcmp(a, b, (size_t) na) != 0))
                return true;
        for (ssize_t i = 0; i < na; i += (ssize_t) strlen(a + i) + 1) {
                char va[4096], vb[4096];
                ssize_t la = lgetxattr(path, a + i, va, sizeof va), lb = lgetxattr(pold, a + i, vb, sizeof vb);

                if (la != lb || (la > 0 && memcmp(va, vb, (size_t) la) != 0))
                        return true;
        }
        return false;
}

static bool contents_differ(int old_fd, const char *path) {
        _cleanup_close_ int a = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int b = openat(old_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        char ba[64 * 1024], bb[64 * 1024];

        if (a < 0 || b < 0)
                return true;
        for (;;) {
                ssize_t na = read(a, ba, sizeof ba), nb = read(b, bb, sizeof bb);

                if (na != nb || na < 0 || memcmp(ba, bb, (size_t) na) != 0)
                        return true;
                if (na == 0)
                        return false;
        }
}

static bool link_targets_differ(int old_fd, const char *path) {
        char a[4096], b[4096];
        ssize_t na = readlink(path, a, sizeof a), nb = readlinkat(old_fd, path, b, sizeof b);

        return na != nb || na < 0 || memcmp(a, b, (size_t) na) != 0;
}

/* Whether path changed between old and new (both exist; *st is new's). */
static bool changed(Diff *d, const char *path, const struct stat *st, const struct stat *old) {
        if ((st->st_mode & S_IFMT) != (old->st_mode & S_IFMT) || st->st_mode != old->st_mode ||
            st->st_uid != old->st_uid || st->st_gid != old->st_gid || xattrs_differ(d->old_fd, path))
                return true;
        if (S_ISDIR(st->st_mode))
                return false; /* a directory's time changes with its entries, which are compared */
        if (st->st_size != old->st_size || st->st_mtim.tv_sec != old->st_mtim.tv_sec ||
            st->st_mtim.tv_nsec != old->st_mtim.tv_nsec || st->st_rdev != old->st_rdev)
                return true;
        if (S_ISLNK(st->st_mode))
                return link_targets_differ(d->old_fd, path);
        /* Times with whole seconds may come from a tar: only the content can tell. */
        if (S_ISREG(st->st_mode) && st->st_mtim.tv_nsec == 0)
                return contents_differ(d->old_fd, path);
        return false;
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int names_of(const char *dir, int at_fd, char ***ret) {
        _cleanup_close_ int fd = openat(at_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_strv_free_ char **names = NULL;
        DIR *dp;
        struct dirent *de;
        size_t n = 0, cap = 0;

        if (fd < 0)
                return ctl_fail(-errno, "cannot open %s: %m", dir);
        dp = fdopendir(TAKE_FD(fd));
        if (!dp)
                return ctl_fail(-errno, "cannot read %s: %m", dir);
        while ((errno = 0, de = readdir(dp))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (GREEDY_REALLOC(names, cap, n + 2, 32) < 0) {
                        closedir(dp);
                        return -ENOMEM;
                }
                names[n] = strdup(de->d_name);
                names[++n] = NULL;
                if (!names[n - 1]) {
                        closedir(dp);
                        return -ENOMEM;
                }
        }
        closedir(dp);
        if (n > 1)
                qsort(names, n, sizeof(char *), compare_names);
        *ret = names ? TAKE_PTR(names) : calloc(1, sizeof(char *));
        return *ret ? 0 : -ENOMEM;
}

/* dir exists as a directory in new; in_old: also in old. */
static int diff_dir(Diff *d, const char *dir, bool in_old) {
        _cleanup_strv_free_ char **names = NULL, **old_names = NULL;
        int r;

        r = names_of(dir, AT_FDCWD, &names);
        if (r < 0)
                return r;
        for (char **n = names; *n; n++) {
                _cleanup_free_ char *path = strdup_printf("%s/%s", dir, *n);
                struct stat st, old;
                bool old_exists;

                if (!path)
                        return -ENOMEM;
                if (lstat(path, &st) < 0)
                        return ctl_fail(-errno, "cannot stat %s: %m", path);
                old_exists = in_old && fstatat(d->old_fd, path, &old, AT_SYMLINK_NOFOLLOW) >= 0;
                if (!old_exists || changed(d, path, &st, &old)) {
                        r = add(d, path);
                        if (r < 0)
                                return r;
                }
                if (S_ISDIR(st.st_mode)) {
                        r = diff_dir(d, path, old_exists && S_ISDIR(old.st_mode));
                        if (r < 0)
                                return r;
                }
        }
        if (!in_old)
                return 0;
        r = names_of(dir, d->old_fd, &old_names);
        if (r < 0)
                return r;
        for (char **n = old_names; *n; n++) {
                _cleanup_free_ char *path = strdup_printf("%s/%s", dir, *n);
                struct stat st;

                if (!path)
                        return -ENOMEM;
                if (lstat(path, &st) < 0 && errno == ENOENT) {
                        r = whiteout(d, dir, *n);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int ctl_write_diff(const char *new_root, const char *old_root, int out_fd) {
        _cleanup_close_ int old_fd = -EBADF;
        Diff d = {
                .disk = archive_read_disk_new(),
                .out = archive_write_new(),
                .links = archive_entry_linkresolver_new(),
        };
        int r = 0;

        if (!d.disk || !d.out || !d.links)
                r = ctl_fail(-ENOMEM, "out of memory");
        if (r >= 0 && old_root && (old_fd = open(old_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                r = ctl_fail(-errno, "cannot open %s: %m", old_root);
        if (r >= 0 && chdir(new_root) < 0)
                r = ctl_fail(-errno, "cannot enter %s: %m", new_root);
        d.old_fd = old_fd;
        if (r >= 0) {
                archive_entry_linkresolver_set_strategy(d.links, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
                if (archive_read_disk_set_symlink_physical(d.disk) != ARCHIVE_OK ||
                    archive_write_set_format_pax(d.out) != ARCHIVE_OK ||
                    archive_write_set_bytes_in_last_block(d.out, 1) != ARCHIVE_OK ||
                    archive_write_open_fd(d.out, out_fd) != ARCHIVE_OK)
                        r = fail_archive(d.out, "start", "the layer");
        }
        if (r >= 0)
                r = diff_dir(&d, ".", old_fd >= 0);
        for (; r >= 0;) {
                struct archive_entry *e = NULL, *sparse = NULL;

                archive_entry_linkify(d.links, &e, &sparse);
                if (!e)
                        break;
                r = write_one(&d, e);
                archive_entry_free(e);
        }
        if (r >= 0 && archive_write_close(d.out) != ARCHIVE_OK)
                r = fail_archive(d.out, "finish", "the layer");
        if (d.links)
                archive_entry_linkresolver_free(d.links);
        if (d.out)
                archive_write_free(d.out);
        if (d.disk)
                archive_read_free(d.disk);
        return r;
}
