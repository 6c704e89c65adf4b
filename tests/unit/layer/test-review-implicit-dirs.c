/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Review (open findings, suite review-open): what an Apply may write is bounded by the
 * parser's max_entries and max_bytes, which the Inodes= and Bytes= quotas lower. But
 * - the directories the writer makes for missing parents of an entry (create_dirs() in
 *   layer-writer.c) count as no entry: one entry of a path of 1000 missing components
 *   makes 1000 directories, so a user at Inodes=50 gets thousands of inodes, and at the
 *   default limits a layer of 2^20 entries could make some 2^31 of them;
 * - max_bytes counts the sizes of regular files only, while every directory takes a block
 *   (4 KiB on ext4) of the filesystem, which Usage and the quota count: a layer of empty
 *   directories passes any Bytes= quota.
 * The data must stay within the quota whatever the Apply answers. */
#include <archive.h>

#include "core/core-test-util.h"
#include "layer-test-util.h"

#define QUOTA_INODES_TEST 50
#define DEPTH 1000
#define ENTRIES 4

static char *deep_path(char tag) {
        char *p = malloc(2 * DEPTH + 2);

        ASSERT_TRUE(p);
        p[0] = tag; /* each entry its own chain of missing parents */
        for (size_t i = 1; i < DEPTH; i++) {
                p[2 * i - 1] = '/';
                p[2 * i] = 'd';
        }
        memcpy(p + 2 * DEPTH - 1, "/f", 3);
        return p;
}

/* Applies items as uid 1000 under the quota conf, then returns what uid 1000 holds. */
static void apply_under_quota(const char *conf_text, const TarItem *items, size_t n, uint64_t used[static _QUOTA_KIND_MAX]) {
        char *dir = test_mkdtemp(), *state = strdup_printf("%s/state", dir), *run = strdup_printf("%s/run", dir);
        char *conf = strdup_printf("%s/q.conf", dir);
        CoreApplyResult res = {};
        CoreSnapshotter *ovl;
        Error e = ERROR_NULL;
        QuotaConfig q;
        Core *c = NULL;
        int fd, r;

        test_write_file(dir, "q.conf", conf_text);
        ASSERT_OK(quota_config_load(conf, &q, &e));
        ASSERT_OK(core_new(&(CoreOptions) { .state_dir = state, .runtime_dir = run, .quota = &q }, &c));
        quota_config_clear(&q);
        ovl = core_snapshotter_by_name(c, "overlayfs");
        ASSERT_TRUE(ovl);

        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, n);
        ASSERT_OK(core_prepare(ovl, 1000, "a", NULL, NULL, NULL, &e));
        r = core_apply(ovl, 1000, "a", fd, &(CoreApplyOptions) { .media_type = "tar" }, &res, &e);
        fprintf(stderr, "apply of %zu entries: %s\n", n, r < 0 ? e.message : "applied");
        e = ERROR_NULL;
        ASSERT_OK(core_quota_usage(ovl, 1000, used, &e));
        fprintf(stderr, "uid 1000 holds %llu bytes and %llu inodes under %s", (unsigned long long) used[QUOTA_BYTES],
                (unsigned long long) used[QUOTA_INODES], conf_text);

        close(fd);
        core_free(c);
        test_rm_rf(dir);
        free(dir);
        free(state);
        free(run);
        free(conf);
}

TEST(missing_parents_count_against_the_inode_quota) {
        TarItem items[ENTRIES] = {};
        uint64_t used[_QUOTA_KIND_MAX];
        char *paths[ENTRIES];

        for (size_t i = 0; i < ENTRIES; i++) {
                paths[i] = deep_path((char) ('a' + i));
                items[i] = (TarItem) { .name = paths[i], .data = "x" };
        }
        apply_under_quota("[Quota]\nInodes=50\n", items, ENTRIES, used);
        ASSERT_TRUE(used[QUOTA_INODES] <= QUOTA_INODES_TEST);
        for (size_t i = 0; i < ENTRIES; i++)
                free(paths[i]);
}

#define DIRS 600

TEST(directories_count_against_the_byte_quota) {
        TarItem items[DIRS] = {};
        uint64_t used[_QUOTA_KIND_MAX];
        char *names[DIRS];

        for (size_t i = 0; i < DIRS; i++) {
                names[i] = strdup_printf("d%zu/", i);
                ASSERT_TRUE(names[i]);
                items[i] = (TarItem) { .name = names[i], .type = AE_IFDIR };
        }
        /* 1 MiB: 256 blocks of 4 KiB; 600 directories take some 2.4 MB on ext4. */
        apply_under_quota("[Quota]\nBytes=1M\n", items, DIRS, used);
        ASSERT_TRUE(used[QUOTA_BYTES] <= 1024 * 1024);
        for (size_t i = 0; i < DIRS; i++)
                free(names[i]);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(directories_count_against_the_byte_quota),
                TEST_ENTRY(missing_parents_count_against_the_inode_quota),
        };

        /* Open findings fail until mended: never in a run that does not ask for them. */
        if (!getenv("LAMINA_REVIEW_OPEN")) {
                fprintf(stderr, "open review finding: run with LAMINA_REVIEW_OPEN=1 meson test --suite review-open\n");
                return EXIT_TEST_SKIP;
        }
        if (geteuid() != 0) {
                fprintf(stderr, "Apply with per-uid quotas needs root (chown in the writer)\n");
                return EXIT_TEST_SKIP;
        }
        return test_run_all(cases, ELEMENTSOF(cases));
}
