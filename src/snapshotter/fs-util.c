/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "dir-util.h"
#include "fs-util.h"
#include "strutil.h"

/* (dev, ino) of inodes with more than one link, so each is counted once. */
typedef struct InodeSet {
        struct { dev_t dev; ino_t ino; } *items;
        size_t n, allocated;
} InodeSet;

static int inode_set_add(InodeSet *s, dev_t dev, ino_t ino) {
        for (size_t i = 0; i < s->n; i++)
                if (s->items[i].dev == dev && s->items[i].ino == ino)
                        return 0;
        if (s->n == s->allocated) {
                size_t n = s->allocated ? s->allocated * 2 : 16;
                void *items = realloc(s->items, n * sizeof(*s->items));
                if (!items)
                        return -ENOMEM;
                s->items = items;
                s->allocated = n;
        }
        s->items[s->n].dev = dev;
        s->items[s->n].ino = ino;
        s->n++;
        return 1;
}

typedef int (*walk_fn)(int dirfd, const char *name, const struct stat *st, void *userdata);

/* Calls fn for every entry below dirfd, children before their directory. */
static int walk_tree(int top_fd, walk_fn fn, void *userdata) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        r = dir_open_fd(top_fd, &d);
        if (r < 0)
                return r;
        while (r >= 0 && (errno = 0, de = readdir(d))) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        r = -errno;
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub = openat(dirfd(d), de->d_name,
                                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0) {
                                if (errno == ENOENT)
                                        continue;
                                r = -errno;
                                break;
                        }
                        r = walk_tree(sub, fn, userdata);
                        if (r < 0)
                                break;
                }
                r = fn(dirfd(d), de->d_name, &st, userdata);
        }
        if (r >= 0 && errno != 0 && !de)
                r = -errno;
        return r;
}

typedef struct Usage {
        InodeSet seen;
        uint64_t size, inodes;
} Usage;

static int usage_add(const struct stat *st, Usage *u) {
        if (st->st_nlink > 1 && !S_ISDIR(st->st_mode)) {
                int r = inode_set_add(&u->seen, st->st_dev, st->st_ino);
                if (r <= 0)
                        return r;
        }
        u->size += (uint64_t) st->st_blocks * 512u;
        u->inodes++;
        return 0;
}

static int usage_one(int dirfd, const char *name, const struct stat *st, void *userdata) {
        return usage_add(st, userdata);
}

int fs_disk_usage(int dirfd, uint64_t *ret_size, uint64_t *ret_inodes) {
        Usage u = {};
        struct stat st;
        int r;

        if (fstat(dirfd, &st) < 0)
                return -errno;
        r = usage_add(&st, &u);
        if (r >= 0)
                r = walk_tree(dirfd, usage_one, &u);
        free(u.seen.items);
        if (r < 0)
                return r;
        *ret_size = u.size;
        *ret_inodes = u.inodes;
        return 0;
}

typedef struct Removal {
        dev_t dev;
        uint64_t freed;
} Removal;

static int remove_one(int dirfd, const char *name, const struct stat *st, void *userdata) {
        Removal *rm = userdata;

        if (st->st_dev != rm->dev)
                return -EXDEV;
        if (unlinkat(dirfd, name, S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (st->st_nlink <= 1 || S_ISDIR(st->st_mode))
                rm->freed += (uint64_t) st->st_blocks * 512u;
        return 0;
}

int fs_remove_tree_at(int dirfd, const char *name, uint64_t *freed) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        Removal rm;
        int r;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        rm = (Removal) { .dev = st.st_dev };
        if (S_ISDIR(st.st_mode)) {
                fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                r = walk_tree(fd, remove_one, &rm);
                if (r < 0)
                        return r;
        }
        r = remove_one(dirfd, name, &st, &rm);
        if (freed)
                *freed += rm.freed;
        return r;
}

int fs_mkdir_mode_at(int dirfd, const char *name, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;

        if (mkdirat(dirfd, name, 0700) < 0)
                return -errno;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0)
                return -errno;
        return 0;
}

int fs_mkdtemp_at(int dirfd, const char *prefix, mode_t mode, char **ret_name) {
        for (int attempt = 0; attempt < 100; attempt++) {
                uint64_t rnd;
                char *name;
                int r;

                if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
                        return -EIO;
                name = strdup_printf("%s%012" PRIx64, prefix, (uint64_t) (rnd & 0xffffffffffffULL));
                if (!name)
                        return -ENOMEM;
                r = fs_mkdir_mode_at(dirfd, name, mode);
                if (r >= 0) {
                        *ret_name = name;
                        return 0;
                }
                free(name);
                if (r != -EEXIST)
                        return r;
        }
        return -EEXIST;
}
