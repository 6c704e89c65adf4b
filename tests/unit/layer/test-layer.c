/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layer_apply(): round trips, replaced entries, whiteouts, attributes and owners as the
 * layer names them. Needs root (chown, mknod, trusted.* xattrs, namespaces). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "layer-fixture.h"
#include "layer-fs.h"

static void roundtrip(int format, int filter) {
        LayerApplyOptions o = { .overlay_whiteouts = true };
        LayerApplyResult res;
        char want[7 + 64 + 1];
        uint64_t size;
        Fixture f;
        int plain, fd;

        fixture_init(&f);
        plain = tar_build(format, ARCHIVE_FILTER_NONE, tree, ELEMENTSOF(tree));
        fd_sha256(plain, want, &size);
        fd = filter == ARCHIVE_FILTER_NONE ? plain : tar_build(format, filter, tree, ELEMENTSOF(tree));

        apply_ok(fd, &f, &o, &res);
        ASSERT_STREQ(res.diff_id, want);
        ASSERT_TRUE(res.bytes == size);
        ASSERT_TRUE(res.entries == ELEMENTSOF(tree));
        check_tree(&f);

        if (fd != plain)
                close(fd);
        close(plain);
        fixture_done(&f);
}

TEST(roundtrip_pax_plain) {
        roundtrip(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE);
}

TEST(roundtrip_pax_gzip) {
        roundtrip(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_GZIP);
}

TEST(roundtrip_pax_zstd) {
        roundtrip(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_ZSTD);
}

TEST(roundtrip_gnu_gzip_long_names) {
        char longname[300];
        LayerApplyOptions o = { .overlay_whiteouts = true };
        Error e = ERROR_NULL;
        Fixture f;
        int fd;

        memset(longname, 'n', sizeof longname);
        memcpy(longname, "dir/", 4);
        longname[200] = 0;
        const TarItem items[] = {
                { .name = "dir/", .type = AE_IFDIR },
                { .name = longname, .data = "long" },
                { .name = "dir/link", .hardlink = longname },
        };
        fixture_init(&f);
        fd = tar_build(ARCHIVE_FORMAT_TAR_GNUTAR, ARCHIVE_FILTER_GZIP, items, ELEMENTSOF(items));
        ASSERT_OK(apply_opts(fd, &f, &o, NULL, &e));
        ASSERT_STREQ(read_file(f.target_fd, longname), "long");
        ASSERT_TRUE(lstat_at(f.target_fd, "dir/link").st_nlink == 2);
        close(fd);
        fixture_done(&f);
}

/* OCI: a non-directory entry replaces a directory or a symlink that was there. */
TEST(file_replaces_dir_and_symlink) {
        static const TarItem items[] = {
                { .name = "x", .data = "file over dir" },
                { .name = "y", .data = "file over symlink" },
                { .name = "keepdir/new", .data = "merged" },
        };
        LayerApplyOptions o = { .overlay_whiteouts = false };
        Error e = ERROR_NULL;
        char *before;
        Fixture f;
        int fd;

        fixture_init(&f);
        ASSERT_OK(mkdirat(f.target_fd, "x", 0755));
        write_file(f.target_fd, "x/inner", "old");
        char *decoy = decoy_new();
        ASSERT_OK(symlinkat(decoy, f.target_fd, "y"));
        ASSERT_OK(mkdirat(f.target_fd, "keepdir", 0700));
        write_file(f.target_fd, "keepdir/old", "old");
        before = tree_listing(decoy);

        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, ELEMENTSOF(items));
        ASSERT_OK(apply_opts(fd, &f, &o, NULL, &e));
        ASSERT_STREQ(read_file(f.target_fd, "x"), "file over dir");
        ASSERT_STREQ(read_file(f.target_fd, "y"), "file over symlink");
        ASSERT_STREQ(read_file(f.target_fd, "keepdir/old"), "old");
        ASSERT_STREQ(read_file(f.target_fd, "keepdir/new"), "merged");
        /* an implicit parent keeps the existing directory's attributes */
        ASSERT_TRUE((lstat_at(f.target_fd, "keepdir").st_mode & 07777) == 0700);
        {
                char *after = tree_listing(decoy);
                ASSERT_STREQ(before, after);
                free(after);
        }
        free(before);
        decoy_free(decoy);
        close(fd);
        fixture_done(&f);
}

