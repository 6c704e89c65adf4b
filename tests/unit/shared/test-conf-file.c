/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conf-file: strict systemd-style files, drop-ins in name order overriding, errors naming
 * file and line. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf-file.h"
#include "strutil.h"
#include "test-util.h"

static char *dir;

static void write_file(const char *name, const char *content) {
        char *p = strdup_printf("%s/%s", dir, name);
        FILE *f;

        ASSERT_TRUE(p);
        f = fopen(p, "we");
        ASSERT_TRUE(f);
        fputs(content, f);
        ASSERT_TRUE(fclose(f) == 0);
        free(p);
}

/* dir/name, for calls that take an absolute path (one at a time). */
static const char *test_path_of(const char *name) {
        static char buf[4096];

        snprintf(buf, sizeof buf, "%s/%s", dir, name);
        return buf;
}

/* Collects "section/key=value;" for every item. */
static int collect(const char *section, const char *key, const char *value, void *userdata, Error *e) {
        char **out = userdata;
        char *n;

        if (streq(key, "Refused"))
                return error_setf(e, EINVAL, "Refused=%s is not allowed", value);
        n = strdup_printf("%s%s/%s=%s;", *out ?: "", section, key, value);
        ASSERT_TRUE(n);
        free(*out);
        *out = n;
        return 0;
}

static int parse(const char *name, char **out, Error *e) {
        char *p = strdup_printf("%s/%s", dir, name);
        int r;

        ASSERT_TRUE(p);
        *out = NULL;
        *e = ERROR_NULL;
        r = conf_parse_with_dropins(p, collect, out, e);
        free(p);
        return r;
}

TEST(items_sections_comments_and_blanks) {
        Error e;
        char *out;

        write_file("a.conf", "# comment\n; also\n\n[One]\n  Key = some value  \nOther=\n[Two]\nKey=x=y\n");
        ASSERT_OK(parse("a.conf", &out, &e));
        ASSERT_STREQ(out, "One/Key=some value;One/Other=;Two/Key=x=y;");
        free(out);
}

TEST(missing_file_and_dropin_dir_are_fine) {
        Error e;
        char *out;

        ASSERT_OK(parse("missing.conf", &out, &e));
        ASSERT_TRUE(!out);
}

TEST(dropins_follow_the_main_file_in_name_order) {
        char *d = strdup_printf("%s/main.conf.d", dir), *sub = strdup_printf("%s/main.conf.d/dir.conf", dir);
        Error e;
        char *out;

        ASSERT_TRUE(d && sub);
        ASSERT_OK(mkdir(d, 0755));
        ASSERT_OK(mkdir(sub, 0755)); /* not a file: skipped */
        write_file("main.conf", "[Q]\nK=main\n");
        write_file("main.conf.d/20-b.conf", "[Q]\nK=20\n");
        write_file("main.conf.d/10-a.conf", "[Q]\nK=10\n");
        write_file("main.conf.d/30-c.conf.disabled", "[Q]\nK=ignored\n");
        write_file("main.conf.d/.hidden.conf", "[Q]\nK=hidden\n");
        write_file("main.conf.d/other", "[Q]\nK=via-symlink\n");
        ASSERT_OK(symlinkat("other", -1, test_path_of("main.conf.d/15-link.conf")));
        ASSERT_OK(symlinkat("/dev/null", -1, test_path_of("main.conf.d/25-masked.conf")));
        ASSERT_OK(parse("main.conf", &out, &e));
        /* The callback sees them in order; the last one a consumer keeps wins. */
        ASSERT_STREQ(out, "Q/K=main;Q/K=10;Q/K=via-symlink;Q/K=20;");
        free(out);
        free(d);
        free(sub);
}

TEST(dropins_without_main_file) {
        char *d = strdup_printf("%s/only.conf.d", dir);
        Error e;
        char *out;

        ASSERT_TRUE(d);
        ASSERT_OK(mkdir(d, 0755));
        write_file("only.conf.d/x.conf", "[Q]\nK=x\n");
        ASSERT_OK(parse("only.conf", &out, &e));
        ASSERT_STREQ(out, "Q/K=x;");
        free(out);
        free(d);
}

static void expect_bad(const char *content, const char *message) {
        Error e;
        char *out;

        write_file("bad.conf", content);
        ASSERT_ERR(parse("bad.conf", &out, &e), EINVAL);
        if (!strstr(e.message, message))
                fprintf(stderr, "message: %s\nwanted: %s\n", e.message, message);
        ASSERT_TRUE(strstr(e.message, message));
        free(out);
}

