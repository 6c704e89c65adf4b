/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* greedy_realloc, the growth rule of every growing array: the capacity starts at `first`
 * and doubles until it holds what is needed; a capacity that cannot be had (overflow)
 * fails with -ENOMEM and leaves the array as it was. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "alloc-util.h"
#include "test-util.h"

TEST(grows_from_first_by_doubling) {
        uint64_t *a = NULL;
        size_t allocated = 0;

        ASSERT_OK(GREEDY_REALLOC(a, allocated, 1, 16));
        ASSERT_TRUE(a && allocated == 16);
        a[15] = 7;
        ASSERT_OK(GREEDY_REALLOC(a, allocated, 16, 16)); /* fits: unchanged */
        ASSERT_TRUE(allocated == 16);
        ASSERT_OK(GREEDY_REALLOC(a, allocated, 17, 16));
        ASSERT_TRUE(allocated == 32 && a[15] == 7);
        ASSERT_OK(GREEDY_REALLOC(a, allocated, 100, 16)); /* 32 -> 64 -> 128 */
        ASSERT_TRUE(allocated == 128 && a[15] == 7);
        free(a);
}

TEST(first_of_zero_still_grows) {
        char *a = NULL;
        size_t allocated = 0;

        ASSERT_OK(GREEDY_REALLOC(a, allocated, 3, 0));
        ASSERT_TRUE(a && allocated == 4);
        free(a);
}

TEST(overflow_fails_and_keeps_the_array) {
        uint64_t *a = NULL, *before;
        size_t allocated = 0;

        ASSERT_OK(GREEDY_REALLOC(a, allocated, 4, 4));
        before = a;
        ASSERT_ERR(GREEDY_REALLOC(a, allocated, SIZE_MAX / 2 + 2, 4), ENOMEM);
        ASSERT_ERR(GREEDY_REALLOC(a, allocated, SIZE_MAX / 4, 4), ENOMEM); /* bytes overflow */
        ASSERT_TRUE(a == before && allocated == 4);
        free(a);
}

TEST_MAIN(TEST_ENTRY(grows_from_first_by_doubling), TEST_ENTRY(first_of_zero_still_grows),
          TEST_ENTRY(overflow_fails_and_keeps_the_array))
