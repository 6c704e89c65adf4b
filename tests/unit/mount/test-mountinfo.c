/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* laminad's mountinfo reader, the fallback where statmount and listmount are refused. */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "mount-api-test-util.h"

static const MountInfo *info_lookup(const MountInfo *all, size_t n, uint64_t id) {
        for (size_t i = 0; i < n; i++)
                if (all[i].id == id)
                        return &all[i];
        return NULL;
}

/* The mountinfo fallback (no statmount/listmount, e.g. under a seccomp filter that does
 * not know them) knows every mount by the same unique ID, mount point, device and root
 * as statmount does, with names that need escaping; a covered mount is left out. */
static void body_mountinfo_fallback(const char *dir) {
        _cleanup_free_ char *src = test_path("%s/src", dir), *odd = test_path("%s/a b\\c\td\ne", dir), *covered = NULL;
        _cleanup_free_ uint64_t *ids = NULL;
        _cleanup_close_ int tfd = -EBADF, tfd2 = -EBADF, tfd3 = -EBADF;
        MountInfo *all = NULL;
        size_t n_all = 0, n_ids = 0, below = 0;
        Error e = ERROR_NULL;
        uint64_t id, id_odd, id_covered, id_top;
        pid_t pid;

        ASSERT_OK(mkdir(src, 0755));
        tfd = make_target(dir, "plain", NULL);
        tfd2 = make_target(dir, "a b\\c\td\ne", NULL);
        tfd3 = make_target(dir, "covered", &covered);
        ASSERT_OK(bind_at(src, tfd, 0, &id, &e));
        ASSERT_OK(bind_at(src, tfd2, MOUNT_ATTR_RDONLY, &id_odd, &e));
        ASSERT_OK(bind_at(src, tfd3, 0, &id_covered, &e));
        safe_close(tfd3);
        ASSERT_OK(mount_open_target(covered, &tfd3, &e)); /* now the bind mount's root */
        ASSERT_OK(bind_at(src, tfd3, 0, &id_top, &e));

        ASSERT_OK(mount_info_read_self(&all, &n_all));
        ASSERT_TRUE(n_all > 3);
        for (size_t i = 0; i < n_all; i++) {
                _cleanup_free_ char *point = NULL, *root = NULL;
                uint64_t dev;

                ASSERT_TRUE(mount_find(all[i].id, &point) == 1);
                ASSERT_STREQ(point, all[i].point);
                ASSERT_OK(mount_identity(all[i].id, &dev, &root));
                ASSERT_TRUE(dev == (uint64_t) all[i].dev);
                ASSERT_STREQ(root, all[i].root);
                below += mount_path_within(all[i].point, dir, true);
        }
        ASSERT_TRUE(info_lookup(all, n_all, id) && info_lookup(all, n_all, id_odd) && info_lookup(all, n_all, id_top));
        ASSERT_STREQ(info_lookup(all, n_all, id_odd)->point, odd);
        ASSERT_STREQ(info_lookup(all, n_all, id_odd)->root, "/src");
        ASSERT_TRUE(!info_lookup(all, n_all, id_covered));
        ASSERT_OK(mount_list_below(dir, &ids, &n_ids));
        ASSERT_TRUE(n_ids == below + 1); /* statmount also sees the covered one */
        {
                _cleanup_(mount_table_freep) MountTable *t = NULL;
                _cleanup_free_ char *point = NULL;

                ASSERT_OK(mount_table_load(&t));
                ASSERT_TRUE(mount_table_find(t, id_odd, &point) == 1);
                ASSERT_STREQ(point, odd);
                ASSERT_TRUE(mount_table_find(t, UINT64_MAX, NULL) == 0);
        }

        /* copies in another user namespace, from its process's mountinfo */
        pid = spawn_unshared(0);
        {
                _cleanup_free_ char *proc = test_path("/proc/%d", (int) pid);
                _cleanup_close_ int pid_fd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                const MountInfo *m = info_lookup(all, n_all, id);

                ASSERT_TRUE(pid_fd >= 0);
                ASSERT_TRUE(mount_info_has_copy(pid_fd, m->dev, m->root) == 1);
                ASSERT_TRUE(mount_info_has_copy(pid_fd, m->dev, "/other") == 0);
                kill_and_reap(pid);
                ASSERT_TRUE(mount_info_has_copy(pid_fd, m->dev, m->root) == 0); /* gone: never another's */
        }
        mount_info_free(all, n_all);
}
TEST(mountinfo_fallback_matches_statmount) {
        run_isolated(body_mountinfo_fallback);
}

