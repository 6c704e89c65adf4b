/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containerd's suite over the bus, the cases on what a mount of a snapshot shows: trees
 * written layer by layer (changed, removed, moved, renamed, re-owned files), read-only
 * views, 128 layers. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "suite-fixture.h"
#include "strutil.h"
#include "test-util.h"

static void sleep_to_next_second(void) {
        struct timespec now;

        ASSERT_OK(RET_NERRNO(clock_gettime(CLOCK_REALTIME, &now)));
        nanosleep(&(struct timespec) { .tv_nsec = 1000000000L - now.tv_nsec }, NULL);
}

void case_layer_file_update(const char *work) {
        static const FsOp l1[] = {
                FS_MKDIR("/etc", 0700),
                FS_FILE("/etc/hosts", "mydomain 10.0.0.1", 0644),
                FS_FILE("/etc/profile", "PATH=/usr/bin", 0644),
                FS_END,
        };
        static const FsOp l2[] = {
                FS_FILE("/etc/hosts", "mydomain 10.0.0.2", 0644),
                FS_FILE("/etc/profile", "PATH=/usr/bin", 0666),
                FS_MKDIR("/root", 0700),
                FS_FILE("/root/.bashrc", "PATH=/usr/sbin:/usr/bin", 0644),
                FS_END,
        };

        /* Each run starts on a new second: catches same-size, same-mtime caching bugs. */
        for (int i = 0; i < 5; i++) {
                _cleanup_free_ char *w = strdup_printf("%s/%d", work, i);

                sleep_to_next_second();
                mkdir_or_exists(w);
                CHECK_SNAPSHOTS(w, l1, l2);
        }
}

void case_remove_directory_in_lower_layer(const char *work) {
        CHECK_SNAPSHOTS(work,
                (const FsOp[]) { FS_MKDIR("/lib", 0700), FS_FILE("/lib/hidden", "", 0644), FS_END },
                (const FsOp[]) { FS_REMOVE_ALL("/lib"), FS_MKDIR("/lib", 0700),
                                 FS_FILE("/lib/not-hidden", "", 0644), FS_END },
                (const FsOp[]) { FS_FILE("/lib/newfile", "", 0644), FS_END });
}

void case_chown(const char *work) {
        CHECK_SNAPSHOTS(work,
                (const FsOp[]) { FS_MKDIR("/opt", 0700), FS_MKDIR("/opt/a", 0700), FS_MKDIR("/opt/a/b", 0700),
                                 FS_FILE("/opt/a/b/file.txt", "hello", 0644), FS_END },
                (const FsOp[]) { FS_CHOWN("/opt", 1, 1), FS_CHOWN("/opt/a", 1, 1), FS_CHOWN("/opt/a/b", 1, 1),
                                 FS_CHOWN("/opt/a/b/file.txt", 1, 1), FS_END });
}

void case_directory_permission_on_commit(const char *work) {
        CHECK_SNAPSHOTS(work,
                (const FsOp[]) { FS_MKDIR("/dir1", 0700), FS_MKDIR("/dir2", 0700), FS_MKDIR("/dir3", 0700),
                                 FS_MKDIR("/dir4", 0700), FS_FILE("/dir4/f1", "...", 0644),
                                 FS_MKDIR("/dir5", 0700), FS_FILE("/dir5/f1", "...", 0644),
                                 FS_CHOWN("/dir1", 1, 1), FS_CHOWN("/dir2", 1, 1), FS_CHOWN("/dir3", 1, 1),
                                 FS_CHOWN("/dir5", 1, 1), FS_CHOWN("/dir5/f1", 1, 1), FS_END },
                (const FsOp[]) { FS_CHOWN("/dir2", 0, 0), FS_REMOVE_ALL("/dir3"), FS_CHOWN("/dir4", 1, 1),
                                 FS_CHOWN("/dir4/f1", 1, 1), FS_END },
                (const FsOp[]) { FS_MKDIR("/dir3", 0700), FS_CHOWN("/dir3", 1, 1), FS_REMOVE_ALL("/dir5"),
                                 FS_MKDIR("/dir5", 0700), FS_CHOWN("/dir5", 1, 1), FS_END });
}

void case_deleted_files_in_child_snapshot(const char *work) {
        CHECK_SNAPSHOTS(work,
                (const FsOp[]) { FS_FILE("/foo", "foo\n", 0777), FS_FILE("/foobar", "foobar\n", 0777), FS_END },
                (const FsOp[]) { FS_REMOVE_ALL("/foobar"), FS_END },
                (const FsOp[]) { FS_END });
}

