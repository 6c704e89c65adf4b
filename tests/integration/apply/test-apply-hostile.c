/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A hostile-layer corpus against Apply over the bus (reference mounts-and-layers.md §3.4
 * and §8.2): traversal, absolute names, writes, links, whiteouts and opaque markers
 * through symlinks (the layer's own, and ones planted by a lower layer and by an earlier
 * Apply to the same snapshot, all pointing into a sentinel tree outside the state
 * directory), hardlink tricks, reserved whiteout names, devices, xattrs, long names,
 * pax/GNU header tricks and damaged streams.
 *
 *   test-apply-hostile SNAPSHOTTER MAKE_CORPUS_PY
 *   test-apply-hostile --bomb SNAPSHOTTER MAKE_CORPUS_PY
 *   test-apply-hostile --scale SNAPSHOTTER MAKE_CORPUS_PY
 *
 * For each archive (make-corpus.py describes them and what must happen): a fresh active
 * snapshot on a committed base, pre-populated by a good layer, then the hostile Apply.
 * It must either fail with the listed error (and leave the snapshot exactly as before)
 * or succeed with the listed content; either way nothing outside the snapshot may change:
 * the sentinel tree, the daemon's state directory (other snapshots, journal) and its
 * runtime directory are compared entry by entry, ctime included.
 *
 * --bomb: a gzip layer of one entry more than laminad's entry limit (--apply-max-entries
 * in LAMINA_LAMINAD_ARGS, else the default 2^20: 512 MiB uncompressed, ~1 MiB on the
 * wire) must stop at the limit with QuotaExceeded, leaving nothing behind.
 *
 * --scale: 2^18 opaque markers (1 MiB of gzip) must apply in linear time: a few seconds,
 * not the minutes a per-entry cost growing with the entries read so far would take. */

#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "apply-test.h"
#include "strutil.h"
#include "test-util.h"

#define STAGING_PREFIX ".lamina-apply-"
#define CORPUS_STAGING_NAME STAGING_PREFIX "0000000000000000" /* staging-prefix-entry makes it */
#define DEFAULT_MAX_ENTRIES (1u << 20)
#define SCALE_ENTRIES (1u << 18)
#define SCALE_BUDGET_SEC 15.0 /* ~1 s native, ~4 s overlayfs on two busy cores; quadratic: minutes */

static BusTest bus;
static const char *snapshotter;
static const char *corpus_script;
static char *T, *sentinel, *corpus, *state_dir, *run_dir;
static unsigned failures;

_printf_(2, 3) static void fail(const char *name, const char *fmt, ...) {
        va_list ap;

        fprintf(stdout, "not ok - %s: ", name);
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
        failures++;
}

static char *path_in(const char *dir, const char *name) {
        char *p = strdup_printf("%s/%s", dir, name);

        ASSERT_TRUE(p);
        return p;
}

static void write_file(const char *path, const char *content, mode_t mode) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

        ASSERT_OK(fd < 0 ? -errno : 0);
        ASSERT_TRUE(write(fd, content, strlen(content)) == (ssize_t) strlen(content));
}

/* Files, directories, symlinks and a hardlink that any escape would touch. */
static void make_sentinel(void) {
        _cleanup_free_ char *dir = NULL, *sub = NULL;

        sentinel = path_in(T, "sentinel");
        dir = path_in(sentinel, "dir");
        sub = path_in(dir, "sub");
        ASSERT_OK(RET_NERRNO(mkdir(sentinel, 0755)));
        ASSERT_OK(RET_NERRNO(mkdir(dir, 0700)));
        ASSERT_OK(RET_NERRNO(mkdir(sub, 0755)));
        {
                _cleanup_free_ char *f = path_in(sentinel, "file"), *df = path_in(dir, "file"),
                                    *deep = path_in(sub, "deep"), *pw = path_in(sentinel, "passwd"),
                                    *lnk = path_in(sentinel, "link"), *dlink = path_in(sentinel, "dirlink"),
                                    *hard = path_in(sentinel, "hard");
                write_file(f, "sentinel\n", 0644);
                write_file(df, "dir file\n", 0600);
                write_file(deep, "deep\n", 0644);
                write_file(pw, "root:x:0:0::/root:/bin/sh\n", 0644);
                ASSERT_OK(RET_NERRNO(symlink("file", lnk)));
                ASSERT_OK(RET_NERRNO(symlink(dir, dlink)));
                ASSERT_OK(RET_NERRNO(link(f, hard)));
        }
}

