/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The snapshot semantics of the core with the overlayfs backend, without a bus. */
#include <sys/mount.h>

#include "core-test-util.h"

static char *dir;
static Core *core;
static CoreSnapshotter *ovl;

static void prepare(uid_t ns, const char *key, const char *parent) {
        Error e = ERROR_NULL;
        ASSERT_OK(core_prepare(ovl, ns, key, parent, NULL, NULL, &e));
}

static void commit(uid_t ns, const char *name, const char *key) {
        Error e = ERROR_NULL;
        ASSERT_OK(core_commit(ovl, ns, name, key, NULL, &e));
}

TEST(error_kinds_follow_containerd) {
        Error e = ERROR_NULL;
        Labels l = LABELS_NULL;
        SnapshotInfo info = {};
        char *fp[] = { (char *) "parent", NULL };

        core = test_core_setup(&dir, &ovl);
        prepare(0, "a", NULL);
        commit(0, "base", "a");
        prepare(0, "act", "base");
        ASSERT_OK(core_view(ovl, 0, "v", "base", NULL, NULL, &e));

        ASSERT_ERR(core_stat(ovl, 0, "nope", &info, &e), ENOENT);
        e = ERROR_NULL;
        ASSERT_ERR(core_prepare(ovl, 0, "act", "missing", NULL, NULL, &e), ENOENT); /* parent first */
        e = ERROR_NULL;
        ASSERT_ERR(core_prepare(ovl, 0, "x", "act", NULL, NULL, &e), EINVAL);
        e = ERROR_NULL;
        ASSERT_ERR(core_prepare(ovl, 0, "x", "v", NULL, NULL, &e), EINVAL);
        e = ERROR_NULL;
        ASSERT_ERR(core_prepare(ovl, 0, "act", "base", NULL, NULL, &e), EEXIST);
        e = ERROR_NULL;
        ASSERT_ERR(core_commit(ovl, 0, "base", "act", NULL, &e), EEXIST);
        e = ERROR_NULL;
        ASSERT_ERR(core_commit(ovl, 0, "act", "act", NULL, &e), EEXIST); /* name == key */
        e = ERROR_NULL;
        ASSERT_ERR(core_commit(ovl, 0, "new", "missing", NULL, &e), ENOENT);
        e = ERROR_NULL;
        ASSERT_ERR(core_commit(ovl, 0, "new", "v", NULL, &e), EWRONGKIND);
        e = ERROR_NULL;
        ASSERT_ERR(core_commit(ovl, 0, "new", "base", NULL, &e), EWRONGKIND);
        e = ERROR_NULL;
        MountSpecList m = {};
        ASSERT_ERR(core_mounts(ovl, 0, "base", &m, &e), EWRONGKIND);
        e = ERROR_NULL;
        ASSERT_ERR(core_remove(ovl, 0, "base", &e), ENOTEMPTY);
        ASSERT_TRUE(strstr(e.message, "\"base\"") && strstr(e.message, "remove"));
        e = ERROR_NULL;
        ASSERT_ERR(core_update(ovl, 0, "act", &l, fp, &info, &e), EINVAL);
        e = ERROR_NULL;
        ASSERT_ERR(core_prepare(ovl, 0, "", NULL, NULL, NULL, &e), EINVAL);
        e = ERROR_NULL;
        ASSERT_ERR(core_prepare(ovl, 0, "bad\nkey", NULL, NULL, NULL, &e), EINVAL);
        test_core_teardown(core, dir);
}

TEST(key_limit_is_4096_bytes) {
        char *key = malloc(4098);
        Error e = ERROR_NULL;
        SnapshotInfo info = {};

        core = test_core_setup(&dir, &ovl);
        memset(key, 'k', 4097);
        key[4097] = 0;
        ASSERT_ERR(core_prepare(ovl, 0, key, NULL, NULL, NULL, &e), EINVAL);
        key[4096] = 0;
        prepare(0, key, NULL);
        ASSERT_OK(core_stat(ovl, 0, key, &info, &e));
        ASSERT_TRUE(info.kind == SNAPSHOT_ACTIVE && strlen(info.name) == 4096);
        snapshot_info_clear(&info);
        free(key);
        test_core_teardown(core, dir);
}

