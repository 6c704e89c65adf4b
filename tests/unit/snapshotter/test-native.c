/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The core with the native backend: full-tree snapshots, bind mounts as containerd's
 * native snapshotter gives them. */
#include <pthread.h>

#include "chain-test.h"
#include "snapshotter-test-util.h"
#include "tree-compare.h"

static char *workdir, *state_dir;
static char *l1_source, *l2_source;

static void check_native_mounts(CoreSnapshotter *s, const char *key, SnapshotKind kind, const MountSpecList *m) {
        const MountSpec *spec = &m->items[0];
        char *prefix = strdup_printf("%s/native/snapshots/", state_dir);

        ASSERT_STREQ(spec->type, "bind");
        ASSERT_TRUE(strncmp(spec->source, prefix, strlen(prefix)) == 0);
        /* containerd's native order: rbind, then ro/rw. */
        ASSERT_TRUE(strv_length(spec->options) == 2);
        ASSERT_STREQ(spec->options[0], "rbind");
        ASSERT_STREQ(spec->options[1], kind == SNAPSHOT_ACTIVE ? "rw" : "ro");
        if (streq(key, "l1"))
                l1_source = strdup(spec->source);
        else if (streq(key, "l2"))
                l2_source = strdup(spec->source);
        /* A view of a parent binds the parent itself: no copy. */
        else if (streq(key, "v1"))
                ASSERT_STREQ(spec->source, l1_source);
        else if (streq(key, "v2"))
                ASSERT_STREQ(spec->source, l2_source);
        else if (streq(key, "v0"))
                ASSERT_TRUE(!streq(spec->source, l1_source) && !streq(spec->source, l2_source));
        /* An active with a parent has a copy of its own. */
        if (streq(key, "l2") || streq(key, "l3"))
                ASSERT_TRUE(!streq(spec->source, l1_source));
        free(prefix);
}

static const ChainHooks native_hooks = {
        .check_mounts = check_native_mounts,
};

TEST(native_chain) {
        Core *c;

        ASSERT_TRUE(test_enter_private_mount_ns());
        c = test_core_new(workdir, 0);
        ASSERT_TRUE(core_snapshotter_by_name(c, "native"));
        chain_run(core_snapshotter_by_name(c, "native"), state_dir, workdir, &native_hooks);
        core_free(c);
}

TEST(native_apply_deletes_whiteouts) {
        Core *c;

        ASSERT_TRUE(test_enter_private_mount_ns());
        c = test_core_new(workdir, 0);
        apply_run(core_snapshotter_by_name(c, "native"), workdir);
        core_free(c);
}

typedef struct PrepareThread {
        CoreSnapshotter *s;
        MountSpecList m;
        int r;
        volatile bool done;
} PrepareThread;

static void *prepare_thread(void *userdata) {
        PrepareThread *p = userdata;
        Error e = ERROR_NULL;

        p->r = core_prepare(p->s, 0, "copy", "big", NULL, &p->m, &e);
        p->done = true;
        return NULL;
}

/* Cleanup running while a Prepare copies must not take the half-built copy. */
TEST(cleanup_spares_a_copy_in_progress) {
        Core *c = test_core_new(workdir, 0);
        CoreSnapshotter *s = core_snapshotter_by_name(c, "native");
        PrepareThread p = { .s = s };
        MountSpecList m = {};
        Error e = ERROR_NULL;
        pthread_t thread;
        unsigned cleanups = 0;

        ASSERT_OK(core_prepare(s, 0, "big-active", NULL, NULL, &m, &e));
        for (int d = 0; d < 40; d++) {
                char *dir = strdup_printf("%s/d%02d", m.items[0].source, d);
                ASSERT_OK(mkdir(dir, 0755));
                for (int f = 0; f < 100; f++) {
                        char name[16];
                        snprintf(name, sizeof name, "f%03d", f);
                        test_write_file(dir, name, name);
                }
                free(dir);
        }
        ASSERT_OK(core_commit(s, 0, "big", "big-active", NULL, &e));

        ASSERT_TRUE(pthread_create(&thread, NULL, prepare_thread, &p) == 0);
        while (!p.done) {
                uint64_t reclaimed = 0;
                ASSERT_OK(core_cleanup(s, 0, &reclaimed, &e));
                ASSERT_TRUE(reclaimed == 0);
                cleanups++;
        }
        ASSERT_TRUE(pthread_join(thread, NULL) == 0);
        ASSERT_OK(p.r);
        ASSERT_TRUE(cleanups > 1);
        ASSERT_TRUE(compare_trees(m.items[0].source, p.m.items[0].source) == 1 + 40 * 101);
        mount_spec_list_clear(&m);
        mount_spec_list_clear(&p.m);
        core_free(c);
}

/* Data Cleanup cannot remove (here: a mount inside it) is an error naming it, and a later
 * Cleanup removes it once it can. */
