/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A tree deeper than any fd table and a large hardlink group, written through the mount of
 * an active snapshot as a container would, then Commit, Usage, a Prepare on it (native:
 * a full copy), Remove and Cleanup, under a limit of 128 fds. Call it inside a private
 * mount namespace. */

#include <sys/resource.h>

#include "chain-test.h"

#define DEEP_LEVELS 20000
#define DEEP_LINKS 2000

static inline void deep_build(const char *mnt, void (*at_bottom)(int fd)) {
        int top = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd;

        ASSERT_TRUE(top >= 0);
        fd = test_mkdir_chain(top, DEEP_LEVELS, 0755, 1000);
        if (at_bottom)
                at_bottom(fd);
        /* One inode with DEEP_LINKS names: the bottom one and the rest at the top. */
        ASSERT_OK(linkat(fd, "f", top, "l0", 0) < 0 ? -errno : 0);
        for (int i = 1; i < DEEP_LINKS - 1; i++) {
                char name[16];
                snprintf(name, sizeof name, "l%d", i);
                ASSERT_OK(linkat(top, "l0", top, name, 0) < 0 ? -errno : 0);
        }
        close(fd);
        close(top);
}

/* at_bottom (may be NULL) adds extra_inodes inodes at the deepest level. */
static inline void deep_run(CoreSnapshotter *s, const char *state_dir, const char *workdir,
                            void (*at_bottom)(int fd), size_t extra_inodes) {
        char *snapshots = strdup_printf("%s/%s/snapshots", state_dir, core_snapshotter_name(s));
        Chain c = { .s = s, .hooks = &(ChainHooks) {}, .mnt = strdup_printf("%s/mnt", workdir) };
        struct rlimit old, few = { 128, 128 };
        uint64_t size, inodes, reclaimed = 0;
        Error e = ERROR_NULL;

        ASSERT_TRUE(c.mnt && snapshots);
        (void) mkdir(c.mnt, 0755);
        ASSERT_OK(getrlimit(RLIMIT_NOFILE, &old) < 0 ? -errno : 0);
        few.rlim_max = old.rlim_max;
        ASSERT_OK(setrlimit(RLIMIT_NOFILE, &few) < 0 ? -errno : 0);

        chain_create(&c, SNAPSHOT_ACTIVE, "deep", NULL);
        chain_mount(&c, "deep");
        deep_build(c.mnt, at_bottom);
        chain_umount(&c);
        chain_commit(&c, "deep-c", "deep");
        ASSERT_OK(core_usage(s, 0, "deep-c", &size, &inodes, &e));
        /* root, the levels, a file every 1000 levels; the DEEP_LINKS names are one of those. */
        ASSERT_TRUE(inodes == 1 + DEEP_LEVELS + DEEP_LEVELS / 1000 + extra_inodes);
        ASSERT_TRUE(size >= DEEP_LEVELS / 1000 * 4096);

        chain_create(&c, SNAPSHOT_ACTIVE, "deep-l", "deep-c");
        chain_mount(&c, "deep-l");
        ASSERT_OK(access(test_path(c.mnt, "l0"), F_OK));
        chain_umount(&c);
        chain_remove(&c, "deep-l");
        chain_remove(&c, "deep-c");
        /* Cleanup waits for the background removal Remove started. */
        ASSERT_OK(core_cleanup(s, 0, &reclaimed, &e));
        ASSERT_TRUE(dir_entries(snapshots) == 0);

        ASSERT_OK(setrlimit(RLIMIT_NOFILE, &old) < 0 ? -errno : 0);
        free(snapshots);
        free(c.mnt);
}