TEST(labels_are_validated_and_merged) {
        Labels l = LABELS_NULL;
        Error e = ERROR_NULL;
        SnapshotInfo info = {};
        char *v = calloc(1, 4000);
        char *fp[2] = {};

        core = test_core_setup(&dir, &ovl);
        memset(v, 'v', 3990);
        ASSERT_OK(labels_set(&l, "k", v));
        ASSERT_OK(core_prepare(ovl, 0, "a", NULL, &l, NULL, &e));
        /* Sixteen more labels.K updates of 4 KB each pass the 64 KiB total. */
        for (int i = 0; i < 17; i++) {
                char key[16];
                Labels one = LABELS_NULL;
                snprintf(key, sizeof key, "k%02d", i);
                ASSERT_OK(labels_set(&one, key, v));
                fp[0] = strdup_printf("labels.%s", key);
                e = ERROR_NULL;
                int r = core_update(ovl, 0, "a", &one, fp, &info, &e);
                if (i < 15)
                        ASSERT_OK(r);
                else
                        ASSERT_ERR(r, EINVAL);
                snapshot_info_clear(&info);
                free(fp[0]);
                labels_clear(&one);
        }
        ASSERT_OK(core_stat(ovl, 0, "a", &info, &e));
        ASSERT_TRUE(info.labels.n == 16); /* the refused updates changed nothing */
        snapshot_info_clear(&info);
        labels_clear(&l);
        free(v);
        test_core_teardown(core, dir);
}

TEST(namespaces_are_separate_and_root_images_shared) {
        Error e = ERROR_NULL;
        SnapshotInfo info = {};
        SnapshotInfoList list = {};

        core = test_core_setup(&dir, &ovl);
        prepare(0, "img-a", NULL);
        commit(0, "img", "img-a");
        prepare(0, "root-active", NULL);
        prepare(1000, "mine", "img"); /* parent falls back to root's namespace */
        prepare(1000, "img-a", NULL); /* same key as root's, a different snapshot */
        ASSERT_OK(core_stat(ovl, 1000, "mine", &info, &e));
        ASSERT_TRUE(info.owner == 1000 && info.parent_owner == 0);
        ASSERT_STREQ(info.parent, "img");
        snapshot_info_clear(&info);

        /* A user sees root's committed snapshots, never root's active ones, and never
         * another user's. */
        ASSERT_OK(core_stat(ovl, 1000, "img", &info, &e));
        snapshot_info_clear(&info);
        ASSERT_ERR(core_stat(ovl, 1000, "root-active", &info, &e), ENOENT);
        e = ERROR_NULL;
        ASSERT_ERR(core_stat(ovl, 1001, "mine", &info, &e), ENOENT);
        e = ERROR_NULL;
        ASSERT_ERR(core_stat(ovl, 0, "mine", &info, &e), ENOENT);
        e = ERROR_NULL;
        /* Nor may a user remove root's image. */
        ASSERT_ERR(core_remove(ovl, 1000, "img", &e), ENOENT);
        e = ERROR_NULL;

        ASSERT_OK(core_list(ovl, 1000, NULL, &list, &e));
        ASSERT_TRUE(list.n == 3); /* img (root), img-a and mine (own) */
        snapshot_info_list_clear(&list);
        char *f[] = { (char *) "owner==1000", NULL };
        ASSERT_OK(core_list(ovl, 1000, f, &list, &e));
        ASSERT_TRUE(list.n == 2);
        snapshot_info_list_clear(&list);
        test_core_teardown(core, dir);
}

TEST(usage_counts_own_data_only) {
        Error e = ERROR_NULL;
        MountSpecList m = {};
        uint64_t size, inodes, size2, inodes2;

        core = test_core_setup(&dir, &ovl);
        prepare(0, "a", NULL);
        ASSERT_OK(core_mounts(ovl, 0, "a", &m, &e));
        ASSERT_STREQ(m.items[0].type, "bind");
        test_write_file(m.items[0].source, "f", "hello");
        ASSERT_OK(core_usage(ovl, 0, "a", &size, &inodes, &e));
        ASSERT_TRUE(inodes == 2 && size > 0);
        commit(0, "c", "a");
        ASSERT_OK(core_usage(ovl, 0, "c", &size2, &inodes2, &e));
        ASSERT_TRUE(size2 == size && inodes2 == inodes);
        ASSERT_OK(core_view(ovl, 0, "v", "c", NULL, NULL, &e));
        ASSERT_OK(core_usage(ovl, 0, "v", &size, &inodes, &e));
        ASSERT_TRUE(size == 0 && inodes == 0);
        mount_spec_list_clear(&m);
        test_core_teardown(core, dir);
}