TEST(cleanup_names_what_it_cannot_remove) {
        Core *c;
        CoreSnapshotter *s;
        MountSpecList m = {};
        Error e = ERROR_NULL;
        uint64_t reclaimed = 0;
        char *sub;

        /* First: the core's fds must see the mounts made here. */
        ASSERT_TRUE(test_enter_private_mount_ns());
        c = test_core_new(workdir, 0);
        s = core_snapshotter_by_name(c, "native");
        ASSERT_OK(core_prepare(s, 0, "pinned", NULL, NULL, &m, &e));
        test_write_file(m.items[0].source, "data", "data");
        sub = strdup_printf("%s/sub", m.items[0].source);
        ASSERT_OK(mkdir(sub, 0755));
        ASSERT_OK(mount("tmpfs", sub, "tmpfs", 0, "size=1m") < 0 ? -errno : 0);
        ASSERT_OK(core_remove(s, 0, "pinned", &e));
        ASSERT_ERR(core_cleanup(s, 0, &reclaimed, &e), EXDEV);
        fprintf(stderr, "# %s\n", e.message);
        ASSERT_TRUE(strstr(e.message, "could not remove 1 entries"));
        ASSERT_TRUE(strstr(e.message, m.items[0].source));
        ASSERT_OK(umount2(sub, MNT_DETACH) < 0 ? -errno : 0);
        e = ERROR_NULL;
        ASSERT_OK(core_cleanup(s, 0, &reclaimed, &e));
        ASSERT_TRUE(access(m.items[0].source, F_OK) < 0 && errno == ENOENT);
        mount_spec_list_clear(&m);
        free(sub);
        core_free(c);
}

/* What a crash between Remove's metadata write and the end of its background removal
 * leaves is data of an ID no record names: the next start frees it by itself. A
 * temporary of a Prepare is left to Cleanup (another laminad could be building it). */
TEST(start_frees_data_of_removed_snapshots) {
        char *snapshots = strdup_printf("%s/native/snapshots", state_dir);
        char *orphan = strdup_printf("%s/999", snapshots), *tmp = strdup_printf("%s/new-crashed", snapshots);
        uint64_t reclaimed = 0;
        Error e = ERROR_NULL;
        Core *c;

        ASSERT_OK(mkdir(orphan, 0700));
        test_write_file(orphan, "data", "data");
        ASSERT_OK(mkdir(tmp, 0700));
        c = test_core_new(workdir, 0);
        ASSERT_EVENTUALLY(access(orphan, F_OK) < 0 && errno == ENOENT);
        ASSERT_OK(access(tmp, F_OK));
        ASSERT_OK(core_cleanup(core_snapshotter_by_name(c, "native"), 0, &reclaimed, &e));
        ASSERT_TRUE(access(tmp, F_OK) < 0 && errno == ENOENT);
        core_free(c);
        free(orphan);
        free(tmp);
        free(snapshots);
}

/* A user's Cleanup reports what its own Removes freed, nobody else's. */
TEST(cleanup_reports_own_frees) {
        Core *c = test_core_new(workdir, 0);
        CoreSnapshotter *s = core_snapshotter_by_name(c, "native");
        MountSpecList m = {};
        Error e = ERROR_NULL;
        uint64_t reclaimed = 0;
        char *big;

        ASSERT_OK(core_prepare(s, 1000, "mine", NULL, NULL, &m, &e));
        big = strdup_printf("%s/big", m.items[0].source);
        write_one_mib(big);
        ASSERT_OK(core_remove(s, 1000, "mine", &e));
        ASSERT_OK(core_cleanup(s, 1001, &reclaimed, &e));
        ASSERT_TRUE(reclaimed == 0);
        ASSERT_TRUE(access(big, F_OK) < 0 && errno == ENOENT);
        ASSERT_OK(core_cleanup(s, 1000, &reclaimed, &e));
        ASSERT_TRUE(reclaimed >= 1024 * 1024);
        mount_spec_list_clear(&m);
        free(big);
        core_free(c);
}

TEST(native_is_always_offered) {
        Core *c = test_core_new(workdir, 0);

        /* /tmp is no btrfs here unless the machine's root is. */
        ASSERT_TRUE(core_snapshotter_by_name(c, "overlayfs"));
        ASSERT_TRUE(core_snapshotter_by_name(c, "native"));
        core_free(c);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(native_chain),
                TEST_ENTRY(native_apply_deletes_whiteouts),
                TEST_ENTRY(cleanup_spares_a_copy_in_progress),
                TEST_ENTRY(cleanup_names_what_it_cannot_remove),
                TEST_ENTRY(start_frees_data_of_removed_snapshots),
                TEST_ENTRY(cleanup_reports_own_frees),
                TEST_ENTRY(native_is_always_offered),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "skipping: the native tests mount and chown, which needs root\n");
                return EXIT_TEST_SKIP;
        }
        workdir = test_mkdtemp();
        state_dir = strdup_printf("%s/state", workdir);
        return test_run_forked(cases, ELEMENTSOF(cases), workdir);
}
