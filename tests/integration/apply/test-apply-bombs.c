/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Layers built to exhaust whoever reads them, against the confined parser (issue 14):
 *
 *   test-apply-bombs SNAPSHOTTER MAKE_CORPUS_PY   (laminad --apply-max-bytes 268435456)
 *     make-corpus.py --bombs: a GNU sparse map of 30 M entries (the parser's address
 *     space runs out), a zstd frame with a 2 GiB window, a gzip bomb, a pax size of 2^60,
 *     a 2 MB GNU.sparse.map record, a pax header of 1 GiB. Each Apply fails with the error
 *     bombs.list names; meanwhile another snapshot's Stat is answered; laminad's RSS stays
 *     within 1 MiB of what it was before the first bomb; the target is unchanged.
 *   test-apply-bombs --cpu SNAPSHOTTER               (laminad --apply-max-cpu 1)
 *     gzip members of zeros fed through a pipe without end: the parser is killed at its
 *     CPU limit, QuotaExceeded naming it.
 *   test-apply-bombs --timeout SNAPSHOTTER           (laminad --apply-timeout 3)
 *     a pipe that never brings a byte: QuotaExceeded naming the wall-clock limit.
 *
 * Run under tests/integration/lib/run-test.sh. */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "apply-test.h"
#include "strutil.h"
#include "test-util.h"

#define RSS_SLACK_KIB 1024u

static BusTest bus;
static const char *snapshotter, *corpus_script, *T;
static unsigned failures;

/* Sends Apply(key, fd); while it runs another snapshot's Stat is answered; the reply. */
static void apply_and_stat(const char *key, int fd, AtReply *reply) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};

        ASSERT_OK(at_apply_async(&bus, key, fd, reply));
        BT_ASSERT_OK(&bus, bt_stat(&bus, "bystander", &info));
        ASSERT_OK(at_reply_wait(&bus, reply, 300000));
}

static void expect(const char *name, const AtReply *reply, const char *error, const char *text) {
        _cleanup_free_ char *want = strdup_printf("org.lamina.snapshot1.Error.%s", error);

        printf("# %s: %s: %s\n", name, reply->error, reply->message);
        if (!streq(reply->error, want) || !strstr(reply->message, text)) {
                printf("not ok - %s: expected %s with \"%s\"\n", name, want, text);
                failures++;
        }
}

static void run_corpus(void) {
        _cleanup_free_ char *dir = strdup_printf("%s/bombs", T), *list = NULL, *data = NULL, *before = NULL;
        const ManifestOptions mo = { .ignore_root_times = true };
        char *line = NULL;
        size_t size = 0;
        uint64_t base, rss;
        pid_t laminad;
        unsigned n = 0;
        FILE *f;

        ASSERT_TRUE(dir);
        ASSERT_OK(RET_NERRNO(mkdir(dir, 0755)));
        ASSERT_OK(at_run(STRV_MAKE("python3", (char *) corpus_script, "--bombs", dir)));
        data = at_prepare(&bus, "target", "", NULL);
        free(at_prepare(&bus, "bystander", "", NULL));
        ASSERT_OK(manifest_take(data, &mo, &before));

        ASSERT_OK(at_laminad_pid(&bus, &laminad));
        base = at_rss_settled_kib(laminad, 0);
        printf("# laminad %d: RSS %" PRIu64 " KiB before the bombs\n", laminad, base);

        list = strdup_printf("%s/bombs.list", dir);
        f = fopen(list, "re");
        ASSERT_TRUE(f);
        while (getline(&line, &size, f) > 0) {
                _cleanup_free_ char *path = NULL, *after = NULL;
                char *save = NULL, *name, *error, *text;
                AtReply reply;
                int fd;

                line[strcspn(line, "\n")] = 0;
                name = strtok_r(line, "\t", &save);
                error = strtok_r(NULL, "\t", &save);
                text = strtok_r(NULL, "\t", &save);
                ASSERT_TRUE(name && error && text);
                path = strdup_printf("%s/%s", dir, name);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                ASSERT_TRUE(fd >= 0);
#if defined(__SANITIZE_ADDRESS__)
                /* Sanitizer builds reserve terabytes of address space: no RLIMIT_AS there. */
                if (strstr(text, "of memory")) {
                        printf("# %s: skipped (a sanitizer build has no memory limit)\n", name);
                        close(fd);
                        n++;
                        continue;
                }
#endif
                apply_and_stat("target", fd, &reply);
                close(fd);
                expect(name, &reply, error, text);
                free(reply.error);
                free(reply.message);

                ASSERT_OK(at_laminad_pid(&bus, &laminad));
                rss = at_rss_settled_kib(laminad, base + RSS_SLACK_KIB);
                printf("# laminad RSS after %s: %" PRIu64 " KiB\n", name, rss);
                if (rss > base + RSS_SLACK_KIB) {
                        printf("not ok - %s: laminad's RSS grew by %" PRIu64 " KiB\n", name, rss - base);
                        failures++;
                }
                ASSERT_OK(manifest_take(data, &mo, &after));
                if (manifest_compare(name, before, after) < 0)
                        failures++;
                n++;
        }
        free(line);
        fclose(f);
        ASSERT_TRUE(n == 6);
}

