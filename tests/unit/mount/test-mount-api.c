/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "mount-api-test-util.h"

/* 500 idmapped layers and an idmapped upper, writable for the mapped user (overlayfs
 * creates its work directory as it). */
static void body_overlay_500_idmapped(const char *dir) {
        MountIdmap m = { .uid = { { 0, 54321, 1 } }, .gid = { { 0, 54320, 1 } }, .n_uid = 1, .n_gid = 1 };
        _cleanup_close_ int userns = -EBADF;

        ASSERT_OK(mount_userns_new(&m, &userns));
        check_overlay_idmapped(dir, 500, true, &(MountIdmapping) { userns, 54321, 54320 });
}
TEST(overlay_500_idmapped_layers_with_upper) {
        run_isolated(body_overlay_500_idmapped);
}

static void body_overlay_1_with_upper(const char *dir) {
        check_overlay(dir, 1, true);
}
TEST(overlay_1_layer_with_upper) {
        run_isolated(body_overlay_1_with_upper);
}

static void body_overlay_2(const char *dir) {
        check_overlay(dir, 2, false);
}
TEST(overlay_2_layers_read_only) {
        run_isolated(body_overlay_2);
}

static void body_overlay_2_rw(const char *dir) {
        check_overlay(dir, 2, true);
}
TEST(overlay_2_layers_with_upper) {
        run_isolated(body_overlay_2_rw);
}

static void body_overlay_128(const char *dir) {
        check_overlay(dir, 128, false);
}
TEST(overlay_128_layers) {
        run_isolated(body_overlay_128);
}

static void body_overlay_500(const char *dir) {
        check_overlay(dir, 500, false);
}
TEST(overlay_500_layers) {
        run_isolated(body_overlay_500);
}

static void body_overlay_500_rw(const char *dir) {
        check_overlay(dir, 500, true);
}
TEST(overlay_500_layers_with_upper) {
        run_isolated(body_overlay_500_rw);
}

static void body_overlay_501(const char *dir) {
        char **lowers = make_layers(dir, 501);
        _cleanup_free_ char *target = NULL;
        _cleanup_close_ int tfd = make_target(dir, "merged", &target);
        Error e = ERROR_NULL;
        char buf[256];

        ASSERT_ERR(overlay_at(dir, lowers, 501, NULL, NULL, tfd, 0, NULL, NULL, &e), EINVAL);
        ASSERT_TRUE(e.code == EINVAL);
        ASSERT_TRUE(strstr(e.message, "at most 500 layers"));
        ASSERT_TRUE(!read_file(test_path("%s/f", target), buf)); /* nothing was mounted */
        free_layers(lowers);
}
TEST(overlay_501_layers_refused_naming_limit) {
        run_isolated(body_overlay_501);
}

static void body_overlay_single_read_only(const char *dir) {
        char **lowers = make_layers(dir, 1);
        _cleanup_close_ int tfd = make_target(dir, "merged", NULL);
        Error e = ERROR_NULL;

        ASSERT_ERR(overlay_at(dir, lowers, 1, NULL, NULL, tfd, 0, NULL, NULL, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "bind"));
        free_layers(lowers);
}
TEST(overlay_one_layer_without_upper_refused) {
        run_isolated(body_overlay_single_read_only);
}

