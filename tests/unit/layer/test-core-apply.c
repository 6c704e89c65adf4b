/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* core_apply(): layers applied through the core to overlayfs and native chains, checked
 * through a mounted View; and the snapshots Apply must refuse. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "core/core-test-util.h"
#include "layer-test-util.h"
#include "layer.h"

static char *dir, *mnt;
static Core *core;

static const TarItem layer1[] = {
        { .name = "etc/", .type = AE_IFDIR },
        { .name = "etc/conf", .data = "one" },
        { .name = "gone", .data = "one" },
        { .name = "opq/", .type = AE_IFDIR },
        { .name = "opq/old", .data = "one" },
        { .name = "keep/", .type = AE_IFDIR, .mode = 0701, .uid = 42 },
        { .name = "keep/a", .data = "one" },
};

static const TarItem layer2[] = {
        { .name = "etc/conf", .data = "two" },
        { .name = ".wh.gone" },
        { .name = "opq/.wh..wh..opq" },
        { .name = "opq/new", .data = "two" },
        { .name = "keep/b", .data = "two" }, /* no "keep/" entry: its parent comes from layer 1 */
};

static void apply(CoreSnapshotter *s, const char *key, const TarItem *items, size_t n) {
        CoreApplyOptions o = { .media_type = "tar+gzip" };
        CoreApplyResult res = {};
        Error e = ERROR_NULL;
        char want[7 + 64 + 1];
        int plain = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, n);
        int fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_GZIP, items, n);

        fd_sha256(plain, want, NULL);
        o.expected_diff_id = want;
        if (core_apply(s, 0, key, fd, &o, &res, &e) < 0)
                fprintf(stderr, "apply %s: %s\n", key, e.message);
        ASSERT_TRUE(e.code == 0);
        ASSERT_STREQ(res.diff_id, want);
        ASSERT_TRUE(res.entries == n);
        close(fd);
        close(plain);
}

static void expect_file(const char *name, const char *content) {
        char *s = test_read_file(mnt, name);

        if (!content) {
                ASSERT_TRUE(!s);
                return;
        }
        ASSERT_STREQ(s, content);
        free(s);
}

static void chain(const char *snapshotter) {
        CoreSnapshotter *s = core_snapshotter_by_name(core, snapshotter);
        Error e = ERROR_NULL;
        MountSpecList m = {};
        struct stat st;
        char *p;

        ASSERT_TRUE(s);
        ASSERT_OK(core_prepare(s, 0, "a1", NULL, NULL, NULL, &e));
        apply(s, "a1", layer1, ELEMENTSOF(layer1));
        ASSERT_OK(core_commit(s, 0, "c1", "a1", NULL, &e));
        ASSERT_OK(core_prepare(s, 0, "a2", "c1", NULL, NULL, &e));
        apply(s, "a2", layer2, ELEMENTSOF(layer2));
        ASSERT_OK(core_commit(s, 0, "c2", "a2", NULL, &e));

        ASSERT_OK(core_view(s, 0, "v", "c2", NULL, &m, &e));
        test_mount_spec(&m.items[0], mnt);
        expect_file("etc/conf", "two");
        expect_file("gone", NULL);
        expect_file("opq/old", NULL);
        expect_file("opq/new", "two");
        expect_file("keep/a", "one");
        expect_file("keep/b", "two");
        /* the parent made for keep/b has layer 1's attributes, not a default 0755 root dir */
        p = strdup_printf("%s/keep", mnt);
        ASSERT_OK(lstat(p, &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0701 && st.st_uid == 42);
        free(p);
        ASSERT_OK(umount(mnt));
        mount_spec_list_clear(&m);

        /* nothing of the staging directories is left in the data */
        ASSERT_OK(core_remove(s, 0, "v", &e));
        ASSERT_OK(core_remove(s, 0, "c2", &e));
        ASSERT_OK(core_remove(s, 0, "c1", &e));
}

TEST(overlayfs_chain) {
        chain("overlayfs");
}

TEST(native_chain) {
        chain("native");
}

static void expect_refused(CoreSnapshotter *s, const char *key, const CoreApplyOptions *o, int code) {
        static const TarItem items[] = { { .name = "x", .data = "x" } };
        CoreApplyResult res;
        Error e = ERROR_NULL;
        int fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, 1);

        ASSERT_ERR(core_apply(s, 0, key, fd, o, &res, &e), code);
        ASSERT_TRUE(e.code == code && strlen(e.message) > 0);
        close(fd);
}

