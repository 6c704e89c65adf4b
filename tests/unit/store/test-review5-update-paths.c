/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Update's fieldpaths cost what the request holds, not its square: a caller may send
 * hundreds of thousands of paths (a D-Bus message of 32 MiB), and the update runs inside
 * the store's one write transaction, which every other user's write waits for. Linked with
 * --wrap=strdup,--wrap=memmove to count what the store does (the sanitizer build calls
 * its own memmove: that count is 0 there). The result is checked against the paths applied
 * one by one, in order. */

#include <inttypes.h>
#include <stdint.h>

#include "store-test-util.h"

static uint64_t n_strdup, memmove_bytes;

char *__real_strdup(const char *s);
void *__real_memmove(void *d, const void *s, size_t n);

char *__wrap_strdup(const char *s) {
        n_strdup++;
        return __real_strdup(s);
}

void *__wrap_memmove(void *d, const void *s, size_t n) {
        memmove_bytes += n;
        return __real_memmove(d, s, n);
}

static void labels_numbered(Labels *l, char prefix, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char k[16];

                snprintf(k, sizeof k, "%c%05zu", prefix, i);
                ASSERT_OK(labels_set(l, k, "value"));
        }
}

static Labels labels_of(Store *s, const char *name) {
        SnapshotInfo info = {};
        Labels l = LABELS_NULL;
        Error e = ERROR_NULL;

        ASSERT_OK(t_info(s, name, &info, &e));
        ASSERT_OK(labels_copy(&l, &info.labels));
        snapshot_info_clear(&info);
        return l;
}

/* What the paths do, applied one by one in order. */
static void reference(Labels *l, const Labels *in, char **paths) {
        for (char **p = paths; *p; p++) {
                if (streq(*p, "labels"))
                        ASSERT_OK(labels_copy(l, in));
                else
                        ASSERT_OK(labels_set(l, *p + 7, labels_get(in, *p + 7)));
        }
}

static void update(Store *s, const char *name, const Labels *in, char **paths) {
        Op o = { .type = OP_UPDATE, .name = name, .labels = in, .fieldpaths = paths, .now = test_now() };
        Error e = ERROR_NULL;

        ASSERT_OK(op_run(s, &o, &e));
        op_done(&o);
}

static char **paths_new(size_t n) {
        char **p = calloc(n + 1, sizeof *p);

        ASSERT_TRUE(p);
        return p;
}

/* 1500 new keys, each of which the old code inserted before all the others it had. */
TEST(paths_in_reverse_order_cost_linear) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Labels old = LABELS_NULL, in = LABELS_NULL, want = LABELS_NULL, got;
        Error e = ERROR_NULL;
        const size_t n = 1500;
        char **paths = paths_new(n);

        labels_numbered(&old, 'k', n);
        labels_numbered(&in, 'j', n);
        for (size_t i = 0; i < n; i++) {
                char p[32];

                snprintf(p, sizeof p, "labels.j%05zu", n - 1 - i);
                ASSERT_TRUE(paths[i] = strdup(p));
        }
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 0, "a", 0, NULL, &old, &e) > 0);

        memmove_bytes = n_strdup = 0;
        update(s, "a", &in, paths);
        fprintf(stderr, "%zu paths in reverse order: %" PRIu64 " bytes moved, %" PRIu64 " strdups\n", n,
                memmove_bytes, n_strdup);
        ASSERT_TRUE(memmove_bytes < 1024 * 1024); /* the old code: 54 MB */

        ASSERT_OK(labels_copy(&want, &old));
        reference(&want, &in, paths);
        got = labels_of(s, "a");
        ASSERT_TRUE(labels_equal(&got, &want));
        ASSERT_TRUE(got.n == 2 * n);

        labels_clear(&got);
        labels_clear(&want);
        labels_clear(&old);
        labels_clear(&in);
        strv_free(paths);
        test_store_done(&ts);
}

/* "labels" 2000 times: the old code copied all of in for each. */
TEST(repeated_labels_path_cost_linear) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Labels in = LABELS_NULL, got;
        Error e = ERROR_NULL;
        const size_t n = 1500, m = 2000;
        char **paths = paths_new(m);

        labels_numbered(&in, 'j', n);
        for (size_t i = 0; i < m; i++)
                ASSERT_TRUE(paths[i] = strdup(i % 2 ? "labels" : "labels.j00001"));
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 0, "a", 0, NULL, NULL, &e) > 0);

        n_strdup = 0;
        update(s, "a", &in, paths);
        fprintf(stderr, "%zu paths, every other one \"labels\": %" PRIu64 " strdups\n", m, n_strdup);
        ASSERT_TRUE(n_strdup < 8 * n); /* the old code: 3 M */

        got = labels_of(s, "a");
        ASSERT_TRUE(labels_equal(&got, &in));

        labels_clear(&got);
        labels_clear(&in);
        strv_free(paths);
        test_store_done(&ts);
}

/* Random small updates: the merge gives what the paths applied one by one give. */
TEST(paths_merged_as_applied_in_order) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Error e = ERROR_NULL;
        Labels cur = LABELS_NULL;

        srand(5);
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 0, "a", 0, NULL, NULL, &e) > 0);
        for (unsigned round = 0; round < 300; round++) {
                Labels in = LABELS_NULL, got;
                size_t m = 1 + rand() % 6;
                char **paths = paths_new(m);

                for (unsigned i = 0; i < 4; i++) {
                        char k[8];

                        snprintf(k, sizeof k, "k%d", rand() % 6);
                        ASSERT_OK(labels_set(&in, k, rand() % 3 ? "in" : "other"));
                }
                for (size_t i = 0; i < m; i++) {
                        char p[32];

                        if (rand() % 8 == 0)
                                snprintf(p, sizeof p, "labels");
                        else
                                snprintf(p, sizeof p, "labels.k%d", rand() % 6);
                        ASSERT_TRUE(paths[i] = strdup(p));
                }
                update(s, "a", &in, paths);
                reference(&cur, &in, paths);
                got = labels_of(s, "a");
                ASSERT_TRUE(labels_equal(&got, &cur));
                labels_clear(&got);
                labels_clear(&in);
                strv_free(paths);
        }
        labels_clear(&cur);
        t_verify(s);
        test_store_done(&ts);
}

TEST_MAIN(TEST_ENTRY(paths_in_reverse_order_cost_linear), TEST_ENTRY(repeated_labels_path_cost_linear),
          TEST_ENTRY(paths_merged_as_applied_in_order))