/* An upper on a read-only mount: refused by overlayfs when it gets the directory. */
static void body_overlay_kernel_message(const char *dir) {
        char **lowers = make_layers(dir, 2);
        _cleanup_free_ char *upper = test_path("%s/ro", dir), *work = test_path("%s/work", dir);
        _cleanup_close_ int tfd = make_target(dir, "merged", NULL);
        Error e = ERROR_NULL;

        ASSERT_OK(mkdir(upper, 0755));
        ASSERT_OK(mkdir(work, 0755));
        ASSERT_OK(mount(upper, upper, NULL, MS_BIND, NULL));
        ASSERT_OK(mount(NULL, upper, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
        ASSERT_ERR(overlay_at(dir, lowers, 2, upper, work, tfd, 0, NULL, NULL, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "upperdir \"ro\""));
        ASSERT_TRUE(strstr(e.message, "kernel: overlay: "));
        ASSERT_TRUE(strstr(e.message, "is read-only"));
        free_layers(lowers);
}
TEST(overlay_failure_carries_kernel_message) {
        run_isolated(body_overlay_kernel_message);
}

static void body_bind_read_only(const char *dir) {
        _cleanup_free_ char *src = test_path("%s/src", dir), *file = test_path("%s/src/a", dir);
        _cleanup_free_ char *target = NULL;
        _cleanup_close_ int tfd = make_target(dir, "bind", &target);
        Error e = ERROR_NULL;
        uint64_t id;
        char buf[256];

        ASSERT_OK(mkdir(src, 0755));
        write_file(file, "source");
        ASSERT_OK(bind_at(src, tfd, MOUNT_ATTR_RDONLY, &id, &e));
        ASSERT_STREQ(read_file(test_path("%s/a", target), buf), "source");
        ASSERT_ERR(try_create(test_path("%s/new", target)), EROFS);
        ASSERT_OK(try_create(test_path("%s/new", src))); /* the source stays writable */
        ASSERT_TRUE(mount_find(id, NULL) == 1);
}
TEST(bind_read_only_refuses_writes) {
        run_isolated(body_bind_read_only);
}

/* The source of a bind mount is opened below the trusted directory only: a symlink put
 * in place of a component of it (the leaf or a directory on the way), a magic link or
 * ".." out of it is refused, not followed, and nothing is cloned. */
static void body_bind_source_beneath(const char *dir) {
        _cleanup_free_ char *root = test_path("%s/root", dir), *outside = test_path("%s/outside", dir);
        _cleanup_close_ int root_fd = -EBADF, mfd = -EBADF;
        static const struct {
                const char *path;
                int err;
        } refused[] = {
                { "leaf", ELOOP },       /* -> ../outside */
                { "hop/x", ELOOP },      /* hop -> ../outside, x a directory there */
                { "abs", ELOOP },        /* -> /, absolute */
                { "../outside", EXDEV }, /* out of root */
                { "/proc/self/root", EXDEV },
        };

        ASSERT_OK(mkdir(root, 0755));
        ASSERT_OK(mkdir(outside, 0755));
        ASSERT_OK(mkdir(test_path("%s/x", outside), 0755));
        ASSERT_OK(mkdir(test_path("%s/real", root), 0755));
        write_file(test_path("%s/real/f", root), "inside");
        ASSERT_OK(symlink("../outside", test_path("%s/leaf", root)));
        ASSERT_OK(symlink("../outside", test_path("%s/hop", root)));
        ASSERT_OK(symlink("/", test_path("%s/abs", root)));
        root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(root_fd >= 0);

        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                Error e = ERROR_NULL;

                ASSERT_ERR(mount_bind(root_fd, refused[i].path, MOUNT_ATTR_RDONLY, NULL, &mfd, &e), refused[i].err);
                ASSERT_TRUE(mfd < 0 && e.code == refused[i].err);
        }
        {
                Error e = ERROR_NULL;
                char buf[256];

                ASSERT_OK(mount_bind(root_fd, "real", MOUNT_ATTR_RDONLY, NULL, &mfd, &e));
                ASSERT_STREQ(read_file(test_path("/proc/self/fd/%d/f", mfd), buf), "inside");
        }
}
TEST(bind_source_opened_beneath_root_no_symlink) {
        run_isolated(body_bind_source_beneath);
}

static void body_flags_in_mountinfo(const char *dir) {
        char **lowers = make_layers(dir, 2);
        _cleanup_free_ char *src = test_path("%s/src", dir), *opts = NULL, *ovl_opts = NULL;
        _cleanup_free_ char *bind_path = NULL, *ovl_path = NULL;
        _cleanup_close_ int bfd = make_target(dir, "bind", &bind_path), ofd = make_target(dir, "ovl", &ovl_path);
        Error e = ERROR_NULL;
        uint64_t bid, oid;

        ASSERT_OK(mkdir(src, 0755));
        ASSERT_OK(bind_at(src, bfd, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, &bid, &e));
        ASSERT_OK(overlay_at(dir, lowers, 2, NULL, NULL, ofd,
                                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, NULL, &oid, &e));

        opts = mount_options_of(bind_path);
        ASSERT_TRUE(mnt_optstr_get_option(opts, "nosuid", NULL, NULL) == 0);
        ASSERT_TRUE(mnt_optstr_get_option(opts, "nodev", NULL, NULL) == 0);
        ASSERT_TRUE(mnt_optstr_get_option(opts, "rw", NULL, NULL) == 0);
        ASSERT_TRUE(mnt_optstr_get_option(opts, "noexec", NULL, NULL) == 1);

        ovl_opts = mount_options_of(ovl_path);
        ASSERT_TRUE(mnt_optstr_get_option(ovl_opts, "nosuid", NULL, NULL) == 0);
        ASSERT_TRUE(mnt_optstr_get_option(ovl_opts, "nodev", NULL, NULL) == 0);
        ASSERT_TRUE(mnt_optstr_get_option(ovl_opts, "noexec", NULL, NULL) == 0);
        free_layers(lowers);
}
TEST(nosuid_nodev_show_in_mountinfo) {
        run_isolated(body_flags_in_mountinfo);
}

static void expect_target_refused(const char *path, int err, const char *needle) {
        Error e = ERROR_NULL;
        int fd = -EBADF;

        ASSERT_ERR(mount_open_target(path, &fd, &e), err);
        ASSERT_TRUE(fd < 0);
        ASSERT_TRUE(e.code == err);
        if (!strstr(e.message, needle)) {
                fprintf(stderr, "message \"%s\" lacks \"%s\"\n", e.message, needle);
                abort();
        }
}

static void body_open_target(const char *dir) {
        _cleanup_free_ char *real = test_path("%s/real", dir), *link = test_path("%s/link", dir);
        _cleanup_free_ char *full = test_path("%s/full", dir), *file = test_path("%s/file", dir);
        _cleanup_free_ char *via_link = test_path("%s/link/sub", dir), *sub = test_path("%s/real/sub", dir);
        _cleanup_free_ char *missing = test_path("%s/missing", dir);
        _cleanup_close_ int fd = -EBADF;
        Error e = ERROR_NULL;

        ASSERT_OK(mkdir(real, 0755));
        ASSERT_OK(symlink(real, link));
        ASSERT_OK(mkdir(full, 0755));
        write_file(test_path("%s/x", full), "x");
        write_file(file, "x");

        expect_target_refused(link, EINVAL, "link");          /* the leaf is a symlink */
        expect_target_refused(full, EINVAL, "not empty");
        expect_target_refused("relative/dir", EINVAL, "absolute");
        expect_target_refused(missing, ENOENT, "does not exist");
        expect_target_refused(file, EINVAL, "not a directory");

        ASSERT_OK(mount_open_target(real, &fd, &e));
        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(fcntl(fd, F_GETFL) & O_PATH);

        ASSERT_OK(mkdir(sub, 0755));
        expect_target_refused(via_link, EINVAL, "symbolic link"); /* a symlink on the way */
}
TEST(open_target_refuses_symlink_nonempty_relative) {
        run_isolated(body_open_target);
}

static void body_unmount(const char *dir) {
        char **lowers = make_layers(dir, 2);
        _cleanup_free_ char *target = NULL, *point = NULL;
        _cleanup_close_ int tfd = make_target(dir, "merged", &target);
        Error e = ERROR_NULL;
        uint64_t id;
        char buf[256];

        ASSERT_OK(overlay_at(dir, lowers, 2, NULL, NULL, tfd, 0, NULL, &id, &e));
        ASSERT_TRUE(mount_find(id, &point) == 1);
        ASSERT_STREQ(point, target);
        ASSERT_TRUE(read_file(test_path("%s/f", target), buf));

        ASSERT_OK(mount_unmount(id, false, NULL, 0, &e));
        ASSERT_TRUE(mount_find(id, NULL) == 0);
        ASSERT_TRUE(!read_file(test_path("%s/f", target), buf));

        e = ERROR_NULL;
        ASSERT_ERR(mount_unmount(id, false, NULL, 0, &e), ENOENT);
        ASSERT_TRUE(e.code == ENOENT);
        free_layers(lowers);
}
TEST(unmount_then_second_unmount_is_enoent) {
        run_isolated(body_unmount);
}

/* A directory fd inside the mount: a plain unmount is EBUSY, a forced one detaches it,
 * and the holder keeps it alive (and is found) until it closes the fd. Renaming the
 * target's parent does not misdirect the unmount. */
static void body_unmount_busy_and_force(const char *dir) {
        _cleanup_free_ char *src = test_path("%s/src", dir), *target = NULL, *point = NULL;
        _cleanup_free_ char *parent = test_path("%s/parent", dir), *moved = test_path("%s/moved", dir);
        _cleanup_close_ int tfd = -EBADF, inside = -EBADF;
        Error e = ERROR_NULL;
        unsigned holders;
        pid_t first = 0;
        uint64_t id;

        ASSERT_OK(mkdir(src, 0755));
        ASSERT_OK(mkdir(parent, 0755));
        tfd = make_target(parent, "t", &target);
        ASSERT_OK(bind_at(src, tfd, 0, &id, &e));
        tfd = safe_close(tfd);
        ASSERT_OK(mount_count_holders(id, 0, false, &holders, NULL));
        ASSERT_TRUE(holders == 0);

        inside = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(inside >= 0);
        ASSERT_OK(rename(parent, moved));
        ASSERT_TRUE(mount_find(id, &point) == 1);
        ASSERT_STREQ(point, test_path("%s/t", moved));

        ASSERT_ERR(mount_unmount(id, false, NULL, 0, &e), EBUSY);
        ASSERT_TRUE(strstr(e.message, "in use"));
        ASSERT_TRUE(mount_find(id, NULL) == 1);
        ASSERT_OK(mount_count_holders(id, 0, false, &holders, NULL));
        ASSERT_TRUE(holders == 1);

        ASSERT_OK(mount_unmount(id, true, NULL, 0, &e));
        ASSERT_TRUE(mount_find(id, NULL) == 0);
        ASSERT_OK(mount_count_holders(id, 0, false, &holders, &first));
        ASSERT_TRUE(holders == 1 && first == getpid()); /* still writable through the fd */
        ASSERT_TRUE(mount_pid_holds(getpid(), id) == 1);
        ASSERT_OK(faccessat(inside, ".", W_OK, 0));
        inside = safe_close(inside);
        ASSERT_TRUE(mount_pid_holds(getpid(), id) == 0);
        ASSERT_OK(mount_count_holders(id, 0, false, &holders, NULL));
        ASSERT_TRUE(holders == 0);
}
TEST(unmount_busy_force_holders_and_renamed_parent) {
        run_isolated(body_unmount_busy_and_force);
}

static void body_mount_list_below(const char *dir) {
        _cleanup_free_ char *src = test_path("%s/src", dir), *inner = test_path("%s/inner", dir);
        _cleanup_free_ uint64_t *ids = NULL;
        _cleanup_close_ int tfd = -EBADF, tfd2 = -EBADF;
        Error e = ERROR_NULL;
        uint64_t id, id2;
        size_t n = 0;

        ASSERT_OK(mkdir(src, 0755));
        ASSERT_OK(mkdir(inner, 0755));
        tfd = make_target(inner, "a", NULL);
        tfd2 = make_target(dir, "b", NULL);
        ASSERT_OK(bind_at(src, tfd, 0, &id, &e));
        ASSERT_OK(bind_at(src, tfd2, 0, &id2, &e));
        ASSERT_OK(mount_list_below(inner, &ids, &n));
        ASSERT_TRUE(n == 1 && ids[0] == id);
        ASSERT_OK(mount_unmount(id, false, NULL, 0, &e));
        ASSERT_OK(mount_unmount(id2, false, NULL, 0, &e));
}
TEST(list_below_finds_only_mounts_below) {
        run_isolated(body_mount_list_below);
}

static void body_without_statmount(const char *dir) {
        _cleanup_free_ char *second = test_path("%s/second", dir);

        mount_test_refuse_statmount();
        body_unmount_busy_and_force(dir);
        {
                _cleanup_free_ char *src = test_path("%s/tsrc", dir), *tgt = NULL, *point = NULL;
                _cleanup_(mount_table_freep) MountTable *t = NULL;
                _cleanup_close_ int tfd = -EBADF;
                Error e = ERROR_NULL;
                uint64_t id;

                ASSERT_OK(mkdir(src, 0755));
                tfd = make_target(dir, "t", &tgt);
                ASSERT_OK(bind_at(src, tfd, 0, &id, &e));
                ASSERT_OK(mount_table_load(&t)); /* from mountinfo, once */
                ASSERT_TRUE(mount_table_find(t, id, &point) == 1);
                ASSERT_STREQ(point, tgt);
                ASSERT_TRUE(mount_table_find(t, id + 1000000, NULL) == 0);
                ASSERT_OK(mount_unmount(id, false, NULL, 0, &e));
        }
        ASSERT_OK(mkdir(second, 0755));
        body_mount_list_below(second);
}
TEST(unmount_and_list_without_statmount) {
        run_isolated(body_without_statmount);
}

/* A caller's mapping from subuid/subgid files as newuidmap would allow it, and a bind
 * mount idmapped through it: image ids show as the caller's, files it creates are stored
 * with image ids, ids it has no range for show as nobody. */
static void body_idmap(const char *dir) {
        _cleanup_free_ char *subuid = test_path("%s/subuid", dir), *subgid = test_path("%s/subgid", dir);
        _cleanup_free_ char *src = test_path("%s/src", dir), *tgt = NULL;
        _cleanup_close_ int userns = -EBADF, mfd = -EBADF, tfd = -EBADF, dir_fd = -EBADF;
        Error e = ERROR_NULL;
        MountIdmap m;
        uint32_t start = 0, count = 0;
        FILE *f;

        ASSERT_TRUE((f = fopen(subuid, "we")));
        fputs("bad:0:10\nbig:300000:70000\nother:100000:65536\n54321:200000:65536\n54321:400000:65536\n", f);
        fclose(f);
        ASSERT_TRUE((f = fopen(subgid, "we")));
        fputs("54321:500000:1000\n", f);
        fclose(f);
        ASSERT_OK(mount_subid_range(subuid, "other", 1, &start, &count));
        ASSERT_TRUE(start == 100000 && count == 65536);
        ASSERT_OK(mount_subid_range(subuid, "bad", 1, &start, &count)); /* never from host root */
        ASSERT_TRUE(count == 0);
        ASSERT_OK(mount_subid_range(subuid, "big", 1, &start, &count)); /* more than 65536 */
        ASSERT_TRUE(count == 0);
        ASSERT_OK(mount_subid_range("/nonexistent", "x", 1, &start, &count));
        ASSERT_TRUE(count == 0);

        ASSERT_OK(mount_idmap_for_caller(54321, 54320, subuid, subgid, &m));
        ASSERT_TRUE(m.n_uid == 2 && m.uid[0].inside == 0 && m.uid[0].outside == 54321 && m.uid[0].count == 1);
        ASSERT_TRUE(m.uid[1].inside == 1 && m.uid[1].outside == 200000 && m.uid[1].count == 65536); /* the first */
        ASSERT_TRUE(m.n_gid == 2 && m.gid[0].outside == 54320 && m.gid[1].outside == 500000 && m.gid[1].count == 1000);
        {
                MountIdmap none;
                ASSERT_OK(mount_idmap_for_caller(54322, 54322, subuid, subgid, &none));
                ASSERT_TRUE(none.n_uid == 1 && none.n_gid == 1);
        }

        dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(dir_fd >= 0);
        ASSERT_OK(chmod(dir, 0711)); /* the test's tmpfs: others may pass */
        ASSERT_OK(mkdir(src, 0777));
        ASSERT_OK(chmod(src, 0777));
        create_as(test_path("%s/root-file", src), 0, 0);
        create_as(test_path("%s/five", src), 5, 7);
        create_as(test_path("%s/far", src), 70000, 70000);
        ASSERT_OK(mount_userns_new(&m, &userns));
        tfd = make_target(dir, "idmapped", &tgt);
        ASSERT_OK(mount_bind(dir_fd, "src", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                             &(MountIdmapping) { userns, 54321, 54320 }, &mfd, &e));
        ASSERT_OK(mount_attach(mfd, tfd, &e));

        expect_owner(test_path("%s/root-file", tgt), 54321, 54320);
        expect_owner(test_path("%s/five", tgt), 200004, 500006);
        expect_owner(test_path("%s/far", tgt), 65534, 65534); /* no range for it: nobody */
        create_as(test_path("%s/by-caller", tgt), 54321, 54320);
        expect_owner(test_path("%s/by-caller", src), 0, 0);
        create_as(test_path("%s/by-sub", tgt), 200009, 500009);
        expect_owner(test_path("%s/by-sub", src), 10, 10);
        ASSERT_TRUE(strstr(mount_options_of(tgt), "idmapped"));
}
TEST(idmap_for_caller_from_subids) {
        run_isolated(body_idmap);
}

static void body_mount_point(const char *dir) {
        _cleanup_free_ char *parent = test_path("%s/run/mounts/overlayfs", dir), *path = NULL, *path2 = NULL;
        _cleanup_free_ char *owner_dir = test_path("%s/1234", parent), *linked = test_path("%s/linked", dir);
        _cleanup_close_ int fd = -EBADF, fd2 = -EBADF;
        Error e = ERROR_NULL;
        struct stat st;

        umask(077);
        ASSERT_OK(mount_point_create(parent, 1234, &path, &fd, &e));
        ASSERT_OK(stat(parent, &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0755 && st.st_uid == 0);
        ASSERT_OK(stat(owner_dir, &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0710 && st.st_uid == 0 && st.st_gid == 0); /* g: the ACL's mask */
        ASSERT_TRUE(getxattr(owner_dir, "system.posix_acl_access", NULL, 0) == 44); /* five entries */
        ASSERT_OK(stat(path, &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0700 && st.st_uid == 0);
        ASSERT_TRUE(strncmp(path, owner_dir, strlen(owner_dir)) == 0 && strlen(path) == strlen(owner_dir) + 17);

        /* a new, random name each time; the owner's directory is put right again, also
         * when an older version gave it to the owner */
        ASSERT_OK(chmod(owner_dir, 0755));
        ASSERT_OK(chown(owner_dir, 1234, 1234));
        ASSERT_OK(mount_point_create(parent, 1234, &path2, &fd2, &e));
        ASSERT_TRUE(!streq(path, path2));
        ASSERT_OK(stat(owner_dir, &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0710 && st.st_uid == 0 && st.st_gid == 0);

        ASSERT_OK(mount_point_remove(path));
        ASSERT_TRUE(stat(path, &st) < 0 && errno == ENOENT);
        ASSERT_OK(mount_point_remove(path)); /* already gone */

        /* no component may be a symlink */
        ASSERT_OK(symlink(dir, linked));
        e = ERROR_NULL;
        free(path);
        path = NULL;
        ASSERT_TRUE(mount_point_create(test_path("%s/run", linked), 1234, &path, &fd2, &e) < 0);
        umask(022);
}
TEST(mount_point_per_owner_random_and_removed) {
        run_isolated(body_mount_point);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(overlay_1_layer_with_upper),
                TEST_ENTRY(overlay_500_idmapped_layers_with_upper),
                TEST_ENTRY(idmap_for_caller_from_subids),
                TEST_ENTRY(unmount_and_list_without_statmount),
                TEST_ENTRY(overlay_2_layers_read_only),
                TEST_ENTRY(overlay_2_layers_with_upper),
                TEST_ENTRY(overlay_128_layers),
                TEST_ENTRY(overlay_500_layers),
                TEST_ENTRY(overlay_500_layers_with_upper),
                TEST_ENTRY(overlay_501_layers_refused_naming_limit),
                TEST_ENTRY(overlay_one_layer_without_upper_refused),
                TEST_ENTRY(overlay_failure_carries_kernel_message),
                TEST_ENTRY(bind_read_only_refuses_writes),
                TEST_ENTRY(bind_source_opened_beneath_root_no_symlink),
                TEST_ENTRY(nosuid_nodev_show_in_mountinfo),
                TEST_ENTRY(open_target_refuses_symlink_nonempty_relative),
                TEST_ENTRY(unmount_then_second_unmount_is_enoent),
                TEST_ENTRY(unmount_busy_force_holders_and_renamed_parent),
                TEST_ENTRY(list_below_finds_only_mounts_below),
                TEST_ENTRY(mount_point_per_owner_random_and_removed),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
