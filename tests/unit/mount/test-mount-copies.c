/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The search for copies of a mount in users' namespaces (mount_count_user_ns_copies):
 * found until their namespace is gone, bounded however many mounts a user makes. */

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "mount-api-test-util.h"

#define OTHER_NS_UID 4321

/* A copy of a mount in another user namespace outlives our plain unmount, and is found
 * by what the mount shows (superblock and root) until the namespace is gone. */
static void body_user_ns_copies(const char *dir) {
        _cleanup_free_ char *src = test_path("%s/src", dir), *root = NULL;
        _cleanup_close_ int tfd = make_target(dir, "bind", NULL);
        Error e = ERROR_NULL;
        unsigned n = 0;
        uint64_t id, dev;
        struct stat st;
        pid_t pid;

        ASSERT_OK(mkdir(src, 0755));
        ASSERT_OK(bind_at(src, tfd, 0, &id, &e));
        ASSERT_OK(mount_identity(id, &dev, &root));
        ASSERT_STREQ(root, "/src"); /* within the test's tmpfs */
        ASSERT_OK(stat(src, &st));
        ASSERT_TRUE(dev == st.st_dev);
        ASSERT_OK(mount_count_user_ns_copies(dev, root, 0, false, &n));
        ASSERT_TRUE(n == 0);

        pid = spawn_unshared(0);
        ASSERT_OK(mount_count_user_ns_copies(dev, root, 0, false, &n));
        ASSERT_TRUE(n == 1);
        ASSERT_OK(mount_count_user_ns_copies(dev, root, 1234, false, &n)); /* not 1234's namespace */
        ASSERT_TRUE(n == 0);
        ASSERT_OK(mount_unmount(id, false, NULL, 0, &e)); /* does not reach the copy */
        ASSERT_OK(mount_count_user_ns_copies(dev, root, 0, false, &n));
        ASSERT_TRUE(n == 1);
        ASSERT_OK(mount_count_user_ns_copies(dev, "/other", 0, false, &n));
        ASSERT_TRUE(n == 0);

        kill_and_reap(pid);
        ASSERT_OK(mount_count_user_ns_copies(dev, root, 0, false, &n));
        ASSERT_TRUE(n == 0);

        /* A user's namespace (one a mount fd passed to it was attached in, or copied into):
         * found for its owner, and for any other with others. */
        ASSERT_OK(bind_at(src, tfd, 0, &id, &e));
        pid = spawn_unshared(OTHER_NS_UID);
        ASSERT_OK(mount_count_user_ns_copies(dev, root, OTHER_NS_UID, false, &n));
        ASSERT_TRUE(n == 1);
        ASSERT_OK(mount_count_user_ns_copies(dev, root, 1234, false, &n));
        ASSERT_TRUE(n == 0);
        ASSERT_OK(mount_count_user_ns_copies(dev, root, 1234, true, &n));
        ASSERT_TRUE(n == 1);
        ASSERT_OK(mount_unmount(id, false, NULL, 0, &e));
        kill_and_reap(pid);
        ASSERT_OK(mount_count_user_ns_copies(dev, root, 1234, true, &n));
        ASSERT_TRUE(n == 0);
}
TEST(user_ns_copies_found_until_their_namespace_is_gone) {
        run_isolated(body_user_ns_copies);
}

/* A user who fills one of its namespaces with mounts cannot make the search for copies
 * (on laminad's main loop, in a write transaction) look at all of them: past the budget
 * it stops with E2BIG (the snapshot then stays busy, which only its owner feels). */
static void body_user_ns_copies_bounded(const char *dir) {
        _cleanup_free_ char *src = test_path("%s/src", dir), *pile = test_path("%s/pile", dir), *root = NULL;
        _cleanup_close_ int tfd = make_target(dir, "bind", NULL);
        Error e = ERROR_NULL;
        unsigned n = 0;
        uint64_t id, dev;
        pid_t pid;
        int r;

        ASSERT_OK(mkdir(src, 0755));
        ASSERT_OK(mkdir(pile, 0755));
        ASSERT_OK(bind_at(src, tfd, 0, &id, &e));
        ASSERT_OK(mount_identity(id, &dev, &root));
        /* More mounts than the budget (each a directory bound onto itself). */
        for (unsigned i = 0; i < MOUNT_COPIES_MAX_MOUNTS + 64; i++) {
                char sub[64];

                snprintf(sub, sizeof sub, "%s/%u", pile, i);
                ASSERT_OK(mkdir(sub, 0755));
                ASSERT_OK(mount(sub, sub, NULL, MS_BIND, NULL));
        }

        pid = spawn_unshared(0); /* a copy of every mount, ours among them */
        /* Without the bound: about 17 s for 50000 mounts on this test machine. */
        r = mount_count_user_ns_copies(dev, root, 0, false, &n);
        ASSERT_TRUE(r == -E2BIG);
        kill_and_reap(pid);
        ASSERT_OK(mount_count_user_ns_copies(dev, root, 0, false, &n));
        ASSERT_TRUE(n == 0);

        /* Another user's namespaces past its own budget are not looked into (its many
         * mounts do not make another user's mount busy); its owner's search stops. */
        pid = spawn_unshared(OTHER_NS_UID);
        ASSERT_TRUE(mount_count_user_ns_copies(dev, root, OTHER_NS_UID, false, &n) == -E2BIG);
        ASSERT_OK(mount_count_user_ns_copies(dev, root, 1234, true, &n));
        ASSERT_TRUE(n == 0);
        kill_and_reap(pid);
}
TEST(user_ns_copies_search_is_bounded) {
        run_isolated(body_user_ns_copies_bounded);
}

static void body_copies_without_statmount(const char *dir) {
        mount_test_refuse_statmount();
        body_user_ns_copies(dir);
}
TEST(user_ns_copies_without_statmount) {
        run_isolated(body_copies_without_statmount);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(user_ns_copies_without_statmount),
                TEST_ENTRY(user_ns_copies_found_until_their_namespace_is_gone),
                TEST_ENTRY(user_ns_copies_search_is_bounded),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
