/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging: a call at a level that is not logged evaluates none of its arguments (a quoted
 * key per call for a debug line costs the daemon on every call) and still returns the
 * negative errno it was given. */
#include <errno.h>

#include "log.h"
#include "test-util.h"

static unsigned evaluated;

static const char *count(void) {
        evaluated++;
        return "x";
}

TEST(arguments_are_evaluated_only_when_logged) {
        log_set_max_level(LOG_INFO);
        evaluated = 0;
        log_debug("%s", count());
        ASSERT_TRUE(evaluated == 0);
        ASSERT_TRUE(log_debug_errno(-ENOENT, "%s", count()) == -ENOENT);
        ASSERT_TRUE(log_debug_errno(EEXIST, "%s", count()) == -EEXIST);
        ASSERT_TRUE(evaluated == 0);

        log_info("%s", count());
        ASSERT_TRUE(evaluated == 1);
        ASSERT_TRUE(log_info_errno(-ENOENT, "%s: %m", count()) == -ENOENT);
        ASSERT_TRUE(evaluated == 2);

        log_set_max_level(LOG_DEBUG);
        log_debug("%s", count());
        ASSERT_TRUE(evaluated == 3);
}

TEST_MAIN(TEST_ENTRY(arguments_are_evaluated_only_when_logged))
