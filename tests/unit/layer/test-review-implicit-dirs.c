/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Review (open finding, suite review-open): a layer's entries are counted against the
 * Inodes= quota (the parser's max_entries), but the directories the writer makes for
 * missing parents of an entry (create_dirs() in layer-writer.c) are not. One entry of a
 * path of 1000 missing components makes 1000 directories (each a block of its own on
 * ext4), so a user at Inodes=50 gets thousands of inodes, and at the default limits a
 * layer of 2^20 entries could make some 2^31 of them. The data must stay within the quota
 * whatever the Apply answers. */
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

TEST(missing_parents_count_against_the_inode_quota) {
        char *dir = test_mkdtemp(), *state = strdup_printf("%s/state", dir), *run = strdup_printf("%s/run", dir);
        char *conf = strdup_printf("%s/q.conf", dir), *paths[ENTRIES];
        TarItem items[ENTRIES] = {};
        uint64_t used[_QUOTA_KIND_MAX];
        CoreApplyResult res = {};
        CoreSnapshotter *ovl;
        Error e = ERROR_NULL;
        QuotaConfig q;
        Core *c = NULL;
        int fd, r;

        test_write_file(dir, "q.conf", "[Quota]\nInodes=50\n");
        ASSERT_OK(quota_config_load(conf, &q, &e));
        ASSERT_OK(core_new(&(CoreOptions) { .state_dir = state, .runtime_dir = run, .quota = &q }, &c));
        quota_config_clear(&q);
        ovl = core_snapshotter_by_name(c, "overlayfs");
        ASSERT_TRUE(ovl);

        for (size_t i = 0; i < ENTRIES; i++) {
                paths[i] = deep_path((char) ('a' + i));
                items[i] = (TarItem) { .name = paths[i], .data = "x" };
        }
        fd = tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, items, ENTRIES);
        ASSERT_OK(core_prepare(ovl, 1000, "a", NULL, NULL, NULL, &e));
        r = core_apply(ovl, 1000, "a", fd, &(CoreApplyOptions) { .media_type = "tar" }, &res, &e);
        fprintf(stderr, "apply of %d entries at depth %d: %s\n", ENTRIES, DEPTH, r < 0 ? e.message : "applied");
        e = ERROR_NULL;
        ASSERT_OK(core_quota_usage(ovl, 1000, used, &e));
        fprintf(stderr, "uid 1000 holds %llu inodes, quota Inodes=%d\n", (unsigned long long) used[QUOTA_INODES],
                QUOTA_INODES_TEST);
        ASSERT_TRUE(used[QUOTA_INODES] <= QUOTA_INODES_TEST);

        close(fd);
        for (size_t i = 0; i < ENTRIES; i++)
                free(paths[i]);
        core_free(c);
        test_rm_rf(dir);
        free(dir);
        free(state);
        free(run);
        free(conf);
}

TEST_MAIN(TEST_ENTRY(missing_parents_count_against_the_inode_quota))
