/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layer_apply(): round trips, whiteouts, diff_id, and refused layers leaving the target
 * as it was. Needs root (chown, mknod, trusted.* xattrs, namespaces). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <zlib.h>

#include "layer-fs.h"
#include "tree-util.h"
#include "strutil.h"
#include "layer-test-util.h"
#include "layer.h"

static char base_dir[] = "/tmp/lamina-test-layer-XXXXXX";

typedef struct Fixture {
        char target[256], lower[256];
        int target_fd, lower_fd;
} Fixture;

static void fixture_init(Fixture *f) {
        snprintf(f->target, sizeof f->target, "%s/target", base_dir);
        snprintf(f->lower, sizeof f->lower, "%s/lower", base_dir);
        ASSERT_OK(mkdir(f->target, 0755));
        ASSERT_OK(mkdir(f->lower, 0755));
        f->target_fd = open(f->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        f->lower_fd = open(f->lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(f->target_fd >= 0 && f->lower_fd >= 0);
}

static void fixture_done(Fixture *f) {
        int dir = open(base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        ASSERT_TRUE(dir >= 0);
        close(f->target_fd);
        close(f->lower_fd);
        ASSERT_OK(rm_rf_at(dir, "target", NULL));
        ASSERT_OK(rm_rf_at(dir, "lower", NULL));
        close(dir);
}

static int write_file(int dir, const char *name, const char *content) {
        int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(write(fd, content, strlen(content)) == (ssize_t) strlen(content));
        close(fd);
        return 0;
}

static char *read_file(int dir, const char *name) {
        static char buf[4096];
        int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        ssize_t n;

        ASSERT_TRUE(fd >= 0);
        n = read(fd, buf, sizeof buf - 1);
        ASSERT_TRUE(n >= 0);
        buf[n] = 0;
        close(fd);
        return buf;
}

static struct stat lstat_at(int dir, const char *name) {
        struct stat st;

        ASSERT_OK(fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW));
        return st;
}

static bool exists_at(int dir, const char *name) {
        struct stat st;
        return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static ssize_t xattr_at(int dir, const char *name, const char *attr, char *buf, size_t size) {
        int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        ssize_t n;

        ASSERT_TRUE(fd >= 0);
        n = fgetxattr(fd, attr, buf, size);
        close(fd);
        return n;
}

static const TarItem tree[] = {
        { .name = "a/", .type = AE_IFDIR, .mode = 0750, .uid = 1000, .gid = 1001, .mtime = 1600000000 },
        { .name = "a/f", .data = "hello", .mode = 04755, .uid = 7, .gid = 8, .mtime = 1500000000,
          .xattr = { "user.test", "kept", "trusted.evil", "dropped" } },
        { .name = "a/l", .type = AE_IFLNK, .link = "f", .uid = 9, .gid = 9 },
        { .name = "a/h", .hardlink = "a/f" },
        { .name = "./b/c/deep", .data = "deep" },
        { .name = "/abs", .data = "abs" },
        { .name = "p", .type = AE_IFIFO, .mode = 0600 },
        { .name = "big", .data = "start", .size = 300000 },
};

static void check_tree(Fixture *f) {
        struct stat st, h;
        char buf[64];
        ssize_t n;

        st = lstat_at(f->target_fd, "a");
        ASSERT_TRUE(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750);
        ASSERT_TRUE(st.st_uid == 1000 && st.st_gid == 1001 && st.st_mtime == 1600000000);

        st = lstat_at(f->target_fd, "a/f");
        ASSERT_TRUE(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 04755);
        ASSERT_TRUE(st.st_uid == 7 && st.st_gid == 8 && st.st_mtime == 1500000000);
        ASSERT_STREQ(read_file(f->target_fd, "a/f"), "hello");
        n = xattr_at(f->target_fd, "a/f", "user.test", buf, sizeof buf);
        ASSERT_TRUE(n == 4 && memcmp(buf, "kept", 4) == 0);
        ASSERT_TRUE(xattr_at(f->target_fd, "a/f", "trusted.evil", buf, sizeof buf) < 0 && errno == ENODATA);

        st = lstat_at(f->target_fd, "a/l");
        ASSERT_TRUE(S_ISLNK(st.st_mode) && st.st_uid == 9);
        n = readlinkat(f->target_fd, "a/l", buf, sizeof buf);
        ASSERT_TRUE(n == 1 && buf[0] == 'f');

        st = lstat_at(f->target_fd, "a/f");
        h = lstat_at(f->target_fd, "a/h");
        ASSERT_TRUE(st.st_ino == h.st_ino && h.st_nlink == 2);

        ASSERT_STREQ(read_file(f->target_fd, "b/c/deep"), "deep");
        ASSERT_STREQ(read_file(f->target_fd, "abs"), "abs");
        ASSERT_TRUE(S_ISFIFO(lstat_at(f->target_fd, "p").st_mode));
        ASSERT_TRUE(lstat_at(f->target_fd, "big").st_size == 300000);
        /* nothing of the staging directory is left */
        ASSERT_TRUE(lstat_at(f->target_fd, ".").st_nlink == 4); /* ., a, b and the parent's entry */
}

static int apply_opts(int fd, Fixture *f, const LayerApplyOptions *o, LayerApplyResult *res, Error *e) {
        LayerApplyResult dummy;
        return layer_apply(fd, f->target_fd, o, res ?: &dummy, e);
}

/* apply_opts(), which must succeed (its message shown when not). */
static void apply_ok(int fd, Fixture *f, const LayerApplyOptions *o, LayerApplyResult *res) {
        Error e = ERROR_NULL;

        if (apply_opts(fd, f, o, res, &e) < 0)
                fprintf(stderr, "apply: %s\n", e.message);
        ASSERT_TRUE(e.code == 0);
}

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

/* A host directory that symlinks in layers point at: the layer must never write there.
 * (Not /etc: other tests running at the same time add users.) */
static char *decoy_new(void) {
        _cleanup_free_ char *sub = NULL, *file = NULL;
        char *d = strdup("/tmp/lamina-decoy-XXXXXX");
        FILE *f;

        ASSERT_TRUE(d && mkdtemp(d));
        sub = strdup_printf("%s/dir", d);
        file = strdup_printf("%s/passwd", d);
        ASSERT_OK(mkdir(sub, 0755));
        f = fopen(file, "we");
        ASSERT_TRUE(f && fputs("decoy\n", f) >= 0 && fclose(f) == 0);
        return d;
}

static void decoy_free(char *d) {
        _cleanup_free_ char *cmd = strdup_printf("rm -rf '%s'", d);

        ASSERT_OK(system(cmd));
        free(d);
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

/* Prepares a target with some content and returns its listing. */
static char *target_with_content(Fixture *f) {
        fixture_init(f);
        ASSERT_OK(mkdirat(f->target_fd, "etc", 0755));
        write_file(f->target_fd, "etc/keep", "original");
        write_file(f->target_fd, "x", "original x");
        return tree_listing(f->target);
}

/* Applies items and expects a refusal of kind code whose message names `names`; the
 * target must be unchanged. */
static void expect_refused_fd(int fd, const LayerApplyOptions *o, int code, const char *names) {
        Error e = ERROR_NULL;
        Fixture f;
        char *before = target_with_content(&f), *after;

        ASSERT_ERR(apply_opts(fd, &f, o, NULL, &e), code);
        ASSERT_TRUE(e.code == code);
        if (getenv("LAYER_TEST_VERBOSE"))
                fprintf(stderr, "refused: %s\n", e.message);
        if (names && !strstr(e.message, names)) {
                fprintf(stderr, "message \"%s\" does not name \"%s\"\n", e.message, names);
                ASSERT_TRUE(false);
        }
        after = tree_listing(f.target);
        ASSERT_STREQ(before, after);
        free(before);
        free(after);
        fixture_done(&f);
}

static void expect_refused(const TarItem *items, size_t n, const LayerApplyOptions *o, int code, const char *names) {
        int fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, n);
        expect_refused_fd(fd, o, code, names);
        close(fd);
}

#define REFUSED(o, code, names, ...)                                                           \
        do {                                                                                   \
                const TarItem _items[] = { __VA_ARGS__ };                                      \
                expect_refused(_items, ELEMENTSOF(_items), (o), (code), (names));              \
        } while (0)

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

TEST(expected_diff_id_mismatch) {
        LayerApplyOptions o = {
                .expected_diff_id = "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        };
        REFUSED(&o, EINVAL, "does not match", { .name = "x", .data = "new x" }, { .name = "new", .data = "n" });
        o.expected_diff_id = "md5:abc";
        REFUSED(&o, EINVAL, "md5:abc", { .name = "x", .data = "new x" });
}

TEST(expected_diff_id_match) {
        static const TarItem items[] = { { .name = "x", .data = "new x" } };
        char want[7 + 64 + 1];
        LayerApplyOptions o = { .expected_diff_id = want };
        Error e = ERROR_NULL;
        Fixture f;
        int fd;

        fixture_init(&f);
        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_ZSTD, items, 1);
        {
                int plain = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, 1);
                fd_sha256(plain, want, NULL);
                close(plain);
        }
        ASSERT_OK(apply_opts(fd, &f, &o, NULL, &e));
        ASSERT_STREQ(read_file(f.target_fd, "x"), "new x");
        close(fd);
        fixture_done(&f);
}

TEST(refuses_dotdot) {
        LayerApplyOptions o = {};
        REFUSED(&o, EINVAL, "../escape", { .name = "ok", .data = "1" }, { .name = "../escape", .data = "x" });
        REFUSED(&o, EINVAL, "a/../../x", { .name = "a/../../x", .data = "x" });
        ASSERT_TRUE(access("/tmp/escape", F_OK) < 0);
}

TEST(absolute_names_stay_inside) {
        static const TarItem items[] = { { .name = "/etc/lamina-layer-test", .data = "inside" } };
        LayerApplyOptions o = {};
        Error e = ERROR_NULL;
        Fixture f;
        int fd;

        fixture_init(&f);
        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, 1);
        ASSERT_OK(apply_opts(fd, &f, &o, NULL, &e));
        ASSERT_STREQ(read_file(f.target_fd, "etc/lamina-layer-test"), "inside");
        ASSERT_TRUE(access("/etc/lamina-layer-test", F_OK) < 0);
        close(fd);
        fixture_done(&f);
}

TEST(refuses_writes_through_symlinks) {
        LayerApplyOptions o = {};
        char *decoy = decoy_new();
        char *before = tree_listing(decoy), *after;

        REFUSED(&o, EINVAL, "a/passwd", { .name = "a", .type = AE_IFLNK, .link = decoy },
                { .name = "a/passwd", .data = "root::0:0::/:/bin/sh\n" });
        REFUSED(&o, EINVAL, "up/x", { .name = "up", .type = AE_IFLNK, .link = "../../.." },
                { .name = "up/x", .data = "x" });
        /* "etc" is a real directory of the target; a symlink in the layer does not lead there */
        REFUSED(&o, EINVAL, "e/keep", { .name = "e", .type = AE_IFLNK, .link = "etc" },
                { .name = "e/keep", .data = "overwritten" });
        after = tree_listing(decoy);
        ASSERT_STREQ(before, after);
        free(before);
        free(after);
        decoy_free(decoy);
}

/* The writer keeps the directory it writes in open for the entries that follow: a later
 * entry that replaces that directory or one above it (by a symlink, a file, a hard link,
 * a whiteout) makes it resolve the path again, so nothing is written through the symlink,
 * below the file, or into the replaced directory. */
TEST(replaced_parent_resolved_again) {
        LayerApplyOptions o = {}, overlay = { .overlay_whiteouts = true };
        char *decoy = decoy_new();
        char *before = tree_listing(decoy), *after;

        REFUSED(&o, EINVAL, "d/b", { .name = "d/", .type = AE_IFDIR }, { .name = "d/a", .data = "a" },
                { .name = "d", .type = AE_IFLNK, .link = decoy }, { .name = "d/b", .data = "b" });
        REFUSED(&o, EINVAL, "p/q/b", { .name = "p/q/", .type = AE_IFDIR }, { .name = "p/q/a", .data = "a" },
                { .name = "p", .type = AE_IFLNK, .link = decoy }, { .name = "p/q/b", .data = "b" });
        REFUSED(&o, EINVAL, "d/b", { .name = "d/a", .data = "a" }, { .name = "d", .data = "now a file" },
                { .name = "d/b", .data = "b" });
        REFUSED(&o, EINVAL, "d/b", { .name = "x", .data = "x" }, { .name = "d/a", .data = "a" },
                { .name = "d", .hardlink = "x" }, { .name = "d/b", .data = "b" });
        REFUSED(&overlay, EINVAL, "d/b", { .name = "d/a", .data = "a" }, { .name = ".wh.d" },
                { .name = "d/b", .data = "b" });
        after = tree_listing(decoy);
        ASSERT_STREQ(before, after);
        free(before);
        free(after);
        decoy_free(decoy);
}

/* A directory replaced by a file or a symlink and made again: the entries after it land in
 * the new one. */
TEST(replaced_parent_made_again) {
        static const TarItem items[] = {
                { .name = "d/", .type = AE_IFDIR },
                { .name = "d/a", .data = "a" },
                { .name = "d", .data = "now a file" },
                { .name = "d/", .type = AE_IFDIR, .mode = 0750 },
                { .name = "d/b", .data = "b" },
                { .name = "d/c/", .type = AE_IFDIR },
                { .name = "d/c/a", .data = "a" },
                { .name = "d/c", .type = AE_IFLNK, .link = "b" },
                { .name = "d/c/", .type = AE_IFDIR },
                { .name = "d/c/b", .data = "b" },
        };
        LayerApplyOptions o = {};
        Error e = ERROR_NULL;
        Fixture f;
        int fd;

        fixture_init(&f);
        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, ELEMENTSOF(items));
        if (apply_opts(fd, &f, &o, NULL, &e) < 0)
                fprintf(stderr, "apply: %s\n", e.message);
        ASSERT_TRUE(e.code == 0);
        ASSERT_TRUE((lstat_at(f.target_fd, "d").st_mode & 07777) == 0750);
        ASSERT_TRUE(!exists_at(f.target_fd, "d/a"));
        ASSERT_STREQ(read_file(f.target_fd, "d/b"), "b");
        ASSERT_TRUE(S_ISDIR(lstat_at(f.target_fd, "d/c").st_mode));
        ASSERT_TRUE(!exists_at(f.target_fd, "d/c/a"));
        ASSERT_STREQ(read_file(f.target_fd, "d/c/b"), "b");
        close(fd);
        fixture_done(&f);
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
        Error e = ERROR_NULL;
        Fixture f;
        int fd;

        fixture_init(&f);
        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, ELEMENTSOF(items));
        if (apply_opts(fd, &f, &o, NULL, &e) < 0)
                fprintf(stderr, "apply: %s\n", e.message);
        ASSERT_TRUE(e.code == 0);
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

