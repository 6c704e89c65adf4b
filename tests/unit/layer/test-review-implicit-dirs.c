/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Review finding (mended): what an Apply may write is bounded by max_entries and
 * max_bytes, which the Inodes= and Bytes= quotas lower, and the bound holds for the
 * staging tree, not only for the layer's own entries:
 * - the directories the writer makes for missing parents of an entry (create_dirs() in
 *   layer-writer.c) count as entries: one entry of a path of 1000 missing components would
 *   make 1000 directories, so a user at Inodes=50 held thousands of inodes;
 * - every directory (an entry or a missing parent) counts a block of the file system
 *   against max_bytes, as it takes one (4 KiB on ext4), which Usage and the quota count:
 *   a layer of empty directories passed any Bytes= quota.
 * The data stays within the quota whatever the Apply answers; a layer past it is refused
 * with QuotaExceeded naming the quota, one within it applies. */
#include <archive.h>

#include "core/core-test-util.h"
#include "layer-test-util.h"

#define QUOTA_INODES_TEST 50
#define DEPTH 1000
#define ENTRIES 4
#define DIRS 600

static char *deep_path(char tag, size_t depth) {
        char *p = malloc(2 * depth + 2);

        ASSERT_TRUE(p);
        p[0] = tag; /* each entry its own chain of missing parents */
        for (size_t i = 1; i < depth; i++) {
                p[2 * i - 1] = '/';
                p[2 * i] = 'd';
        }
        memcpy(p + 2 * depth - 1, "/f", 3);
        return p;
}

/* Applies items as uid 1000 under the quota conf; returns what core_apply() returned, with
 * its message in message, and what uid 1000 holds in used. */
static int apply_under_quota(const char *conf_text, const TarItem *items, size_t n, char message[static ERROR_MESSAGE_MAX],
                             uint64_t used[static _QUOTA_KIND_MAX]) {
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
        snprintf(message, ERROR_MESSAGE_MAX, "%s", r < 0 ? e.message : "applied");
        fprintf(stderr, "apply of %zu entries: %s\n", n, message);
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
        return r;
}

/* n entries, each a file at the end of its own chain of depth missing parents. */
static int apply_deep_files(size_t n, size_t depth, char message[static ERROR_MESSAGE_MAX], uint64_t used[static _QUOTA_KIND_MAX]) {
        TarItem items[ENTRIES] = {};
        char *paths[ENTRIES];
        int r;

        ASSERT_TRUE(n <= ENTRIES);
        for (size_t i = 0; i < n; i++) {
                paths[i] = deep_path((char) ('a' + i), depth);
                items[i] = (TarItem) { .name = paths[i], .data = "x" };
        }
        r = apply_under_quota("[Quota]\nInodes=50\n", items, n, message, used);
        for (size_t i = 0; i < n; i++)
                free(paths[i]);
        return r;
}

TEST(missing_parents_count_against_the_inode_quota) {
        char message[ERROR_MESSAGE_MAX];
        uint64_t used[_QUOTA_KIND_MAX];

        /* 4 entries 1000 deep: refused at the directory that passes what Inodes= leaves,
         * before it is made. */
        ASSERT_ERR(apply_deep_files(ENTRIES, DEPTH, message, used), EDQUOT);
        ASSERT_TRUE(strstr(message, "Inodes=50"));
        ASSERT_TRUE(strstr(message, "directories made for missing parents"));
        ASSERT_TRUE(used[QUOTA_INODES] <= QUOTA_INODES_TEST);
        /* 2 entries 20 deep (42 inodes) fit. */
        ASSERT_OK(apply_deep_files(2, 20, message, used));
        ASSERT_TRUE(used[QUOTA_INODES] >= 42 && used[QUOTA_INODES] <= QUOTA_INODES_TEST);
}

/* n empty directories d0/ ... under Bytes=1M. */
static int apply_dirs(size_t n, char message[static ERROR_MESSAGE_MAX], uint64_t used[static _QUOTA_KIND_MAX]) {
        TarItem items[DIRS] = {};
        char *names[DIRS];
        int r;

        ASSERT_TRUE(n <= DIRS);
        for (size_t i = 0; i < n; i++) {
                names[i] = strdup_printf("d%zu/", i);
                ASSERT_TRUE(names[i]);
                items[i] = (TarItem) { .name = names[i], .type = AE_IFDIR };
        }
        r = apply_under_quota("[Quota]\nBytes=1M\n", items, n, message, used);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        return r;
}

TEST(directories_count_against_the_byte_quota) {
        char message[ERROR_MESSAGE_MAX];
        uint64_t used[_QUOTA_KIND_MAX];

        /* 1 MiB: 256 blocks of 4 KiB; 600 directories would take some 2.4 MB on ext4. */
        ASSERT_ERR(apply_dirs(DIRS, message, used), EDQUOT);
        ASSERT_TRUE(strstr(message, "Bytes=1048576"));
        ASSERT_TRUE(strstr(message, "bytes for each directory"));
        ASSERT_TRUE(used[QUOTA_BYTES] <= 1024 * 1024);
        /* 100 take some 400 KiB: they fit. */
        ASSERT_OK(apply_dirs(100, message, used));
        ASSERT_TRUE(used[QUOTA_BYTES] >= 100 * 4096 && used[QUOTA_BYTES] <= 1024 * 1024);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(directories_count_against_the_byte_quota),
                TEST_ENTRY(missing_parents_count_against_the_inode_quota),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "Apply with per-uid quotas needs root (chown in the writer)\n");
                return EXIT_TEST_SKIP;
        }
        return test_run_all(cases, ELEMENTSOF(cases));
}
