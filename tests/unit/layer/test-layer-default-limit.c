/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layer_apply() without limits set enforces the default entry limit: a stream of
 * 2^20 + 1 whiteouts (cheap: in deletion mode they never reach the writer) is refused
 * with EDQUOT at the entry past the limit, and the target is left as it was. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "layer-fs.h"
#include "layer-test-util.h"
#include "layer.h"

#define ENTRIES ((1u << 20) + 1)

typedef struct Feeder {
        int fd;
        uint8_t header[512];
} Feeder;

/* ENTRIES copies of one header, then the end blocks; stops when the reader goes away. */
static void *feed(void *userdata) {
        Feeder *f = userdata;
        static uint8_t block[512 * 256];
        unsigned sent = 0;

        for (size_t i = 0; i < sizeof block; i += 512)
                memcpy(block + i, f->header, 512);
        while (sent < ENTRIES) {
                unsigned n = ENTRIES - sent < 256 ? ENTRIES - sent : 256;
                if (layer_write_full(f->fd, block, n * 512u) < 0)
                        break;
                sent += n;
        }
        memset(block, 0, 1024);
        (void) layer_write_full(f->fd, block, 1024);
        close(f->fd);
        return NULL;
}

TEST(default_entry_limit) {
        static const TarItem item = { .name = ".wh.gone" };
        char dir[] = "/tmp/lamina-test-layer-limit-XXXXXX", *before, *after;
        LayerApplyOptions o = { .overlay_whiteouts = false };
        LayerApplyResult res;
        Error e = ERROR_NULL;
        Feeder fe;
        pid_t feeder;
        int p[2], target, tar;

        ASSERT_TRUE(mkdtemp(dir));
        target = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(target >= 0);
        ASSERT_OK(mkdirat(target, "gone", 0755));
        before = tree_listing(dir);

        tar = tar_build(ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, &item, 1);
        ASSERT_TRUE(read(tar, fe.header, sizeof fe.header) == sizeof fe.header);
        close(tar);
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        fe.fd = p[1];
        feeder = feeder_start(feed, &fe, p[1]);

        ASSERT_ERR(layer_apply(p[0], target, &o, &res, &e), EDQUOT);
        close(p[0]);
        feeder_wait(feeder);
        if (!strstr(e.message, "more than 1048576 entries"))
                fprintf(stderr, "unexpected message: %s\n", e.message);
        ASSERT_TRUE(strstr(e.message, "more than 1048576 entries"));
        after = tree_listing(dir);
        ASSERT_STREQ(before, after);

        free(before);
        free(after);
        close(target);
        test_rm_rf(dir);
}

int main(void) {
        static const TestCase cases[] = { TEST_ENTRY(default_entry_limit) };

        if (geteuid() != 0) {
                fprintf(stderr, "layer_apply needs root (namespaces for the writer)\n");
                return EXIT_TEST_SKIP;
        }
        signal(SIGPIPE, SIG_IGN);
        return test_run_all(cases, ELEMENTSOF(cases));
}
