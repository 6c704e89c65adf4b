/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* copy_tree: the copy a native Prepare makes is identical to its parent. */
#include <fcntl.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "copy.h"
#include "strutil.h"
#include "snapshotter-test-util.h"
#include "tree-compare.h"

#define SPARSE_SIZE (64 * 1024 * 1024)

static char *base;

static char *at(const char *name) {
        char *p = strdup_printf("%s/src/%s", base, name);
        ASSERT_TRUE(p);
        return p;
}

static void set_times(const char *name, long sec, long nsec) {
        char *p = at(name);
        struct timespec ts[2] = { { sec - 1000, 7 }, { sec, nsec } };
        ASSERT_OK(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0);
        free(p);
}

static void make_dir(const char *name, mode_t mode, uid_t uid, gid_t gid) {
        char *p = at(name);
        ASSERT_OK(mkdir(p, 0700) < 0 ? -errno : 0);
        ASSERT_OK(chown(p, uid, gid) < 0 ? -errno : 0);
        ASSERT_OK(chmod(p, mode) < 0 ? -errno : 0);
        free(p);
}

static void make_file(const char *name, const char *content, mode_t mode, uid_t uid, gid_t gid) {
        char *p = at(name);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(write(fd, content, strlen(content)) == (ssize_t) strlen(content));
        ASSERT_OK(fchown(fd, uid, gid) < 0 ? -errno : 0);
        ASSERT_OK(fchmod(fd, mode) < 0 ? -errno : 0);
        ASSERT_OK(close(fd));
        free(p);
}

static void set_xattr(const char *name, const char *key, const void *value, size_t size) {
        char *p = at(name);
        ASSERT_OK(lsetxattr(p, key, value, size, 0) < 0 ? -errno : 0);
        free(p);
}

static void make_node(const char *name, mode_t mode, dev_t dev) {
        char *p = at(name);
        ASSERT_OK(mknod(p, mode, dev) < 0 ? -errno : 0);
        ASSERT_OK(chmod(p, mode & 07777) < 0 ? -errno : 0);
        free(p);
}

static void make_link(const char *target, const char *name) {
        char *t = at(target), *p = at(name);
        ASSERT_OK(link(t, p) < 0 ? -errno : 0);
        free(t);
        free(p);
}

static void make_symlink(const char *target, const char *name, uid_t uid) {
        char *p = at(name);
        ASSERT_OK(symlink(target, p) < 0 ? -errno : 0);
        ASSERT_OK(lchown(p, uid, uid) < 0 ? -errno : 0);
        free(p);
}

/* 64 MiB with three 4 KiB data blocks: at 0, in the middle, at the end. */
static void make_sparse(const char *name) {
        char *p = at(name), block[4096];
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

        ASSERT_TRUE(fd >= 0);
        memset(block, 'x', sizeof block);
        ASSERT_TRUE(pwrite(fd, block, sizeof block, 0) == sizeof block);
        ASSERT_TRUE(pwrite(fd, block, sizeof block, SPARSE_SIZE / 2) == sizeof block);
        ASSERT_TRUE(pwrite(fd, block, sizeof block, SPARSE_SIZE - (off_t) sizeof block) == sizeof block);
        ASSERT_OK(close(fd));
        free(p);
}

