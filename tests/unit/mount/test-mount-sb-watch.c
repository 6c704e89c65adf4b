/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An overlay's filesystem, watched, is known to live exactly as long as some mount of it:
 * also while its only descriptor is in flight in a socket (SCM_RIGHTS), which no look
 * through /proc finds; once that goes, the watch says so. */
#include "mount-api-test-util.h"

static void body_in_flight(const char *dir) {
        _cleanup_free_ char *l1 = test_path("%s/l1", dir), *l2 = test_path("%s/l2", dir);
        const char *lowers[] = { l1, l2 };
        MountSbWatch *w = NULL;
        Error e = ERROR_NULL;
        int fd = -EBADF, other = -EBADF, pair[2];

        ASSERT_OK(mkdir(l1, 0755));
        ASSERT_OK(mkdir(l2, 0755));
        ASSERT_OK(mount_sb_watch_new(&w));
        ASSERT_OK(overlay_below(dir, lowers, 2, NULL, NULL, 0, NULL, &fd, &e));
        ASSERT_OK(overlay_below(dir, lowers, 2, NULL, NULL, 0, NULL, &other, &e));
        ASSERT_OK(mount_sb_watch_add(w, fd, 7));
        ASSERT_OK(mount_sb_watch_add(w, other, 8));
        ASSERT_TRUE(mount_sb_watch_alive(w, 7) && mount_sb_watch_alive(w, 8) && !mount_sb_watch_alive(w, 9));
        ASSERT_TRUE(mount_sb_watch_live(w) == 2);

        send_in_flight(fd, pair);
        ASSERT_TRUE(mount_sb_watch_alive(w, 7)); /* held by the message alone */

        safe_close(other); /* the other one goes at once */
        ASSERT_TRUE(!mount_sb_watch_alive(w, 8) && mount_sb_watch_alive(w, 7));
        ASSERT_TRUE(mount_sb_watch_live(w) == 1);

        safe_close(pair[0]);
        safe_close(pair[1]); /* the message with it */
        ASSERT_TRUE(!mount_sb_watch_alive(w, 7));
        ASSERT_TRUE(mount_sb_watch_live(w) == 0);
        mount_sb_watch_free(w);
}
TEST(an_overlay_lives_while_its_descriptor_is_in_flight) {
        run_isolated(body_in_flight);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(an_overlay_lives_while_its_descriptor_is_in_flight),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