TEST(bad_lines_name_file_and_line) {
        expect_bad("[Q]\nK=1\nno equals sign\n", "bad.conf:3: expected \"Key=Value\"");
        expect_bad("K=1\n", "bad.conf:1: K= comes before any [Section]");
        expect_bad("[Q\n", "bad.conf:1: a section header must end with ']'");
        expect_bad("[]\n", "bad.conf:1: invalid section name");
        expect_bad("[Q]\n=1\n", "bad.conf:2: invalid key name");
        expect_bad("[Q]\nbad key=1\n", "bad.conf:2: invalid key name");
        expect_bad("[Q]\n\n\nRefused=7\n", "bad.conf:4: Refused=7 is not allowed");
}

TEST(a_bad_dropin_is_named) {
        char *d = strdup_printf("%s/m2.conf.d", dir);
        Error e;
        char *out;

        ASSERT_TRUE(d);
        ASSERT_OK(mkdir(d, 0755));
        write_file("m2.conf", "[Q]\nK=1\n");
        write_file("m2.conf.d/50-x.conf", "[Q]\nK=2\ngarbage\n");
        ASSERT_ERR(parse("m2.conf", &out, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "m2.conf.d/50-x.conf:3:"));
        free(out);
        free(d);
}

TEST(long_lines_nul_bytes_and_big_files_refused) {
        char *big = malloc(CONF_FILE_MAX + 2), *line = malloc(CONF_LINE_MAX + 8);
        char *p = strdup_printf("%s/nul.conf", dir);
        Error e;
        char *out;
        int fd;

        ASSERT_TRUE(big && line && p);
        memcpy(line, "[Q]\nK=", 6);
        memset(line + 6, 'x', CONF_LINE_MAX);
        line[CONF_LINE_MAX + 6] = 0;
        expect_bad(line, "bad.conf:2: the line is longer than");

        memset(big, '#', CONF_FILE_MAX + 1);
        big[CONF_FILE_MAX + 1] = 0;
        expect_bad(big, "is larger than");

        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0 && write(fd, "[Q]\nK=a\0b\n", 10) == 10);
        close(fd);
        ASSERT_ERR(parse("nul.conf", &out, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "NUL"));
        free(big);
        free(line);
        free(p);
}

TEST(sizes) {
        uint64_t v;

        ASSERT_OK(conf_parse_size("0", &v));
        ASSERT_TRUE(v == 0);
        ASSERT_OK(conf_parse_size("1536", &v));
        ASSERT_TRUE(v == 1536);
        ASSERT_OK(conf_parse_size("4K", &v));
        ASSERT_TRUE(v == 4096);
        ASSERT_OK(conf_parse_size("3G", &v));
        ASSERT_TRUE(v == UINT64_C(3) << 30);
        ASSERT_OK(conf_parse_size("15E", &v));
        ASSERT_TRUE(v == UINT64_C(15) << 60);
        ASSERT_OK(conf_parse_size("infinity", &v));
        ASSERT_TRUE(v == UINT64_MAX);
        ASSERT_ERR(conf_parse_size("16E", &v), EINVAL);
        ASSERT_ERR(conf_parse_size("", &v), EINVAL);
        ASSERT_ERR(conf_parse_size("-1", &v), EINVAL);
        ASSERT_ERR(conf_parse_size(" 1", &v), EINVAL);
        ASSERT_ERR(conf_parse_size("1 K", &v), EINVAL);
        ASSERT_ERR(conf_parse_size("1KB", &v), EINVAL);
        ASSERT_ERR(conf_parse_size("1x", &v), EINVAL);
        ASSERT_ERR(conf_parse_size("99999999999999999999", &v), EINVAL);
}

TEST(setup) {
        dir = strdup("/tmp/lamina-conf-XXXXXX");
        ASSERT_TRUE(dir && mkdtemp(dir));
}

TEST(teardown) {
        test_rm_rf(dir);
        free(dir);
}

TEST_MAIN(TEST_ENTRY(setup), TEST_ENTRY(items_sections_comments_and_blanks),
          TEST_ENTRY(missing_file_and_dropin_dir_are_fine), TEST_ENTRY(dropins_follow_the_main_file_in_name_order),
          TEST_ENTRY(dropins_without_main_file), TEST_ENTRY(bad_lines_name_file_and_line),
          TEST_ENTRY(a_bad_dropin_is_named), TEST_ENTRY(long_lines_nul_bytes_and_big_files_refused), TEST_ENTRY(sizes),
          TEST_ENTRY(teardown))