TEST(refuses_bad_hardlinks) {
        LayerApplyOptions o = {};

        REFUSED(&o, EINVAL, "h", { .name = "h", .hardlink = "/etc/shadow" });
        REFUSED(&o, EINVAL, "h", { .name = "h", .hardlink = "../x" });
        /* x exists in the target, but not in this layer */
        REFUSED(&o, EINVAL, "h", { .name = "h", .hardlink = "x" });
        REFUSED(&o, EINVAL, "is a directory", { .name = "d/", .type = AE_IFDIR }, { .name = "h", .hardlink = "d" });
        REFUSED(&o, EINVAL, "h", { .name = "l", .type = AE_IFLNK, .link = "/etc" }, { .name = "h", .hardlink = "l/shadow" });
}

TEST(refuses_bad_whiteouts) {
        LayerApplyOptions o = { .overlay_whiteouts = true };

        REFUSED(&o, EINVAL, ".wh..", { .name = "a/.wh.." });
        REFUSED(&o, EINVAL, ".wh.", { .name = ".wh." });
        REFUSED(&o, EINVAL, ".wh...", { .name = ".wh..." });
        REFUSED(&o, EINVAL, ".wh..wh.foo", { .name = ".wh..wh.foo" });
        REFUSED(&o, EINVAL, ".wh.dir/x", { .name = ".wh.dir/x" });
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

/* items as ustar, cut after keep bytes */
static void expect_refused_header(const LayerApplyOptions *o, const char *names, off_t keep, const TarItem *items, size_t n) {
        int fd = tar_build(ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, items, n);

        ASSERT_OK(ftruncate(fd, keep));
        expect_refused_fd(fd, o, EDQUOT, names);
        close(fd);
}

TEST(limits) {
        LayerApplyOptions o = { .limits = { .max_entries = 2 } };
        char longname[64];

        REFUSED(&o, EDQUOT, "c", { .name = "a", .data = "1" }, { .name = "b", .data = "2" }, { .name = "c", .data = "3" });

        memset(longname, 'l', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        o = (LayerApplyOptions) { .limits = { .max_name_len = 32 } };
        REFUSED(&o, EINVAL, "lllll", { .name = "short", .data = "1" }, { .name = longname, .data = "2" });

        o = (LayerApplyOptions) { .limits = { .max_bytes = 16384 } };
        REFUSED(&o, EDQUOT, "limit", { .name = "big", .data = "x", .size = 100000 });

        /* A file bigger than what is left of the budget is refused from its header,
         * before its data (a sparse file's costs nothing): the streams end there. */
        o = (LayerApplyOptions) { .limits = { .max_bytes = 65536 } };
        expect_refused_header(&o, "\"big\": its 100000 bytes pass the limit of 65536", 512,
                              (const TarItem[]) { { .name = "big", .data = "x", .size = 100000 } }, 1);
        o = (LayerApplyOptions) { .limits = { .max_bytes = 200000 } };
        expect_refused_header(&o, "\"second\": its 150000 bytes pass the limit of 200000 bytes for a layer's files (100000",
                              512 + 100352 + 512,
                              (const TarItem[]) { { .name = "first", .data = "x", .size = 100000 },
                                                  { .name = "second", .data = "x", .size = 150000 } }, 2);
        /* the stream itself is counted too */
        o = (LayerApplyOptions) { .limits = { .max_bytes = 4096 } };
        REFUSED(&o, EDQUOT, "uncompressed", { .name = "d1/", .type = AE_IFDIR }, { .name = "d2/", .type = AE_IFDIR },
                { .name = "d3/", .type = AE_IFDIR }, { .name = "d4/", .type = AE_IFDIR }, { .name = "d5/", .type = AE_IFDIR },
                { .name = "d6/", .type = AE_IFDIR }, { .name = "d7/", .type = AE_IFDIR }, { .name = "d8/", .type = AE_IFDIR });
}

TEST(refuses_other_formats) {
        static const TarItem items[] = { { .name = "x", .data = "zip" } };
        static const int formats[] = { ARCHIVE_FORMAT_ZIP, ARCHIVE_FORMAT_CPIO_SVR4_NOCRC, ARCHIVE_FORMAT_7ZIP };
        LayerApplyOptions o = {};

        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                int fd = tar_build(formats[i], ARCHIVE_FILTER_NONE, items, 1);
                expect_refused_fd(fd, &o, EINVAL, "not a valid tar");
                close(fd);
        }
        /* a compression that is not gzip or zstd */
        {
                int fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_XZ, items, 1);
                expect_refused_fd(fd, &o, EINVAL, "not a valid tar");
                close(fd);
        }
}