TEST(refused_snapshots) {
        CoreSnapshotter *s = core_snapshotter_by_name(core, "overlayfs");
        CoreMountOptions mo = {};
        CoreApplyOptions o = {};
        Error e = ERROR_NULL;
        char *path = NULL;

        ASSERT_OK(core_prepare(s, 0, "act", NULL, NULL, NULL, &e));
        ASSERT_OK(core_commit(s, 0, "base", "act", NULL, &e));
        ASSERT_OK(core_view(s, 0, "view", "base", NULL, NULL, &e));
        ASSERT_OK(core_prepare(s, 0, "act", "base", NULL, NULL, &e));

        expect_refused(s, "missing", &o, ENOENT);
        expect_refused(s, "base", &o, EWRONGKIND);
        expect_refused(s, "view", &o, EWRONGKIND);
        expect_refused(s, "", &o, EINVAL);
        /* another namespace's snapshot is not the caller's */
        {
                static const TarItem items[] = { { .name = "x", .data = "x" } };
                CoreApplyResult res;
                int fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, 1);
                e = ERROR_NULL;
                ASSERT_ERR(core_apply(s, 1000, "act", fd, &o, &res, &e), ENOENT);
                close(fd);
        }
        o.media_type = "zip";
        expect_refused(s, "act", &o, EINVAL);
        o.media_type = NULL;

        ASSERT_OK(core_mount(s, 0, "act", NULL, &mo, &path, &e));
        expect_refused(s, "act", &o, EBUSY);
        free(path);
        path = NULL;
        ASSERT_OK(core_unmount(s, 0, "act", false, &path, &e));
        free(path);
}

static void write_text(const char *path, const char *text) {
        int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);

        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
        ASSERT_OK(close(fd));
}

/* A daemon killed during an apply leaves its journal entry, naming the hidden staging
 * directory, and that directory in the snapshot's data; the next start removes both and
 * keeps the rest, including a layer's own entries named like staging directories. */
