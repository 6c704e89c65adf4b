/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* laminad SIGKILLed in the middle of an Apply: the layer arrives through a pipe, half of
 * it is written (a large file, so the writer has a partial file in its hidden staging
 * directory, inside the clone of the data that Apply builds in state/<snapshotter>/
 * applying/), then the daemon is killed. The next call activates it again: the snapshot
 * is still active, its data exactly what it was before the Apply (not even its times
 * changed: nothing was written there), the sandboxed writer died with the daemon, the
 * clone is removed in the background, Apply works again on the same snapshot, and after
 * Cleanup the snapshots/ directory holds exactly the live snapshots.
 * (test-apply-crash.c kills at every step of a big Apply.)
 *
 * That other calls are answered promptly while an Apply runs (Stat in well under a
 * second) is tested by tests/integration/bus/test-jobs.c (16 Applies blocked on pipes).
 *
 *   test-apply-kill SNAPSHOTTER
 *
 * Run under tests/integration/lib/run-test.sh. */

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply-test.h"
#include "strutil.h"
#include "test-util.h"

#define STAGING_PREFIX ".lamina-apply-"
#define BIG_SIZE (16u << 20)
#define HALF (BIG_SIZE / 2)

static BusTest bus;
static const char *snapshotter;
static const char *T;

/* A small complete layer in a file: name with content. */
static char *small_layer(const char *file, const char *name, const char *content) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", T, file);
        _cleanup_close_ int fd = -EBADF;
        char h[512], pad[1024 + 512] = {};
        size_t n = strlen(content);

        ASSERT_TRUE(path);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        at_ustar_header(h, name, '0', 0644, n, 1700000000);
        at_write_all(fd, h, sizeof h);
        at_write_all(fd, content, n);
        at_write_all(fd, pad, (512 - n % 512) % 512 + 1024);
        return TAKE_PTR(path);
}

/* The snapshot ID in a data dir path: ".../snapshots/<id>[/fs]". */
static char *snapshot_id(const char *data) {
        const char *p = strstr(data, "/snapshots/");

        ASSERT_TRUE(p);
        p += strlen("/snapshots/");
        return strndup(p, strcspn(p, "/"));
}

/* The applying/ directory of this snapshotter. */
static char *applying_dir(void) {
        return strdup_printf("%s/state/%s/applying", T, snapshotter);
}

/* The one entry of dir, whose name starts with the snapshot's ID; NULL while there is none. */
static char *find_named_after(const char *dir, const char *id) {
        _cleanup_free_ char *prefix = strdup_printf("%s-", id);
        _cleanup_strv_free_ char **l = NULL;

        ASSERT_TRUE(prefix);
        if (at_list_prefixed(dir, "", &l) < 0 || strv_length(l) != 1)
                return NULL;
        if (strncmp(l[0], prefix, strlen(prefix)) != 0) {
                fprintf(stderr, "%s/%s is not named after snapshot %s\n", dir, l[0], id);
                abort();
        }
        return strdup_printf("%s/%s", dir, l[0]);
}

/* The staging directory the running Apply writes into: inside the one clone in its
 * placement directory in applying/, both named after the snapshot's ID (not the layer's
 * own entry). */
static char *find_staging(const char *data) {
        _cleanup_free_ char *dir = applying_dir(), *id = snapshot_id(data), *place = NULL, *clone = NULL;
        _cleanup_strv_free_ char **l = NULL;

        ASSERT_TRUE(dir && id);
        place = find_named_after(dir, id);
        clone = place ? find_named_after(place, id) : NULL;
        if (!clone)
                return NULL;
        if (at_list_prefixed(clone, STAGING_PREFIX, &l) < 0)
                return NULL;
        for (char **i = l; *i; i++)
                if (!streq(*i, STAGING_PREFIX "keep"))
                        return strdup_printf("%s/%s", clone, *i);
        return NULL;
}

