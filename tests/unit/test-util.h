/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A minimal harness: each test program runs its cases, prints one line per case and
 * exits 0 (all passed), 77 (skipped: the machine lacks something) or 1. */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "macro.h"

#define EXIT_TEST_SKIP 77

#define ASSERT_TRUE(expr)                                                                  \
        do {                                                                               \
                if (!(expr)) {                                                             \
                        fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__,         \
                                __LINE__, #expr);                                          \
                        abort();                                                           \
                }                                                                          \
        } while (0)

#define ASSERT_OK(expr)                                                                    \
        do {                                                                               \
                long _r = (long) (expr);                                                   \
                if (_r < 0) {                                                              \
                        fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__,      \
                                #expr, strerror((int) -_r));                               \
                        abort();                                                           \
                }                                                                          \
        } while (0)

/* expr must fail with -err (a positive errno constant). */
#define ASSERT_ERR(expr, err)                                                              \
        do {                                                                               \
                long _r = (long) (expr);                                                   \
                if (_r != -(long) (err)) {                                                 \
                        fprintf(stderr, "%s:%d: %s returned %ld (%s), expected -%s\n",     \
                                __FILE__, __LINE__, #expr, _r,                             \
                                _r < 0 ? strerror((int) -_r) : "success", #err);           \
                        abort();                                                           \
                }                                                                          \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                 \
        do {                                                                               \
                const char *_a = (a), *_b = (b);                                           \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                   \
                        fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,   \
                                _a ? _a : "(null)", _b ? _b : "(null)");                   \
                        abort();                                                           \
                }                                                                          \
        } while (0)

/* Waits for cond, checked every 100 ms for up to 60 s (a loaded machine is slow; a
 * condition that never comes fails the case); aborts when it never held. */
#define ASSERT_EVENTUALLY(cond)                                                            \
        do {                                                                               \
                for (unsigned _w = 0; _w < 600 && !(cond); _w++)                           \
                        usleep(100 * 1000);                                                \
                ASSERT_TRUE(cond);                                                         \
        } while (0)

/* A new directory /tmp/lamina-test-XXXXXX; the caller frees the name. */
static inline char *test_mkdtemp(void) {
        char *d = strdup("/tmp/lamina-test-XXXXXX");

        ASSERT_TRUE(d && mkdtemp(d));
        return d;
}

/* rm -rf of a test's scratch directory; --one-file-system: never through a mount a failed
 * case left behind. */
static inline void test_rm_rf(const char *path) {
        char cmd[PATH_MAX + 64];

        ASSERT_TRUE((size_t) snprintf(cmd, sizeof cmd, "rm -rf --one-file-system '%s'", path) < sizeof cmd);
        (void) !system(cmd);
}

/* fd/d/d/.../d, `depth` directories of `mode`, each file_every-th (0: none) holding a
 * 4 KiB file "f"; returns an fd of the deepest. For trees deeper than any fd table. */
static inline int test_mkdir_chain(int fd, size_t depth, mode_t mode, size_t file_every) {
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ASSERT_TRUE(fd >= 0);
        for (size_t i = 1; i <= depth; i++) {
                int sub;

                ASSERT_OK(mkdirat(fd, "d", mode) < 0 ? -errno : 0);
                sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                ASSERT_TRUE(sub >= 0);
                close(fd);
                fd = sub;
                if (file_every > 0 && i % file_every == 0) {
                        char block[4096] = { 'x' };
                        int f = openat(fd, "f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

                        ASSERT_TRUE(f >= 0 && write(f, block, sizeof block) == sizeof block);
                        ASSERT_OK(close(f) < 0 ? -errno : 0);
                }
        }
        return fd;
}

/* How many entries dir holds, those whose names start with "." left out. */
static inline size_t test_count_entries(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        ASSERT_TRUE(d);
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

typedef struct TestCase {
        const char *name;
        void (*func)(void);
} TestCase;

#define TEST(n) static void test_##n(void)
#define TEST_ENTRY(n) { #n, test_##n }

/* Runs every case in order; a failing case aborts the program (meson reports it). */
static inline int test_run_all(const TestCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                cases[i].func();
                printf("ok %zu - %s\n", i + 1, cases[i].name);
                fflush(stdout);
        }
        return 0;
}
#define TEST_MAIN(...)                                                                     \
        int main(void) {                                                                   \
                static const TestCase cases[] = { __VA_ARGS__ };                           \
                return test_run_all(cases, ELEMENTSOF(cases));                             \
        }
