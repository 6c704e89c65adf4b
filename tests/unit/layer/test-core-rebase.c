/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Rebase (core-rebase.c): a layer applied to a snapshot prepared without a parent and
 * committed onto one gives exactly the data an Apply onto that parent gives, whiteouts
 * and opaque directories included where the parent lacks the path; and what is refused. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "core/core-test-util.h"
#include "layer-test-util.h"
#include "layer.h"
#include "snapshotter/tree-compare.h"

static char *dir, *mnt;
static Core *core;

static const TarItem base[] = {
        { .name = "./", .type = AE_IFDIR, .mode = 0750, .uid = 7, .gid = 8, .mtime = 1000 },
        { .name = "keep/", .type = AE_IFDIR, .mode = 0701, .uid = 42, .mtime = 1001,
          .xattr = { "user.kept", "yes" } },
        { .name = "keep/a", .data = "one", .mtime = 1002 },
        { .name = "deep/", .type = AE_IFDIR, .mode = 0711, .uid = 43, .mtime = 1003 },
        { .name = "opq/", .type = AE_IFDIR, .mtime = 1004 },
        { .name = "opq/old", .data = "one", .mtime = 1005 },
        { .name = "gone", .data = "one", .mtime = 1006 },
};

/* No "./", no "keep/" nor "deep/": their attributes come from the base. "nothere" and
 * "fresh" the base lacks: a whiteout and an opaque directory recorded all the same. */
static const TarItem layer[] = {
        { .name = "keep/b", .data = "two", .mtime = 2000 },
        { .name = "deep/er/f", .data = "two", .mtime = 2001 },
        { .name = ".wh.gone", .mtime = 2002 },
        { .name = "opq/.wh..wh..opq", .mtime = 2003 },
        { .name = "opq/new", .data = "two", .mtime = 2004 },
        { .name = "nothere/.wh.x", .mtime = 2005 },
        { .name = "fresh/", .type = AE_IFDIR, .mode = 0700, .mtime = 2006 },
        { .name = "fresh/.wh..wh..opq", .mtime = 2007 },
        { .name = "fresh/y", .data = "two", .mtime = 2008 },
};

static void apply(CoreSnapshotter *s, const char *key, const TarItem *items, size_t n) {
        CoreApplyOptions o = {};
        CoreApplyResult res = {};
        Error e = ERROR_NULL;
        int fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, n);

        if (core_apply(s, 0, key, fd, &o, &res, &e) < 0)
                fprintf(stderr, "apply %s: %s\n", key, e.message);
        ASSERT_TRUE(e.code == 0);
        close(fd);
}

static char *data_of(CoreSnapshotter *s, const char *name) {
        SnapshotInfo info = {};
        Error e = ERROR_NULL;
        char *p;

        ASSERT_OK(core_stat(s, 0, name, &info, &e));
        p = strdup_printf("%s/state/%s/snapshots/%" PRIu64 "/fs", dir, core_snapshotter_name(s), info.id);
        snapshot_info_clear(&info);
        return p;
}

static void set_times(const char *data, const char *path) {
        const struct timespec ts[2] = { { .tv_sec = 5 }, { .tv_sec = 5 } };

        ASSERT_OK(utimensat(AT_FDCWD, test_path(data, path), ts, AT_SYMLINK_NOFOLLOW));
}

static bool has_mark(const char *path, const char *name) {
        return lgetxattr(path, name, NULL, 0) >= 0;
}

static void no_marks_below(const char *data, const char *const *paths) {
        for (const char *const *p = paths; *p; p++) {
                const char *full = **p ? test_path(data, *p) : data;
                ASSERT_TRUE(!has_mark(full, LAYER_XATTR_IMPLICIT));
                ASSERT_TRUE(!has_mark(full, "trusted.lamina.rebase"));
        }
}