static off_t partial_size(const char *staging) {
        _cleanup_free_ char *p = strdup_printf("%s/big", staging);
        struct stat st;

        return p && lstat(p, &st) == 0 ? st.st_size : -1;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* state/<snapshotter>/snapshots holds exactly the live IDs (no orphan). */
static void check_snapshot_dirs(char **live) {
        _cleanup_free_ char *dir = strdup_printf("%s/state/%s/snapshots", T, snapshotter), *found = NULL,
                            *want = NULL;
        _cleanup_strv_free_ char **entries = NULL;

        ASSERT_TRUE(dir);
        ASSERT_OK(at_list_prefixed(dir, "", &entries));
        qsort(entries, strv_length(entries), sizeof(char *), name_cmp);
        qsort(live, strv_length(live), sizeof(char *), name_cmp);
        found = strv_join(entries, " ");
        want = strv_join(live, " ");
        ASSERT_TRUE(found && want);
        if (!streq(found, want)) {
                fprintf(stderr, "%s holds \"%s\", the live snapshots are \"%s\"\n", dir, found, want);
                abort();
        }
}

/* Recovery removes the staging directory the journal names, not every top-level name
 * starting with ".lamina-apply-": the layer's own file stays. */
static void check_kept(const char *data) {
        _cleanup_free_ char *p = strdup_printf("%s/%s", data, STAGING_PREFIX "keep");
        char buf[64] = "";
        FILE *f;

        ASSERT_TRUE(p);
        f = fopen(p, "re");
        if (f) {
                (void) !fgets(buf, sizeof buf, f);
                fclose(f);
        }
        if (!streq(buf, "layer content\n")) {
                fprintf(stderr, "recovery removed the layer's own file %s\n", p);
                abort();
        }
}

/* Starts Apply(key) from a pipe and writes half of its layer: a header promising BIG_SIZE
 * bytes of "big", then HALF of them (buf, HALF bytes long, filled with 'x'). The pipe's
 * write end, for the rest. */
static int apply_first_half(const char *key, char *buf, AtReply *reply) {
        char h[512];
        int p[2];

        ASSERT_OK(RET_NERRNO(pipe2(p, O_CLOEXEC)));
        ASSERT_OK(at_apply_async(&bus, key, p[0], reply));
        close(p[0]);
        at_ustar_header(h, "big", '0', 0644, BIG_SIZE, 1700000000);
        at_write_all(p[1], h, sizeof h);
        memset(buf, 'x', HALF);
        at_write_all(p[1], buf, HALF);
        return p[1];
}

TEST(kill_during_apply) {
        _cleanup_free_ char *keep = small_layer("keep.tar", STAGING_PREFIX "keep", "layer content\n");
        _cleanup_free_ char *good = small_layer("good.tar", "after", "after the crash\n");
        _cleanup_free_ char *data = NULL, *other = NULL, *staging = NULL, *before = NULL, *after = NULL;
        _cleanup_free_ char *other_before = NULL, *other_after = NULL, *id = NULL, *other_id = NULL;
        /* The layer's own ".lamina-apply-keep" is checked last, separately. */
        const ManifestOptions opts = { .skip = (const char *const[]) { STAGING_PREFIX "keep", NULL } };
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_free_ char *buf = calloc(1, HALF);
        AtReply reply = {};
        pid_t pid, children[16];
        size_t n_children;
        off_t size = -1;
        int fd;

        ASSERT_TRUE(buf);
        /* The victim holds an entry named like a staging dir: recovery must keep it. */
        data = at_prepare(&bus, "victim", "", keep);
        other = at_prepare(&bus, "bystander", "", good);
        ASSERT_OK(manifest_take(data, &opts, &before));
        ASSERT_OK(manifest_take(other, NULL, &other_before));

        /* Half of the layer: a header promising 16 MiB, then 8 MiB of it. */
        fd = apply_first_half("victim", buf, &reply);
        for (int i = 0; i < 600 && size < (off_t) (1u << 20); i++) {
                free(staging);
                staging = find_staging(data);
                size = staging ? partial_size(staging) : -1;
                if (size < (off_t) (1u << 20))
                        at_sleep_ms(50);
        }
        ASSERT_TRUE(staging);
        fflush(stdout);
        printf("# the writer has %lld bytes of \"big\" in %s\n", (long long) size, staging);
        ASSERT_TRUE(size >= (off_t) (1u << 20));

        ASSERT_OK(at_laminad_pid(&bus, &pid));
        n_children = at_children_of(pid, children, ELEMENTSOF(children));
        ASSERT_TRUE(n_children >= 1); /* the sandboxed writer */
        at_kill_laminad(&bus, pid);
        ASSERT_OK(at_reply_wait(&bus, &reply, 60000));
        printf("# the interrupted Apply got %s\n", reply.error);
        fflush(stdout);
        ASSERT_TRUE(!streq(reply.error, "(success)"));
        free(reply.error);
        free(reply.message);
        for (size_t i = 0; i < n_children; i++) {
                for (int k = 0; k < 600 && !at_pid_dead(children[i]); k++)
                        at_sleep_ms(50);
                if (!at_pid_dead(children[i])) {
                        fprintf(stderr, "laminad's child %d outlived it\n", children[i]);
                        abort();
                }
        }
        close(fd);

        /* The next call activates a new laminad, which recovers. */
        BT_ASSERT_OK(&bus, bt_stat(&bus, "victim", &info));
        ASSERT_TRUE(info.kind == SNAPSHOT_ACTIVE);
        ASSERT_OK(manifest_take(data, &opts, &after));
        ASSERT_TRUE(manifest_compare("the interrupted snapshot", before, after) == 0);
        ASSERT_OK(manifest_take(other, NULL, &other_after));
        ASSERT_TRUE(manifest_compare("the other snapshot", other_before, other_after) == 0);
        {
                _cleanup_free_ char *dir = applying_dir();

                if (at_wait_empty(dir, 60000) != 0) {
                        fprintf(stderr, "the restarted laminad did not remove the clone in %s\n", dir);
                        abort();
                }
        }

        BT_ASSERT_OK(&bus, at_apply_file(&bus, "victim", good, NULL));
        BT_ASSERT_OK(&bus, bt_cleanup(&bus, NULL));
        id = snapshot_id(data);
        other_id = snapshot_id(other);
        ASSERT_TRUE(id && other_id);
        check_snapshot_dirs((char *[]) { id, other_id, NULL });
        check_kept(data);
        BT_ASSERT_OK(&bus, bt_remove(&bus, "victim"));
        BT_ASSERT_OK(&bus, bt_remove(&bus, "bystander"));
}

/* An admin (or a debugger, or strace) stopping and continuing the unpack helper mid-Apply
 * must not kill it: a stop interrupts the helper's poll(), which the kernel resumes with
 * restart_syscall(2), a call its seccomp filter must allow. */
TEST(stop_and_continue_during_apply) {
        _cleanup_free_ char *data = NULL, *big = NULL, *buf = calloc(1, HALF);
        pid_t pid, helpers[16];
        size_t n = 0;
        AtReply reply = {};
        struct stat st;
        char end[1024] = {};
        int fd;

        ASSERT_TRUE(buf);
        data = at_prepare(&bus, "stopped", "", NULL);
        fd = apply_first_half("stopped", buf, &reply);

        /* lamina-unpack, then its parser and writer, once all three run. */
        ASSERT_OK(at_laminad_pid(&bus, &pid));
        for (int i = 0; i < 600 && n < 3; i++) {
                n = at_children_of(pid, helpers, 1);
                if (n == 1)
                        n += at_children_of(helpers[0], helpers + 1, ELEMENTSOF(helpers) - 1);
                if (n < 3)
                        at_sleep_ms(50);
        }
        ASSERT_TRUE(n >= 3);
        for (size_t i = 0; i < n; i++)
                ASSERT_OK(RET_NERRNO(kill(helpers[i], SIGSTOP)));
        for (size_t i = 0; i < n; i++) {
                for (int k = 0; k < 600 && at_pid_state(helpers[i]) != 'T'; k++)
                        at_sleep_ms(50);
                ASSERT_TRUE(at_pid_state(helpers[i]) == 'T');
        }
        for (size_t i = 0; i < n; i++)
                ASSERT_OK(RET_NERRNO(kill(helpers[i], SIGCONT)));

        at_write_all(fd, buf, HALF);
        at_write_all(fd, end, sizeof end);
        close(fd);
        ASSERT_OK(at_reply_wait(&bus, &reply, 120000));
        printf("# the stopped and continued Apply got %s %s\n", reply.error, reply.message);
        fflush(stdout);
        ASSERT_TRUE(streq(reply.error, "(success)"));
        big = strdup_printf("%s/big", data);
        ASSERT_TRUE(big);
        ASSERT_OK(RET_NERRNO(lstat(big, &st)));
        ASSERT_TRUE(S_ISREG(st.st_mode) && st.st_size == (off_t) BIG_SIZE);
        free(reply.error);
        free(reply.message);
        BT_ASSERT_OK(&bus, bt_remove(&bus, "stopped"));
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s SNAPSHOTTER\n", argv[0]);
                return 2;
        }
        snapshotter = argv[1];
        T = getenv("LAMINA_TEST_DIR");
        ASSERT_TRUE(T);
        signal(SIGPIPE, SIG_IGN);
        ASSERT_OK(bt_open(&bus, snapshotter));
        test_kill_during_apply();
        printf("ok 1 - %s kill_during_apply\n", snapshotter);
        test_stop_and_continue_during_apply();
        printf("ok 2 - %s stop_and_continue_during_apply\n", snapshotter);
        bt_close(&bus);
        return 0;
}
