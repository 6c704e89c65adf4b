/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* 20 000 levels and a hardlink group through Prepare, a mount, Commit, Usage, Remove and
 * Cleanup on overlayfs and native (btrfs: test-btrfs), with 128 fds. */
#include "deep-test.h"
#include "snapshotter-test-util.h"

static char *workdir, *state_dir;

static void run_on(const char *name) {
        Core *c = test_core_new(workdir, 0);

        ASSERT_TRUE(core_snapshotter_by_name(c, name));
        deep_run(core_snapshotter_by_name(c, name), state_dir, workdir, NULL, 0);
        core_free(c);
}

TEST(overlayfs_deep) {
        run_on("overlayfs");
}

TEST(native_deep) {
        run_on("native");
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(overlayfs_deep),
                TEST_ENTRY(native_deep),
        };
        int r;

        if (geteuid() != 0 || !test_enter_private_mount_ns()) {
                fprintf(stderr, "skipping: the deep tree tests mount, which needs root and a mount namespace\n");
                return EXIT_TEST_SKIP;
        }
        workdir = test_mkdtemp();
        state_dir = strdup_printf("%s/state", workdir);
        /* A tmpfs: 20 000 nested rmdir()s on a disk can take a minute. */
        ASSERT_OK(mount("tmpfs", workdir, "tmpfs", 0, "size=512m,mode=0700") < 0 ? -errno : 0);
        r = test_run_forked(cases, ELEMENTSOF(cases), state_dir);
        (void) umount2(workdir, MNT_DETACH);
        (void) rmdir(workdir);
        return r;
}
