/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layer_apply() refusing layers (diff_id, escapes, bad links and whiteouts, limits, formats,
 * damaged gzip, bad fds) and leaving the target as it was; pipes, sockets and progress.
 * Needs root (chown, mknod, trusted.* xattrs, namespaces). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <zlib.h>

#include "layer-fixture.h"
#include "layer-fs.h"

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
        Fixture f;
        int fd;

        fixture_init(&f);
        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, ELEMENTSOF(items));
        apply_ok(fd, &f, &o, NULL);
        ASSERT_TRUE((lstat_at(f.target_fd, "d").st_mode & 07777) == 0750);
        ASSERT_TRUE(!exists_at(f.target_fd, "d/a"));
        ASSERT_STREQ(read_file(f.target_fd, "d/b"), "b");
        ASSERT_TRUE(S_ISDIR(lstat_at(f.target_fd, "d/c").st_mode));
        ASSERT_TRUE(!exists_at(f.target_fd, "d/c/a"));
        ASSERT_STREQ(read_file(f.target_fd, "d/c/b"), "b");
        close(fd);
        fixture_done(&f);
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

/* A gzip layer whose CRC32 or length trailer is wrong, whose deflate data is damaged,
 * whose header names another method, that is cut short or that has anything but another
 * member after it, is refused and changes nothing. */
TEST(gzip_damage_refused) {
        int plain_fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, tree, ELEMENTSOF(tree));
        _cleanup_free_ uint8_t *plain = NULL, *gz = NULL;
        size_t plain_len, gz_len;

        plain = read_all(plain_fd, &plain_len);
        gz = gzip_member(plain, plain_len, &gz_len);

        gz[gz_len - 8] ^= 0xff;
        expect_refused_bytes(gz, gz_len, NULL, 0, "CRC32 or length");
        gz[gz_len - 8] ^= 0xff;
        gz[gz_len - 4] ^= 0xff;
        expect_refused_bytes(gz, gz_len, NULL, 0, "CRC32 or length");
        gz[gz_len - 4] ^= 0xff;
        gz[gz_len / 2] ^= 0x55; /* the tar reader may find the garbage before the CRC32 does */
        expect_refused_bytes(gz, gz_len, NULL, 0, "");
        gz[gz_len / 2] ^= 0x55;
        gz[2] = 7; /* not deflate */
        expect_refused_bytes(gz, gz_len, NULL, 0, "gzip: ");
        gz[2] = 8;
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
        static const TestCase cases[] = {
                TEST_ENTRY(expected_diff_id_mismatch),
                TEST_ENTRY(expected_diff_id_match),
                TEST_ENTRY(refuses_dotdot),
                TEST_ENTRY(absolute_names_stay_inside),
                TEST_ENTRY(refuses_writes_through_symlinks),
                TEST_ENTRY(replaced_parent_resolved_again),
                TEST_ENTRY(replaced_parent_made_again),
                TEST_ENTRY(refuses_bad_hardlinks),
                TEST_ENTRY(refuses_bad_whiteouts),
                TEST_ENTRY(limits),
                TEST_ENTRY(refuses_other_formats),
                TEST_ENTRY(media_type_forced),
                TEST_ENTRY(gzip_damage_refused),
                TEST_ENTRY(gzip_members_concatenated),
                TEST_ENTRY(refuses_bad_fds),
                TEST_ENTRY(pipe_works),
                TEST_ENTRY(socket_works),
                TEST_ENTRY(progress)
        };

        return layer_test_run_all(base_dir, "chown, mknod, trusted.* xattrs", cases, ELEMENTSOF(cases));
}