/* Everything outside the snapshot under test that Apply might reach. */
static char *outside_manifest(const char *snapshot_dir) {
        _cleanup_free_ char *s = NULL, *st = NULL, *rn = NULL;
        const char *rel = snapshot_dir + strlen(state_dir) + 1;
        const char *skip[] = { rel, NULL };
        /* An Apply that succeeds swaps the snapshot's data in snapshots/ (native, btrfs). */
        static const char *const names_only[] = {
                "overlayfs/data.mdb", "overlayfs/lock.mdb", "overlayfs/applying",
                "native/data.mdb", "native/lock.mdb", "native/applying", "native/snapshots",
                "btrfs/data.mdb", "btrfs/lock.mdb", "btrfs/applying", "btrfs/snapshots", NULL,
        };
        const ManifestOptions state_opts = { .skip = skip, .names_only = names_only };
        char *all;

        ASSERT_TRUE(strncmp(snapshot_dir, state_dir, strlen(state_dir)) == 0);
        ASSERT_OK(manifest_take(sentinel, NULL, &s));
        ASSERT_OK(manifest_take(state_dir, &state_opts, &st));
        ASSERT_OK(manifest_take(run_dir, NULL, &rn));
        all = strdup_printf("[sentinel]\n%s\n[state]\n%s\n[run]\n%s", s, st, rn);
        ASSERT_TRUE(all);
        return all;
}

static char *snapshot_manifest(const char *data_dir) {
        const ManifestOptions o = { .ignore_root_ctime = true };
        char *m;

        ASSERT_OK(manifest_take(data_dir, &o, &m));
        return m;
}

/* "\n" in corpus.list stands for a newline. */
static void unescape(char *s) {
        char *w = s;

        for (const char *r = s; *r; r++) {
                if (r[0] == '\\' && r[1] == 'n') {
                        *w++ = '\n';
                        r++;
                } else
                        *w++ = *r;
        }
        *w = 0;
}

/* fstatat of path below data_fd, never following a symlink on the way. */
static int stat_beneath(int data_fd, const char *path, struct stat *st, int *ret_parent, const char **ret_base) {
        _cleanup_free_ char *dir = strdup(path);
        const char *base = strrchr(path, '/');
        int parent;

        ASSERT_TRUE(dir);
        if (base) {
                dir[base - path] = 0;
                base++;
                parent = at_open_beneath(data_fd, dir, O_PATH | O_DIRECTORY);
        } else {
                base = path;
                parent = fcntl(data_fd, F_DUPFD_CLOEXEC, 3);
        }
        if (parent < 0)
                return parent;
        if (fstatat(parent, base, st, AT_SYMLINK_NOFOLLOW) < 0) {
                int r = -errno;
                close(parent);
                return r;
        }
        *ret_parent = parent;
        *ret_base = base;
        return 0;
}

static bool has_content(int parent, const char *base, const char *want) {
        _cleanup_close_ int fd = openat(parent, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        char buf[4096];
        ssize_t n;

        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof buf - 1);
        if (n < 0)
                return false;
        buf[n] = 0;
        return streq(buf, want);
}

