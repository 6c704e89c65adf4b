/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mount_overlay hands every directory to overlayfs as an fd opened below the trusted root
 * (FSCONFIG_SET_FD) where the kernel takes one, and as that fd's /proc/self/fd path where it
 * does not: which form was used shows in the overlay's options in mountinfo (the kernel
 * names an fd's directory by its path, a string as it was given). Both forms make the same
 * overlay; a kernel that refuses fds is found out once; a directory refused in both forms
 * teaches nothing; nothing outside the root, no symbolic link, no non-directory is given. */
#include <sys/utsname.h>

#include "mount-api-test-util.h"

/* The overlay options (lowerdir+=..., upperdir=...) of the mount at dir/merged. */
static char *merged_options(const char *dir) {
        _cleanup_free_ char *target = test_path("%s/merged", dir);

        return mountinfo_options_of(target, mnt_fs_get_fs_options);
}

/* Layers, upper and work of the overlay at dir/merged were given by fd: named by their
 * paths, no /proc/self/fd path among them. */
static void expect_given_by_fd(const char *dir) {
        _cleanup_free_ char *opts = merged_options(dir), *upper = test_path("upperdir=%s/upper", dir),
                            *lower = test_path("lowerdir+=%s/L/", dir);

        ASSERT_TRUE(strstr(opts, upper));
        ASSERT_TRUE(strstr(opts, lower));
        ASSERT_TRUE(!strstr(opts, "/proc/self/fd/"));
}

static void expect_given_by_path(const char *dir) {
        _cleanup_free_ char *opts = merged_options(dir);

        ASSERT_TRUE(strstr(opts, "lowerdir+=/proc/self/fd/"));
        ASSERT_TRUE(strstr(opts, "upperdir=/proc/self/fd/"));
        ASSERT_TRUE(strstr(opts, "workdir=/proc/self/fd/"));
        ASSERT_TRUE(!strstr(opts, dir));
}

/* Linux 6.15 takes O_PATH fds for overlayfs's directories. */
static bool kernel_takes_path_fds(void) {
        struct utsname u;
        int major, minor;

        ASSERT_OK(uname(&u));
        ASSERT_TRUE(sscanf(u.release, "%d.%d", &major, &minor) == 2);
        return major > 6 || (major == 6 && minor >= 15);
}

static void body_probe(const char *dir) {
        ASSERT_TRUE(mount_overlay_dirs_by() == MOUNT_OVERLAY_DIRS_PROBE);
        check_overlay(dir, 2, true);
        if (!kernel_takes_path_fds()) {
                ASSERT_TRUE(mount_overlay_dirs_by() == MOUNT_OVERLAY_DIRS_BY_PATH);
                expect_given_by_path(dir);
                return;
        }
        ASSERT_TRUE(mount_overlay_dirs_by() == MOUNT_OVERLAY_DIRS_BY_FD);
        expect_given_by_fd(dir);
}
TEST(directories_go_by_fd_where_the_kernel_takes_them) {
        run_isolated(body_probe);
}

static void body_by_path(const char *dir) {
        mount_overlay_dirs_by_set(MOUNT_OVERLAY_DIRS_BY_PATH);
        check_overlay(dir, 500, true);
        expect_given_by_path(dir);
        ASSERT_TRUE(mount_overlay_dirs_by() == MOUNT_OVERLAY_DIRS_BY_PATH);
}
TEST(fallback_by_path_makes_the_same_500_layer_overlay) {
        run_isolated(body_by_path);
}

/* Image id 0 is host uid 54321 in the layers and the upper; the fds the paths name are
 * in the idmapped clone, which no path outside reaches. */
static void body_by_path_idmapped(const char *dir) {
        MountIdmap m = { .uid = { { 0, 54321, 1 } }, .gid = { { 0, 54320, 1 } }, .n_uid = 1, .n_gid = 1 };
        _cleanup_close_ int userns = -EBADF;

        mount_overlay_dirs_by_set(MOUNT_OVERLAY_DIRS_BY_PATH);
        ASSERT_OK(mount_userns_new(&m, &userns));
        check_overlay_idmapped(dir, 2, true, &(MountIdmapping) { userns, 54321, 54320 });
        expect_given_by_path(dir);
}
TEST(fallback_by_path_makes_idmapped_overlays) {
        run_isolated(body_by_path_idmapped);
}

/* From now on fsconfig(FSCONFIG_SET_FD) fails with err, as on a kernel without fd layers. */
static void refuse_set_fd(int err) {
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

        ASSERT_TRUE(ctx);
        ASSERT_OK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), SYS_fsconfig, 1,
                                   SCMP_A1(SCMP_CMP_EQ, FSCONFIG_SET_FD)));
        ASSERT_OK(seccomp_load(ctx));
        seccomp_release(ctx);
}

/* Before 6.13 overlayfs takes strings only (EINVAL); 6.13 and 6.14 refuse O_PATH fds
 * (EBADF). */