/* laminad's own mountinfo parser reads every line of a real mount table as libmount does. */
static void body_mountinfo_lines_like_libmount(const char *dir) {
        _cleanup_close_ int tfd = make_target(dir, "x \\y\tz\n", NULL);
        _cleanup_free_ char *src = test_path("%s/src", dir), *line = NULL;
        struct libmnt_table *tb;
        struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
        struct libmnt_fs *fs;
        Error e = ERROR_NULL;
        size_t size = 0, n = 0;
        uint64_t id;
        FILE *f;

        ASSERT_OK(mkdir(src, 0755));
        ASSERT_OK(bind_at(src, tfd, 0, &id, &e));
        tb = mnt_new_table_from_file("/proc/self/mountinfo");
        f = fopen("/proc/self/mountinfo", "re");
        ASSERT_TRUE(tb && it && f);
        while (getline(&line, &size, f) > 0) {
                MountInfoLine l;

                ASSERT_OK(mount_info_parse_line(line, &l));
                ASSERT_TRUE(mnt_table_next_fs(tb, it, &fs) == 0);
                ASSERT_TRUE(l.id == mnt_fs_get_id(fs));
                ASSERT_TRUE(l.dev == mnt_fs_get_devno(fs));
                ASSERT_STREQ(l.root, mnt_fs_get_root(fs));
                ASSERT_STREQ(l.point, mnt_fs_get_target(fs));
                n++;
        }
        ASSERT_TRUE(n > 2 && mnt_table_next_fs(tb, it, &fs) == 1);
        fclose(f);
        mnt_free_iter(it);
        mnt_unref_table(tb);
        ASSERT_OK(mount_unmount(id, false, NULL, 0, &e));
}
TEST(mountinfo_lines_parse_like_libmount) {
        run_isolated(body_mountinfo_lines_like_libmount);
}

static void expect_line(const char *text, int id, unsigned major, unsigned minor, const char *root,
                        const char *point) {
        _cleanup_free_ char *copy = strdup(text);
        MountInfoLine l;

        ASSERT_TRUE(copy);
        ASSERT_OK(mount_info_parse_line(copy, &l));
        ASSERT_TRUE(l.id == id && l.dev == makedev(major, minor));
        ASSERT_STREQ(l.root, root);
        ASSERT_STREQ(l.point, point);
}

static void expect_bad_line(const char *text) {
        _cleanup_free_ char *copy = strdup(text);
        MountInfoLine l;

        ASSERT_TRUE(copy);
        ASSERT_ERR(mount_info_parse_line(copy, &l), EINVAL);
}

TEST(mountinfo_escapes_and_malformed_lines) {
        expect_line("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw\n", 36, 98, 0, "/mnt1", "/mnt2");
        expect_line("7 1 0:5 / /a\\040b\\011c\\012d\\134e rw - tmpfs t rw", 7, 0, 5, "/", "/a b\tc\nd\\e");
        /* what the kernel never writes stays as it is: no NUL, no digit 8, no short escape */
        expect_line("7 1 0:5 /r\\000 /p\\08 rw - tmpfs t rw", 7, 0, 5, "/r\\000", "/p\\08");
        expect_line("7 1 0:5 / /p\\4 rw - tmpfs t rw", 7, 0, 5, "/", "/p\\4");
        expect_bad_line("");
        expect_bad_line("36 35 98:0 /mnt1 /mnt2");      /* nothing after the mount point */
        expect_bad_line("36 35 980 /mnt1 /mnt2 rw - x y rw");
        expect_bad_line("x 35 98:0 /mnt1 /mnt2 rw - x y rw");
        expect_bad_line("-1 35 98:0 /mnt1 /mnt2 rw - x y rw");
        expect_bad_line("4294967296 35 98:0 / / rw - x y rw");
        expect_bad_line("36 35 98:99999999999 / / rw - x y rw");
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(mountinfo_fallback_matches_statmount),
                TEST_ENTRY(mountinfo_lines_parse_like_libmount),
                TEST_ENTRY(mountinfo_escapes_and_malformed_lines),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