static bool has_xattr(int parent, const char *base, const char *name) {
        _cleanup_close_ int fd = openat(parent, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_free_ char *proc = NULL;

        if (fd < 0)
                return false;
        proc = strdup_printf("/proc/self/fd/%d", fd);
        ASSERT_TRUE(proc);
        return getxattr(proc, name, NULL, 0) >= 0 || errno != ENODATA;
}

/* One "PATH|KIND|ARG" check; NULL if it holds, else what is wrong. */
static const char *check_one(int data_fd, const char *path, const char *kind, const char *arg) {
        bool overlay = streq(snapshotter, "overlayfs");
        _cleanup_close_ int parent = -EBADF;
        const char *base = NULL;
        struct stat st;
        int r;

        r = stat_beneath(data_fd, path, &st, &parent, &base);
        if (streq(kind, "absent") || (streq(kind, "whiteout") && !overlay))
                return r == -ENOENT ? NULL : "exists";
        if (r < 0)
                return "missing (or a symlink on the way)";
        if (streq(kind, "file"))
                return S_ISREG(st.st_mode) && has_content(parent, base, arg) ? NULL : "not a file with that content";
        if (streq(kind, "dir"))
                return S_ISDIR(st.st_mode) ? NULL : "not a directory";
        if (streq(kind, "fifo"))
                return S_ISFIFO(st.st_mode) ? NULL : "not a FIFO";
        if (streq(kind, "chr"))
                return S_ISCHR(st.st_mode) ? NULL : "not a char device";
        if (streq(kind, "blk"))
                return S_ISBLK(st.st_mode) ? NULL : "not a block device";
        if (streq(kind, "opaque")) {
                if (!S_ISDIR(st.st_mode))
                        return "not a directory";
                return !overlay || has_xattr(parent, base, "trusted.overlay.opaque") ? NULL : "not marked opaque";
        }
        if (streq(kind, "whiteout"))
                return S_ISCHR(st.st_mode) && st.st_rdev == 0 ? NULL : "not an overlay whiteout (0/0 char device)";
        if (streq(kind, "mode"))
                return (st.st_mode & 07777) == (mode_t) strtoul(arg, NULL, 8) ? NULL : "wrong mode";
        if (streq(kind, "noxattr"))
                return has_xattr(parent, base, arg) ? "has the xattr" : NULL;
        if (streq(kind, "symlink")) {
                char target[PATH_MAX];
                ssize_t n = S_ISLNK(st.st_mode) ? readlinkat(parent, base, target, sizeof target - 1) : -1;
                if (n < 0)
                        return "not a symlink";
                target[n] = 0;
                return streq(target, arg) ? NULL : "symlink with another target";
        }
        return "unknown check kind";
}

static void run_checks(const char *name, const char *data_dir, char *checks) {
        _cleanup_close_ int data_fd = open(data_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        char *save = NULL;

        ASSERT_OK(data_fd < 0 ? -errno : 0);
        if (streq(checks, "-"))
                return;
        for (char *c = strtok_r(checks, ";", &save); c; c = strtok_r(NULL, ";", &save)) {
                char *path = c, *kind = strchr(c, '|'), *arg;
                const char *why;

                ASSERT_TRUE(kind);
                *kind++ = 0;
                arg = strchr(kind, '|');
                ASSERT_TRUE(arg);
                *arg++ = 0;
                unescape(arg);
                why = check_one(data_fd, path, kind, arg);
                if (why)
                        fail(name, "applied, but %.80s%s (%s %s): %s", path, strlen(path) > 80 ? "…" : "", kind, arg, why);
        }
}

static void check_no_staging_left(const char *name, const char *data_dir) {
        _cleanup_strv_free_ char **left = NULL;

        ASSERT_OK(at_list_prefixed(data_dir, STAGING_PREFIX, &left));
        for (char **l = left; *l; l++)
                if (!streq(*l, CORPUS_STAGING_NAME))
                        fail(name, "a staging directory was left in the snapshot: %s", *l);
}

/* verdict: "refuse:ERROR:TEXT", "contain" or "any". */
static void check_verdict(const char *name, const char *verdict, int r) {
        _cleanup_free_ char *v = strdup(verdict);
        char *error, *text;

        ASSERT_TRUE(v);
        if (strncmp(v, "refuse:", strlen("refuse:")) != 0) {
                if (r < 0 && streq(v, "contain"))
                        fail(name, "refused, expected to apply: %s", bt_error_string(&bus));
                return;
        }
        if (r >= 0) {
                fail(name, "applied, expected a refusal");
                return;
        }
        error = v + strlen("refuse:");
        text = strchr(error, ':');
        ASSERT_TRUE(text);
        *text++ = 0;
        if (!streq(error, "any") && !bt_error_is(&bus, error))
                fail(name, "expected %s, got %s", error, bt_error_string(&bus));
        if (!strstr(bus.error.message ?: "", text))
                fail(name, "the error does not say \"%s\": %s", text, bt_error_string(&bus));
}

typedef struct Case {
        char *name, *verdict, *checks, *what;
} Case;

/* A fresh active snapshot on base with prepop.tar applied; its data dir and the dir to
 * leave out of the outside manifest. */
static void prepare_target(const char *key, char **ret_data, char **ret_snapshot_dir) {
        _cleanup_free_ char *prepop = path_in(corpus, "prepop.tar");
        char *data = at_prepare(&bus, key, "base", prepop);

        *ret_snapshot_dir = streq(snapshotter, "overlayfs") ? strdup(dirname(strdupa(data))) : strdup(data);
        ASSERT_TRUE(*ret_snapshot_dir);
        *ret_data = data;
}

static void run_case(Case *c) {
        _cleanup_free_ char *key = strdup_printf("h-%s", c->name), *data = NULL, *snapdir = NULL,
                            *layer = path_in(corpus, c->name), *snap_before = NULL, *snap_after = NULL,
                            *out_before = NULL, *out_after = NULL, *outcome = NULL;
        unsigned failures_before = failures;
        int r;

        ASSERT_TRUE(key);
        prepare_target(key, &data, &snapdir);
        snap_before = snapshot_manifest(data);
        out_before = outside_manifest(snapdir);

        r = at_apply_file(&bus, key, layer, NULL);
        outcome = strdup(r < 0 ? bt_error_string(&bus) : "applied");
        ASSERT_TRUE(outcome);
        check_verdict(c->name, c->verdict, r);

        out_after = outside_manifest(snapdir);
        if (manifest_compare(c->name, out_before, out_after) < 0)
                fail(c->name, "something OUTSIDE the snapshot changed (see above)");
        if (r < 0) {
                snap_after = snapshot_manifest(data);
                if (manifest_compare(c->name, snap_before, snap_after) < 0)
                        fail(c->name, "the refused Apply changed the snapshot (see above)");
        } else
                run_checks(c->name, data, c->checks);
        check_no_staging_left(c->name, data);
        BT_ASSERT_OK(&bus, bt_remove(&bus, key));
        /* Remove frees the data in the background; Cleanup waits for that, so the next
         * case's manifest of everything outside its snapshot does not see it vanish. */
        BT_ASSERT_OK(&bus, bt_cleanup(&bus, NULL));

        if (failures == failures_before)
                printf("ok - %s: %s: %s\n", c->name, c->what, outcome);
        fflush(stdout);
}

static void make_corpus(void) {
        corpus = path_in(T, "corpus");
        ASSERT_OK(RET_NERRNO(mkdir(corpus, 0700)));
        ASSERT_OK(at_run(STRV_MAKE("python3", (char *) corpus_script, corpus, sentinel)));
}

static void make_base(void) {
        _cleanup_free_ char *base = path_in(corpus, "base.tar");

        BT_ASSERT_OK(&bus, bt_prepare(&bus, "base-work", "", NULL, NULL));
        BT_ASSERT_OK(&bus, at_apply_file(&bus, "base-work", base, NULL));
        BT_ASSERT_OK(&bus, bt_commit(&bus, "base", "base-work", NULL));
}

static void run_corpus(void) {
        _cleanup_free_ char *list = path_in(corpus, "corpus.list");
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        unsigned n = 0;
        FILE *f = fopen(list, "re");

        ASSERT_TRUE(f);
        while (getline(&line, &size, f) > 0) {
                Case c = {};
                char *save = NULL;

                line[strcspn(line, "\n")] = 0;
                c.name = strtok_r(line, "\t", &save);
                c.verdict = strtok_r(NULL, "\t", &save);
                c.checks = strtok_r(NULL, "\t", &save);
                c.what = strtok_r(NULL, "\t", &save);
                ASSERT_TRUE(c.name && c.verdict && c.checks && c.what);
                run_case(&c);
                n++;
        }
        fclose(f);
        ASSERT_TRUE(n >= 25);
        printf("# %u archives, %u failed checks\n", n, failures);
}

static double seconds_since(const struct timespec *t0) {
        struct timespec t1;

        clock_gettime(CLOCK_MONOTONIC, &t1);
        return (double) (t1.tv_sec - t0->tv_sec) + (double) (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static char *generate(const char *mode, unsigned entries, const char *file) {
        _cleanup_free_ char *count = strdup_printf("%u", entries);

        ASSERT_TRUE(count);
        ASSERT_OK(at_run(STRV_MAKE("python3", (char *) corpus_script, (char *) mode, corpus, count)));
        return path_in(corpus, file);
}

/* The entry limit laminad runs with. */
static unsigned entry_limit(void) {
        const char *args = getenv("LAMINA_LAMINAD_ARGS");
        const char *p = args ? strstr(args, "--apply-max-entries") : NULL;

        if (!p)
                return DEFAULT_MAX_ENTRIES;
        p += strlen("--apply-max-entries");
        p += strspn(p, " =");
        return (unsigned) strtoul(p, NULL, 10);
}

/* The entry limit: QuotaExceeded, snapshot and outside untouched. */
static void run_bomb(void) {
        _cleanup_free_ char *data = NULL, *snapdir = NULL, *snap_before = NULL, *snap_after = NULL,
                            *out_before = NULL, *out_after = NULL, *bomb = NULL, *verdict = NULL;
        unsigned limit = entry_limit();
        uint64_t rss, rss_after;
        struct timespec t0;
        pid_t laminad;
        int r;

        ASSERT_TRUE(limit > 0);
        verdict = strdup_printf("refuse:QuotaExceeded:more than %u entries", limit);
        ASSERT_TRUE(verdict);
        bomb = generate("--bomb", limit + 1, "bomb.tar.gz");
        prepare_target("bomb", &data, &snapdir);
        snap_before = snapshot_manifest(data);
        out_before = outside_manifest(snapdir);

        ASSERT_OK(at_laminad_pid(&bus, &laminad));
        rss = at_rss_settled_kib(laminad, 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = at_apply_file(&bus, "bomb", bomb, NULL);
        printf("# bomb of %u entries: %s after %.1f s\n", limit + 1, r < 0 ? bt_error_string(&bus) : "applied",
               seconds_since(&t0));
        check_verdict("bomb", verdict, r);
        /* The daemon never holds the entries: its RSS stays within 1 MiB. */
        rss_after = at_rss_settled_kib(laminad, rss + 1024);
        printf("# laminad RSS %" PRIu64 " KiB before, %" PRIu64 " KiB after\n", rss, rss_after);
        if (rss_after > rss + 1024)
                fail("bomb", "laminad's RSS grew by %" PRIu64 " KiB", rss_after - rss);
        out_after = outside_manifest(snapdir);
        if (manifest_compare("bomb", out_before, out_after) < 0)
                fail("bomb", "something outside the snapshot changed");
        snap_after = snapshot_manifest(data);
        if (manifest_compare("bomb", snap_before, snap_after) < 0)
                fail("bomb", "the refused Apply changed the snapshot");
        check_no_staging_left("bomb", data);
        BT_ASSERT_OK(&bus, bt_remove(&bus, "bomb"));
}

/* Whiteouts and opaque markers are collected in hashed sets: constant cost each. */
static void run_scale(void) {
        _cleanup_free_ char *data = NULL, *snapdir = NULL, *layer = NULL;
        struct timespec t0;
        double s;

        layer = generate("--opaques", SCALE_ENTRIES, "opaques.tar.gz");
        prepare_target("scale", &data, &snapdir);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        BT_ASSERT_OK(&bus, at_apply_file(&bus, "scale", layer, NULL));
        s = seconds_since(&t0);
        printf("# %u opaque markers applied in %.1f s\n", SCALE_ENTRIES, s);
        if (s > SCALE_BUDGET_SEC)
                fail("scale", "%u entries took %.1f s, over %.0f s: the cost per entry grows with the layer",
                     SCALE_ENTRIES, s, SCALE_BUDGET_SEC);
        BT_ASSERT_OK(&bus, bt_remove(&bus, "scale"));
}

int main(int argc, char **argv) {
        const char *mode = argc > 1 && argv[1][0] == '-' ? argv[1] : "";
        int skip = !isempty(mode);

        if (argc != 3 + skip || !(isempty(mode) || streq(mode, "--bomb") || streq(mode, "--scale"))) {
                fprintf(stderr, "usage: %s [--bomb|--scale] SNAPSHOTTER MAKE_CORPUS_PY\n", argv[0]);
                return 2;
        }
        snapshotter = argv[1 + skip];
        corpus_script = argv[2 + skip];
        T = getenv("LAMINA_TEST_DIR");
        ASSERT_TRUE(T);
        state_dir = path_in(T, "state");
        run_dir = path_in(T, "run");

        make_sentinel();
        make_corpus();
        ASSERT_OK(bt_open(&bus, snapshotter));
        make_base();
        if (streq(mode, "--bomb"))
                run_bomb();
        else if (streq(mode, "--scale"))
                run_scale();
        else
                run_corpus();
        BT_ASSERT_OK(&bus, bt_remove(&bus, "base"));
        bt_close(&bus);

        free(sentinel);
        free(corpus);
        free(state_dir);
        free(run_dir);
        return failures > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