/* A quick Commit (the bus runs it on its loop) commits a small tree and leaves a big one,
 * a rebase and a missing snapshot as it found them: EWOULDBLOCK with no error set, or the
 * same error core_commit() gives. */
TEST(commit_quick_only_when_bounded) {
        Error e = ERROR_NULL;
        MountSpecList m = {};
        SnapshotInfo info = {};
        uint64_t size, inodes;

        core = test_core_setup(&dir, &ovl);
        prepare(0, "small", NULL);
        ASSERT_OK(core_mounts(ovl, 0, "small", &m, &e));
        test_write_file(m.items[0].source, "f", "hello");
        mount_spec_list_clear(&m);
        ASSERT_OK(core_commit_quick(ovl, 0, "small-c", "small", NULL, &e));
        ASSERT_OK(core_stat(ovl, 0, "small-c", &info, &e));
        ASSERT_TRUE(info.kind == SNAPSHOT_COMMITTED);
        snapshot_info_clear(&info);
        ASSERT_OK(core_usage(ovl, 0, "small-c", &size, &inodes, &e));
        ASSERT_TRUE(inodes == 2 && size > 0);

        prepare(0, "big", NULL);
        ASSERT_OK(core_mounts(ovl, 0, "big", &m, &e));
        for (int i = 0; i < 300; i++) {
                char name[16];
                snprintf(name, sizeof name, "f%d", i);
                test_write_file(m.items[0].source, name, "x");
        }
        ASSERT_ERR(core_commit_quick(ovl, 0, "big-c", "big", NULL, &e), EWOULDBLOCK);
        ASSERT_TRUE(e.code == 0);
        ASSERT_ERR(core_stat(ovl, 0, "big-c", &info, &e), ENOENT);
        e = ERROR_NULL;
        ASSERT_OK(core_stat(ovl, 0, "big", &info, &e));
        ASSERT_TRUE(info.kind == SNAPSHOT_ACTIVE);
        snapshot_info_clear(&info);
        ASSERT_OK(core_commit(ovl, 0, "big-c", "big", NULL, &e));
        ASSERT_OK(core_usage(ovl, 0, "big-c", &size, &inodes, &e));
        ASSERT_TRUE(inodes == 301);

        ASSERT_OK(core_prepare_rebase(ovl, 0, "rebase", NULL, NULL, &e));
        ASSERT_ERR(core_commit_quick(ovl, 0, "rebase-c", "rebase", NULL, &e), EWOULDBLOCK);
        ASSERT_TRUE(e.code == 0);
        ASSERT_OK(core_commit(ovl, 0, "rebase-c", "rebase", NULL, &e));

        ASSERT_ERR(core_commit_quick(ovl, 0, "nope-c", "nope", NULL, &e), ENOENT);
        ASSERT_TRUE(e.code == ENOENT);
        e = ERROR_NULL;
        ASSERT_ERR(core_commit_quick(ovl, 0, "big-c", "small", NULL, &e), EEXIST);
        mount_spec_list_clear(&m);
        test_core_teardown(core, dir);
}

/* The quick Commit and Remove (the bus runs them on its loop) leave a snapshot with a mount
 * record as they found it, EWOULDBLOCK with no error set: the full forms may search for the
 * holders of a force-unmounted mount. Without the record, the quick Remove removes it. */
