/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* review4 finding (mended): the writer is confined by Landlock, which checks every file it
 * opens by walking from it up to the root of the rule, so a lookup at depth d costs d
 * steps. Two places of the writer looked a path up one component at a time, each from the
 * root of the staging tree, which cost an entry at depth d d lookups, d * d / 2 steps:
 * - a whiteout (overlay mode), whose ancestors were each looked at (below_non_dir());
 * - an entry whose parent was missing below existing directories, whose existing
 *   ancestors were each opened before the missing ones were made (create_dirs()).
 * A layer of a 30 KiB gzip (2000 whiteouts 2000 directories deep) kept the writer busy for
 * longer than ten minutes of CPU. Now each such entry costs a few lookups of its path, as
 * any entry does, whatever its depth; counted here as the openat2() calls of the Apply
 * (its parser, writer and committer), by strace, not timed. */
#include <archive.h>
#include <sys/wait.h>

#include "layer-fixture.h"

#define DEPTH 1000 /* a 2 KiB path */
#define N 100      /* deep whiteouts, and deep files in missing directories */

static const char *self_exe;

/* "d/d/.../d", DEPTH components. */
static char *chain(void) {
        char *p = malloc(2 * DEPTH);

        ASSERT_TRUE(p);
        for (size_t i = 0; i < DEPTH; i++) {
                p[2 * i] = 'd';
                p[2 * i + 1] = '/';
        }
        p[2 * DEPTH - 1] = 0;
        return p;
}

/* The layer: the chain and two directories at its end, then N whiteouts taking turns
 * between the two (no directory stays the writer's open one for the next) and N files, each
 * in a directory of its own that the layer lacks, below the chain. */
static int deep_layer(char *names[static 2 + 2 * N]) {
        _cleanup_free_ char *c = chain();
        TarItem items[3 + 2 * N] = {};
        size_t n = 0;
        int fd;

        items[n++] = (TarItem) { .name = c, .type = AE_IFDIR };
        names[0] = strdup_printf("%s/p", c);
        names[1] = strdup_printf("%s/q", c);
        items[n++] = (TarItem) { .name = names[0], .type = AE_IFDIR };
        items[n++] = (TarItem) { .name = names[1], .type = AE_IFDIR };
        for (size_t i = 0; i < N; i++) {
                names[2 + 2 * i] = strdup_printf("%s/%c/.wh.x%zu", c, i % 2 ? 'q' : 'p', i);
                names[3 + 2 * i] = strdup_printf("%s/n%zu/f", c, i);
                items[n++] = (TarItem) { .name = names[2 + 2 * i] };
                items[n++] = (TarItem) { .name = names[3 + 2 * i], .data = "f\n" };
        }
        for (size_t i = 0; i < 2 + 2 * N; i++)
                ASSERT_TRUE(names[i]);
        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, n);
        return fd;
}

/* The child that strace runs: applies the layer on fd to target, overlay whiteouts. */
static int apply_main(const char *fd_arg, const char *target) {
        LayerApplyOptions o = { .overlay_whiteouts = true };
        LayerApplyResult res;
        Error e = ERROR_NULL;
        int t = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

        ASSERT_TRUE(t >= 0);
        r = layer_apply(atoi(fd_arg), t, &o, &res, &e);
        if (r < 0)
                fprintf(stderr, "apply: %s\n", e.message);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The openat2() calls in strace's summary (-c) at path, -1 when it has none. */
static long openat2_calls(const char *path) {
        FILE *f = fopen(path, "re");
        char line[256];
        long calls = -1;

        ASSERT_TRUE(f);
        while (fgets(line, sizeof line, f)) {
                char name[64];
                long n;

                /* "% time  seconds  usecs/call  calls  [errors]  syscall" */
                if (sscanf(line, "%*f %*f %*d %ld %*[ 0-9]%63s", &n, name) == 2 && streq(name, "openat2"))
                        calls = n;
                else if (sscanf(line, "%*f %*f %*d %ld %63s", &n, name) == 2 && streq(name, "openat2"))
                        calls = n;
        }
        fclose(f);
        return calls;
}

TEST(deep_whiteouts_and_missing_parents_cost_a_few_lookups_each) {
        _cleanup_free_ char *out = strdup_printf("%s/strace.out", base_dir), *c = chain();
        char *names[2 + 2 * N], fd_arg[16], path[PATH_MAX];
        int fd, status;
        struct stat st;
        long calls;
        Fixture f;
        pid_t pid;

        fixture_init(&f);
        fd = deep_layer(names);
        snprintf(fd_arg, sizeof fd_arg, "%d", fd); /* a memfd without O_CLOEXEC: strace's child gets it */
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                /* LeakSanitizer (sanitizer builds) cannot run under ptrace. */
                const char *asan = getenv("ASAN_OPTIONS");
                _cleanup_free_ char *opts = strdup_printf("%s%sdetect_leaks=0", asan ?: "", asan ? ":" : "");

                if (!opts || setenv("ASAN_OPTIONS", opts, 1) < 0)
                        _exit(127);
                execlp("strace", "strace", "-f", "-qq", "-c", "-e", "trace=openat2", "-o", out, self_exe, "--apply",
                       fd_arg, f.target, (char *) NULL);
                _exit(127);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* Applied: the whiteouts (0/0 character devices) and the files are there. */
        snprintf(path, sizeof path, "%s/q/x%d", c, N - 1);
        st = lstat_at(f.target_fd, path);
        ASSERT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0);
        snprintf(path, sizeof path, "%s/n%d/f", c, N - 1);
        ASSERT_STREQ(read_file(f.target_fd, path), "f\n");

        /* Making the chain and committing it cost a few lookups per directory; each deep
         * entry a few more (before: DEPTH each, 2 * N * DEPTH in all). */
        calls = openat2_calls(out);
        fprintf(stderr, "openat2() calls: %ld (depth %d, %d deep whiteouts, %d deep files in missing directories)\n",
                calls, DEPTH, N, N);
        ASSERT_TRUE(calls > 0);
        ASSERT_TRUE(calls <= 6 * DEPTH + 12 * N);

        for (size_t i = 0; i < 2 + 2 * N; i++)
                free(names[i]);
        close(fd);
        unlink(out);
        fixture_done(&f);
}

int main(int argc, char *argv[]) {
        static const TestCase cases[] = {
                TEST_ENTRY(deep_whiteouts_and_missing_parents_cost_a_few_lookups_each),
        };
        static char exe[PATH_MAX];
        ssize_t n;

        if (argc == 4 && streq(argv[1], "--apply"))
                return apply_main(argv[2], argv[3]);
        if (system("strace -V >/dev/null 2>&1") != 0) {
                fprintf(stderr, "strace is not installed (tools/install-deps.sh installs it); it counts the lookups\n");
                return EXIT_TEST_SKIP;
        }
        n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        ASSERT_TRUE(n > 0);
        exe[n] = 0;
        self_exe = exe;
        return layer_test_run_all(base_dir, "chown, namespaces", cases, ELEMENTSOF(cases));
}
