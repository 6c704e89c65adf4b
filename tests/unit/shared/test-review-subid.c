/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Review: a subordinate id range whose start is past 2^32 is not one, however its end wraps
 * (start + count computed in 64 bits: a start of 2^64 - 16 with a count of 32 "ended" at
 * 16 and was taken, its start cut to 2^32 - 16, a range whose ids wrap to host root). */
#include <stdio.h>

#include "subid.h"
#include "test-util.h"

static size_t ranges_of(const char *content, SubidRange *ret, size_t max) {
        char path[] = "/tmp/lamina-review-subid-XXXXXX";
        int fd = mkstemp(path);
        FILE *f;
        size_t n = 0;

        ASSERT_TRUE(fd >= 0);
        f = fdopen(fd, "w");
        ASSERT_TRUE(f && fputs(content, f) >= 0 && fclose(f) == 0);
        ASSERT_OK(subid_ranges(path, "alice", 1000, ret, max, &n));
        ASSERT_OK(unlink(path) < 0 ? -errno : 0);
        return n;
}

TEST(ranges_past_the_last_uid_are_none) {
        SubidRange r[4];
        size_t n;

        /* 2^64 - 16, 2^32 - 16 and 2^32: none; the good line after them is found. */
        n = ranges_of("alice:18446744073709551600:32\n"
                      "alice:4294967280:32\n"
                      "1000:4294967296:1\n"
                      "alice:100000:65536\n",
                      r, 4);
        ASSERT_TRUE(n == 1 && r[0].start == 100000 && r[0].count == 65536);
}

TEST_MAIN(TEST_ENTRY(ranges_past_the_last_uid_are_none))
