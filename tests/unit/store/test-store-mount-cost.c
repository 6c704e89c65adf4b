/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a mount costs the kernel (MountRecord.kernel_mounts) is kept with the record and in
 * its owner's totals, in the same transaction: added, moved when a record is replaced,
 * taken away when it goes; a record written by an older laminad (version 4, no cost) still
 * reads and counts the most a mount can cost, both when the totals are kept and when a
 * store whose totals did not count kernel mounts gets them built at open. */
#include <lmdb.h>

#include "store-internal.h"
#include "store-test-util.h"

#define BOOT_ID "0123456789abcdef0123456789abcdef"

static int mount_put_fn(StoreTxn *t, void *userdata, Error *e) {
        return store_mount_put(t, userdata);
}

static int mount_delete_fn(StoreTxn *t, void *userdata, Error *e) {
        return store_mount_delete(t, *(uint64_t *) userdata);
}

static void put(Store *s, uint64_t id, uid_t owner, uint64_t kernel_mounts) {
        MountRecord m = { .snapshot_id = id, .owner = owner, .target = (char *) "/m", .boot_id = BOOT_ID,
                          .kernel_mounts = kernel_mounts };

        ASSERT_OK(store_write(s, mount_put_fn, &m, NULL));
}

static void delete(Store *s, uint64_t id) {
        ASSERT_OK(store_write(s, mount_delete_fn, &id, NULL));
}

/* owner's mounts and kernel mounts as its totals say, checked against a recount. */
static void expect_held(Store *s, uid_t owner, uint64_t mounts, uint64_t kernel_mounts) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        StoreOwnerTotals kept, counted;

        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_owner_totals(t, owner, &kept, NULL));
        ASSERT_OK(store_owner_recount(t, owner, &counted));
        if (kept.mounts != mounts || kept.kernel_mounts != kernel_mounts)
                fprintf(stderr, "uid %u: %llu mounts, %llu kernel mounts; expected %llu, %llu\n", (unsigned) owner,
                        (unsigned long long) kept.mounts, (unsigned long long) kept.kernel_mounts,
                        (unsigned long long) mounts, (unsigned long long) kernel_mounts);
        ASSERT_TRUE(kept.mounts == mounts && kept.kernel_mounts == kernel_mounts);
        ASSERT_TRUE(store_owner_totals_equal(&kept, &counted));
        store_read_end(TAKE_PTR(t));
        t_verify(s);
}

TEST(kernel_mounts_are_kept_with_the_record_and_in_the_totals) {
        _cleanup_(mount_record_clear) MountRecord got = {};
        TestStore ts;
        Store *s = test_store_new(&ts, 0);

        put(s, 7, 1000, 502);
        put(s, 8, 1000, 1);
        put(s, 9, 1001, 12);
        expect_held(s, 1000, 2, 503);
        expect_held(s, 1001, 1, 12);
        {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;

                ASSERT_OK(store_read_begin(s, &t));
                ASSERT_OK(store_mount_get(t, 7, &got));
                ASSERT_TRUE(got.kernel_mounts == 502 && got.owner == 1000 && streq(got.target, "/m"));
        }

        /* Replaced (MountFd's record follows the clone; another owner, as after damage). */
        put(s, 7, 1001, 40);
        expect_held(s, 1000, 1, 1);
        expect_held(s, 1001, 2, 52);

        delete(s, 8);
        delete(s, 7);
        expect_held(s, 1000, 0, 0);
        expect_held(s, 1001, 1, 12);
        test_store_done(&ts);
}

/* Writes what laminad before kernel_mounts wrote: a version-4 mount record. */
static int put_v4_record(StoreTxn *t, void *userdata, Error *e) {
        _cleanup_(buf_done) Buf b = {};
        IdKey k = id_key(*(uint64_t *) userdata);

        buf_put_u8(&b, 4);
        buf_put_u32(&b, 1000);
        buf_put_u64(&b, 1234);  /* mnt_id */
        buf_put_u64(&b, 99);    /* mounted_usec */
        buf_put_u8(&b, 1);      /* daemon_made_target */
        buf_put_str(&b, BOOT_ID, strlen(BOOT_ID));
        buf_put_str(&b, "/old", strlen("/old"));
        buf_put_u64(&b, 0x801); /* sb_dev */
        buf_put_str(&b, "/", 1);
        buf_put_u64(&b, 0x6);   /* attrs */
        if (b.oom)
                return -ENOMEM;
        return db_put(t, t->store->mounts, k.b, sizeof k.b, b.data, b.n, 0);
}

/* And the totals as that laminad kept them: of version 1, which counted no kernel mounts. */
static int mark_totals_v1(StoreTxn *t, void *userdata, Error *e) {
        uint8_t version = 1;

        return db_put(t, t->store->meta, "owner-totals", strlen("owner-totals"), &version, 1, 0);
}

TEST(an_older_record_reads_and_counts_the_most_a_mount_costs) {
        _cleanup_(mount_record_clear) MountRecord got = {};
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        uint64_t id = 5;

        put(s, 6, 1000, 3);
        ASSERT_OK(store_write(s, put_v4_record, &id, NULL));
        ASSERT_OK(store_write(s, mark_totals_v1, NULL, NULL));

        /* Opened again: the totals are built anew and count the old record. */
        ts.store = store_free(ts.store);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        s = ts.store;
        {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;

                ASSERT_OK(store_read_begin(s, &t));
                ASSERT_OK(store_mount_get(t, 5, &got));
                ASSERT_TRUE(got.kernel_mounts == STORE_MOUNT_KERNEL_MOUNTS_UNKNOWN);
                ASSERT_TRUE(got.owner == 1000 && got.mnt_id == 1234 && streq(got.target, "/old") && got.attrs_known &&
                            got.attrs == 0x6 && got.sb_dev == 0x801 && streq(got.mnt_root, "/"));
                ASSERT_TRUE(got.point_handle_size == 0); /* not known: a plain Unmount goes by name */
        }
        expect_held(s, 1000, 2, 3 + STORE_MOUNT_KERNEL_MOUNTS_UNKNOWN);

        /* Gone, it takes away what it counted; rewritten, it counts what it says. */
        delete(s, 5);
        expect_held(s, 1000, 1, 3);
        ASSERT_OK(store_write(s, put_v4_record, &id, NULL)); /* past the totals: off by the record */
        put(s, 5, 1000, 10);                                  /* found off, counted again */
        expect_held(s, 1000, 2, 13);
        test_store_done(&ts);
}

TEST_MAIN(TEST_ENTRY(kernel_mounts_are_kept_with_the_record_and_in_the_totals),
          TEST_ENTRY(an_older_record_reads_and_counts_the_most_a_mount_costs))
