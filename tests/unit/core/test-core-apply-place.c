/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where Apply builds a layer's tree (core-apply-place.c): away from trees removed a moment
 * ago, as the reclaim thread notes them; on ext4 only. */
#include <dirent.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include "core-apply-place.h"
#include "core/core-test-util.h"
#include "inode-flags.h"

static char *dir;
static Core *core;
static CoreSnapshotter *ovl;

static bool dir_on_ext4(const char *path) {
        struct statfs sf;

        ASSERT_OK(statfs(path, &sf));
        if (sf.f_type != EXT4_SUPER_MAGIC)
                printf("# %s is not on ext4: nothing is noted there\n", path);
        return sf.f_type == EXT4_SUPER_MAGIC;
}

/* Near is within PLACE_WINDOW inode numbers either way, recent is less than
 * PLACE_RECENT_USEC; the oldest removal is forgotten first. */
TEST(near_and_recent_removals_count) {
        const uint64_t ino = 10 * PLACE_WINDOW, t = 1000 * PLACE_RECENT_USEC;
        ApplyPlacement *p = NULL;

        ASSERT_TRUE(!apply_place_near_removal(p, ino, t));
        apply_place_note(&p, ino, t);
        ASSERT_TRUE(p);
        ASSERT_TRUE(apply_place_near_removal(p, ino, t + 1000));
        ASSERT_TRUE(apply_place_near_removal(p, ino + PLACE_WINDOW, t));
        ASSERT_TRUE(apply_place_near_removal(p, ino - PLACE_WINDOW, t));
        ASSERT_TRUE(!apply_place_near_removal(p, ino + PLACE_WINDOW + 1, t));
        ASSERT_TRUE(!apply_place_near_removal(p, ino - PLACE_WINDOW - 1, t));
        ASSERT_TRUE(apply_place_near_removal(p, ino, t + PLACE_RECENT_USEC - 1));
        ASSERT_TRUE(!apply_place_near_removal(p, ino, t + PLACE_RECENT_USEC));
        /* A removal near a noted one makes it recent again. */
        apply_place_note(&p, ino + PLACE_WINDOW / 4, t + PLACE_RECENT_USEC);
        ASSERT_TRUE(apply_place_near_removal(p, ino, t + PLACE_RECENT_USEC));
        for (uint64_t i = 0; i < PLACE_FREED_MAX - 1; i++)
                apply_place_note(&p, 1000 * PLACE_WINDOW + i * PLACE_WINDOW, t + PLACE_RECENT_USEC);
        ASSERT_TRUE(apply_place_near_removal(p, ino, t + PLACE_RECENT_USEC));
        apply_place_note(&p, 2000 * PLACE_WINDOW, t + PLACE_RECENT_USEC);
        ASSERT_TRUE(!apply_place_near_removal(p, ino, t + PLACE_RECENT_USEC));
        apply_place_free(p);
}

/* Removing a snapshot's data notes where its tree was (overlayfs: snapshots/<id> and its
 * fs/, the tree a layer went into), for this laminad and the next. */
TEST(the_reclaim_notes_what_it_removes) {
        MountSpecList m = {};
        Error e = ERROR_NULL;
        struct stat st;
        uint64_t freed;
        bool ext4;

        core = test_core_setup(&dir, &ovl);
        ext4 = dir_on_ext4(dir);
        ASSERT_OK(core_prepare(ovl, 0, "tree", NULL, NULL, &m, &e));
        test_write_file(m.items[0].source, "file", "data");
        ASSERT_OK(stat(m.items[0].source, &st));
        ASSERT_TRUE(!ovl->placement);
        ASSERT_OK(core_remove(ovl, 0, "tree", &e));
        ASSERT_OK(core_cleanup(ovl, 0, &freed, &e));
        pthread_mutex_lock(&ovl->lock);
        if (ext4)
                ASSERT_TRUE(apply_place_near_removal(ovl->placement, st.st_ino, now_usec()));
        else
                ASSERT_TRUE(!ovl->placement);
        pthread_mutex_unlock(&ovl->lock);
        /* The next laminad (this one exits when idle) knows it too. */
        core_free(core);
        core = test_core_new(dir, 0);
        ovl = core_snapshotter_by_name(core, "overlayfs");
        ASSERT_TRUE(apply_place_near(ovl, st.st_ino) == ext4);
        ASSERT_TRUE(!apply_place_near(ovl, st.st_ino + 2 * PLACE_WINDOW));
        mount_spec_list_clear(&m);
        test_core_teardown(core, dir);
}