TEST(quick_commit_and_remove_leave_a_mounted_snapshot_alone) {
        Error e = ERROR_NULL;
        SnapshotInfo info = {};
        char *path = NULL;

        if (!test_enter_private_mount_ns()) {
                printf("# skipped: needs root and mount namespaces\n");
                return;
        }
        core = test_core_setup(&dir, &ovl);
        prepare(0, "m", NULL);
        ASSERT_OK(core_mount(ovl, 0, "m", NULL, &(CoreMountOptions) {}, &path, &e));

        ASSERT_ERR(core_commit_quick(ovl, 0, "m-c", "m", NULL, &e), EWOULDBLOCK);
        ASSERT_TRUE(e.code == 0);
        ASSERT_ERR(core_remove_quick(ovl, 0, "m", &e), EWOULDBLOCK);
        ASSERT_TRUE(e.code == 0);
        ASSERT_OK(core_stat(ovl, 0, "m", &info, &e));
        ASSERT_TRUE(info.kind == SNAPSHOT_ACTIVE);
        snapshot_info_clear(&info);
        ASSERT_ERR(core_stat(ovl, 0, "m-c", &info, &e), ENOENT);
        e = ERROR_NULL;
        /* The full form says why. */
        ASSERT_ERR(core_remove(ovl, 0, "m", &e), EBUSY);
        e = ERROR_NULL;

        ASSERT_OK(core_unmount(ovl, 0, "m", false, NULL, &e));
        ASSERT_OK(core_remove_quick(ovl, 0, "m", &e));
        ASSERT_ERR(core_stat(ovl, 0, "m", &info, &e), ENOENT);
        e = ERROR_NULL;
        ASSERT_ERR(core_remove_quick(ovl, 0, "m", &e), ENOENT);
        free(path);
        test_core_teardown(core, dir);
}

TEST(mount_specs_are_containerds) {
        Error e = ERROR_NULL;
        MountSpecList m = {};

        core = test_core_setup(&dir, &ovl);
        prepare(0, "a", NULL);
        commit(0, "c1", "a");
        prepare(0, "b", "c1");
        commit(0, "c2", "b");
        ASSERT_OK(core_prepare(ovl, 0, "act", "c2", NULL, &m, &e));
        ASSERT_TRUE(m.n == 1);
        ASSERT_STREQ(m.items[0].type, "overlay");
        ASSERT_TRUE(strncmp(m.items[0].options[0], "workdir=", 8) == 0);
        ASSERT_TRUE(strncmp(m.items[0].options[1], "upperdir=", 9) == 0);
        ASSERT_TRUE(strstr(m.items[0].options[2], "/snapshots/2/fs:") &&
                    strstr(m.items[0].options[2], "/snapshots/1/fs"));
        ASSERT_STREQ(m.items[0].options[3], "index=off");
        mount_spec_list_clear(&m);

        ASSERT_OK(core_view(ovl, 0, "v1", "c1", NULL, &m, &e));
        ASSERT_STREQ(m.items[0].type, "bind");
        ASSERT_STREQ(m.items[0].options[0], "ro");
        ASSERT_TRUE(strstr(m.items[0].source, "/snapshots/1/fs"));
        mount_spec_list_clear(&m);

        ASSERT_OK(core_view(ovl, 0, "v2", "c2", NULL, &m, &e));
        ASSERT_STREQ(m.items[0].type, "overlay");
        ASSERT_TRUE(strncmp(m.items[0].options[0], "lowerdir=", 9) == 0);
        mount_spec_list_clear(&m);
        test_core_teardown(core, dir);
}

/* Prepare, mount the returned spec, write, unmount, commit: three times; then a view of
 * the top shows the merged content, whiteouts included. */
