/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Review: the image objects of a namespace whose top snapshot cannot be read (a damaged
 * record: store_get_info() fails with other than ENOENT) are an error, not a free of the
 * uninitialised object the failed lookup left in the list (make_object() returned before
 * filling it, and the list counted it to free it). */
#include "core-internal.h"
#include "core-test-util.h"
#include "store-internal.h"

/* Replaces the record of the snapshot with ID *userdata by one byte, as damage would. */
static int damage_record(StoreTxn *t, void *userdata, Error *e) {
        IdKey k = id_key(*(const uint64_t *) userdata);

        return db_put(t, t->store->records, k.b, sizeof k.b, "x", 1, 0);
}

TEST(image_objects_of_a_damaged_top_fail_cleanly) {
        CoreImageObjectList l = {};
        SnapshotInfo info = {};
        CoreSnapshotter *ovl;
        Error e = ERROR_NULL;
        char *dir;
        Core *c = test_core_setup(&dir, &ovl);
        uint64_t id;

        ASSERT_OK(core_prepare(ovl, 1000, "a", NULL, NULL, NULL, &e));
        ASSERT_OK(core_commit(ovl, 1000, "top", "a", NULL, &e));
        /* Several images: the list has grown past its first item when the damaged one is met. */
        ASSERT_OK(core_prepare(ovl, 1000, "b", NULL, NULL, NULL, &e));
        ASSERT_OK(core_commit(ovl, 1000, "other", "b", NULL, &e));
        ASSERT_OK(core_image_create(ovl, 1000, "a-other:1", "other", "{}", 0, &e));
        ASSERT_OK(core_image_create(ovl, 1000, "z-top:1", "top", "{}", 0, &e));
        ASSERT_OK(core_stat(ovl, 1000, "top", &info, &e));
        id = info.id;
        snapshot_info_clear(&info);
        ASSERT_OK(store_write(ovl->store, damage_record, &id, &e));

        ASSERT_TRUE(core_image_objects(ovl, 1000, 0, &l, &e) < 0);
        ASSERT_TRUE(l.n == 0 && !l.items);
        core_image_object_list_clear(&l);
        test_core_teardown(c, dir);
}

TEST_MAIN(TEST_ENTRY(image_objects_of_a_damaged_top_fail_cleanly))
