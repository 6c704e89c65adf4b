/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "labels.h"
#include "strutil.h"
#include "test-util.h"

TEST(empty_value_deletes) {
        Labels l = LABELS_NULL;

        ASSERT_OK(labels_set(&l, "b", "2"));
        ASSERT_OK(labels_set(&l, "a", "1"));
        ASSERT_STREQ(l.items[0].key, "a");
        ASSERT_OK(labels_set(&l, "a", ""));
        ASSERT_TRUE(l.n == 1 && !labels_get(&l, "a"));
        labels_clear(&l);
}

TEST(pair_limit_is_4096_bytes) {
        Labels l = LABELS_NULL;
        char *v = calloc(1, 4096);
        Error e = ERROR_NULL;

        memset(v, 'v', 4094);
        ASSERT_OK(labels_set(&l, "ab", v)); /* 2 + 4094 = 4096: allowed */
        ASSERT_OK(labels_validate(&l, &e));
        ASSERT_OK(labels_set(&l, "abc", v)); /* 4097 */
        ASSERT_ERR(labels_validate(&l, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "\"abc\""));
        labels_clear(&l);
        free(v);
}

TEST(total_limit_is_64k) {
        Labels l = LABELS_NULL;
        char key[16], v[4000];
        Error e = ERROR_NULL;

        memset(v, 'x', sizeof v - 1);
        v[sizeof v - 1] = 0;
        for (int i = 0; i < 17; i++) {
                snprintf(key, sizeof key, "k%02d", i);
                ASSERT_OK(labels_set(&l, key, v));
        }
        ASSERT_ERR(labels_validate(&l, &e), EINVAL);
        labels_clear(&l);
}

TEST(control_characters_rejected) {
        ASSERT_TRUE(utf8_is_printable("hello wörld ✓"));
        ASSERT_TRUE(!utf8_is_printable("a\nb"));
        ASSERT_TRUE(!utf8_is_printable("\xc0\xaf"));
        ASSERT_TRUE(!utf8_is_printable("\xff"));
}

TEST(utf8_characters_and_stray_bytes) {
        uint32_t cp = 0;

        ASSERT_TRUE(utf8_char_len("\x01", &cp) == 1 && cp == 1); /* a control character is UTF-8 */
        ASSERT_TRUE(utf8_char_len("\xc2\x85", &cp) == 2 && cp == 0x85);
        ASSERT_TRUE(utf8_char_len("\xf0\x9f\x98\x80", &cp) == 4 && cp == 0x1F600);
        ASSERT_TRUE(utf8_char_len("", NULL) == 0);
        ASSERT_TRUE(utf8_char_len("\xc0\xaf", NULL) == 0);     /* overlong */
        ASSERT_TRUE(utf8_char_len("\xed\xa0\x80", NULL) == 0); /* surrogate */
        ASSERT_TRUE(utf8_char_len("\xe2\x9c", NULL) == 0);     /* cut short */

        ASSERT_TRUE(utf8_is_valid("\x01\x7f é ✓") && !utf8_is_valid("a\xff"));
        char *fixed = utf8_replace_invalid("a\xff" "b\xe2\x9c\x93\xe2\x9c\x01");
        ASSERT_TRUE(fixed && streq(fixed, "a\xef\xbf\xbd" "b\xe2\x9c\x93\xef\xbf\xbd\xef\xbf\xbd\x01"));
        free(fixed);
}

static Label pair(const char *k, const char *v) {
        return (Label) { .key = strdup(k), .value = strdup(v) };
}

TEST(build_last_value_wins_and_empty_deletes) {
        Label *items = calloc(5, sizeof *items);
        Labels l = LABELS_NULL;

        items[0] = pair("b", "1");
        items[1] = pair("a", "x");
        items[2] = pair("b", "2");
        items[3] = pair("c", "3");
        items[4] = pair("c", "");
        ASSERT_OK(labels_build(items, 5, &l));
        ASSERT_TRUE(l.n == 2);
        ASSERT_STREQ(l.items[0].key, "a");
        ASSERT_STREQ(labels_get(&l, "b"), "2");
        ASSERT_TRUE(!labels_get(&l, "c"));
        labels_clear(&l);
}

/* 200 000 labels in descending order: labels_set() per pair took quadratic time. */
TEST(build_is_fast_for_descending_keys) {
        size_t n = 200000;
        Label *items = calloc(n, sizeof *items);
        Labels l = LABELS_NULL;
        char key[32];

        for (size_t i = 0; i < n; i++) {
                snprintf(key, sizeof key, "k%07zu", n - i);
                items[i] = pair(key, "v");
        }
        ASSERT_OK(labels_build(items, n, &l));
        ASSERT_TRUE(l.n == n);
        ASSERT_STREQ(l.items[0].key, "k0000001");
        labels_clear(&l);
        ASSERT_OK(labels_build(NULL, 0, &l));
        ASSERT_TRUE(l.n == 0 && !l.items);
}

TEST_MAIN(TEST_ENTRY(empty_value_deletes), TEST_ENTRY(utf8_characters_and_stray_bytes), TEST_ENTRY(pair_limit_is_4096_bytes),
          TEST_ENTRY(total_limit_is_64k), TEST_ENTRY(control_characters_rejected),
          TEST_ENTRY(build_last_value_wins_and_empty_deletes), TEST_ENTRY(build_is_fast_for_descending_keys))