TEST(media_type_forced) {
        static const TarItem items[] = { { .name = "x", .data = "gz" } };
        LayerApplyOptions o = { .media_type = LAYER_MEDIA_TAR_ZSTD };
        int fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_GZIP, items, 1);

        expect_refused_fd(fd, &o, EINVAL, "tar+zstd");
        /* a gzip layer is not a plain tar, whatever it holds */
        o.media_type = LAYER_MEDIA_TAR;
        ASSERT_TRUE(lseek(fd, 0, SEEK_SET) == 0);
        expect_refused_fd(fd, &o, EINVAL, "it is tar+gzip");
        close(fd);
        ASSERT_TRUE(layer_media_type_from_string("tar+gzip") == LAYER_MEDIA_TAR_GZIP);
        ASSERT_TRUE(layer_media_type_from_string("zip") == -EINVAL);
}

static uint8_t *read_all(int fd, size_t *ret_len) {
        struct stat st;
        uint8_t *buf;

        ASSERT_OK(fstat(fd, &st));
        buf = malloc((size_t) st.st_size + 1);
        ASSERT_TRUE(buf);
        ASSERT_TRUE(pread(fd, buf, (size_t) st.st_size, 0) == st.st_size);
        *ret_len = (size_t) st.st_size;
        return buf;
}