/* A missing parent copies owner, mode and times from the target (made by the writer, filled
 * in by the committer); an explicit entry of the same directory later in the layer wins. */
TEST(implicit_parents_then_explicit) {
        static const TarItem items[] = {
                { .name = "p/x", .data = "x" },
                { .name = "p/", .type = AE_IFDIR, .mode = 0750, .uid = 9, .gid = 9, .mtime = 1600000000 },
                { .name = "q/x", .data = "x" },
        };
        LayerApplyOptions o = { .overlay_whiteouts = true };
        struct timespec t[2] = { { .tv_sec = 1500000000 }, { .tv_sec = 1500000000 } };
        Error e = ERROR_NULL;
        struct stat st;
        Fixture f;
        int fd, q;

        fixture_init(&f);
        ASSERT_OK(mkdirat(f.target_fd, "p", 0700));
        ASSERT_OK(fchownat(f.target_fd, "p", 7, 7, 0));
        ASSERT_OK(mkdirat(f.target_fd, "q", 0711));
        ASSERT_OK(fchownat(f.target_fd, "q", 7, 8, 0));
        q = openat(f.target_fd, "q", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(q >= 0);
        ASSERT_OK(futimens(q, t));
        close(q);

        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, ELEMENTSOF(items));
        ASSERT_OK(apply_opts(fd, &f, &o, NULL, &e));
        st = lstat_at(f.target_fd, "p");
        ASSERT_TRUE((st.st_mode & 07777) == 0750 && st.st_uid == 9 && st.st_gid == 9 && st.st_mtime == 1600000000);
        st = lstat_at(f.target_fd, "q");
        ASSERT_TRUE((st.st_mode & 07777) == 0711 && st.st_uid == 7 && st.st_gid == 8 && st.st_mtime == 1500000000);
        ASSERT_STREQ(read_file(f.target_fd, "q/x"), "x");
        close(fd);
        fixture_done(&f);
}

static void setxattr_at(int dir, const char *name, const char *attr, const char *value) {
        int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(fsetxattr(fd, attr, value, strlen(value), 0));
        close(fd);
}

static const TarItem whiteout_layer[] = {
        { .name = "d/.wh.gone", .uid = 3, .gid = 4 },
        { .name = ".wh.top" },
        { .name = "o/new", .data = "new" },
        { .name = "o/.wh..wh..opq" },
};

TEST(whiteouts_overlay) {
        LayerApplyOptions o = { .overlay_whiteouts = true };
        char buf[8];
        struct stat st;
        Fixture f;
        int fd;

        fixture_init(&f);
        /* The lower has d with its own attributes: the upper copy must get them. */
        ASSERT_OK(mkdirat(f.lower_fd, "d", 0711));
        ASSERT_OK(fchownat(f.lower_fd, "d", 5, 6, 0));
        setxattr_at(f.lower_fd, "d", "user.lower", "yes");
        setxattr_at(f.lower_fd, "d", "trusted.overlay.origin", "no");
        o.lower_fds = &f.lower_fd;
        o.n_lower_fds = 1;

        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, whiteout_layer, ELEMENTSOF(whiteout_layer));
        apply_ok(fd, &f, &o, NULL);

        st = lstat_at(f.target_fd, "d");
        ASSERT_TRUE(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0711 && st.st_uid == 5 && st.st_gid == 6);
        ASSERT_TRUE(xattr_at(f.target_fd, "d", "user.lower", buf, sizeof buf) == 3);
        ASSERT_TRUE(xattr_at(f.target_fd, "d", "trusted.overlay.origin", buf, sizeof buf) < 0);

        st = lstat_at(f.target_fd, "d/gone");
        ASSERT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0) && st.st_uid == 3 && st.st_gid == 4);
        st = lstat_at(f.target_fd, "top");
        ASSERT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
        ASSERT_TRUE(!exists_at(f.target_fd, "d/.wh.gone") && !exists_at(f.target_fd, ".wh.top"));

        ASSERT_TRUE(xattr_at(f.target_fd, "o", "trusted.overlay.opaque", buf, sizeof buf) == 1 && buf[0] == 'y');
        ASSERT_STREQ(read_file(f.target_fd, "o/new"), "new");
        close(fd);
        fixture_done(&f);
}

