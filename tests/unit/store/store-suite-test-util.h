/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The store every case of containerd's storage suite starts from (base_populate) and
 * walks that collect names, shared by the programs that run that suite's cases and
 * lamina's own. */

#include "filter.h"
#include "store-test-util.h"

/* committed-1 <- committed-2; active-1; active-2 on committed-1; active-3 on committed-2;
 * view-1; view-2 on committed-2. IDs 1..7 in that order. */
static inline void base_populate(Store *s) {
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "committed-tmp-1", NULL, NULL) == 1);
        ASSERT_TRUE(t_commit_as(s, 0, "committed-tmp-1", "committed-1", 1, NULL, NULL) == 1);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "committed-tmp-2", "committed-1", NULL) == 2);
        ASSERT_TRUE(t_commit_as(s, 0, "committed-tmp-2", "committed-2", 2, NULL, NULL) == 2);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "active-1", NULL, NULL) == 3);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "active-2", "committed-1", NULL) == 4);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "active-3", "committed-2", NULL) == 5);
        ASSERT_TRUE(t_create(s, SNAPSHOT_VIEW, "view-1", NULL, NULL) == 6);
        ASSERT_TRUE(t_create(s, SNAPSHOT_VIEW, "view-2", "committed-2", NULL) == 7);
}

/* A case that starts from base_populate (containerd's makeTest(t, name, basePopulate, fn)):
 * its body runs with s a fresh store holding the base snapshots, removed afterwards. */
#define TEST_ON_BASE(n)                                                                    \
        static void base_case_##n(Store *s);                                               \
        TEST(n) {                                                                          \
                TestStore ts;                                                              \
                                                                                           \
                base_populate(test_store_new(&ts, 0));                                     \
                base_case_##n(ts.store);                                                   \
                test_store_done(&ts);                                                      \
        }                                                                                  \
        static void base_case_##n(Store *s)

static const struct {
        const char *name, *parent;
        SnapshotKind kind;
        uint64_t id, size;
} base_info[] = {
        { "active-1", NULL, SNAPSHOT_ACTIVE, 3, 0 },
        { "active-2", "committed-1", SNAPSHOT_ACTIVE, 4, 0 },
        { "active-3", "committed-2", SNAPSHOT_ACTIVE, 5, 0 },
        { "committed-1", NULL, SNAPSHOT_COMMITTED, 1, 1 },
        { "committed-2", "committed-1", SNAPSHOT_COMMITTED, 2, 2 },
        { "view-1", NULL, SNAPSHOT_VIEW, 6, 0 },
        { "view-2", "committed-2", SNAPSHOT_VIEW, 7, 0 },
};

static inline void assert_base_info(const SnapshotInfo *info, size_t i) {
        ASSERT_STREQ(info->name, base_info[i].name);
        ASSERT_TRUE(info->kind == base_info[i].kind);
        ASSERT_TRUE(info->id == base_info[i].id);
        ASSERT_TRUE(info->size == base_info[i].size);
        ASSERT_TRUE(info->owner == 0);
        if (base_info[i].parent) {
                ASSERT_STREQ(info->parent, base_info[i].parent);
                ASSERT_TRUE(info->parent_owner == 0);
        } else
                ASSERT_TRUE(!info->parent);
        ASSERT_TRUE(info->created_usec > 0 && info->created_usec == info->updated_usec);
}

typedef struct Collected {
        char **names;
} Collected;

static inline int collect_fn(const SnapshotInfo *info, void *userdata) {
        Collected *c = userdata;

        ASSERT_OK(strv_extend(&c->names, info->name));
        return 0;
}

/* Walks with filters (NULL: all); returns the names in walk order. */
static inline char **walk_names(Store *s, char **filters) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(filter_freep) Filter *f = NULL;
        Collected c = {};
        Error e = ERROR_NULL;

        ASSERT_OK(filter_parse(filters, &f, &e));
        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_walk(t, f, collect_fn, &c, &e));
        return c.names;
}

static inline void assert_walk(Store *s, char **filters, const char *expected) {
        _cleanup_strv_free_ char **names = walk_names(s, filters);
        _cleanup_free_ char *got = strv_join(names, " ");

        if (!streq(got, expected))
                fprintf(stderr, "filter %s: got \"%s\", expected \"%s\"\n",
                        filters && filters[0] ? filters[0] : "(none)", got, expected);
        ASSERT_STREQ(got, expected);
}