/* One gzip member of data, as gzip(1) writes it. */
static uint8_t *gzip_member(const uint8_t *data, size_t len, size_t *ret_len) {
        z_stream z = {};
        uint8_t *out;
        size_t bound;

        ASSERT_TRUE(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
        bound = deflateBound(&z, len);
        out = malloc(bound);
        ASSERT_TRUE(out);
        z.next_in = (uint8_t *) data;
        z.avail_in = (uInt) len;
        z.next_out = out;
        z.avail_out = (uInt) bound;
        ASSERT_TRUE(deflate(&z, Z_FINISH) == Z_STREAM_END);
        *ret_len = bound - z.avail_out;
        ASSERT_TRUE(deflateEnd(&z) == Z_OK);
        return out;
}

/* A memfd with a then b, at offset 0. */
static int memfd_of(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len) {
        int fd = memfd_create("layer", MFD_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(write(fd, a, a_len) == (ssize_t) a_len);
        if (b_len > 0)
                ASSERT_TRUE(write(fd, b, b_len) == (ssize_t) b_len);
        ASSERT_TRUE(lseek(fd, 0, SEEK_SET) == 0);
        return fd;
}

static void expect_refused_bytes(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len, const char *names) {
        LayerApplyOptions o = {};
        int fd = memfd_of(a, a_len, b, b_len);

        expect_refused_fd(fd, &o, EINVAL, names);
        close(fd);
}

/* A gzip layer whose CRC32 or length trailer is wrong, that is cut short or that has
 * anything but another member after it, is refused and changes nothing. */
TEST(gzip_damage_refused) {
        int plain_fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, tree, ELEMENTSOF(tree));
        _cleanup_free_ uint8_t *plain = NULL, *gz = NULL;
        size_t plain_len, gz_len;

        plain = read_all(plain_fd, &plain_len);
        gz = gzip_member(plain, plain_len, &gz_len);

        gz[gz_len - 8] ^= 0xff;
        expect_refused_bytes(gz, gz_len, NULL, 0, "incorrect data check");
        gz[gz_len - 8] ^= 0xff;
        gz[gz_len - 4] ^= 0xff;
        expect_refused_bytes(gz, gz_len, NULL, 0, "incorrect length check");
        gz[gz_len - 4] ^= 0xff;
        expect_refused_bytes(gz, gz_len - 4, NULL, 0, "truncated");
        expect_refused_bytes(gz, gz_len / 2, NULL, 0, "truncated");
        expect_refused_bytes(gz, gz_len, (const uint8_t *) "JUNKJUNK", 8, "data follows the end of the gzip stream");
        expect_refused_bytes(gz, gz_len, (const uint8_t *) "\x1f", 1, "data follows the end of the gzip stream");
        expect_refused_bytes(gz, gz_len, (const uint8_t *) "\x1f\x8b\x08\0", 4, "");
        close(plain_fd);
}

/* gzip -c a >l; gzip -c b >>l: the members make one stream. */
TEST(gzip_members_concatenated) {
        LayerApplyOptions o = { .media_type = LAYER_MEDIA_TAR_GZIP };
        int plain_fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, tree, ELEMENTSOF(tree));
        _cleanup_free_ uint8_t *plain = NULL, *gz1 = NULL, *gz2 = NULL;
        size_t plain_len, gz1_len, gz2_len, half;
        char want[7 + 64 + 1];
        LayerApplyResult res;
        Fixture f;
        int fd;

        fd_sha256(plain_fd, want, NULL);
        plain = read_all(plain_fd, &plain_len);
        half = plain_len / 2 + 7; /* anywhere, even inside a header */
        gz1 = gzip_member(plain, half, &gz1_len);
        gz2 = gzip_member(plain + half, plain_len - half, &gz2_len);
        fd = memfd_of(gz1, gz1_len, gz2, gz2_len);

        fixture_init(&f);
        apply_ok(fd, &f, &o, &res);
        ASSERT_STREQ(res.diff_id, want);
        ASSERT_TRUE(res.bytes == plain_len);
        check_tree(&f);
        close(fd);
        close(plain_fd);
        fixture_done(&f);
}

