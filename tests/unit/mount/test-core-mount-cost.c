/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a user's mounts cost the kernel is budgeted: an overlay of N layers is N + 2 kernel
 * mounts (N + 1 for a view), recorded with its mount record and added up in its owner's
 * totals; a mount that would take a non-root uid past CORE_KERNEL_MOUNTS_PER_USER_MAX is
 * LimitsExceeded (EUSERS) naming the snapshot, the uid, what it holds and the budget, by
 * Mount or MountFd, well below the 256 mounts a user may have; a mount of a few kernel
 * mounts still fits, other users are not held back, and an Unmount makes room again. */
#include <inttypes.h>

#include "core-mount-fill.h"
#include "strutil.h"

#define DEPTH 500
#define COST (DEPTH + 2) /* an active on DEPTH layers: each layer, its upper and itself */
#define FIT (CORE_KERNEL_MOUNTS_PER_USER_MAX / COST)
#define FLAT MOUNT_DIR_OWN_SB_KERNEL_MOUNTS /* a writable snapshot without parents */

/* A chain of root's committed layers L1..Ln (L1 the bottom). */
static void make_chain(Env *env, size_t n) {
        char key[32], name[32], parent[32];

        for (size_t i = 1; i <= n; i++) {
                snprintf(key, sizeof key, "a%zu", i);
                snprintf(name, sizeof name, "L%zu", i);
                snprintf(parent, sizeof parent, "L%zu", i - 1);
                prepare(env, 0, key, i == 1 ? NULL : parent);
                commit(env, 0, name, key);
        }
}

/* The kernel mounts owner's mount records add up to, in its totals. */
static uint64_t kernel_mounts_held(Env *env, uid_t owner) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        StoreOwnerTotals held, counted;

        ASSERT_OK(store_read_begin(env->s->store, &t));
        ASSERT_OK(store_owner_totals(t, owner, &held, NULL));
        ASSERT_OK(store_owner_recount(t, owner, &counted));
        ASSERT_TRUE(store_owner_totals_equal(&held, &counted));
        return held.kernel_mounts;
}

static void body_budget(const char *dir) {
        _cleanup_free_ char *needle = NULL, *flat = NULL, *other = NULL;
        _cleanup_(user_mounts_done) UserMounts m = { .fd = -EBADF };
        const char *key;
        char parent[32];
        Error e = ERROR_NULL;
        Env env = env_new(dir);

        ASSERT_TRUE(FIT > 1 && FIT < CORE_MOUNTS_PER_USER_MAX);
        make_chain(&env, DEPTH);
        snprintf(parent, sizeof parent, "L%d", DEPTH);
        user_mounts_fill(&env, 1000, FIT, parent, &m); /* the mount fd's record follows the clone */
        ASSERT_TRUE(kernel_mounts_held(&env, 1000) == (uint64_t) FIT * COST);

        /* One more of them is refused, by Mount and by MountFd, naming what is held. */
        key = m.next;
        needle = strdup_printf("snapshot \"%s\": it costs %d kernel mounts (one per layer, its upper and itself) "
                               "and uid 1000's mounts of snapshotter overlayfs cost %u already, of the %u a user may have",
                               key, COST, FIT * COST, CORE_KERNEL_MOUNTS_PER_USER_MAX);
        expect_error(core_mount(env.s, 1000, key, NULL, NULL, NULL, &e), &e, EUSERS, needle);
        ASSERT_TRUE(!e.internal && strstr(e.message, "unmount one first"));
        e = ERROR_NULL;
        {
                _cleanup_close_ int fd2 = -EBADF;

                expect_error(core_mount_fd(env.s, 1000, key, NULL, &fd2, &e), &e, EUSERS, "kernel mounts");
                ASSERT_TRUE(fd2 < 0);
                e = ERROR_NULL;
        }
        /* A view of the 500 layers costs one less: still too many. */
        ASSERT_OK(core_view(env.s, 1000, "v", parent, NULL, NULL, &e));
        expect_error(core_mount(env.s, 1000, "v", NULL, NULL, NULL, &e), &e, EUSERS, "it costs 501 kernel mounts");
        e = ERROR_NULL;
        ASSERT_TRUE(kernel_mounts_held(&env, 1000) == (uint64_t) FIT * COST); /* nothing changed */

        /* What still fits: a snapshot without parents, writable: an overlay of its data
         * alone (its upper, the empty lower, itself). */
        prepare(&env, 1000, "flat", NULL);
        flat = mount_key(&env, 1000, "flat", NULL);
        ASSERT_TRUE(kernel_mounts_held(&env, 1000) == (uint64_t) FIT * COST + FLAT);

        /* Another user mounts the same layers meanwhile. */
        prepare(&env, 1001, "other", parent);
        other = mount_key(&env, 1001, "other", NULL);
        ASSERT_TRUE(kernel_mounts_held(&env, 1001) == COST);

        /* An unmount makes room for one more. */
        unmount_key(&env, 1000, "k0", m.paths[0]);
        ASSERT_TRUE(kernel_mounts_held(&env, 1000) == (uint64_t) (FIT - 1) * COST + FLAT);
        free(mount_key(&env, 1000, key, NULL));
        ASSERT_TRUE(kernel_mounts_held(&env, 1000) == (uint64_t) FIT * COST + FLAT);
        env_done(&env);
}
TEST(kernel_mounts_per_user_are_budgeted) {
        run_isolated(body_budget);
}

/* Root has no budget: its mounts are recorded with their cost, and refused for nothing. */
static void body_root(const char *dir) {
        Env env = env_new(dir);
        char key[32];

        make_chain(&env, DEPTH);
        for (unsigned i = 0; i <= FIT; i++) {
                snprintf(key, sizeof key, "r%u", i);
                prepare(&env, 0, key, "L500");
                free(mount_key(&env, 0, key, NULL));
        }
        ASSERT_TRUE(kernel_mounts_held(&env, 0) == (uint64_t) (FIT + 1) * COST);
        ASSERT_TRUE(kernel_mounts_held(&env, 0) > CORE_KERNEL_MOUNTS_PER_USER_MAX);
        env_done(&env);
}
TEST(root_has_no_kernel_mount_budget) {
        run_isolated(body_root);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(kernel_mounts_per_user_are_budgeted),
                TEST_ENTRY(root_has_no_kernel_mount_budget),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
