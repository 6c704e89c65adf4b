/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Messages for the user: quoting keys, never more than the buffer, always UTF-8 (sd-bus
 * refuses to send an error whose message is not). */
#include "error.h"
#include "strutil.h"
#include "test-util.h"

TEST(short_keys_are_quoted_whole) {
        ASSERT_STREQ(QUOTE("abc"), "\"abc\"");
        ASSERT_STREQ(QUOTE(""), "\"\"");
}

TEST(long_keys_are_cut_on_a_character_boundary) {
        /* 0 to 3 ASCII bytes, then 3-byte characters: byte 252 falls anywhere in one. */
        for (size_t ascii = 0; ascii < 4; ascii++) {
                char key[512] = "";
                const char *q;

                for (size_t i = 0; i < ascii; i++)
                        strcat(key, "a");
                for (size_t i = 0; i < 100; i++)
                        strcat(key, "\xe2\x82\xac"); /* € */
                q = QUOTE(key);
                ASSERT_TRUE(utf8_is_printable(q));
                ASSERT_TRUE(strlen(q) <= 2 + ERROR_QUOTE_MAX - 4 + strlen("…"));
                ASSERT_TRUE(strstr(q, "…\""));
        }
        {
                char key[512] = "a", want[512] = "\"a";
                for (size_t i = 0; i < 100; i++)
                        strcat(key, "\xe2\x82\xac");
                for (size_t i = 0; i < 83; i++) /* 1 + 83 * 3 = 250 bytes kept */
                        strcat(want, "€");
                strcat(want, "…\"");
                ASSERT_STREQ(QUOTE(key), want);
        }
}

TEST(chain_ids_and_typed_keys_are_quoted_whole) {
        char key[ERROR_QUOTE_MAX + 1];

        ASSERT_STREQ(QUOTE("sha256:d9722d0cb115531e17e790e2f5351438ab2bc0f248c8857f0ac46b0c5a0d2b4f"),
                     "\"sha256:d9722d0cb115531e17e790e2f5351438ab2bc0f248c8857f0ac46b0c5a0d2b4f\"");
        memset(key, 'k', ERROR_QUOTE_MAX);
        key[ERROR_QUOTE_MAX] = 0;
        ASSERT_TRUE(strlen(QUOTE(key)) == ERROR_QUOTE_MAX + 2);
}

TEST(messages_with_cut_keys_stay_utf8) {
        char key[600];
        Error e = ERROR_NULL;

        memset(key, 0, sizeof key);
        strcpy(key, "xy");
        for (size_t i = 0; i < 200; i++)
                strcat(key, "\xc3\xa9"); /* é: byte 252 is its second byte */
        ASSERT_ERR(error_setf(&e, ENOENT, "snapshot %s does not exist", QUOTE(key + 1)), ENOENT);
        ASSERT_TRUE(e.code == ENOENT);
        ASSERT_TRUE(utf8_is_printable(e.message));
}

/* Layer entry names are any bytes: what is not printable UTF-8 is escaped. */
TEST(bytes_that_are_not_printable_utf8_are_escaped) {
        char key[400] = "", want[512] = "\"";

        ASSERT_STREQ(QUOTE("latin1-\xe9t\xe9"), "\"latin1-\\xe9t\\xe9\"");
        ASSERT_STREQ(QUOTE("a\nb\x1b[31m"), "\"a\\x0ab\\x1b[31m\"");
        ASSERT_STREQ(QUOTE("F\xc5\x91"), "\"F\xc5\x91\""); /* ő stays */
        for (size_t i = 0; i < 100; i++)
                strcat(key, "\xff");
        for (size_t i = 0; i < 63; i++) /* 63 * 4 = 252 bytes */
                strcat(want, "\\xff");
        strcat(want, "…\"");
        ASSERT_STREQ(QUOTE(key), want);
        ASSERT_TRUE(utf8_is_printable(QUOTE(key)));
}

TEST_MAIN(TEST_ENTRY(short_keys_are_quoted_whole), TEST_ENTRY(bytes_that_are_not_printable_utf8_are_escaped), TEST_ENTRY(long_keys_are_cut_on_a_character_boundary),
          TEST_ENTRY(chain_ids_and_typed_keys_are_quoted_whole),
          TEST_ENTRY(messages_with_cut_keys_stay_utf8))