TEST(three_layer_chain_through_the_core) {
        Error e = ERROR_NULL;
        MountSpecList m = {};
        char *mnt, *s;

        if (!test_enter_private_mount_ns()) {
                printf("# skipped: needs root and mount namespaces\n");
                return;
        }
        core = test_core_setup(&dir, &ovl);
        mnt = strdup_printf("%s/mnt", dir);
        ASSERT_OK(mkdir(mnt, 0755));

        ASSERT_OK(core_prepare(ovl, 0, "l1", NULL, NULL, &m, &e));
        test_mount_spec(&m.items[0], mnt);
        test_write_file(mnt, "keep", "one");
        test_write_file(mnt, "gone", "one");
        ASSERT_OK(mkdir(test_path(mnt, "dir"), 0755));
        test_write_file(mnt, "dir/hidden", "one");
        ASSERT_OK(umount(mnt));
        mount_spec_list_clear(&m);
        commit(0, "c1", "l1");

        ASSERT_OK(core_prepare(ovl, 0, "l2", "c1", NULL, &m, &e));
        test_mount_spec(&m.items[0], mnt);
        ASSERT_OK(unlink(test_path(mnt, "gone")));
        test_write_file(mnt, "keep", "two");
        test_rm_rf(test_path(mnt, "dir"));
        ASSERT_OK(mkdir(test_path(mnt, "dir"), 0755));
        test_write_file(mnt, "dir/new", "two");
        ASSERT_OK(umount(mnt));
        mount_spec_list_clear(&m);
        commit(0, "c2", "l2");

        ASSERT_OK(core_prepare(ovl, 0, "l3", "c2", NULL, &m, &e));
        test_mount_spec(&m.items[0], mnt);
        test_write_file(mnt, "three", "three");
        ASSERT_OK(umount(mnt));
        mount_spec_list_clear(&m);
        commit(0, "c3", "l3");

        ASSERT_OK(core_view(ovl, 0, "top", "c3", NULL, &m, &e));
        test_mount_spec(&m.items[0], mnt);
        ASSERT_STREQ(s = test_read_file(mnt, "keep"), "two");
        free(s);
        ASSERT_STREQ(s = test_read_file(mnt, "three"), "three");
        free(s);
        ASSERT_STREQ(s = test_read_file(mnt, "dir/new"), "two");
        free(s);
        ASSERT_TRUE(!test_read_file(mnt, "gone"));
        ASSERT_TRUE(!test_read_file(mnt, "dir/hidden"));
        /* A view refuses writes. */
        ASSERT_TRUE(open(test_path(mnt, "w"), O_CREAT | O_WRONLY, 0644) < 0 && errno == EROFS);
        ASSERT_OK(umount(mnt));
        mount_spec_list_clear(&m);
        free(mnt);
        test_core_teardown(core, dir);
}

TEST(cleanup_reclaims_removed_data_and_keeps_live_data) {
        Error e = ERROR_NULL;
        MountSpecList m = {};
        uint64_t reclaimed = 0;
        char *p;

        core = test_core_setup(&dir, &ovl);
        ASSERT_OK(core_prepare(ovl, 0, "a", NULL, NULL, &m, &e));
        test_write_file(m.items[0].source, "big", "0123456789");
        prepare(0, "b", NULL);
        /* A stale temporary directory, as a crash in Prepare leaves it. */
        p = strdup_printf("%s/state/overlayfs/snapshots/new-crashed", dir);
        ASSERT_OK(mkdir(p, 0700));
        ASSERT_OK(core_remove(ovl, 0, "a", &e));
        ASSERT_OK(core_cleanup(ovl, 0, &reclaimed, &e));
        ASSERT_TRUE(reclaimed > 0);
        ASSERT_TRUE(access(p, F_OK) < 0 && errno == ENOENT);
        ASSERT_TRUE(access(m.items[0].source, F_OK) < 0);
        free(p);
        p = strdup_printf("%s/state/overlayfs/snapshots/2/fs", dir);
        ASSERT_OK(access(p, F_OK));
        /* Removed keys can be used again at once. */
        prepare(0, "a", NULL);
        free(p);
        mount_spec_list_clear(&m);
        test_core_teardown(core, dir);
}

TEST(ids_are_not_reused) {
        Error e = ERROR_NULL;
        SnapshotInfo info = {};

        core = test_core_setup(&dir, &ovl);
        prepare(0, "a", NULL);
        ASSERT_OK(core_remove(ovl, 0, "a", &e));
        prepare(0, "a", NULL);
        ASSERT_OK(core_stat(ovl, 0, "a", &info, &e));
        ASSERT_TRUE(info.id == 2);
        snapshot_info_clear(&info);
        test_core_teardown(core, dir);
}

