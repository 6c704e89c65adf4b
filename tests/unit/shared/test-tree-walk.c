/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tree_walk and what is built on it (tree_disk_usage, rm_rf_at): any depth with a few
 * fds, hardlinks counted once, renames during the walk, no symlink or mount followed. */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strutil.h"
#include "test-util.h"
#include "tree-util.h"
#include "tree-walk.h"

#define DEEP 20000

static char *workdir;

static int open_dir(int dirfd, const char *name) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        return fd;
}

static int fresh_dir(const char *name) {
        int w = open_dir(AT_FDCWD, workdir);
        int fd;

        ASSERT_OK(mkdirat(w, name, 0755) < 0 ? -errno : 0);
        fd = open_dir(w, name);
        close(w);
        return fd;
}

static void make_file(int dirfd, const char *name, size_t size) {
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        char buf[4096] = { 'x' };

        ASSERT_TRUE(fd >= 0);
        for (size_t done = 0; done < size; done += sizeof buf)
                ASSERT_TRUE(write(fd, buf, sizeof buf) == sizeof buf);
        ASSERT_OK(close(fd));
}

static size_t count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        size_t n = 0;

        ASSERT_TRUE(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

TEST(deep_tree_with_few_fds) {
        struct rlimit old, few = { 24, 24 };
        uint64_t size = 0, inodes = 0, freed = 0;
        int root = fresh_dir("deep"), w, bottom;
        size_t fds;

        bottom = test_mkdir_chain(root, DEEP, 0755, 1000);
        /* A hardlink group spanning the whole depth: counted once. */
        make_file(bottom, "bottom", 8192);
        ASSERT_OK(linkat(bottom, "bottom", root, "top-link", 0) < 0 ? -errno : 0);
        close(bottom);

        ASSERT_OK(getrlimit(RLIMIT_NOFILE, &old) < 0 ? -errno : 0);
        few.rlim_max = old.rlim_max;
        w = open_dir(AT_FDCWD, workdir);
        ASSERT_OK(setrlimit(RLIMIT_NOFILE, &few) < 0 ? -errno : 0);
        fds = count_fds();

        ASSERT_OK(tree_disk_usage(root, NULL, &size, &inodes));
        /* root, DEEP dirs, DEEP/1000 files "f", one hardlinked file. */
        ASSERT_TRUE(inodes == 1 + DEEP + DEEP / 1000 + 1);
        ASSERT_TRUE(size >= (uint64_t) (DEEP / 1000) * 4096 + 8192);
        ASSERT_TRUE(count_fds() == fds);

        ASSERT_OK(rm_rf_at(w, "deep", &freed));
        ASSERT_TRUE(freed >= (uint64_t) (DEEP / 1000) * 4096 + 8192);
        ASSERT_TRUE(faccessat(w, "deep", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
        ASSERT_TRUE(count_fds() == fds);
        ASSERT_OK(setrlimit(RLIMIT_NOFILE, &old) < 0 ? -errno : 0);
        close(w);
        close(root);
}

TEST(hardlinks_counted_once) {
        int root = fresh_dir("links"), w;
        uint64_t size, inodes, freed = 0;

        make_file(root, "0", 4096);
        for (int i = 1; i < 20000; i++) {
                char name[16];
                snprintf(name, sizeof name, "%d", i);
                ASSERT_OK(linkat(root, "0", root, name, 0) < 0 ? -errno : 0);
        }
        ASSERT_OK(tree_disk_usage(root, NULL, &size, &inodes));
        ASSERT_TRUE(inodes == 2);
        ASSERT_TRUE(size < 64 * 1024 + 4096 * 4); /* the directory and one file, not 20000 */
        w = open_dir(AT_FDCWD, workdir);
        ASSERT_OK(rm_rf_at(w, "links", &freed));
        ASSERT_TRUE(faccessat(w, "links", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
        close(w);
        close(root);
}

/* A budget counts every name (hardlinks too) and the size of each directory before its
 * names are read; the walk gives up with E2BIG past either, and counts in full within. */
TEST(budget_bounds_the_walk) {
        int root = fresh_dir("budget"), sub, w;
        uint64_t size, inodes, dir_bytes;
        struct stat rst, sst;

        ASSERT_OK(mkdirat(root, "sub", 0755) < 0 ? -errno : 0);
        sub = open_dir(root, "sub");
        for (int i = 0; i < 5; i++) {
                char name[16];
                snprintf(name, sizeof name, "f%d", i);
                make_file(root, name, 0);
                make_file(sub, name, 0);
        }
        ASSERT_OK(linkat(root, "f0", root, "link", 0) < 0 ? -errno : 0);
        ASSERT_OK(fstat(root, &rst) < 0 ? -errno : 0);
        ASSERT_OK(fstat(sub, &sst) < 0 ? -errno : 0);
        ASSERT_TRUE(rst.st_size > 0);
        dir_bytes = (uint64_t) rst.st_size + (uint64_t) sst.st_size;

        /* The root, sub, 10 files and the link: 13 names, 12 inodes. */
        ASSERT_OK(tree_disk_usage(root, &(TreeWalkBudget) { .entries = 13, .dir_bytes = dir_bytes }, &size, &inodes));
        ASSERT_TRUE(inodes == 12);
        ASSERT_ERR(tree_disk_usage(root, &(TreeWalkBudget) { .entries = 12, .dir_bytes = dir_bytes }, &size, &inodes),
                   E2BIG);
        ASSERT_ERR(tree_disk_usage(root, &(TreeWalkBudget) { .entries = 13, .dir_bytes = dir_bytes - 1 }, &size,
                                   &inodes),
                   E2BIG);
        /* The root alone is more than the budget: nothing is read. */
        ASSERT_ERR(tree_disk_usage(root, &(TreeWalkBudget) { .entries = 13, .dir_bytes = 0 }, &size, &inodes),
                   E2BIG);

        w = open_dir(AT_FDCWD, workdir);
        ASSERT_OK(rm_rf_at(w, "budget", NULL));
        close(w);
        close(sub);
        close(root);
}

typedef struct Race {
        int root;
        bool replace;  /* also put a different directory where the ancestor was */
        size_t leaves;
} Race;

static char *chain_path(size_t depth) {
        char *p = calloc(depth * 2 + 1, 1);
        ASSERT_TRUE(p);
        for (size_t i = 0; i < depth; i++)
                memcpy(p + i * 2, i + 1 < depth ? "d/" : "d", 2);
        return p;
}

/* Leaving depth 30, moves depth 21 (and so its parent chain's ".." path) away: the walk
 * must find depth 20 again by name, and refuse when a different one stands there. */
static int race_fn(TreeWalkEvent event, const TreeWalkItem *item, void *userdata) {
        Race *r = userdata;

        if (event != TREE_WALK_LEAVE)
                return 0;
        r->leaves++;
        if (item->depth == 30) {
                char *p21 = chain_path(21);
                ASSERT_OK(renameat(r->root, p21, r->root, "moved") < 0 ? -errno : 0);
                free(p21);
                if (r->replace) {
                        char *p20 = chain_path(20);
                        ASSERT_OK(renameat(r->root, p20, r->root, "moved-too") < 0 ? -errno : 0);
                        ASSERT_OK(mkdirat(r->root, p20, 0755) < 0 ? -errno : 0);
                        free(p20);
                }
        }
        return 0;
}

TEST(rename_during_walk) {
        Race race = { .root = fresh_dir("race") };
        int w;

        close(test_mkdir_chain(race.root, 40, 0755, 0));
        ASSERT_OK(tree_walk(race.root, -EBADF, race_fn, &race));
        ASSERT_TRUE(race.leaves == 40);

        race.replace = true;
        race.leaves = 0;
        ASSERT_OK(rm_rf_at(race.root, "d", NULL));
        ASSERT_OK(rm_rf_at(race.root, "moved", NULL));
        close(test_mkdir_chain(race.root, 40, 0755, 0));
        ASSERT_ERR(tree_walk(race.root, -EBADF, race_fn, &race), ESTALE);

        w = open_dir(AT_FDCWD, workdir);
        ASSERT_OK(rm_rf_at(w, "race", NULL));
        close(w);
        close(race.root);
}

TEST(symlinks_not_followed) {
        int root = fresh_dir("links-out"), outside = fresh_dir("outside"), w;
        uint64_t size, inodes;

        make_file(outside, "keep", 4096);
        ASSERT_OK(mkdirat(root, "sub", 0755) < 0 ? -errno : 0);
        ASSERT_OK(symlinkat("../../outside", root, "sub/escape") < 0 ? -errno : 0);
        ASSERT_OK(symlinkat("/", root, "abs") < 0 ? -errno : 0);
        ASSERT_OK(tree_disk_usage(root, NULL, &size, &inodes));
        ASSERT_TRUE(inodes == 4);
        w = open_dir(AT_FDCWD, workdir);
        ASSERT_OK(rm_rf_at(w, "links-out", NULL));
        ASSERT_OK(faccessat(outside, "keep", F_OK, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0);
        ASSERT_OK(rm_rf_at(w, "outside", NULL));
        close(w);
        close(outside);
        close(root);
}

TEST(children_but_one) {
        int root = fresh_dir("children"), w;

        ASSERT_OK(mkdirat(root, "keep", 0755) < 0 ? -errno : 0);
        make_file(root, "keep/inside", 10);
        ASSERT_OK(mkdirat(root, "go", 0755) < 0 ? -errno : 0);
        make_file(root, "go/inside", 10);
        make_file(root, "file", 10);
        ASSERT_OK(rm_rf_children(root, "keep", NULL));
        ASSERT_OK(faccessat(root, "keep/inside", F_OK, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0);
        ASSERT_TRUE(faccessat(root, "go", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
        ASSERT_TRUE(faccessat(root, "file", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
        w = open_dir(AT_FDCWD, workdir);
        ASSERT_OK(rm_rf_at(w, "children", NULL));
        close(w);
        close(root);
}

TEST(mounts_not_crossed) {
        int root, w, sub;
        char *p;

        root = fresh_dir("mnt");
        ASSERT_OK(mkdirat(root, "sub", 0755) < 0 ? -errno : 0);
        p = strdup_printf("%s/mnt/sub", workdir);
        ASSERT_OK(mount("tmpfs", p, "tmpfs", 0, "size=1m") < 0 ? -errno : 0);
        sub = open_dir(root, "sub");
        make_file(sub, "keep", 10);
        w = open_dir(AT_FDCWD, workdir);
        ASSERT_ERR(rm_rf_at(w, "mnt", NULL), EXDEV);
        ASSERT_OK(faccessat(sub, "keep", F_OK, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0);
        ASSERT_OK(umount2(p, MNT_DETACH) < 0 ? -errno : 0);
        ASSERT_OK(rm_rf_at(w, "mnt", NULL));
        free(p);
        close(sub);
        close(w);
        close(root);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(deep_tree_with_few_fds),
                TEST_ENTRY(hardlinks_counted_once),
                TEST_ENTRY(budget_bounds_the_walk),
                TEST_ENTRY(rename_during_walk),
                TEST_ENTRY(symlinks_not_followed),
                TEST_ENTRY(children_but_one),
                TEST_ENTRY(mounts_not_crossed),
        };
        int r;

        workdir = strdup("/var/tmp/lamina-tree-walk-XXXXXX");
        ASSERT_TRUE(workdir && mkdtemp(workdir));
        /* A tmpfs in a mount namespace of our own: 20 000 nested rmdir()s on a disk can
         * take a minute, and the mount case needs a namespace anyway. */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", workdir, "tmpfs", 0, "size=256m,mode=0700") < 0) {
                printf("1..0 # skip: no private mount namespace for a tmpfs: %m\n");
                (void) rmdir(workdir);
                return EXIT_TEST_SKIP;
        }
        r = test_run_all(cases, ELEMENTSOF(cases));
        (void) umount2(workdir, MNT_DETACH);
        (void) rmdir(workdir);
        return r;
}