void case_move_file_from_lower_layer(const char *work) {
        CHECK_SNAPSHOTS(work,
                (const FsOp[]) { FS_MKDIR("/dir1", 0700), FS_FILE("/dir1/f1", "Hello", 0644),
                                 FS_MKDIR("/dir2", 0700), FS_FILE("/dir2/f2", "...", 0644), FS_END },
                (const FsOp[]) { FS_MKDIR("/dir3", 0700), FS_FILE("/dir3/f1", "Hello", 0644),
                                 FS_REMOVE_ALL("/dir1"), FS_LINK("/dir2/f2", "/dir3/f2"),
                                 FS_REMOVE_ALL("/dir2/f2"), FS_END });
}

void case_view_readonly(const char *work) {
        _cleanup_free_ char *preparing = path_in(work, "preparing"), *committed = path_in(work, "committed");
        _cleanup_free_ char *v = path_in(work, "view"), *file = path_in(v, "testfile");
        int fd;

        prepare(preparing, NULL);
        commit(committed, preparing);
        create_mounted(true, v, committed, v);
        fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
                fprintf(stderr, "created %s in a read-only view\n", file);
                abort();
        }
        if (errno != EROFS)
                fprintf(stderr, "# writing into the view failed with %m (EROFS expected; accepted)\n");
        unmount_snapshot(v, v);
        BT_ASSERT_OK(&bus, bt_remove(&bus, v));
        BT_ASSERT_OK(&bus, bt_remove(&bus, committed));
}

void case_root_permission(const char *work) {
        _cleanup_free_ char *preparing = path_in(work, "preparing");
        struct stat st;

        create_mounted(false, preparing, NULL, preparing);
        ASSERT_OK(RET_NERRNO(stat(preparing, &st)));
        unmount_snapshot(preparing, preparing);
        if ((st.st_mode & 0777) != 0755) {
                fprintf(stderr, "root of a new snapshot has mode %04o, expected 0755\n", st.st_mode & 0777);
                abort();
        }
}

void case_rename(const char *work) {
        /* overlay without redirect_dir cannot rename a lower directory: containerd leaves
         * that step out for overlayfs, fuse-overlayfs and erofs. */
        bool rename_dir = !streq(snapshotter, "overlayfs");
        const FsOp l2[] = {
                FS_RENAME("/dir1", "/dir2"),
                FS_FILE("/somefiles/f1-overwrite", "new content 1", 0644),
                FS_RENAME("/somefiles/f1-overwrite", "/somefiles/f1"),
                FS_RENAME("/somefiles/f2", "/somefiles/f3"),
                FS_END,
        };

        if (!rename_dir)
                printf("# Rename: SKIP renaming a lower directory on %s (as containerd); file renames checked\n",
                       snapshotter);
        CHECK_SNAPSHOTS(work,
                (const FsOp[]) { FS_MKDIR("/dir1", 0700), FS_MKDIR("/somefiles", 0700),
                                 FS_FILE("/somefiles/f1", "was here first!", 0644),
                                 FS_FILE("/somefiles/f2", "nothing interesting", 0644), FS_END },
                rename_dir ? l2 : l2 + 1);
}

void case_128_layers_mount(const char *work) {
        _cleanup_free_ char *flat = path_in(work, "flat"), *parent = NULL, *full = path_in(work, "fullview");
        static const FsOp base[] = {
                FS_FILE("/bottom", "way at the bottom\n", 0777),
                FS_FILE("/overwriteme", "FIRST!\n", 0777),
                FS_MKDIR("/addhere", 0755),
                FS_MKDIR("/onlyme", 0755),
                FS_FILE("/onlyme/bottom", "bye!\n", 0777),
                FS_END,
        };

        mkdir_or_exists(flat);
        for (int i = 0; i < 128; i++) {
                _cleanup_free_ char *preparing = strdup_printf("%s/prepare-layer-%d", work, i);
                _cleanup_free_ char *committed = strdup_printf("%s/committed-%d", work, i);
                char content[32], added[32], only[32];
                const FsOp upper[] = {
                        FS_FILE("/overwriteme", content, 0777),
                        FS_FILE(added, "same\n", 0755),
                        FS_REMOVE_ALL("/onlyme"),
                        FS_MKDIR("/onlyme", 0755),
                        FS_FILE(only, "only me!\n", 0777),
                        FS_END,
                };

                snprintf(content, sizeof content, "%d WAS HERE!\n", i);
                snprintf(added, sizeof added, "/addhere/file-%d", i);
                snprintf(only, sizeof only, "/onlyme/file-%d", i);

                create_mounted(false, preparing, parent, preparing);
                assert_equal_trees(preparing, flat);
                ASSERT_OK(fs_apply(preparing, i == 0 ? base : upper));
                ASSERT_OK(fs_apply(flat, i == 0 ? base : upper));
                assert_equal_trees(preparing, flat);
                unmount_snapshot(preparing, preparing);
                commit(committed, preparing);
                free(parent);
                parent = TAKE_PTR(committed);
        }

        create_mounted(true, full, parent, full);
        assert_equal_trees(full, flat);
        unmount_snapshot(full, full);
}