TEST(rebase_gives_what_apply_onto_the_parent_gives) {
        static const char *const dirs[] = { "", "keep", "deep", "deep/er", "nothere", "fresh", "opq", NULL };
        CoreSnapshotter *s = core_snapshotter_by_name(core, "overlayfs");
        _cleanup_free_ char *seq = NULL, *reb = NULL, *p = NULL;
        SnapshotInfo info = {};
        MountSpecList m = {};
        Error e = ERROR_NULL;
        struct stat st;

        ASSERT_OK(core_prepare(s, 0, "b", NULL, NULL, NULL, &e));
        apply(s, "b", base, ELEMENTSOF(base));
        ASSERT_OK(core_commit(s, 0, "base", "b", NULL, &e));

        /* in chain order */
        ASSERT_OK(core_prepare(s, 0, "s", "base", NULL, NULL, &e));
        apply(s, "s", layer, ELEMENTSOF(layer));
        ASSERT_OK(core_commit(s, 0, "seq", "s", NULL, &e));

        /* without the parent, then onto it */
        ASSERT_OK(core_prepare_rebase(s, 0, "r", NULL, NULL, &e));
        apply(s, "r", layer, ELEMENTSOF(layer));
        p = data_of(s, "r");
        ASSERT_TRUE(has_mark(p, LAYER_XATTR_IMPLICIT));
        ASSERT_TRUE(has_mark(test_path(p, "keep"), LAYER_XATTR_IMPLICIT));
        ASSERT_TRUE(!has_mark(test_path(p, "fresh"), LAYER_XATTR_IMPLICIT));
        ASSERT_OK(core_commit_onto(s, 0, "reb", "r", "base", NULL, &e));
        ASSERT_OK(core_stat(s, 0, "reb", &info, &e));
        ASSERT_STREQ(info.parent, "base");
        snapshot_info_clear(&info);

        seq = data_of(s, "seq");
        reb = data_of(s, "reb");
        no_marks_below(reb, dirs);
        /* the root's times are the Prepare's, and a directory nothing below has, Apply's */
        set_times(seq, "");
        set_times(reb, "");
        set_times(seq, "nothere");
        set_times(reb, "nothere");
        set_times(seq, "deep/er");
        set_times(reb, "deep/er");
        ASSERT_TRUE(compare_trees(seq, reb) >= 12);
        ASSERT_OK(lstat(test_path(reb, "keep"), &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0701 && st.st_uid == 42 && st.st_mtim.tv_sec == 1001);
        ASSERT_OK(lstat(test_path(reb, "nothere/x"), &st));
        ASSERT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0);
        ASSERT_TRUE(has_mark(test_path(reb, "fresh"), "trusted.overlay.opaque"));
        ASSERT_OK(lstat(reb, &st));
        ASSERT_TRUE(st.st_uid == 7 && st.st_gid == 8);

        /* mounted: the layer over its parent */
        ASSERT_OK(core_view(s, 0, "v", "reb", NULL, &m, &e));
        test_mount_spec(&m.items[0], mnt);
        {
                _cleanup_free_ char *b = test_read_file(mnt, "keep/b"), *a = test_read_file(mnt, "keep/a"),
                                    *old = test_read_file(mnt, "opq/old"), *gone = test_read_file(mnt, "gone");
                ASSERT_STREQ(a, "one");
                ASSERT_STREQ(b, "two");
                ASSERT_TRUE(!old && !gone);
        }
        ASSERT_OK(umount(mnt));
        mount_spec_list_clear(&m);

        /* the parent has a child now */
        ASSERT_ERR(core_remove(s, 0, "base", &e), ENOTEMPTY);
        e = ERROR_NULL;
        ASSERT_OK(core_remove(s, 0, "v", &e));
        ASSERT_OK(core_remove(s, 0, "reb", &e));
        ASSERT_OK(core_remove(s, 0, "seq", &e));
        ASSERT_OK(core_remove(s, 0, "base", &e));
}