static void build_source(void) {
        /* A file capability (v2: cap_net_bind_service+ep); chown would drop it. */
        struct vfs_cap_data cap = {
                .magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE,
                .data = { { .permitted = 1u << CAP_NET_BIND_SERVICE } },
        };

        make_dir("etc", 0755, 0, 0);
        make_file("etc/hosts", "127.0.0.1 localhost\n", 0644, 0, 0);
        make_dir("home", 0750, 1000, 1001);
        make_file("home/secret", "s3cret\n", 0600, 1000, 1001);
        make_dir("bin", 0755, 0, 0);
        make_file("bin/su", "#!/bin/true\n", 04755, 0, 0);
        make_file("bin/wall", "#!/bin/true\n", 02755, 0, 5);
        make_file("bin/ping", "#!/bin/true\n", 0755, 0, 0);
        set_xattr("bin/ping", "security.capability", &cap, XATTR_CAPS_SZ_2);
        make_link("bin/ping", "bin/ping6");
        make_link("bin/ping", "etc/ping-too"); /* a link group across directories */
        make_dir("tmp", 01777, 0, 0);
        make_dir("gid", 02775, 0, 100);
        make_file("zero", "nobody may read me\n", 0000, 65534, 65534);
        make_file("xattrs", "x\n", 0640, 0, 0);
        set_xattr("xattrs", "user.mime_type", "text/plain", 10);
        set_xattr("xattrs", "user.empty", "", 0);
        set_xattr("xattrs", "trusted.overlay.opaque", "y", 1);
        set_xattr("home", "trusted.dir", "on a directory", 14);
        make_sparse("sparse");
        make_dir("dev", 0755, 0, 0);
        make_node("dev/null", S_IFCHR | 0666, makedev(1, 3));
        make_node("dev/loop9", S_IFBLK | 0660, makedev(7, 9));
        make_node("dev/fifo", S_IFIFO | 0640, 0);
        make_node("dev/socket", S_IFSOCK | 0755, 0);
        make_link("dev/fifo", "dev/fifo-link");
        make_symlink("../etc/hosts", "home/hosts", 1000);
        make_symlink("/nonexistent/dangling", "dangling", 0);
        make_symlink("etc", "etc-link", 0);
        set_xattr("dangling", "trusted.on-symlink", "1", 1);
        make_link("dangling", "dangling-link"); /* a hardlinked symlink */
        make_dir("a", 0700, 0, 0);
        make_dir("a/b", 0711, 2, 2);
        make_dir("a/b/c", 0555, 3, 3);
        make_dir("empty", 0755, 0, 0);

        /* Times last, children before parents. */
        set_times("etc/hosts", 1000000001, 123456789);
        set_times("home/secret", 1000000002, 1);
        set_times("bin/su", 1000000003, 999999999);
        set_times("bin/ping", 1000000004, 500);
        set_times("zero", 1000000005, 5);
        set_times("xattrs", 1000000006, 6);
        set_times("sparse", 1000000007, 7);
        set_times("dev/null", 1000000008, 8);
        set_times("dev/fifo", 1000000009, 9);
        set_times("dev/socket", 1000000010, 10);
        set_times("home/hosts", 1000000011, 11);
        set_times("dangling", 1000000012, 12);
        set_times("a/b/c", 1000000013, 13);
        set_times("a/b", 1000000014, 14);
        set_times("a", 1000000015, 15);
        set_times("etc", 1000000016, 16);
        set_times("home", 1000000017, 17);
        set_times("bin", 1000000018, 18);
        set_times("dev", 1000000019, 19);
        set_times("tmp", 1000000020, 20);
        set_times("", 1000000021, 21);
}

static int open_dir(const char *name) {
        char *p = strdup_printf("%s/%s", base, name);
        int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        free(p);
        return fd;
}

TEST(copy_is_identical) {
        char *src = strdup_printf("%s/src", base), *dst = strdup_printf("%s/dst", base);
        int sfd, dfd;

        ASSERT_OK(mkdir(src, 0755));
        ASSERT_OK(mkdir(dst, 0700));
        build_source();
        sfd = open_dir("src");
        dfd = open_dir("dst");
        ASSERT_OK(copy_tree(sfd, dfd));
        close(sfd);
        close(dfd);
        /* 29 entries and the root. */
        ASSERT_TRUE(compare_trees(src, dst) == 30);
        free(src);
        free(dst);
}

TEST(capability_survives) {
        char *p = strdup_printf("%s/dst/bin/ping6", base);
        struct vfs_cap_data cap = {};

        ASSERT_TRUE(getxattr(p, "security.capability", &cap, sizeof cap) == XATTR_CAPS_SZ_2);
        ASSERT_TRUE(cap.data[0].permitted == 1u << CAP_NET_BIND_SERVICE);
        free(p);
}

