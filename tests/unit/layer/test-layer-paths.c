/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LayerPaths: a set that keeps insertion order; StrvBuilder under it. */
#include <stdio.h>
#include <string.h>

#include "layer-paths.h"
#include "test-util.h"

TEST(add_contains_order) {
        LayerPaths p = {};

        ASSERT_TRUE(!layer_paths_contains(&p, "a"));
        ASSERT_TRUE(layer_paths_add(&p, "a/b") == 1);
        ASSERT_TRUE(layer_paths_add(&p, "") == 1);
        ASSERT_TRUE(layer_paths_add(&p, "a/b") == 0);
        ASSERT_TRUE(layer_paths_add(&p, "a") == 1);
        ASSERT_TRUE(layer_paths_contains(&p, "a") && layer_paths_contains(&p, "") && layer_paths_contains(&p, "a/b"));
        ASSERT_TRUE(!layer_paths_contains(&p, "a/"));
        ASSERT_TRUE(p.list.n == 3);
        ASSERT_STREQ(p.list.l[0], "a/b");
        ASSERT_STREQ(p.list.l[1], "");
        ASSERT_STREQ(p.list.l[2], "a");
        ASSERT_TRUE(p.list.l[3] == NULL);
        layer_paths_done(&p);
        ASSERT_TRUE(!layer_paths_contains(&p, "a") && p.list.n == 0);
}

/* Many paths, each added twice: all kept once, in order, through every growth. */
TEST(many) {
        LayerPaths p = {};
        char name[32];

        for (unsigned round = 0; round < 2; round++)
                for (unsigned i = 0; i < 200000; i++) {
                        snprintf(name, sizeof name, "d%u/x", i);
                        ASSERT_TRUE(layer_paths_add(&p, name) == (round == 0));
                }
        ASSERT_TRUE(p.list.n == 200000);
        for (unsigned i = 0; i < 200000; i += 997) {
                snprintf(name, sizeof name, "d%u/x", i);
                ASSERT_STREQ(p.list.l[i], name);
        }
        ASSERT_TRUE(!layer_paths_contains(&p, "d200000/x"));
        layer_paths_done(&p);
}

TEST(strv_builder) {
        StrvBuilder b = {};

        for (unsigned i = 0; i < 1000; i++)
                ASSERT_OK(strv_builder_extend(&b, i % 2 ? "odd" : "even"));
        ASSERT_TRUE(b.n == 1000 && strv_length(b.l) == 1000);
        ASSERT_STREQ(b.l[999], "odd");
        strv_free(b.l);
}

TEST_MAIN(TEST_ENTRY(add_contains_order), TEST_ENTRY(many), TEST_ENTRY(strv_builder))
