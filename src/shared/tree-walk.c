/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>

#include "alloc-util.h"
#include "dir-util.h"
#include "tree-walk.h"

/* One directory of one tree on the current path. */
typedef struct Side {
        int fd;    /* -EBADF while evicted; borrowed at depth 0 */
        dev_t dev;
        ino_t ino;
} Side;

typedef struct Level {
        Side side[2];         /* [0] the tree walked, [1] the mirror */
        struct stat st;       /* the directory, as its fd showed it */
        const char *name;     /* in the parent's names; NULL at depth 0 */
        char *names;          /* its entries, each NUL-terminated */
        size_t names_size, pos;
} Level;

typedef struct Walk {
        Level *levels;
        size_t n, allocated;
        size_t n_sides;       /* 2 with a mirror */
        tree_walk_fn fn;
        void *userdata;
} Walk;

static void walk_done(Walk *w) {
        for (size_t i = 0; i < w->n; i++) {
                for (size_t s = 0; i > 0 && s < w->n_sides; s++)
                        safe_close(w->levels[i].side[s].fd);
                free(w->levels[i].names);
        }
        free(w->levels);
}

int tree_open_dir(int dirfd, const char *name) {
        struct open_how how = {
                .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };

        /* EAGAIN: a rename somewhere raced with the lookup; retry a few times. */
        for (unsigned tries = 0;; tries++) {
                long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof how);
                if (fd >= 0)
                        return (int) fd;
                if (errno != EAGAIN || tries >= 16)
                        return -errno;
        }
}

/* 0 when fd is still the inode (dev, ino), else -ESTALE. */
static int check_same(int fd, dev_t dev, ino_t ino, struct stat *ret) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_dev != dev || st.st_ino != ino)
                return -ESTALE;
        if (ret)
                *ret = st;
        return 0;
}

static int read_names(int fd, char **ret, size_t *ret_size) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;
        int r;

        r = dir_open_fd(fd, &d);
        if (r < 0)
                return r;
        for (;;) {
                struct dirent *de;
                size_t len;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno > 0)
                                return -errno;
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                len = strlen(de->d_name) + 1;
                if (GREEDY_REALLOC(buf, allocated, size + len, 4096) < 0)
                        return -ENOMEM;
                memcpy(buf + size, de->d_name, len);
                size += len;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

/* Takes the fds in side. */
static int push(Walk *w, Side side[2], const char *name, const struct stat *st) {
        Level *l;

        if (GREEDY_REALLOC(w->levels, w->allocated, w->n + 1, 64) < 0) {
                for (size_t s = 0; w->n > 0 && s < w->n_sides; s++)
                        safe_close(side[s].fd); /* the root's are borrowed */
                return -ENOMEM;
        }
        l = &w->levels[w->n++];
        *l = (Level) { .side = { side[0], side[1] }, .st = *st, .name = name };

        /* Only the deepest TREE_WALK_MAX_FDS levels keep their fds. */
        if (w->n - 1 > TREE_WALK_MAX_FDS) {
                Level *old = &w->levels[w->n - 1 - TREE_WALK_MAX_FDS];
                for (size_t s = 0; old != w->levels && s < w->n_sides; s++)
                        old->side[s].fd = safe_close(old->side[s].fd);
        }
        return read_names(l->side[0].fd, &l->names, &l->names_size);
}

/* Opens levels[i] again, found by name from the nearest ancestor still open, every step
 * checked against what was recorded on the way down. */
static int reopen_by_name(Walk *w, size_t i, size_t s) {
        _cleanup_close_ int cur = -EBADF;
        size_t j = i;

        while (w->levels[j - 1].side[s].fd < 0)
                j--;
        for (size_t k = j; k <= i; k++) {
                int fd = tree_open_dir(cur >= 0 ? cur : w->levels[j - 1].side[s].fd, w->levels[k].name);
                int r;

                if (fd < 0)
                        return fd == -ENOENT ? -ESTALE : fd;
                r = check_same(fd, w->levels[k].side[s].dev, w->levels[k].side[s].ino, NULL);
                safe_close(cur);
                cur = fd;
                if (r < 0)
                        return r;
        }
        w->levels[i].side[s].fd = TAKE_FD(cur);
        return 0;
}

/* Makes levels[i] open again from the open levels[i + 1]: its ".." is the same inode
 * unless a rename moved the child meanwhile. */