/* A placement directory is made again while it lands near a recent removal, at most
 * PLACE_TRIES times; only the one taken is left. */
TEST(placements_keep_away_from_removals) {
        _cleanup_free_ char *name = NULL, *first = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int n;

        core = test_core_setup(&dir, &ovl);
        ASSERT_OK(mkdir(test_path(dir, "place"), 0700));
        fd = open(test_path(dir, "place"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        /* As applying/ is (core-apply-clone.c): on ext4, each directory made in it is placed
         * in a block group of the filesystem's choosing. */
        (void) fd_add_inode_flags(fd, FS_TOPDIR_FL);
        /* Nothing removed: the first directory is taken. */
        ASSERT_TRUE(apply_place_dir(ovl, fd, "1-", true, &first) == 1);
        ASSERT_OK(fstatat(fd, first, &st, 0));
        ASSERT_TRUE(test_count_entries(test_path(dir, "place")) == 1);
        /* A tree removed right there: taken is one away from it, or the last try. */
        pthread_mutex_lock(&ovl->lock);
        apply_place_note(&ovl->placement, st.st_ino, now_usec());
        pthread_mutex_unlock(&ovl->lock);
        ASSERT_OK(unlinkat(fd, first, AT_REMOVEDIR));
        n = apply_place_dir(ovl, fd, "2-", true, &name);
        printf("# placed after %d tries\n", n);
        ASSERT_TRUE(n >= 1 && n <= PLACE_TRIES);
        ASSERT_OK(fstatat(fd, name, &st, 0));
        ASSERT_TRUE(n == PLACE_TRIES || !apply_place_near_removal(ovl->placement, st.st_ino, now_usec()));
        ASSERT_TRUE(test_count_entries(test_path(dir, "place")) == 1);
        ASSERT_OK(unlinkat(fd, name, AT_REMOVEDIR));
        free(name);
        name = NULL;
        /* Removals near wherever it lands: the last try is taken. On a new tmpfs, inode
         * numbers follow each other, so a removal noted at one directory is near the next
         * ones. */
        ASSERT_OK(mkdir(test_path(dir, "tmpfs"), 0700));
        ASSERT_OK(unshare(CLONE_NEWNS));
        ASSERT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
        ASSERT_OK(mount("place", test_path(dir, "tmpfs"), "tmpfs", 0, "mode=0700"));
        {
                _cleanup_close_ int t = open(test_path(dir, "tmpfs"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                ASSERT_TRUE(t >= 0);
                ASSERT_TRUE(apply_place_dir(ovl, t, "3-", true, &name) == 1);
                ASSERT_OK(fstatat(t, name, &st, 0));
                ASSERT_OK(unlinkat(t, name, AT_REMOVEDIR));
                free(name);
                pthread_mutex_lock(&ovl->lock);
                apply_place_note(&ovl->placement, st.st_ino, now_usec());
                pthread_mutex_unlock(&ovl->lock);
                ASSERT_TRUE(apply_place_dir(ovl, t, "3-", true, &name) == PLACE_TRIES);
                ASSERT_TRUE(test_count_entries(test_path(dir, "tmpfs")) == 1);
                ASSERT_OK(fstatat(t, name, &st, 0));
                ASSERT_TRUE(apply_place_near(ovl, st.st_ino));
        }
        ASSERT_OK(umount(test_path(dir, "tmpfs")));
        /* Without the check (not ext4), the first is taken whatever it is near. */
        free(first);
        ASSERT_TRUE(apply_place_dir(ovl, fd, "4-", false, &first) == 1);
        test_core_teardown(core, dir);
}

TEST_MAIN(TEST_ENTRY(near_and_recent_removals_count), TEST_ENTRY(the_reclaim_notes_what_it_removes),
          TEST_ENTRY(placements_keep_away_from_removals))
