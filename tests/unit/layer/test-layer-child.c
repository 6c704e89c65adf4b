/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What laminad takes from the parser, the writer and the unpack helper (which a layer may have taken over):
 * only EINVAL and EDQUOT as error kinds, a diff_id only as "sha256:" and 64 lowercase hex digits. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "layer-proto.h"
#include "layer.h"
#include "test-util.h"

static void check_kind(int32_t code, int want_code, bool want_internal) {
        Error e = ERROR_NULL;

        ASSERT_TRUE(layer_error_from_child(&e, code, "entry \"x\": nope") < 0);
        ASSERT_TRUE(e.code == want_code);
        ASSERT_TRUE(e.internal == want_internal);
        ASSERT_STREQ(e.message, "entry \"x\": nope");
}

TEST(error_kinds) {
        check_kind(EINVAL, EINVAL, false);
        check_kind(EDQUOT, EDQUOT, false);
        /* What a system call said stays internal. */
        check_kind(-EINVAL, EINVAL, true);
        check_kind(-EIO, EIO, true);
        /* A kind the parser must not choose: never AccessDenied, NotFound, Busy... */
        check_kind(EACCES, EACCES, true);
        check_kind(EPERM, EPERM, true);
        check_kind(ENOENT, ENOENT, true);
        check_kind(EBUSY, EBUSY, true);
        check_kind(EEXIST, EEXIST, true);
        check_kind(ENOMEM, ENOMEM, true);
        check_kind(EOPNOTSUPP, EOPNOTSUPP, true);
        /* Out of range, zero, the extremes: internal EIO. */
        check_kind(0, EIO, true);
        check_kind(4096, EIO, true);
        check_kind(-4096, EIO, true);
        check_kind(INT32_MAX, EIO, true);
        check_kind(INT32_MIN, EIO, true);
}

TEST(diff_id) {
        static const char hex[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        char s[7 + 64 + 2];

        snprintf(s, sizeof s, "sha256:%s", hex);
        ASSERT_TRUE(layer_diff_id_is_valid(s));
        ASSERT_TRUE(!layer_diff_id_is_valid(NULL));
        ASSERT_TRUE(!layer_diff_id_is_valid(""));
        ASSERT_TRUE(!layer_diff_id_is_valid(hex));
        ASSERT_TRUE(!layer_diff_id_is_valid("sha256:"));
        s[7 + 10] = 'A';
        ASSERT_TRUE(!layer_diff_id_is_valid(s));
        s[7 + 10] = '/';
        ASSERT_TRUE(!layer_diff_id_is_valid(s));
        s[7 + 10] = '\n';
        ASSERT_TRUE(!layer_diff_id_is_valid(s));
        s[7 + 10] = 'a';
        memcpy(s, "sha512:", 7);
        ASSERT_TRUE(!layer_diff_id_is_valid(s));
        snprintf(s, sizeof s, "sha256:%.63s", hex);
        ASSERT_TRUE(!layer_diff_id_is_valid(s));
        snprintf(s, sizeof s, "sha256:%sa", hex);
        ASSERT_TRUE(!layer_diff_id_is_valid(s));
        /* 71 bytes of which some are not hex: what a length check alone passed. */
        ASSERT_TRUE(!layer_diff_id_is_valid("sha256:../../../../../../../../../../../../../../../../../../../../../."));
}

TEST_MAIN(TEST_ENTRY(error_kinds), TEST_ENTRY(diff_id))