TEST(refuses_bad_fds) {
        LayerApplyOptions o = {};
        Error e = ERROR_NULL;
        Fixture f;
        int fd;

        fixture_init(&f);
        fd = open(f.lower, O_PATH | O_CLOEXEC);
        ASSERT_ERR(apply_opts(fd, &f, &o, NULL, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "O_PATH"));
        close(fd);

        e = ERROR_NULL;
        fd = open(f.lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_ERR(apply_opts(fd, &f, &o, NULL, &e), EINVAL);
        close(fd);

        e = ERROR_NULL;
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ASSERT_ERR(apply_opts(fd, &f, &o, NULL, &e), EINVAL);
        close(fd);
        fixture_done(&f);
}

typedef struct Feeder {
        int from, to;
} Feeder;

static void *feed(void *userdata) {
        Feeder *fe = userdata;
        char buf[8192];
        ssize_t n;

        while ((n = read(fe->from, buf, sizeof buf)) > 0)
                ASSERT_TRUE(write(fe->to, buf, (size_t) n) == n);
        close(fe->to);
        return NULL;
}

static void apply_through(int kind) {
        LayerApplyOptions o = { .overlay_whiteouts = true };
        Feeder fe;
        Fixture f;
        pid_t feeder;
        int p[2];

        fixture_init(&f);
        if (kind == 0)
                ASSERT_OK(pipe2(p, O_CLOEXEC));
        else
                ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p));
        fe = (Feeder) { .from = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_GZIP, tree, ELEMENTSOF(tree)),
                        .to = p[1] };
        feeder = feeder_start(feed, &fe, p[1]);
        apply_ok(p[0], &f, &o, NULL);
        feeder_wait(feeder);
        check_tree(&f);
        close(p[0]);
        close(fe.from);
        fixture_done(&f);
}