static int reopen(Walk *w, size_t i) {
        for (size_t s = 0; s < w->n_sides; s++) {
                Side *side = &w->levels[i].side[s];
                int fd, r;

                if (side->fd >= 0)
                        continue;
                fd = openat(w->levels[i + 1].side[s].fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                r = check_same(fd, side->dev, side->ino, NULL);
                if (r >= 0) {
                        side->fd = fd;
                        continue;
                }
                safe_close(fd);
                if (r != -ESTALE)
                        return r;
                r = reopen_by_name(w, i, s);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int visit(Walk *w, const char *name) {
        Level *p = &w->levels[w->n - 1];
        Side side[2] = { { .fd = -EBADF }, { .fd = -EBADF } };
        TreeWalkItem item = {
                .dirfd = p->side[0].fd,
                .name = name,
                .fd = -EBADF,
                .mirror_dirfd = p->side[1].fd,
                .mirror_fd = -EBADF,
                .depth = w->n,
        };
        struct stat st;
        int r;

        if (fstatat(p->side[0].fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        item.st = &st;
        if (!S_ISDIR(st.st_mode))
                return w->fn(TREE_WALK_FILE, &item, w->userdata);

        side[0].fd = tree_open_dir(p->side[0].fd, name);
        if (side[0].fd == -ENOENT)
                return 0;
        if (side[0].fd < 0)
                return side[0].fd;
        r = check_same(side[0].fd, st.st_dev, st.st_ino, &st);
        if (r >= 0) {
                side[0].dev = st.st_dev;
                side[0].ino = st.st_ino;
                item.fd = side[0].fd;
                r = w->fn(TREE_WALK_ENTER, &item, w->userdata);
        }
        if (r >= 0 && r != TREE_WALK_SKIP && w->n_sides > 1) {
                struct stat mst;

                side[1].fd = tree_open_dir(p->side[1].fd, name);
                if (side[1].fd < 0)
                        r = side[1].fd;
                else if (fstat(side[1].fd, &mst) < 0)
                        r = -errno;
                else {
                        side[1].dev = mst.st_dev;
                        side[1].ino = mst.st_ino;
                }
        }
        if (r < 0 || r == TREE_WALK_SKIP) {
                safe_close(side[0].fd);
                safe_close(side[1].fd);
                return r < 0 ? r : 0;
        }
        return push(w, side, name, &st);
}

static int leave(Walk *w) {
        size_t i = w->n - 1;
        Level *l, *p;
        int r;

        r = reopen(w, i - 1);
        if (r < 0)
                return r;
        l = &w->levels[i];
        p = &w->levels[i - 1];
        r = w->fn(TREE_WALK_LEAVE,
                  &(TreeWalkItem) {
                          .dirfd = p->side[0].fd,
                          .name = l->name,
                          .st = &l->st,
                          .fd = l->side[0].fd,
                          .mirror_dirfd = p->side[1].fd,
                          .mirror_fd = l->side[1].fd,
                          .depth = i,
                  },
                  w->userdata);
        for (size_t s = 0; s < w->n_sides; s++)
                safe_close(l->side[s].fd);
        free(l->names);
        w->n--;
        return r < 0 ? r : 0;
}

int tree_walk(int root_fd, int mirror_root_fd, tree_walk_fn fn, void *userdata) {
        _cleanup_(walk_done) Walk w = { .n_sides = mirror_root_fd >= 0 ? 2 : 1, .fn = fn, .userdata = userdata };
        Side side[2] = { { .fd = root_fd }, { .fd = mirror_root_fd } };
        struct stat st;
        int r;

        assert(root_fd >= 0);
        assert(fn);

        if (fstat(root_fd, &st) < 0)
                return -errno;
        side[0].dev = st.st_dev;
        side[0].ino = st.st_ino;
        r = push(&w, side, NULL, &st);
        if (r < 0)
                return r;
        while (w.n > 0) {
                Level *l = &w.levels[w.n - 1];

                if (l->pos < l->names_size) {
                        const char *name = l->names + l->pos;

                        l->pos += strlen(name) + 1;
                        r = visit(&w, name);
                } else if (w.n > 1)
                        r = leave(&w);
                else
                        break;
                if (r < 0)
                        return r;
        }
        return 0;
}