TEST(whiteouts_delete) {
        LayerApplyOptions o = { .overlay_whiteouts = false };
        Error e = ERROR_NULL;
        char buf[8];
        Fixture f;
        int fd;

        fixture_init(&f);
        ASSERT_OK(mkdirat(f.target_fd, "d", 0755));
        ASSERT_OK(mkdirat(f.target_fd, "d/gone", 0755));
        write_file(f.target_fd, "d/gone/inner", "x");
        write_file(f.target_fd, "d/stays", "x");
        write_file(f.target_fd, "top", "x");
        ASSERT_OK(mkdirat(f.target_fd, "o", 0755));
        write_file(f.target_fd, "o/old1", "x");
        write_file(f.target_fd, "o/old2", "x");
        write_file(f.target_fd, "keep", "x");

        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, whiteout_layer, ELEMENTSOF(whiteout_layer));
        ASSERT_OK(apply_opts(fd, &f, &o, NULL, &e));
        ASSERT_TRUE(!exists_at(f.target_fd, "d/gone") && !exists_at(f.target_fd, "top"));
        ASSERT_TRUE(exists_at(f.target_fd, "d/stays") && exists_at(f.target_fd, "keep"));
        ASSERT_TRUE(!exists_at(f.target_fd, "o/old1") && !exists_at(f.target_fd, "o/old2"));
        ASSERT_STREQ(read_file(f.target_fd, "o/new"), "new");
        ASSERT_TRUE(xattr_at(f.target_fd, "o", "trusted.overlay.opaque", buf, sizeof buf) < 0);
        close(fd);
        fixture_done(&f);
}

static const TarItem recreate_layer[] = {
        { .name = ".wh.d" },
        { .name = "d/", .type = AE_IFDIR },
        { .name = "d/new", .data = "new" },
        /* an opaque directory that a later entry replaces: nothing left to mark */
        { .name = "o/.wh..wh..opq" },
        { .name = ".wh.o" },
};

/* OCI: a whiteout of d and a directory d in the same layer make d opaque: nothing of
 * the lower layers, nor of an earlier apply to the same target, shows through. */
static void whiteout_then_recreate(bool overlay) {
        LayerApplyOptions o = { .overlay_whiteouts = overlay };
        char buf[8];
        Fixture f;
        int fd;

        fixture_init(&f);
        ASSERT_OK(mkdirat(f.lower_fd, "d", 0755));
        write_file(f.lower_fd, "d/lower", "lower");
        o.lower_fds = &f.lower_fd;
        o.n_lower_fds = 1;
        ASSERT_OK(mkdirat(f.target_fd, "d", 0755));
        write_file(f.target_fd, "d/old", "earlier apply");
        ASSERT_OK(mkdirat(f.target_fd, "o", 0755));

        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, recreate_layer, ELEMENTSOF(recreate_layer));
        apply_ok(fd, &f, &o, NULL);
        ASSERT_TRUE(S_ISDIR(lstat_at(f.target_fd, "d").st_mode));
        ASSERT_STREQ(read_file(f.target_fd, "d/new"), "new");
        ASSERT_TRUE(!exists_at(f.target_fd, "d/old") && !exists_at(f.target_fd, "d/lower"));
        if (overlay) {
                ASSERT_TRUE(xattr_at(f.target_fd, "d", "trusted.overlay.opaque", buf, sizeof buf) == 1 && buf[0] == 'y');
                ASSERT_TRUE(S_ISCHR(lstat_at(f.target_fd, "o").st_mode));
        } else {
                ASSERT_TRUE(xattr_at(f.target_fd, "d", "trusted.overlay.opaque", buf, sizeof buf) < 0);
                ASSERT_TRUE(!exists_at(f.target_fd, "o"));
        }
        close(fd);
        fixture_done(&f);
}

