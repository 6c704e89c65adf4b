/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mount_dir_own_sb: a writable mount of a directory whose superblock is its own. What is
 * written through it is all that changes in the directory (no overlayfs xattr, opaque mark
 * or whiteout; on tmpfs and on the root filesystem, ext4 here), the files are the same
 * inodes, and its life is seen through every clone and file of it. */
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "mount-api-test-util.h"

/* base/P/snap (with sub/f), base/empty and base/work; the mount of P/snap. */
static int make_own_sb(const char *base) {
        _cleanup_free_ char *p = test_path("%s/P", base), *snap = test_path("%s/P/snap", base),
                            *sub = test_path("%s/P/snap/sub", base), *f = test_path("%s/P/snap/sub/f", base),
                            *empty = test_path("%s/empty", base), *work = test_path("%s/work", base);
        Error e = ERROR_NULL;
        _cleanup_close_ int root = -EBADF;
        int fd = -EBADF;

        ASSERT_OK(mkdir(p, 0755));
        ASSERT_OK(mkdir(snap, 0755));
        ASSERT_OK(mkdir(sub, 0755));
        write_file(f, "data");
        ASSERT_OK(mkdir(empty, 0700));
        ASSERT_OK(mkdir(work, 0700));
        root = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(root >= 0);
        if (mount_dir_own_sb(root, "P", "snap", "empty", "work", 0, NULL, &fd, &e) < 0) {
                fprintf(stderr, "mount_dir_own_sb: %s\n", e.message);
                abort();
        }
        return fd;
}

static int no_overlay_traces(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        char names[4096];
        ssize_t n = llistxattr(path, names, sizeof names);

        ASSERT_TRUE(n >= 0);
        for (char *name = names; name < names + n; name += strlen(name) + 1)
                if (strstr(name, "overlay")) {
                        fprintf(stderr, "%s has %s\n", path, name);
                        abort();
                }
        ASSERT_TRUE(!S_ISCHR(st->st_mode) || st->st_rdev != makedev(0, 0)); /* no whiteout */
        return 0;
}

/* m/name in buf. */
static const char *in(const char *m, const char *name, char buf[static PATH_MAX]) {
        snprintf(buf, PATH_MAX, "%s/%s", m, name);
        return buf;
}

/* What a container does at the root of its file system and below, through the mount. */
static void write_through(const char *m) {
        char a[PATH_MAX], b[PATH_MAX];

        ASSERT_OK(mkdir(in(m, "a", a), 0755));
        ASSERT_OK(mkdir(in(m, "a/b", a), 0755));
        ASSERT_OK(rename(a, in(m, "b", b))); /* a directory moved up to the root */
        ASSERT_OK(mkdir(in(m, "c", a), 0755));
        ASSERT_OK(rename(a, in(m, "d", b))); /* renamed at the root */
        ASSERT_OK(mkdir(in(m, "d/e", a), 0755));
        ASSERT_OK(rename(a, in(m, "sub/e", b))); /* between directories */
        ASSERT_OK(link(in(m, "sub/f", a), in(m, "hl", b)));
        write_file(in(m, "x", a), "x");
        ASSERT_OK(rename(a, in(m, "y", b)));
        ASSERT_OK(unlink(b));
        ASSERT_OK(rmdir(in(m, "a", a)));
        ASSERT_OK(lsetxattr(in(m, "hl", a), "user.k", "v", 1, 0));
        /* overlayfs's whiteout, refused */
        ASSERT_TRUE(mknod(in(m, "w", a), S_IFCHR | 0600, makedev(0, 0)) < 0 && errno == EPERM);
}

static void data_stays_as_written(const char *dir, const char *base) {
        _cleanup_free_ char *target = NULL, *f = test_path("%s/P/snap/sub/f", base),
                            *hl = test_path("%s/P/snap/hl", base), *p = test_path("%s/P", base), *via = NULL;
        _cleanup_close_ int fd = make_own_sb(base), tfd = make_target(dir, "t", &target);
        struct stat st_disk, st_mount;
        Error e = ERROR_NULL;
        uint64_t id;
        char buf[256];

        ASSERT_OK(mount_id_of_fd(fd, &id));
        ASSERT_OK(mount_attach(fd, tfd, &e));
        fd = safe_close(fd); /* it would hold the mount */
        write_through(target);
        via = test_path("%s/sub/f", target);
        ASSERT_OK(stat(f, &st_disk));
        ASSERT_OK(stat(via, &st_mount));
        ASSERT_TRUE(st_disk.st_ino == st_mount.st_ino && st_disk.st_nlink == 2);
        ASSERT_OK(mount_unmount(id, false, NULL, 0, &e));

        ASSERT_OK(nftw(p, no_overlay_traces, 16, FTW_PHYS));
        ASSERT_STREQ(read_file(hl, buf), "data");
        ASSERT_TRUE(lgetxattr(hl, "user.k", buf, sizeof buf) == 1);
        for (const char *const *n = (const char *const[]) { "b", "d", "sub/e", NULL }; *n; n++) {
                _cleanup_free_ char *q = test_path("%s/P/snap/%s", base, *n);
                ASSERT_OK(stat(q, &st_disk));
                ASSERT_TRUE(S_ISDIR(st_disk.st_mode));
        }
}

static char ext4_base[] = "/var/tmp/lamina-own-sb-XXXXXX";

static void body_data(const char *dir) {
        _cleanup_free_ char *t1 = test_path("%s/tmpfs", dir), *t2 = test_path("%s/ext4", dir);

        ASSERT_OK(mkdir(t1, 0755));
        ASSERT_OK(mkdir(t2, 0755));
        data_stays_as_written(t1, dir); /* the case's tmpfs */
        data_stays_as_written(t2, ext4_base);
}

/* The directory on the root filesystem goes also when the case fails. */
TEST(what_is_written_through_it_is_all_that_changes) {
        int status;
        pid_t pid;

        ASSERT_TRUE(mkdtemp(ext4_base));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                run_isolated(body_data);
                _exit(EXIT_SUCCESS);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        test_rm_rf(ext4_base);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Its filesystem lives while a clone or a file of it does, and only so long. */
static void body_life(const char *dir) {
        MountSbWatch *w = NULL;
        Error e = ERROR_NULL;
        int fd = make_own_sb(dir), clone = -EBADF, file;

        ASSERT_OK(mount_sb_watch_new(&w));
        ASSERT_OK(mount_sb_watch_add(w, fd, 1));
        ASSERT_OK(mount_clone_detached(fd, false, &clone, &e));
        file = openat(clone, "sub/f", O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(file >= 0);
        safe_close(fd);
        safe_close(clone);
        ASSERT_TRUE(mount_sb_watch_alive(w, 1)); /* the file holds it */
        safe_close(file);
        ASSERT_TRUE(!mount_sb_watch_alive(w, 1));
        mount_sb_watch_free(w);
}

TEST(its_life_is_seen) {
        run_isolated(body_life);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(what_is_written_through_it_is_all_that_changes),
                TEST_ENTRY(its_life_is_seen),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