TEST(chains_deeper_than_500_are_refused) {
        Error e = ERROR_NULL;
        char key[32], name[32], parent[32] = "";

        core = test_core_setup(&dir, &ovl);
        for (int i = 1; i <= 501; i++) {
                snprintf(key, sizeof key, "a%d", i);
                snprintf(name, sizeof name, "c%d", i);
                prepare(0, key, parent[0] ? parent : NULL);
                commit(0, name, key);
                memcpy(parent, name, sizeof name);
        }
        ASSERT_ERR(core_view(ovl, 0, "too-deep", "c501", NULL, NULL, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "500"));
        e = ERROR_NULL;
        ASSERT_ERR(core_prepare(ovl, 0, "too-deep", "c501", NULL, NULL, &e), EINVAL);
        e = ERROR_NULL;
        ASSERT_OK(core_view(ovl, 0, "deep", "c500", NULL, NULL, &e)); /* 500 lowers: the limit */
        test_core_teardown(core, dir);
}

/* Only an active snapshot or view whose transient label still names the owner goes. */
TEST(remove_transient_only_while_still_transient) {
        Labels mine = LABELS_NULL, other = LABELS_NULL;
        Error e = ERROR_NULL;
        SnapshotInfo info = {};

        core = test_core_setup(&dir, &ovl);
        ASSERT_OK(labels_set(&mine, CORE_LABEL_TRANSIENT, ":1.7"));
        ASSERT_OK(labels_set(&other, CORE_LABEL_TRANSIENT, ":1.8"));
        ASSERT_OK(core_prepare(ovl, 0, "t", NULL, &mine, NULL, &e));
        ASSERT_OK(core_view(ovl, 0, "tv", NULL, &mine, NULL, &e));
        ASSERT_OK(core_prepare(ovl, 0, "theirs", NULL, &other, NULL, &e));
        prepare(0, "plain", NULL);
        ASSERT_OK(core_prepare(ovl, 0, "c", NULL, &mine, NULL, &e));
        ASSERT_OK(core_commit(ovl, 0, "committed", "c", &mine, &e));

        ASSERT_OK(core_remove_transient(ovl, 0, "t", ":1.7", &e));
        ASSERT_OK(core_remove_transient(ovl, 0, "tv", ":1.7", &e));
        ASSERT_ERR(core_remove_transient(ovl, 0, "theirs", ":1.7", &e), ESRCH);
        e = ERROR_NULL;
        ASSERT_ERR(core_remove_transient(ovl, 0, "plain", ":1.7", &e), ESRCH);
        e = ERROR_NULL;
        ASSERT_ERR(core_remove_transient(ovl, 0, "committed", ":1.7", &e), ESRCH);
        e = ERROR_NULL;
        ASSERT_ERR(core_remove_transient(ovl, 0, "t", ":1.7", &e), ENOENT);
        e = ERROR_NULL;
        ASSERT_ERR(core_remove_transient(ovl, 1000, "theirs", ":1.8", &e), ENOENT); /* its namespace only */
        e = ERROR_NULL;
        ASSERT_ERR(core_stat(ovl, 0, "t", &info, &e), ENOENT);
        e = ERROR_NULL;
        for (const char *k = "theirs"; k; k = streq(k, "theirs") ? "plain" : streq(k, "plain") ? "committed" : NULL) {
                ASSERT_OK(core_stat(ovl, 0, k, &info, &e));
                snapshot_info_clear(&info);
        }
        labels_clear(&mine);
        labels_clear(&other);
        test_core_teardown(core, dir);
}

TEST_MAIN(TEST_ENTRY(error_kinds_follow_containerd), TEST_ENTRY(key_limit_is_4096_bytes),
          TEST_ENTRY(labels_are_validated_and_merged),
          TEST_ENTRY(namespaces_are_separate_and_root_images_shared),
          TEST_ENTRY(usage_counts_own_data_only), TEST_ENTRY(commit_quick_only_when_bounded),
          TEST_ENTRY(quick_commit_and_remove_leave_a_mounted_snapshot_alone),
          TEST_ENTRY(mount_specs_are_containerds),
          TEST_ENTRY(cleanup_reclaims_removed_data_and_keeps_live_data), TEST_ENTRY(ids_are_not_reused),
          TEST_ENTRY(chains_deeper_than_500_are_refused), TEST_ENTRY(three_layer_chain_through_the_core),
          TEST_ENTRY(remove_transient_only_while_still_transient))