TEST(whiteout_then_recreate_overlay) {
        whiteout_then_recreate(true);
}

TEST(whiteout_then_recreate_delete) {
        whiteout_then_recreate(false);
}

/* What umoci writes when it replaces a non-empty directory with a file: the file, then a
 * whiteout below it. The whiteout is redundant and ignored (issue 21), in both modes; the
 * directory of the earlier layer is gone. */
static const TarItem file_over_dir_layer[] = {
        { .name = "opt/", .type = AE_IFDIR },
        { .name = "opt/app/", .type = AE_IFDIR },
        { .name = "opt/app/deep", .data = "now a file" },
        { .name = "opt/app/deep/.wh.other" },
        /* below a whiteout of this layer: nothing to remove either */
        { .name = "opt/.wh.gone" },
        { .name = "opt/gone/.wh.x" },
};

static void file_over_dir(bool overlay) {
        LayerApplyOptions o = { .overlay_whiteouts = overlay };
        Fixture f;
        int fd, dir;

        fixture_init(&f);
        /* the earlier layer: in the lower for overlayfs, in the target for a full tree */
        dir = overlay ? f.lower_fd : f.target_fd;
        ASSERT_OK(mkdirat(dir, "opt", 0755));
        ASSERT_OK(mkdirat(dir, "opt/app", 0755));
        ASSERT_OK(mkdirat(dir, "opt/app/deep", 0755));
        write_file(dir, "opt/app/deep/other", "x");
        ASSERT_OK(mkdirat(dir, "opt/gone", 0755));
        write_file(dir, "opt/gone/x", "x");
        o.lower_fds = &f.lower_fd;
        o.n_lower_fds = 1;

        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, file_over_dir_layer,
                       ELEMENTSOF(file_over_dir_layer));
        apply_ok(fd, &f, &o, NULL);
        ASSERT_TRUE(S_ISREG(lstat_at(f.target_fd, "opt/app/deep").st_mode));
        ASSERT_STREQ(read_file(f.target_fd, "opt/app/deep"), "now a file");
        if (overlay)
                ASSERT_TRUE(S_ISCHR(lstat_at(f.target_fd, "opt/gone").st_mode));
        else
                ASSERT_TRUE(!exists_at(f.target_fd, "opt/gone"));
        close(fd);
        fixture_done(&f);
}

TEST(whiteout_below_file_overlay) {
        file_over_dir(true);
}

TEST(whiteout_below_file_delete) {
        file_over_dir(false);
}

/* A whiteout below a symlink this same layer made is ignored as well (umoci writes them
 * when it turns a directory into a symlink): nothing is written through the symlink, in
 * both modes; any other entry below it is refused. In deletion mode a whiteout below a
 * symlink of the target does not act through it either. */
static void whiteout_below_own_symlink(bool overlay) {
        LayerApplyOptions o = { .overlay_whiteouts = overlay };
        static const TarItem items[] = {
                { .name = "e", .type = AE_IFLNK, .link = "etc" },
                { .name = "e/.wh.keep" },
                { .name = "s", .type = AE_IFLNK, .link = "/" },
                { .name = "s/.wh.keep" },
                { .name = "t/.wh.keep" },
        };
        Fixture f;
        int fd;

        REFUSED(&o, EINVAL, "e/keep", { .name = "e", .type = AE_IFLNK, .link = "etc" }, { .name = "e/keep", .data = "x" });
        if (overlay) /* (deletion mode empties what the target has at e: nothing) */
                REFUSED(&o, EINVAL, "layer entry \"e\"", { .name = "e", .type = AE_IFLNK, .link = "etc" },
                        { .name = "e/.wh..wh..opq" });

        fixture_init(&f);
        ASSERT_OK(mkdirat(f.target_fd, "etc", 0755));
        write_file(f.target_fd, "etc/keep", "original");
        ASSERT_OK(symlinkat("etc", f.target_fd, "t"));
        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items,
                       overlay ? ELEMENTSOF(items) - 1 : ELEMENTSOF(items));
        apply_ok(fd, &f, &o, NULL);
        close(fd);
        ASSERT_STREQ(read_file(f.target_fd, "etc/keep"), "original");
        ASSERT_TRUE(S_ISLNK(lstat_at(f.target_fd, "e").st_mode) && S_ISLNK(lstat_at(f.target_fd, "s").st_mode));
        fixture_done(&f);
}