/* A layer carrying "./" keeps its own root; committed without a parent, the marks go. */
TEST(rebase_without_parent_and_explicit_root) {
        static const char *const dirs[] = { "", "keep", "deep", "deep/er", NULL };
        CoreSnapshotter *s = core_snapshotter_by_name(core, "overlayfs");
        _cleanup_free_ char *p = NULL;
        SnapshotInfo info = {};
        Error e = ERROR_NULL;
        struct stat st;

        ASSERT_OK(core_prepare_rebase(s, 0, "r", NULL, NULL, &e));
        apply(s, "r", base, ELEMENTSOF(base));
        p = data_of(s, "r");
        ASSERT_TRUE(!has_mark(p, LAYER_XATTR_IMPLICIT));
        ASSERT_OK(core_commit_onto(s, 0, "c", "r", NULL, NULL, &e));
        ASSERT_OK(core_stat(s, 0, "c", &info, &e));
        ASSERT_TRUE(isempty(info.parent));
        snapshot_info_clear(&info);
        ASSERT_OK(lstat(p, &st));
        ASSERT_TRUE(st.st_uid == 7 && (st.st_mode & 07777) == 0750);

        /* a second layer into a rebase snapshot: marked where neither lays the directory */
        ASSERT_OK(core_prepare_rebase(s, 0, "r2", NULL, NULL, &e));
        apply(s, "r2", layer, ELEMENTSOF(layer));
        apply(s, "r2", (const TarItem[]) { { .name = "keep/", .type = AE_IFDIR, .mode = 0700, .mtime = 3 } }, 1);
        free(p);
        p = data_of(s, "r2");
        ASSERT_TRUE(!has_mark(test_path(p, "keep"), LAYER_XATTR_IMPLICIT));
        ASSERT_TRUE(has_mark(test_path(p, "deep"), LAYER_XATTR_IMPLICIT));
        ASSERT_OK(core_commit_onto(s, 0, "c2", "r2", "c", NULL, &e));
        no_marks_below(p, dirs);
        ASSERT_OK(lstat(test_path(p, "keep"), &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0700 && st.st_mtim.tv_sec == 3);
        ASSERT_OK(lstat(test_path(p, "deep"), &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0711 && st.st_uid == 43);
        ASSERT_OK(core_remove(s, 0, "c2", &e));
        ASSERT_OK(core_remove(s, 0, "c", &e));
}

TEST(rebase_refusals) {
        CoreSnapshotter *o = core_snapshotter_by_name(core, "overlayfs"), *n = core_snapshotter_by_name(core, "native");
        _cleanup_free_ char *p = NULL;
        SnapshotInfo info = {};
        Error e = ERROR_NULL;
        char value[32];

        /* full trees cannot be rebased */
        ASSERT_ERR(core_prepare_rebase(n, 0, "r", NULL, NULL, &e), EOPNOTSUPP);
        e = ERROR_NULL;
        ASSERT_OK(core_prepare(n, 0, "nb", NULL, NULL, NULL, &e));
        ASSERT_OK(core_commit(n, 0, "nbase", "nb", NULL, &e));
        ASSERT_OK(core_prepare(n, 0, "na", NULL, NULL, NULL, &e));
        ASSERT_ERR(core_commit_onto(n, 0, "nc", "na", "nbase", NULL, &e), EOPNOTSUPP);
        e = ERROR_NULL;
        ASSERT_OK(core_remove(n, 0, "na", &e));
        ASSERT_OK(core_remove(n, 0, "nbase", &e));

        ASSERT_OK(core_prepare(o, 0, "b", NULL, NULL, NULL, &e));
        ASSERT_OK(core_commit(o, 0, "base", "b", NULL, &e));
        ASSERT_OK(core_prepare(o, 0, "other", "base", NULL, NULL, &e));
        ASSERT_OK(core_commit(o, 0, "other-c", "other", NULL, &e));
        /* a snapshot prepared without the option takes no parent at Commit */
        ASSERT_OK(core_prepare(o, 0, "plain", NULL, NULL, NULL, &e));
        ASSERT_ERR(core_commit_onto(o, 0, "c", "plain", "base", NULL, &e), EWRONGKIND);
        e = ERROR_NULL;
        ASSERT_OK(core_prepare_rebase(o, 0, "r", NULL, NULL, &e));
        apply(o, "r", layer, ELEMENTSOF(layer));
        ASSERT_ERR(core_commit_onto(o, 0, "c", "r", "missing", NULL, &e), ENOENT);
        e = ERROR_NULL;
        ASSERT_ERR(core_commit_onto(o, 0, "c", "r", "plain", NULL, &e), EINVAL);
        e = ERROR_NULL;
        ASSERT_ERR(core_commit_onto(o, 0, "base", "r", "other-c", NULL, &e), EEXIST);
        e = ERROR_NULL;

        /* laminad stopped while attaching it to "other-c": only that parent finishes it */
        ASSERT_OK(core_stat(o, 0, "other-c", &info, &e));
        snprintf(value, sizeof value, "%" PRIu64, info.id);
        snapshot_info_clear(&info);
        p = data_of(o, "r");
        ASSERT_OK(lsetxattr(p, "trusted.lamina.rebase", value, strlen(value), 0));
        ASSERT_ERR(core_commit_onto(o, 0, "c", "r", "base", NULL, &e), EWRONGKIND);
        e = ERROR_NULL;
        ASSERT_ERR(core_commit(o, 0, "c", "r", NULL, &e), EWRONGKIND);
        e = ERROR_NULL;
        {
                int fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, layer, 1);
                CoreApplyOptions ao = {};
                CoreApplyResult res;

                ASSERT_ERR(core_apply(o, 0, "r", fd, &ao, &res, &e), EWRONGKIND);
                e = ERROR_NULL;
                close(fd);
        }
        ASSERT_OK(core_commit_onto(o, 0, "c", "r", "other-c", NULL, &e));
        ASSERT_TRUE(!has_mark(p, "trusted.lamina.rebase") && !has_mark(test_path(p, "keep"), LAYER_XATTR_IMPLICIT));
        ASSERT_OK(core_stat(o, 0, "c", &info, &e));
        ASSERT_STREQ(info.parent, "other-c");
        snapshot_info_clear(&info);

        ASSERT_OK(core_remove(o, 0, "c", &e));
        ASSERT_OK(core_remove(o, 0, "plain", &e));
        ASSERT_OK(core_remove(o, 0, "other-c", &e));
        ASSERT_OK(core_remove(o, 0, "base", &e));
}

static void expect_state(const char *data, const char *want) {
        char buf[32] = {};

        ASSERT_TRUE(lgetxattr(data, "trusted.lamina.rebase", buf, sizeof buf - 1) == (ssize_t) strlen(want));
        ASSERT_STREQ(buf, want);
}

/* A mark no Apply made: a Commit that walks the tree completes the directory and drops
 * it; one that skips the walk leaves it (and the directory's own attributes). */
static char *plant_mark(CoreSnapshotter *s, const char *key) {
        char *p = data_of(s, key);

        ASSERT_OK(lsetxattr(test_path(p, "keep"), LAYER_XATTR_IMPLICIT, "", 0, 0));
        return p;
}

/* "keep/" carried by the layer: nothing below the root is marked. */
static const TarItem explicit_layer[] = {
        { .name = "keep/", .type = AE_IFDIR, .mode = 0700, .mtime = 3000 },
        { .name = "keep/c", .data = "three", .mtime = 3001 },
};

/* The Commit walks the tree only when an Apply marked a directory below the root: recorded
 * with the Apply's data (so kept across a restart between Apply and Commit), sticky once
 * set, and assumed for a state an older laminad wrote. */
TEST(rebase_commit_walks_only_what_apply_marked) {
        CoreSnapshotter *s = core_snapshotter_by_name(core, "overlayfs");
        _cleanup_free_ char *clean = NULL, *marked = NULL, *old = NULL;
        Error e = ERROR_NULL;
        struct stat st;

        ASSERT_OK(core_prepare(s, 0, "b", NULL, NULL, NULL, &e));
        apply(s, "b", base, ELEMENTSOF(base));
        ASSERT_OK(core_commit(s, 0, "base", "b", NULL, &e));

        /* nothing marked: no walk, the root still gets the parent's owner */
        ASSERT_OK(core_prepare_rebase(s, 0, "clean", NULL, NULL, &e));
        apply(s, "clean", explicit_layer, ELEMENTSOF(explicit_layer));
        clean = plant_mark(s, "clean");
        expect_state(clean, "=");
        ASSERT_OK(core_commit_onto(s, 0, "clean-c", "clean", "base", NULL, &e));
        ASSERT_TRUE(has_mark(test_path(clean, "keep"), LAYER_XATTR_IMPLICIT));
        ASSERT_OK(lstat(test_path(clean, "keep"), &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0700 && st.st_uid == 0);
        ASSERT_OK(lstat(clean, &st));
        ASSERT_TRUE(st.st_uid == 7 && st.st_gid == 8 && !has_mark(clean, LAYER_XATTR_IMPLICIT));

        /* marked by the second of three Applies, laminad restarted before the Commit */
        ASSERT_OK(core_prepare_rebase(s, 0, "marked", NULL, NULL, &e));
        apply(s, "marked", explicit_layer, ELEMENTSOF(explicit_layer));
        marked = data_of(s, "marked");
        expect_state(marked, "=");
        apply(s, "marked", (const TarItem[]) { { .name = "deep/er/g", .data = "four", .mtime = 4000 } }, 1);
        expect_state(marked, "-");
        apply(s, "marked", explicit_layer, ELEMENTSOF(explicit_layer));
        expect_state(marked, "-");
        ASSERT_TRUE(has_mark(test_path(marked, "deep"), LAYER_XATTR_IMPLICIT));
        core_free(core);
        core = test_core_new(dir, 0);
        s = core_snapshotter_by_name(core, "overlayfs");
        ASSERT_OK(core_commit_onto(s, 0, "marked-c", "marked", "base", NULL, &e));
        ASSERT_TRUE(!has_mark(test_path(marked, "deep"), LAYER_XATTR_IMPLICIT));
        ASSERT_OK(lstat(test_path(marked, "deep"), &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0711 && st.st_uid == 43);

        /* prepared by an older laminad ("-": marks unknown): walked */
        ASSERT_OK(core_prepare_rebase(s, 0, "old", NULL, NULL, &e));
        apply(s, "old", explicit_layer, ELEMENTSOF(explicit_layer));
        old = plant_mark(s, "old");
        ASSERT_OK(lsetxattr(old, "trusted.lamina.rebase", "-", 1, 0));
        ASSERT_OK(core_commit_onto(s, 0, "old-c", "old", "base", NULL, &e));
        ASSERT_TRUE(!has_mark(test_path(old, "keep"), LAYER_XATTR_IMPLICIT));
        ASSERT_OK(lstat(test_path(old, "keep"), &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0701 && st.st_uid == 42);

        ASSERT_OK(core_remove(s, 0, "old-c", &e));
        ASSERT_OK(core_remove(s, 0, "marked-c", &e));
        ASSERT_OK(core_remove(s, 0, "clean-c", &e));
        ASSERT_OK(core_remove(s, 0, "base", &e));
}

/* Layers applied at once: a snapshot may be attached to a parent younger than itself. */
TEST(rebase_onto_a_younger_parent) {
        CoreSnapshotter *s = core_snapshotter_by_name(core, "overlayfs");
        SnapshotInfo old = {}, young = {};
        MountSpecList m = {};
        Error e = ERROR_NULL;

        ASSERT_OK(core_prepare_rebase(s, 0, "old", NULL, NULL, &e));
        apply(s, "old", layer, ELEMENTSOF(layer));
        ASSERT_OK(core_prepare(s, 0, "y", NULL, NULL, NULL, &e));
        apply(s, "y", base, ELEMENTSOF(base));
        ASSERT_OK(core_commit(s, 0, "young", "y", NULL, &e));
        ASSERT_OK(core_commit_onto(s, 0, "top", "old", "young", NULL, &e));
        ASSERT_OK(core_stat(s, 0, "top", &old, &e));
        ASSERT_OK(core_stat(s, 0, "young", &young, &e));
        ASSERT_TRUE(old.id < young.id);
        ASSERT_STREQ(old.parent, "young");
        ASSERT_OK(core_view(s, 0, "v", "top", NULL, &m, &e));
        ASSERT_TRUE(m.n == 1 && strstr(m.items[0].type, "overlay"));
        test_mount_spec(&m.items[0], mnt);
        {
                _cleanup_free_ char *a = test_read_file(mnt, "keep/a"), *b = test_read_file(mnt, "keep/b");
                ASSERT_STREQ(a, "one");
                ASSERT_STREQ(b, "two");
        }
        ASSERT_OK(umount(mnt));
        mount_spec_list_clear(&m);
        snapshot_info_clear(&old);
        snapshot_info_clear(&young);
        ASSERT_OK(core_remove(s, 0, "v", &e));
        ASSERT_OK(core_remove(s, 0, "top", &e));
        ASSERT_OK(core_remove(s, 0, "young", &e));
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(rebase_onto_a_younger_parent),
                TEST_ENTRY(rebase_gives_what_apply_onto_the_parent_gives),
                TEST_ENTRY(rebase_without_parent_and_explicit_root),
                TEST_ENTRY(rebase_refusals),
                TEST_ENTRY(rebase_commit_walks_only_what_apply_marked),
        };

        return test_core_run_mounted("rebase", cases, ELEMENTSOF(cases), &dir, &mnt, &core);
}