static void probe_refused(const char *dir, int err) {
        refuse_set_fd(err);
        check_overlay(dir, 2, true);
        ASSERT_TRUE(mount_overlay_dirs_by() == MOUNT_OVERLAY_DIRS_BY_PATH);
        expect_given_by_path(dir);
}
static void body_refused_einval(const char *dir) {
        probe_refused(dir, EINVAL);
}
static void body_refused_ebadf(const char *dir) {
        probe_refused(dir, EBADF);
}
TEST(kernel_refusing_fds_is_found_out_and_paths_used) {
        run_isolated(body_refused_einval);
        run_isolated(body_refused_ebadf);
}

/* The fd refused and its path not found (no /proc): the directory may be the reason, so the
 * form stays undecided until a directory is taken. */
static void body_refused_both(const char *dir) {
        _cleanup_free_ char *first = test_path("%s/first", dir);
        _cleanup_close_ int tfd = -EBADF;
        Error e = ERROR_NULL;
        char **lowers;

        ASSERT_OK(mkdir(first, 0755));
        lowers = make_layers(first, 2);
        tfd = make_target(first, "merged", NULL);
        refuse_set_fd(EINVAL);
        ASSERT_OK(mount("tmpfs", "/proc", "tmpfs", 0, NULL));
        ASSERT_ERR(overlay_at(first, lowers, 2, NULL, NULL, tfd, 0, NULL, NULL, &e), ENOENT);
        ASSERT_TRUE(strstr(e.message, "lowerdir+ \"L/1\""));
        ASSERT_TRUE(mount_overlay_dirs_by() == MOUNT_OVERLAY_DIRS_PROBE);
        ASSERT_OK(umount2("/proc", 0));
        free_layers(lowers);

        check_overlay(dir, 2, true);
        ASSERT_TRUE(mount_overlay_dirs_by() == MOUNT_OVERLAY_DIRS_BY_PATH);
        expect_given_by_path(dir);
}
TEST(directory_refused_in_both_forms_teaches_nothing) {
        run_isolated(body_refused_both);
}

/* Each refused before overlayfs sees it, naming what was asked for; nothing mounted. */
static void expect_refused(const char *dir, int tfd, const char *lower, const char *upper, int err,
                           const char *needle) {
        _cleanup_free_ char *l0 = test_path("%s/L/0", dir), *l1 = test_path("%s/%s", dir, lower),
                            *u = upper ? test_path("%s/%s", dir, upper) : NULL,
                            *w = upper ? test_path("%s/work", dir) : NULL;
        char *lowers[] = { l0, l1 };
        Error e = ERROR_NULL;

        ASSERT_ERR(overlay_at(dir, lowers, 2, u, w, tfd, 0, NULL, NULL, &e), err);
        if (!strstr(e.message, needle)) {
                fprintf(stderr, "%s: no %s\n", e.message, needle);
                abort();
        }
}

static void body_only_below(const char *dir) {
        char **layers = make_layers(dir, 1);
        _cleanup_free_ char *link = test_path("%s/link", dir), *file = test_path("%s/file", dir),
                            *outside = test_path("%s/outside", dir), *work = test_path("%s/work", dir),
                            *inner = test_path("%s/inner", dir), *target = NULL;
        _cleanup_close_ int tfd = make_target(dir, "merged", &target), root = -EBADF, mfd = -EBADF;
        Error e = ERROR_NULL;
        char buf[256];

        ASSERT_OK(symlink("L/0", link));
        write_file(file, "x");
        ASSERT_OK(mkdir(outside, 0755));
        ASSERT_OK(mkdir(work, 0755));
        ASSERT_OK(mkdir(inner, 0755));
        expect_refused(dir, tfd, "link", NULL, ELOOP, "lowerdir+ \"link\"");
        expect_refused(dir, tfd, "file", NULL, ENOTDIR, "lowerdir+ \"file\"");
        expect_refused(dir, tfd, "L/0", "link", ELOOP, "upperdir \"link\"");

        /* Paths are below the root given, never above it. */
        root = open(inner, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(root >= 0);
        ASSERT_ERR(mount_overlay(&(MountOverlayDirs) { .root_fd = root,
                                                       .lowers = (const char *const[]) { "../L/0", "../outside" },
                                                       .n_lowers = 2 },
                                 0, NULL, &mfd, &e),
                   EXDEV);
        ASSERT_TRUE(strstr(e.message, "lowerdir+ \"../L/0\""));
        ASSERT_ERR(mount_overlay(&(MountOverlayDirs) { .root_fd = root,
                                                       .lowers = (const char *const[]) { "/tmp", "/" },
                                                       .n_lowers = 2 },
                                 0, NULL, &mfd, &e),
                   EXDEV);
        ASSERT_TRUE(!read_file(test_path("%s/f", target), buf)); /* nothing was mounted */
        free_layers(layers);
}
TEST(only_directories_below_the_root_without_symlinks) {
        run_isolated(body_only_below);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(directories_go_by_fd_where_the_kernel_takes_them),
                TEST_ENTRY(fallback_by_path_makes_the_same_500_layer_overlay),
                TEST_ENTRY(fallback_by_path_makes_idmapped_overlays),
                TEST_ENTRY(kernel_refusing_fds_is_found_out_and_paths_used),
                TEST_ENTRY(directory_refused_in_both_forms_teaches_nothing),
                TEST_ENTRY(only_directories_below_the_root_without_symlinks),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
