/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "fstest.h"
#include "macro.h"
#include "strutil.h"

static char *join(const char *root, const char *rel) {
        while (*rel == '/')
                rel++;
        return strdup_printf("%s/%s", root, rel);
}

static int write_file(const char *path, const char *content, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(content);

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        if (write(fd, content, n) != (ssize_t) n)
                return errno > 0 ? -errno : -EIO;
        if (fsync(fd) < 0 || fchmod(fd, mode) < 0)
                return -errno;
        if (close(TAKE_FD(fd)) < 0)
                return -errno;
        return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path) < 0 ? -1 : 0;
}

int fs_remove_all(const char *path) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
                return -errno;
        return 0;
}

static int apply_one(const char *root, const FsOp *op) {
        _cleanup_free_ char *p = join(root, op->path);
        _cleanup_free_ char *q = op->arg && op->type != FS_OP_FILE ?
                join(root, op->arg) : NULL;

        if (!p)
                return -ENOMEM;
        switch (op->type) {
        case FS_OP_FILE:
                return write_file(p, op->arg, op->mode);
        case FS_OP_MKDIR:
                if (mkdir(p, op->mode) < 0 || chmod(p, op->mode) < 0)
                        return -errno;
                return 0;
        case FS_OP_REMOVE_ALL:
                return fs_remove_all(p);
        case FS_OP_CHOWN:
                return RET_NERRNO(lchown(p, op->uid, op->gid));
        case FS_OP_LINK:
                return q ? RET_NERRNO(link(p, q)) : -ENOMEM;
        case FS_OP_RENAME:
                return q ? RET_NERRNO(rename(p, q)) : -ENOMEM;
        case FS_OP_END:
                break;
        }
        return -EINVAL;
}

int fs_apply(const char *root, const FsOp *ops) {
        for (const FsOp *op = ops; op->type != FS_OP_END; op++) {
                int r = apply_one(root, op);
                if (r < 0) {
                        fprintf(stderr, "applying op %d on %s%s failed: %s\n", op->type, root,
                                op->path, strerror(-r));
                        return r;
                }
        }
        return 0;
}

typedef struct Entry {
        char *path; /* relative, without leading "/" */
        struct stat st;
        char *link; /* symlink target */
        const char *group; /* first path of the same inode (regular files) */
} Entry;

typedef struct Tree {
        const char *root;
        Entry *items;
        size_t n;
} Tree;

static void tree_clear(Tree *t) {
        for (size_t i = 0; i < t->n; i++) {
                free(t->items[i].path);
                free(t->items[i].link);
        }
        free(t->items);
        t->items = NULL;
        t->n = 0;
}

static int tree_add(Tree *t, char *rel /* taken */, const struct stat *st) {
        _cleanup_free_ char *path = rel, *full = join(t->root, rel), *link = NULL;
        Entry *items;

        if (!full)
                return -ENOMEM;
        if (S_ISLNK(st->st_mode)) {
                char buf[4096];
                ssize_t n = readlink(full, buf, sizeof buf - 1);
                if (n < 0)
                        return -errno;
                link = strndup(buf, n);
                if (!link)
                        return -ENOMEM;
        }
        items = realloc(t->items, (t->n + 1) * sizeof(Entry));
        if (!items)
                return -ENOMEM;
        t->items = items;
        t->items[t->n++] = (Entry) { .path = TAKE_PTR(path), .st = *st, .link = TAKE_PTR(link) };
        return 0;
}

static int tree_walk(Tree *t, const char *rel) {
        _cleanup_free_ char *dir = rel ? join(t->root, rel) : strdup(t->root);
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return -errno;
        while (r >= 0 && (de = readdir(d))) {
                _cleanup_free_ char *child = NULL, *full = NULL;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                child = rel ? strdup_printf("%s/%s", rel, de->d_name) : strdup(de->d_name);
                full = child ? join(t->root, child) : NULL;
                if (!full) {
                        r = -ENOMEM;
                        break;
                }
                if (lstat(full, &st) < 0) {
                        r = -errno;
                        break;
                }
                r = tree_add(t, strdup(child), &st);
                if (r >= 0 && S_ISDIR(st.st_mode))
                        r = tree_walk(t, child);
        }
        closedir(d);
        return r;
}

static int entry_cmp(const void *a, const void *b) {
        return strcmp(((const Entry *) a)->path, ((const Entry *) b)->path);
}