/* A gzip member of a small tar and 256 MiB of zeros (about 256 KiB). */
static void *zeros_member(size_t *ret_len) {
        size_t cap = 1u << 20, len = 0;
        uint8_t *out = malloc(cap), *zeros = calloc(1, 1u << 20);
        z_stream z = {};
        char h[512];

        ASSERT_TRUE(out && zeros);
        ASSERT_TRUE(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK);
        at_ustar_header(h, "f", '0', 0644, 0, 1700000000);
        for (int i = 0; i <= 256; i++) {
                z.next_in = i == 0 ? (uint8_t *) h : zeros;
                z.avail_in = i == 0 ? sizeof h : 1u << 20;
                do {
                        z.next_out = out + len;
                        z.avail_out = (uInt) (cap - len);
                        ASSERT_TRUE(deflate(&z, i == 256 ? Z_FINISH : Z_NO_FLUSH) != Z_STREAM_ERROR);
                        len = cap - z.avail_out;
                } while (z.avail_out == 0 || (i == 256 && z.avail_in > 0));
        }
        deflateEnd(&z);
        free(zeros);
        *ret_len = len;
        return out;
}

/* Feeds the same member through the pipe until the reader goes away. */
static pid_t feed_forever(int fd) {
        size_t len;
        void *m = zeros_member(&len);
        pid_t pid = fork();

        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                signal(SIGPIPE, SIG_DFL);
                for (;;)
                        at_write_all(fd, m, len);
        }
        free(m);
        return pid;
}

static void run_cpu(void) {
        AtReply reply;
        int p[2], status;
        pid_t feeder;

        free(at_prepare(&bus, "target", "", NULL));
        free(at_prepare(&bus, "bystander", "", NULL));
        ASSERT_OK(RET_NERRNO(pipe2(p, O_CLOEXEC)));
        feeder = feed_forever(p[1]);
        close(p[1]);
        apply_and_stat("target", p[0], &reply);
        close(p[0]);
        expect("endless zeros", &reply, "QuotaExceeded", "s of CPU time");
        free(reply.error);
        free(reply.message);
        (void) kill(feeder, SIGKILL);
        ASSERT_TRUE(waitpid(feeder, &status, 0) == feeder);
}

static void run_timeout(void) {
        AtReply reply;
        int p[2];

        free(at_prepare(&bus, "target", "", NULL));
        free(at_prepare(&bus, "bystander", "", NULL));
        ASSERT_OK(RET_NERRNO(pipe2(p, O_CLOEXEC)));
        apply_and_stat("target", p[0], &reply);
        expect("a silent pipe", &reply, "QuotaExceeded", "longer than the limit of 3 s");
        free(reply.error);
        free(reply.message);
        close(p[0]);
        close(p[1]);
}

int main(int argc, char *argv[]) {
        const char *mode = argc > 1 && argv[1][0] == '-' ? argv[1] : "";
        int skip = !isempty(mode);

        if (argc != 2 + skip + (isempty(mode) ? 1 : 0) || !(isempty(mode) || streq(mode, "--cpu") || streq(mode, "--timeout"))) {
                fprintf(stderr, "usage: %s SNAPSHOTTER MAKE_CORPUS_PY | --cpu SNAPSHOTTER | --timeout SNAPSHOTTER\n", argv[0]);
                return 2;
        }
        snapshotter = argv[1 + skip];
        corpus_script = isempty(mode) ? argv[2] : NULL;
        T = getenv("LAMINA_TEST_DIR");
        ASSERT_TRUE(T);
        signal(SIGPIPE, SIG_IGN);
        ASSERT_OK(bt_open(&bus, snapshotter));
        if (streq(mode, "--cpu"))
                run_cpu();
        else if (streq(mode, "--timeout"))
                run_timeout();
        else
                run_corpus();
        bt_close(&bus);
        if (failures > 0) {
                printf("# %u failures\n", failures);
                return 1;
        }
        printf("ok - %s %s\n", snapshotter, isempty(mode) ? "bombs" : mode + 2);
        return 0;
}