TEST(whiteout_below_own_symlink_overlay) {
        whiteout_below_own_symlink(true);
}

TEST(whiteout_below_own_symlink_delete) {
        whiteout_below_own_symlink(false);
}

/* OCI: a directory over a directory takes the new entry's attributes, xattrs included;
 * so does a parent made for an earlier entry when the layer's own entry for it comes. */
static void dir_attrs_replaced(bool overlay) {
        static const TarItem items[] = {
                { .name = "d/", .type = AE_IFDIR, .mode = 0700, .uid = 4, .gid = 5, .xattr = { "user.new", "2" } },
                { .name = "p/sub/f", .data = "f" },
                { .name = "p/", .type = AE_IFDIR, .mode = 0750 },
        };
        LayerApplyOptions o = { .overlay_whiteouts = overlay };
        char buf[8];
        struct stat st;
        Fixture f;
        int fd;

        fixture_init(&f);
        ASSERT_OK(mkdirat(f.target_fd, "d", 0755));
        setxattr_at(f.target_fd, "d", "user.dirattr", "1");
        setxattr_at(f.target_fd, "d", "trusted.overlay.opaque", "y");
        ASSERT_OK(mkdirat(f.lower_fd, "p", 0711));
        setxattr_at(f.lower_fd, "p", "user.lower", "1");
        o.lower_fds = &f.lower_fd;
        o.n_lower_fds = 1;

        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, ELEMENTSOF(items));
        apply_ok(fd, &f, &o, NULL);
        st = lstat_at(f.target_fd, "d");
        ASSERT_TRUE((st.st_mode & 07777) == 0700 && st.st_uid == 4 && st.st_gid == 5);
        ASSERT_TRUE(xattr_at(f.target_fd, "d", "user.dirattr", buf, sizeof buf) < 0 && errno == ENODATA);
        ASSERT_TRUE(xattr_at(f.target_fd, "d", "user.new", buf, sizeof buf) == 1 && buf[0] == '2');
        /* what is not a layer's to carry stays: an earlier apply made d opaque */
        ASSERT_TRUE(xattr_at(f.target_fd, "d", "trusted.overlay.opaque", buf, sizeof buf) == 1);
        ASSERT_TRUE((lstat_at(f.target_fd, "p").st_mode & 07777) == 0750);
        ASSERT_TRUE(xattr_at(f.target_fd, "p", "user.lower", buf, sizeof buf) < 0 && errno == ENODATA);
        close(fd);
        fixture_done(&f);
}

TEST(dir_attrs_replaced_overlay) {
        dir_attrs_replaced(true);
}

TEST(dir_attrs_replaced_delete) {
        dir_attrs_replaced(false);
}

/* Every file gets the owner its entry names, also where a new file would have another: in
 * a set-group-ID directory (the directory's group), for a user's layer (its fsuid). */