TEST(holes_are_kept) {
        char *p = strdup_printf("%s/dst/sparse", base);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        struct stat st;

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(fstat(fd, &st));
        ASSERT_TRUE(st.st_size == SPARSE_SIZE);
        /* Three 4 KiB blocks of data; allow for a filesystem's preallocation. */
        ASSERT_TRUE((uint64_t) st.st_blocks * 512 <= 1024 * 1024);
        ASSERT_TRUE(lseek(fd, 0, SEEK_HOLE) == 4096);
        ASSERT_TRUE(lseek(fd, 4096, SEEK_DATA) == SPARSE_SIZE / 2);
        ASSERT_TRUE(lseek(fd, SPARSE_SIZE / 2, SEEK_HOLE) == SPARSE_SIZE / 2 + 4096);
        close(fd);
        free(p);
}

TEST(fails_cleanly_into_non_empty) {
        int sfd = open_dir("src"), dfd = open_dir("dst");

        /* Entries that exist are never overwritten. */
        ASSERT_ERR(copy_tree(sfd, dfd), EEXIST);
        close(sfd);
        close(dfd);
}

/* 20 000 levels, a hardlink group from the top to the bottom, under a limit of 40 fds
 * (the walker keeps 2 x TREE_WALK_MAX_FDS for the two trees). */
TEST(deep_tree_with_few_fds) {
        struct rlimit old, few = { 40, 40 };
        char *deep = strdup_printf("%s/deep", base);
        int root, src, dst, bottom, fd;
        struct stat a, b;

        /* On a tmpfs of this child's own: 20 000 nested rmdir()s on a disk take a minute. */
        ASSERT_OK(mkdir(deep, 0700));
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", deep, "tmpfs", 0, "size=512m") < 0) {
                printf("# skipped: no private tmpfs (%m)\n");
                return;
        }
        root = open(deep, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(root >= 0);
        ASSERT_OK(mkdirat(root, "src", 0755));
        ASSERT_OK(mkdirat(root, "dst", 0700));
        src = openat(root, "src", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        dst = openat(root, "dst", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(src >= 0 && dst >= 0);
        bottom = test_mkdir_chain(src, 20000, 0750, 0);
        fd = openat(bottom, "file", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        ASSERT_TRUE(fd >= 0 && write(fd, "deep", 4) == 4);
        close(fd);
        ASSERT_OK(linkat(bottom, "file", src, "link", 0) < 0 ? -errno : 0);
        close(bottom);

        ASSERT_OK(getrlimit(RLIMIT_NOFILE, &old) < 0 ? -errno : 0);
        few.rlim_max = old.rlim_max;
        ASSERT_OK(setrlimit(RLIMIT_NOFILE, &few) < 0 ? -errno : 0);
        ASSERT_OK(copy_tree(src, dst));
        ASSERT_OK(setrlimit(RLIMIT_NOFILE, &old) < 0 ? -errno : 0);

        bottom = test_mkdir_chain(dst, 0, 0750, 0);
        for (int i = 0; i < 20000; i++) {
                int sub = openat(bottom, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                ASSERT_TRUE(sub >= 0);
                ASSERT_OK(fstat(sub, &a));
                ASSERT_TRUE((a.st_mode & 07777) == 0750);
                close(bottom);
                bottom = sub;
        }
        ASSERT_OK(fstatat(bottom, "file", &a, AT_SYMLINK_NOFOLLOW));
        ASSERT_OK(fstatat(dst, "link", &b, AT_SYMLINK_NOFOLLOW));
        ASSERT_TRUE(a.st_ino == b.st_ino && a.st_nlink == 2 && a.st_size == 4);
        close(bottom);
        close(src);
        close(dst);
        close(root);
        ASSERT_OK(umount2(deep, MNT_DETACH));
        free(deep);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(copy_is_identical),
                TEST_ENTRY(capability_survives),
                TEST_ENTRY(holes_are_kept),
                TEST_ENTRY(fails_cleanly_into_non_empty),
                TEST_ENTRY(deep_tree_with_few_fds),
        };
        char tmpl[] = "/var/tmp/lamina-copy-test-XXXXXX";

        if (geteuid() != 0) {
                fprintf(stderr, "skipping: copying owners, devices and trusted.* xattrs needs root\n");
                return EXIT_TEST_SKIP;
        }
        ASSERT_TRUE(mkdtemp(tmpl));
        base = tmpl;
        /* The cases run in a child so the tree is removed even when one aborts. */
        return test_run_forked(cases, ELEMENTSOF(cases), tmpl);
}
