/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "inode-map.h"
#include "tree-util.h"
#include "tree-walk.h"

typedef struct Usage {
        InodeMap seen; /* inodes with more than one link */
        uint64_t size, inodes;
        const TreeWalkBudget *budget;
        uint64_t entries, dir_bytes; /* spent of the budget */
} Usage;

static int usage_spend(Usage *u, const struct stat *st) {
        if (!u->budget)
                return 0;
        u->entries++;
        if (S_ISDIR(st->st_mode))
                u->dir_bytes += st->st_size > 0 ? (uint64_t) st->st_size : 0;
        return u->entries > u->budget->entries || u->dir_bytes > u->budget->dir_bytes ? -E2BIG : 0;
}

static int usage_add(Usage *u, const struct stat *st) {
        int r;

        r = usage_spend(u, st);
        if (r < 0)
                return r;
        if (st->st_nlink > 1 && !S_ISDIR(st->st_mode)) {
                int r = inode_map_put(&u->seen, st->st_dev, st->st_ino, u);
                if (r <= 0)
                        return r;
        }
        u->size += (uint64_t) st->st_blocks * 512u;
        u->inodes++;
        return 0;
}

static int usage_one(TreeWalkEvent event, const TreeWalkItem *item, void *userdata) {
        return event == TREE_WALK_LEAVE ? 0 : usage_add(userdata, item->st);
}

static void usage_done(Usage *u) {
        inode_map_clear(&u->seen);
}

int tree_disk_usage(int fd, const TreeWalkBudget *budget, uint64_t *ret_size, uint64_t *ret_inodes) {
        _cleanup_(usage_done) Usage u = { .budget = budget };
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        r = usage_add(&u, &st);
        if (r >= 0)
                r = tree_walk(fd, -EBADF, usage_one, &u);
        if (r < 0)
                return r;
        *ret_size = u.size;
        *ret_inodes = u.inodes;
        return 0;
}

typedef struct Removal {
        dev_t dev;
        const char *skip;
        const atomic_bool *cancel;
        uint64_t freed;
} Removal;

static int remove_entry(Removal *rm, int dirfd, const char *name, const struct stat *st) {
        if (unlinkat(dirfd, name, S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (st->st_nlink <= 1 || S_ISDIR(st->st_mode))
                rm->freed += (uint64_t) st->st_blocks * 512u;
        return 0;
}

static int remove_one(TreeWalkEvent event, const TreeWalkItem *item, void *userdata) {
        Removal *rm = userdata;

        if (item->depth == 1 && rm->skip && streq(item->name, rm->skip))
                return event == TREE_WALK_ENTER ? TREE_WALK_SKIP : 0;
        if (item->st->st_dev != rm->dev)
                return -EXDEV;
        if (rm->cancel && atomic_load(rm->cancel))
                return -ECANCELED;
        if (event == TREE_WALK_ENTER)
                return 0;
        return remove_entry(rm, item->dirfd, item->name, item->st);
}

static int remove_below(int fd, Removal *rm) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        rm->dev = st.st_dev;
        return tree_walk(fd, -EBADF, remove_one, rm);
}

int rm_rf_children(int fd, const char *skip, uint64_t *freed) {
        Removal rm = { .skip = skip };
        int r;

        r = remove_below(fd, &rm);
        if (freed)
                *freed += rm.freed;
        return r;
}

int rm_rf_at(int dirfd, const char *name, uint64_t *freed) {
        return rm_rf_at_until(dirfd, name, freed, NULL);
}

int rm_rf_at_until(int dirfd, const char *name, uint64_t *freed, const atomic_bool *cancel) {
        _cleanup_close_ int fd = -EBADF;
        Removal rm = { .cancel = cancel };
        struct stat st;
        int r = 0;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISDIR(st.st_mode)) {
                struct stat fst;

                fd = tree_open_dir(dirfd, name);
                if (fd == -ENOENT)
                        return 0;
                if (fd < 0)
                        return fd;
                if (fstat(fd, &fst) < 0)
                        return -errno;
                if (fst.st_dev != st.st_dev || fst.st_ino != st.st_ino)
                        return -ESTALE;
                r = remove_below(fd, &rm);
        }
        if (r >= 0)
                r = remove_entry(&rm, dirfd, name, &st);
        if (freed)
                *freed += rm.freed;
        return r;
}