static int tree_load(Tree *t, const char *root) {
        int r;

        *t = (Tree) { .root = root };
        r = tree_walk(t, NULL);
        if (r < 0)
                return r;
        if (t->n > 0)
                qsort(t->items, t->n, sizeof(Entry), entry_cmp);
        for (size_t i = 0; i < t->n; i++) {
                Entry *e = &t->items[i];
                if (!S_ISREG(e->st.st_mode))
                        continue;
                for (size_t j = 0; j <= i && !e->group; j++)
                        if (S_ISREG(t->items[j].st.st_mode) && t->items[j].st.st_dev == e->st.st_dev &&
                            t->items[j].st.st_ino == e->st.st_ino)
                                e->group = t->items[j].path;
        }
        return 0;
}

/* 1 if the two files have the same bytes. */
static int same_content(const char *a, const char *b) {
        _cleanup_close_ int fa = open(a, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_close_ int fb = open(b, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char ba[65536], bb[65536];

        if (fa < 0 || fb < 0)
                return -errno;
        for (;;) {
                ssize_t na = read(fa, ba, sizeof ba), nb = read(fb, bb, sizeof bb);
                if (na < 0 || nb < 0)
                        return -errno;
                if (na != nb || memcmp(ba, bb, na) != 0)
                        return 0;
                if (na == 0)
                        return 1;
        }
}

static int entry_diff(const Tree *ta, const Entry *a, const Tree *tb, const Entry *b, char **ret) {
        const struct stat *x = &a->st, *y = &b->st;

        if ((x->st_mode & S_IFMT) != (y->st_mode & S_IFMT))
                *ret = strdup_printf("/%s: type %o != %o", a->path, x->st_mode & S_IFMT, y->st_mode & S_IFMT);
        else if ((x->st_mode & 07777) != (y->st_mode & 07777))
                *ret = strdup_printf("/%s: mode %04o != %04o", a->path, x->st_mode & 07777, y->st_mode & 07777);
        else if (x->st_uid != y->st_uid || x->st_gid != y->st_gid)
                *ret = strdup_printf("/%s: owner %u:%u != %u:%u", a->path, x->st_uid, x->st_gid, y->st_uid, y->st_gid);
        else if (S_ISLNK(x->st_mode) && !streq(a->link, b->link))
                *ret = strdup_printf("/%s: symlink target %s != %s", a->path, a->link, b->link);
        else if ((S_ISCHR(x->st_mode) || S_ISBLK(x->st_mode)) && x->st_rdev != y->st_rdev)
                *ret = strdup_printf("/%s: device %u:%u != %u:%u", a->path, major(x->st_rdev),
                                     minor(x->st_rdev), major(y->st_rdev), minor(y->st_rdev));
        else if (S_ISREG(x->st_mode) && x->st_size != y->st_size)
                *ret = strdup_printf("/%s: size %jd != %jd", a->path, (intmax_t) x->st_size, (intmax_t) y->st_size);
        else if (S_ISREG(x->st_mode) && !streq(a->group, b->group))
                *ret = strdup_printf("/%s: hard link of /%s != of /%s", a->path, a->group, b->group);
        else if (S_ISREG(x->st_mode)) {
                _cleanup_free_ char *pa = join(ta->root, a->path), *pb = join(tb->root, b->path);
                int r = pa && pb ? same_content(pa, pb) : -ENOMEM;
                if (r < 0)
                        return r;
                if (r == 0)
                        *ret = strdup_printf("/%s: content differs", a->path);
        }
        return 0;
}

int fs_compare(const char *a, const char *b, char **ret_diff) {
        Tree ta = {}, tb = {};
        char *diff = NULL;
        size_t i = 0, j = 0;
        int r;

        r = tree_load(&ta, a);
        if (r >= 0)
                r = tree_load(&tb, b);
        while (r >= 0 && !diff && (i < ta.n || j < tb.n)) {
                int c = i >= ta.n ? 1 : j >= tb.n ? -1 : strcmp(ta.items[i].path, tb.items[j].path);

                if (c < 0)
                        diff = strdup_printf("/%s: only in %s", ta.items[i].path, a);
                else if (c > 0)
                        diff = strdup_printf("/%s: only in %s", tb.items[j].path, b);
                else
                        r = entry_diff(&ta, &ta.items[i++], &tb, &tb.items[j++], &diff);
        }
        tree_clear(&ta);
        tree_clear(&tb);
        if (r < 0) {
                free(diff);
                return r;
        }
        *ret_diff = diff;
        return !diff;
}
