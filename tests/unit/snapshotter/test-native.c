/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The core with the native backend: full-tree snapshots, bind mounts as containerd's
 * native snapshotter gives them. */
#include "chain-test.h"
#include "snapshotter-test-util.h"

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