TEST(pipe_works) {
        apply_through(0);
}

TEST(socket_works) {
        apply_through(1);
}

typedef struct Progress {
        unsigned calls;
        uint64_t last_done, total;
} Progress;

static void on_progress(uint64_t done, uint64_t total, void *userdata) {
        Progress *p = userdata;
        p->calls++;
        p->last_done = done;
        p->total = total;
}

TEST(progress) {
        static const TarItem items[] = { { .name = "x", .data = "p" } };
        Progress p = {};
        LayerApplyOptions o = { .progress = on_progress, .userdata = &p };
        Error e = ERROR_NULL;
        struct stat st;
        Fixture f;
        int fd;

        fixture_init(&f);
        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_GZIP, items, 1);
        ASSERT_OK(fstat(fd, &st));
        ASSERT_OK(apply_opts(fd, &f, &o, NULL, &e));
        ASSERT_TRUE(p.calls >= 1 && p.calls <= 2);
        ASSERT_TRUE(p.total == (uint64_t) st.st_size && p.last_done <= p.total);
        close(fd);
        fixture_done(&f);
}

int main(void) {
        static const TestCase cases[] = { TEST_ENTRY(roundtrip_pax_plain),
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
          TEST_ENTRY(expected_diff_id_mismatch),
          TEST_ENTRY(expected_diff_id_match),
          TEST_ENTRY(refuses_dotdot),
          TEST_ENTRY(absolute_names_stay_inside),
          TEST_ENTRY(refuses_writes_through_symlinks),
          TEST_ENTRY(replaced_parent_resolved_again),
          TEST_ENTRY(replaced_parent_made_again),
          TEST_ENTRY(owners_as_named_root),
          TEST_ENTRY(owners_as_named_user),
          TEST_ENTRY(refuses_bad_hardlinks),
          TEST_ENTRY(refuses_bad_whiteouts),
          TEST_ENTRY(devices_need_permission),
          TEST_ENTRY(limits),
          TEST_ENTRY(refuses_other_formats),
          TEST_ENTRY(media_type_forced),
          TEST_ENTRY(gzip_damage_refused),
          TEST_ENTRY(gzip_members_concatenated),
          TEST_ENTRY(refuses_bad_fds),
          TEST_ENTRY(pipe_works),
          TEST_ENTRY(socket_works),
          TEST_ENTRY(progress) };

        return layer_test_run_all(base_dir, "chown, mknod, trusted.* xattrs", cases, ELEMENTSOF(cases));
}
