/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Watcher slots are shared fairly (bus_watchers_admit): no few uids can take every slot
 * that users may have, a uid watching with none yet still finds one, and root always does. */
#include <errno.h>
#include <stdbool.h>

#include "bus-watch.h"
#include "test-util.h"

#define USERS_MAX (BUS_WATCHERS_MAX - BUS_WATCHERS_ROOT_RESERVE)

/* n uids (1000, 1001, ...) each add watchers until refused. Returns the slots taken. */
static size_t fill(size_t n, size_t held[]) {
        size_t taken = 0;
        bool progress = true;

        while (progress) {
                progress = false;
                for (size_t u = 0; u < n; u++)
                        if (bus_watchers_admit(1000 + (uid_t) u, held[u], taken) == 0) {
                                held[u]++;
                                taken++;
                                progress = true;
                        }
        }
        return taken;
}

TEST(one_uid_gets_its_share) {
        ASSERT_OK(bus_watchers_admit(1000, 0, 0));
        ASSERT_OK(bus_watchers_admit(1000, BUS_WATCHERS_PER_UID - 1, BUS_WATCHERS_PER_UID - 1));
        ASSERT_TRUE(bus_watchers_admit(1000, BUS_WATCHERS_PER_UID, BUS_WATCHERS_PER_UID) == -EUSERS);
}

TEST(fifteen_uids_leave_slots_for_others) {
        /* Before, 15 uids of 16 watchers took all 240 users' slots. */
        for (size_t n = 1; n <= 64; n++) {
                size_t held[64] = {}, taken = fill(n, held), newcomers = 0;

                ASSERT_TRUE(taken <= USERS_MAX);
                for (size_t u = 0; u < n; u++) {
                        ASSERT_TRUE(held[u] <= BUS_WATCHERS_PER_UID);
                        ASSERT_TRUE(bus_watchers_admit(1000 + (uid_t) u, held[u], taken) < 0);
                }
                /* The reserve: uids with none get one each while the users' slots last. */
                while (taken < USERS_MAX) {
                        ASSERT_OK(bus_watchers_admit(5000 + (uid_t) newcomers, 0, taken));
                        ASSERT_TRUE(bus_watchers_admit(5000 + (uid_t) newcomers, 1, taken + 1) < 0 ||
                                    taken + 1 < USERS_MAX - USERS_MAX / 4);
                        taken++;
                        newcomers++;
                }
                ASSERT_TRUE(newcomers >= (n * BUS_WATCHERS_PER_UID >= USERS_MAX ? USERS_MAX / 4 : 0));
                ASSERT_TRUE(bus_watchers_admit(9999, 0, taken) == -EBUSY);
                /* Root still finds its reserve. */
                for (size_t i = taken; i < BUS_WATCHERS_MAX; i++)
                        ASSERT_OK(bus_watchers_admit(0, i - taken, i));
                ASSERT_TRUE(bus_watchers_admit(0, 0, BUS_WATCHERS_MAX) == -EBUSY);
        }
}

TEST_MAIN(TEST_ENTRY(one_uid_gets_its_share),
          TEST_ENTRY(fifteen_uids_leave_slots_for_others))