static void owners_as_named(uid_t write_uid) {
        static const TarItem items[] = {
                { .name = "r0", .data = "r" },
                { .name = "r1", .data = "r", .uid = 7, .gid = 8 },
                { .name = "g/", .type = AE_IFDIR, .mode = 02775, .gid = 1234 },
                { .name = "g/a", .data = "a", .gid = 1234 },
                { .name = "g/b", .data = "b" },
                { .name = "g/c", .data = "c", .uid = 5, .gid = 1234 },
                { .name = "g/d", .data = "d", .uid = 1000, .gid = 1000 },
                { .name = "g/e", .data = "e", .mode = 02755 },
                { .name = "h/", .type = AE_IFDIR },
                { .name = "h/a", .data = "a", .uid = 1000, .gid = 1000 },
                { .name = "h/b", .data = "b" },
        };
        static const struct { const char *name; uid_t uid; gid_t gid; } want[] = {
                { "r0", 0, 0 }, { "r1", 7, 8 }, { "g/a", 0, 1234 }, { "g/b", 0, 0 }, { "g/c", 5, 1234 },
                { "g/d", 1000, 1000 }, { "g/e", 0, 0 }, { "h/a", 1000, 1000 }, { "h/b", 0, 0 },
        };
        LayerApplyOptions o = { .write_uid = write_uid };
        Fixture f;
        int fd;

        fixture_init(&f);
        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, ELEMENTSOF(items));
        apply_ok(fd, &f, &o, NULL);
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                struct stat st = lstat_at(f.target_fd, want[i].name);
                if (st.st_uid != want[i].uid || st.st_gid != want[i].gid)
                        fprintf(stderr, "%s: %u:%u, expected %u:%u\n", want[i].name, (unsigned) st.st_uid,
                                (unsigned) st.st_gid, (unsigned) want[i].uid, (unsigned) want[i].gid);
                ASSERT_TRUE(st.st_uid == want[i].uid && st.st_gid == want[i].gid);
        }
        ASSERT_TRUE((lstat_at(f.target_fd, "g/e").st_mode & 07777) == 02755);
        ASSERT_TRUE((lstat_at(f.target_fd, "g").st_mode & 07777) == 02775);
        close(fd);
        fixture_done(&f);
}

TEST(owners_as_named_root) {
        owners_as_named(0);
}

TEST(owners_as_named_user) {
        owners_as_named(1000);
}

/* Without permission device entries are skipped, the rest of the layer applied. */
TEST(devices_need_permission) {
        static const TarItem items[] = { { .name = "null", .type = AE_IFCHR, .mode = 0666, .rmajor = 1, .rminor = 3 } };
        static const TarItem mixed[] = { { .name = "null", .type = AE_IFCHR, .mode = 0666, .rmajor = 1, .rminor = 3 },
                                         { .name = "sda", .type = AE_IFBLK, .mode = 0600, .rmajor = 8, .rminor = 0 },
                                         { .name = "kept", .data = "x" } };
        LayerApplyOptions o = {};
        Error e = ERROR_NULL;
        struct stat st;
        Fixture f;
        int fd;

        fixture_init(&f);
        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, mixed, 3);
        ASSERT_OK(apply_opts(fd, &f, &o, NULL, &e));
        ASSERT_TRUE(faccessat(f.target_fd, "null", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
        ASSERT_TRUE(faccessat(f.target_fd, "sda", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
        ASSERT_TRUE(S_ISREG(lstat_at(f.target_fd, "kept").st_mode));
        close(fd);
        fixture_done(&f);

        fixture_init(&f);
        o.allow_devices = true;
        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, 1);
        ASSERT_OK(apply_opts(fd, &f, &o, NULL, &e));
        st = lstat_at(f.target_fd, "null");
        ASSERT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3) && (st.st_mode & 07777) == 0666);
        close(fd);
        fixture_done(&f);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(roundtrip_pax_plain),
                TEST_ENTRY(roundtrip_pax_gzip),
                TEST_ENTRY(roundtrip_pax_zstd),
                TEST_ENTRY(roundtrip_gnu_gzip_long_names),
                TEST_ENTRY(file_replaces_dir_and_symlink),
                TEST_ENTRY(implicit_parents_then_explicit),
                TEST_ENTRY(whiteouts_overlay),
                TEST_ENTRY(whiteouts_delete),
                TEST_ENTRY(whiteout_then_recreate_overlay),
                TEST_ENTRY(whiteout_then_recreate_delete),
                TEST_ENTRY(whiteout_below_file_overlay),
                TEST_ENTRY(whiteout_below_file_delete),
                TEST_ENTRY(whiteout_below_own_symlink_overlay),
                TEST_ENTRY(whiteout_below_own_symlink_delete),
                TEST_ENTRY(dir_attrs_replaced_overlay),
                TEST_ENTRY(dir_attrs_replaced_delete),
                TEST_ENTRY(owners_as_named_root),
                TEST_ENTRY(owners_as_named_user),
                TEST_ENTRY(devices_need_permission)
        };

        return layer_test_run_all(base_dir, "chown, mknod, trusted.* xattrs", cases, ELEMENTSOF(cases));
}
