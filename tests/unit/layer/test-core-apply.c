/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* core_apply(): layers applied through the core to overlayfs and native chains, checked
 * through a mounted View; and the snapshots Apply must refuse. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "bus-error.h"
#include "core/core-test-util.h"
#include "layer-test-util.h"
#include "layer-unpack.h"
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

/* The number of entries in path (without "." and ".."), or -1 if it cannot be read. */
static int count_entries(const char *path, char *first, size_t size) {
        DIR *d = opendir(path);
        struct dirent *de;
        int n = 0;

        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        if (n++ == 0 && first)
                                snprintf(first, size, "%.200s", de->d_name);
                }
        closedir(d);
        return n;
}

/* A daemon killed during an apply leaves a clone (or the data a clone replaced) in
 * applying/; the next start removes them all, in the background, and nothing else. */
TEST(restart_removes_what_an_interrupted_apply_left) {
        CoreSnapshotter *s = core_snapshotter_by_name(core, "overlayfs");
        _cleanup_free_ char *data = NULL, *kept = NULL, *applying = NULL, *clone = NULL, *inner = NULL,
                            *other = NULL;
        MountSpecList m = {};
        Error e = ERROR_NULL;
        SnapshotInfo info = {};

        ASSERT_OK(core_prepare(s, 0, "cut-off", NULL, NULL, &m, &e));
        ASSERT_OK(core_stat(s, 0, "cut-off", &info, &e));
        data = strdup(m.items[0].source);
        kept = strdup_printf("%s/kept", data);
        write_text(kept, "data");
        applying = strdup_printf("%s/state/overlayfs/applying", dir);
        (void) mkdir(applying, 0700);
        clone = strdup_printf("%s/%" PRIu64 "-0123456789abcdef", applying, info.id);
        inner = strdup_printf("%s/half", clone);
        other = strdup_printf("%s/4242-x", applying);
        ASSERT_OK(mkdir(clone, 0700));
        write_text(inner, "half a layer");
        write_text(other, "");

        core_free(core);
        core = test_core_new(dir, 0);
        ASSERT_EVENTUALLY(count_entries(applying, NULL, 0) == 0);
        {
                _cleanup_free_ char *k = test_read_file(data, "kept");
                ASSERT_STREQ(k, "data");
        }
        ASSERT_OK(core_remove(s = core_snapshotter_by_name(core, "overlayfs"), 0, "cut-off", &e));
        snapshot_info_clear(&info);
        mount_spec_list_clear(&m);
}

typedef struct Peek {
        char *applying, *data;
        int n_entries;
        char first[256];
        bool data_had_layer;
} Peek;

static void peek(uint64_t done, uint64_t total, void *userdata) {
        Peek *p = userdata;
        char *x = strdup_printf("%s/x", p->data);

        p->n_entries = count_entries(p->applying, p->first, sizeof p->first);
        p->data_had_layer = p->data_had_layer || access(x, F_OK) == 0;
        free(x);
}

/* On ext4, applying/ is a top of directory hierarchies (chattr +T), so each clone's tree is
 * placed in block groups of its own (core-apply-clone.c). */
static void expect_top_directory(const char *path) {
        struct statfs sf;
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), flags = 0;

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(fstatfs(fd, &sf));
        if (sf.f_type != EXT4_SUPER_MAGIC)
                printf("# %s is not on ext4: no top-directory flag to check\n", path);
        else {
                ASSERT_OK(ioctl(fd, FS_IOC_GETFLAGS, &flags));
                ASSERT_TRUE(flags & FS_TOPDIR_FL);
        }
        close(fd);
}

/* While an apply runs, the layer goes into a clone in applying/, not into the data;
 * after, the clone is the data and applying/ is empty (and on ext4 a top directory). */
TEST(apply_builds_beside_the_data) {
        static const TarItem items[] = { { .name = "x", .data = "x" } };
        CoreSnapshotter *s = core_snapshotter_by_name(core, "native");
        Peek p = {};
        CoreApplyOptions o = { .progress = peek, .userdata = &p };
        CoreApplyResult res;
        SnapshotInfo info = {};
        Error e = ERROR_NULL;
        _cleanup_free_ char *prefix = NULL;
        int fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, 1);

        ASSERT_OK(core_prepare(s, 0, "cloned", NULL, NULL, NULL, &e));
        ASSERT_OK(core_stat(s, 0, "cloned", &info, &e));
        p.applying = strdup_printf("%s/state/native/applying", dir);
        p.data = strdup_printf("%s/state/native/snapshots/%" PRIu64, dir, info.id);
        prefix = strdup_printf("%" PRIu64 "-", info.id);
        ASSERT_OK(core_apply(s, 0, "cloned", fd, &o, &res, &e));
        ASSERT_TRUE(p.n_entries == 1 && strncmp(p.first, prefix, strlen(prefix)) == 0);
        ASSERT_TRUE(!p.data_had_layer);
        ASSERT_TRUE(count_entries(p.applying, NULL, 0) == 0);
        {
                _cleanup_free_ char *x = test_read_file(p.data, "x");
                ASSERT_STREQ(x, "x");
        }
        ASSERT_OK(core_remove(s, 0, "cloned", &e));
        expect_top_directory(p.applying);
        free(p.applying);
        free(p.data);
        snapshot_info_clear(&info);
        close(fd);
}

/* An internal failure inside the helper stays internal across its result: the target
 * directory was removed, so making the staging directory in it fails with ENOENT, which
 * the bus must not take for NotFound. */
TEST(helper_internal_failure_stays_internal) {
        static const TarItem items[] = { { .name = "x", .data = "x" } };
        _cleanup_free_ char *gone = strdup_printf("%s/gone", dir);
        LayerApplyOptions o = {};
        sd_bus_error error = SD_BUS_ERROR_NULL;
        LayerApplyResult res;
        Error e = ERROR_NULL;
        int fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, 1), target, r;

        ASSERT_OK(mkdir(gone, 0755));
        target = open(gone, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(target >= 0);
        ASSERT_OK(rmdir(gone));
        r = layer_unpack(fd, target, &o, &res, &e);
        printf("# the helper said: %d %s: %s\n", r, e.internal ? "internal" : "kind", e.message);
        ASSERT_TRUE(r == -ENOENT && e.code == ENOENT && e.internal);
        ASSERT_TRUE(strstr(e.message, "staging directory"));
        ASSERT_TRUE(bus_error_from_core(&error, r, &e) == r);
        printf("# on the bus: %s\n", error.name);
        ASSERT_STREQ(error.name, SD_BUS_ERROR_FAILED);
        sd_bus_error_free(&error);
        close(target);
        close(fd);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(overlayfs_chain),
                TEST_ENTRY(native_chain),
                TEST_ENTRY(refused_snapshots),
                TEST_ENTRY(restart_removes_what_an_interrupted_apply_left),
                TEST_ENTRY(apply_builds_beside_the_data),
                TEST_ENTRY(helper_internal_failure_stays_internal),
        };

        return test_core_run_mounted("core_apply", cases, ELEMENTSOF(cases), &dir, &mnt, &core);
}
