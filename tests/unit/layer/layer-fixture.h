/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fixture of the layer_apply() tests: a target and a lower directory below one temp
 * dir, file helpers, and the check that a refused layer leaves the target as it was. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "layer-test-util.h"
#include "layer.h"
#include "strutil.h"
#include "tree-util.h"

static char base_dir[] = "/tmp/lamina-test-layer-XXXXXX";

typedef struct Fixture {
        char target[256], lower[256];
        int target_fd, lower_fd;
} Fixture;

static inline void fixture_init(Fixture *f) {
        snprintf(f->target, sizeof f->target, "%s/target", base_dir);
        snprintf(f->lower, sizeof f->lower, "%s/lower", base_dir);
        ASSERT_OK(mkdir(f->target, 0755));
        ASSERT_OK(mkdir(f->lower, 0755));
        f->target_fd = open(f->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        f->lower_fd = open(f->lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(f->target_fd >= 0 && f->lower_fd >= 0);
}

static inline void fixture_done(Fixture *f) {
        int dir = open(base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        ASSERT_TRUE(dir >= 0);
        close(f->target_fd);
        close(f->lower_fd);
        ASSERT_OK(rm_rf_at(dir, "target", NULL));
        ASSERT_OK(rm_rf_at(dir, "lower", NULL));
        close(dir);
}

static inline int write_file(int dir, const char *name, const char *content) {
        int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(write(fd, content, strlen(content)) == (ssize_t) strlen(content));
        close(fd);
        return 0;
}

static inline char *read_file(int dir, const char *name) {
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

static inline struct stat lstat_at(int dir, const char *name) {
        struct stat st;

        ASSERT_OK(fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW));
        return st;
}

static inline bool exists_at(int dir, const char *name) {
        struct stat st;
        return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static inline ssize_t xattr_at(int dir, const char *name, const char *attr, char *buf, size_t size) {
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

static inline void check_tree(Fixture *f) {
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

static inline int apply_opts(int fd, Fixture *f, const LayerApplyOptions *o, LayerApplyResult *res, Error *e) {
        LayerApplyResult dummy;
        return layer_apply(fd, f->target_fd, o, res ?: &dummy, e);
}

/* apply_opts(), which must succeed (its message shown when not). */
static inline void apply_ok(int fd, Fixture *f, const LayerApplyOptions *o, LayerApplyResult *res) {
        Error e = ERROR_NULL;

        if (apply_opts(fd, f, o, res, &e) < 0)
                fprintf(stderr, "apply: %s\n", e.message);
        ASSERT_TRUE(e.code == 0);
}

/* A host directory that symlinks in layers point at: the layer must never write there.
 * (Not /etc: other tests running at the same time add users.) */
static inline char *decoy_new(void) {
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

static inline void decoy_free(char *d) {
        test_rm_rf(d);
        free(d);
}

/* Prepares a target with some content and returns its listing. */
static inline char *target_with_content(Fixture *f) {
        fixture_init(f);
        ASSERT_OK(mkdirat(f->target_fd, "etc", 0755));
        write_file(f->target_fd, "etc/keep", "original");
        write_file(f->target_fd, "x", "original x");
        return tree_listing(f->target);
}

/* Applies items and expects a refusal of kind code whose message names `names`; the
 * target must be unchanged. */
static inline void expect_refused_fd(int fd, const LayerApplyOptions *o, int code, const char *names) {
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

static inline void expect_refused(const TarItem *items, size_t n, const LayerApplyOptions *o, int code, const char *names) {
        int fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, n);
        expect_refused_fd(fd, o, code, names);
        close(fd);
}

#define REFUSED(o, code, names, ...)                                                           \
        do {                                                                                   \
                const TarItem _items[] = { __VA_ARGS__ };                                      \
                expect_refused(_items, ELEMENTSOF(_items), (o), (code), (names));              \
        } while (0)