TEST(restart_removes_what_an_interrupted_apply_left) {
        CoreSnapshotter *s = core_snapshotter_by_name(core, "overlayfs");
        _cleanup_free_ char *data = NULL, *staging = NULL, *journal = NULL, *kept = NULL, *legit = NULL,
                            *legit_file = NULL, *journal2 = NULL, *not_dir = NULL;
        MountSpecList m = {}, m2 = {};
        Error e = ERROR_NULL;
        SnapshotInfo info = {}, info2 = {};

        ASSERT_OK(core_prepare(s, 0, "cut-off", NULL, NULL, &m, &e));
        ASSERT_OK(core_stat(s, 0, "cut-off", &info, &e));
        data = strdup(m.items[0].source);
        staging = strdup_printf("%s/.lamina-apply-0123456789abcdef", data);
        journal = strdup_printf("%s/state/overlayfs/applying/%" PRIu64, dir, info.id);
        kept = strdup_printf("%s/kept", data);
        /* entries an earlier layer made: a directory named like a staging directory, and
         * one named exactly like a staging directory */
        legit = strdup_printf("%s/.lamina-apply-x", data);
        legit_file = strdup_printf("%s/.lamina-apply-fedcba9876543210", data);
        ASSERT_OK(mkdir(staging, 0700));
        ASSERT_OK(mkdir(kept, 0755));
        ASSERT_OK(mkdir(legit, 0755));
        write_text(legit_file, "layer content");
        (void) mkdir(test_path(dir, "state/overlayfs/applying"), 0700);
        write_text(journal, ".lamina-apply-0123456789abcdef");

        /* another snapshot whose journal names a staging directory that is a file there:
         * a layer's entry, kept */
        ASSERT_OK(core_prepare(s, 0, "cut-off-2", NULL, NULL, &m2, &e));
        ASSERT_OK(core_stat(s, 0, "cut-off-2", &info2, &e));
        not_dir = strdup_printf("%s/.lamina-apply-fedcba9876543210", m2.items[0].source);
        write_text(not_dir, "layer content");
        journal2 = strdup_printf("%s/state/overlayfs/applying/%" PRIu64, dir, info2.id);
        write_text(journal2, ".lamina-apply-fedcba9876543210");

        core_free(core);
        core = test_core_new(dir, 0);
        ASSERT_TRUE(access(staging, F_OK) < 0 && errno == ENOENT);
        ASSERT_TRUE(access(journal, F_OK) < 0 && errno == ENOENT);
        ASSERT_TRUE(access(journal2, F_OK) < 0 && errno == ENOENT);
        ASSERT_OK(access(kept, F_OK));
        ASSERT_OK(access(legit, F_OK));
        ASSERT_OK(access(legit_file, F_OK));
        ASSERT_OK(access(not_dir, F_OK));
        snapshot_info_clear(&info);
        snapshot_info_clear(&info2);
        mount_spec_list_clear(&m);
        mount_spec_list_clear(&m2);
}

typedef struct JournalPeek {
        char *path;
        char name[64];
} JournalPeek;

static void peek_journal(uint64_t done, uint64_t total, void *userdata) {
        JournalPeek *p = userdata;
        int fd = open(p->path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return;
        n = read(fd, p->name, sizeof p->name - 1);
        p->name[n > 0 ? n : 0] = 0;
        close(fd);
}

/* While an apply runs, its journal entry names the staging directory; after, it is gone. */
TEST(journal_names_the_staging_directory) {
        static const TarItem items[] = { { .name = "x", .data = "x" } };
        CoreSnapshotter *s = core_snapshotter_by_name(core, "native");
        JournalPeek peek = {};
        CoreApplyOptions o = { .progress = peek_journal, .userdata = &peek };
        CoreApplyResult res;
        SnapshotInfo info = {};
        Error e = ERROR_NULL;
        int fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, 1);

        ASSERT_OK(core_prepare(s, 0, "journaled", NULL, NULL, NULL, &e));
        ASSERT_OK(core_stat(s, 0, "journaled", &info, &e));
        peek.path = strdup_printf("%s/state/native/applying/%" PRIu64, dir, info.id);
        ASSERT_OK(core_apply(s, 0, "journaled", fd, &o, &res, &e));
        ASSERT_TRUE(layer_staging_name_is_valid(peek.name));
        ASSERT_TRUE(access(peek.path, F_OK) < 0 && errno == ENOENT);
        ASSERT_OK(core_remove(s, 0, "journaled", &e));
        free(peek.path);
        snapshot_info_clear(&info);
        close(fd);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(overlayfs_chain),
                TEST_ENTRY(native_chain),
                TEST_ENTRY(refused_snapshots),
                TEST_ENTRY(restart_removes_what_an_interrupted_apply_left),
                TEST_ENTRY(journal_names_the_staging_directory),
        };
        int r;

        if (!test_enter_private_mount_ns()) {
                fprintf(stderr, "core_apply needs root and mount namespaces\n");
                return EXIT_TEST_SKIP;
        }
        dir = test_mkdtemp();
        mnt = strdup_printf("%s/mnt", dir);
        ASSERT_OK(mkdir(mnt, 0755));
        core = test_core_new(dir, 0);

        r = test_run_all(cases, ELEMENTSOF(cases));

        core_free(core);
        test_rm_rf(dir);
        free(mnt);
        free(dir);
        return r;
}
