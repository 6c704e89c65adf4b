/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mount_open_target_as: a caller's mount target, looked up by a child with the caller's
 * uid and groups. Trees made here with chosen owners and modes; the "caller" is a uid of
 * its own, so what it reaches is decided by the kernel's permission checks alone. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mount-api.h"
#include "mount-test-util.h"

#define CALLER 54322
#define CALLER_GID 54322
#define GROUP 54323 /* a group the caller has only as a supplementary group */
#define OTHER 54324

static const gid_t caller_groups[] = { CALLER_GID, GROUP };
static const gid_t caller_gid_only[] = { CALLER_GID };

static char *make_dir(const char *dir, const char *name, uid_t uid, gid_t gid, mode_t mode) {
        char *p = test_path("%s/%s", dir, name);

        ASSERT_OK(mkdir(p, mode));
        ASSERT_OK(chown(p, uid, gid));
        ASSERT_OK(chmod(p, mode));
        return p;
}

static void expect_refused(const char *path, const gid_t *gids, size_t n_gids) {
        int fd = -EBADF;

        ASSERT_ERR(mount_open_target_as(path, CALLER, gids, n_gids, &fd), EACCES);
        ASSERT_TRUE(fd < 0);
}

/* Opened, and the fd is path's directory (O_PATH). */
static void expect_opened(const char *path, const gid_t *gids, size_t n_gids) {
        _cleanup_close_ int fd = -EBADF;
        struct stat a, b;

        ASSERT_OK(mount_open_target_as(path, CALLER, gids, n_gids, &fd));
        ASSERT_TRUE(fcntl(fd, F_GETFL) & O_PATH);
        ASSERT_OK(fstat(fd, &a));
        ASSERT_OK(stat(path, &b));
        ASSERT_TRUE(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
}

static void body_walk_as_caller(const char *dir) {
        _cleanup_free_ char *private = NULL, *open_dir = NULL, *grp = NULL, *x = NULL;
        _cleanup_free_ char *hidden = NULL, *own = NULL, *in_group = NULL;

        ASSERT_OK(chmod(dir, 0711));
        private = make_dir(dir, "private", OTHER, OTHER, 0700);
        hidden = make_dir(private, "own", CALLER, CALLER_GID, 0755);
        open_dir = make_dir(dir, "open", OTHER, OTHER, 0755);
        own = make_dir(open_dir, "own", CALLER, CALLER_GID, 0755);
        grp = make_dir(dir, "grp", 0, GROUP, 0710);
        in_group = make_dir(grp, "own", CALLER, CALLER_GID, 0755);

        /* The caller's own empty directory inside another user's private one: root could
         * open it, the caller cannot. */
        expect_refused(hidden, caller_groups, ELEMENTSOF(caller_groups));
        expect_opened(own, caller_groups, ELEMENTSOF(caller_groups));
        /* Searchable through a supplementary group only: the groups are the caller's. */
        expect_opened(in_group, caller_groups, ELEMENTSOF(caller_groups));
        expect_refused(in_group, caller_gid_only, ELEMENTSOF(caller_gid_only));
        /* Searchable through the gid alone too (the first group is the gid). */
        x = make_dir(dir, "gid", 0, CALLER_GID, 0710);
        free(make_dir(x, "own", CALLER, CALLER_GID, 0755));
        free(x);
        x = test_path("%s/gid/own", dir);
        expect_opened(x, caller_gid_only, ELEMENTSOF(caller_gid_only));
}
TEST(walk_uses_the_callers_uid_and_groups) {
        run_isolated(body_walk_as_caller);
}

static void body_refusals(const char *dir) {
        _cleanup_free_ char *open_dir = NULL, *theirs = NULL, *full = NULL, *link = NULL, *via_link = NULL;
        _cleanup_free_ char *leaf_link = NULL, *missing = NULL, *file = NULL, *own = NULL;

        ASSERT_OK(chmod(dir, 0711));
        open_dir = make_dir(dir, "open", OTHER, OTHER, 0755);
        own = make_dir(open_dir, "own", CALLER, CALLER_GID, 0755);
        theirs = make_dir(open_dir, "theirs", OTHER, OTHER, 0777);
        full = make_dir(open_dir, "full", CALLER, CALLER_GID, 0755);
        write_file(test_path("%s/x", full), "x");
        link = test_path("%s/link", dir);
        ASSERT_OK(symlink(open_dir, link));
        via_link = test_path("%s/link/own", dir);
        leaf_link = test_path("%s/open/leaf", dir);
        ASSERT_OK(symlink(own, leaf_link));
        missing = test_path("%s/open/missing", dir);
        file = test_path("%s/open/file", dir);
        write_file(file, "x");
        ASSERT_OK(chown(file, CALLER, CALLER_GID));

        expect_refused(theirs, caller_groups, ELEMENTSOF(caller_groups)); /* writable, not its own */
        expect_refused(full, caller_groups, ELEMENTSOF(caller_groups));
        expect_refused(via_link, caller_groups, ELEMENTSOF(caller_groups));
        expect_refused(leaf_link, caller_groups, ELEMENTSOF(caller_groups));
        expect_refused(missing, caller_groups, ELEMENTSOF(caller_groups));
        expect_refused(file, caller_groups, ELEMENTSOF(caller_groups));
        ASSERT_ERR(mount_open_target_as("relative/own", CALLER, caller_groups, ELEMENTSOF(caller_groups),
                                        &(int) { -EBADF }),
                   EINVAL);
        ASSERT_ERR(mount_open_target_as(own, CALLER, caller_groups, 0, &(int) { -EBADF }), EINVAL);
        expect_opened(own, caller_groups, ELEMENTSOF(caller_groups));
}
TEST(refuses_what_is_not_an_empty_directory_of_the_callers) {
        run_isolated(body_refusals);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(walk_uses_the_callers_uid_and_groups),
                TEST_ENTRY(refuses_what_is_not_an_empty_directory_of_the_callers),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
