/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store_walk_owner_from(): a walk that starts at a name and stops when told, so that a page
 * of a long list reads about a page of records. */
#include "store-internal.h"
#include "store-test-util.h"

typedef struct Counted {
        char **names;
        size_t calls, stop_after, labelled;
} Counted;

static int count_fn(const SnapshotInfo *info, void *userdata) {
        Counted *c = userdata;

        c->calls++;
        if (labels_get(&info->labels, "k") && streq(labels_get(&info->labels, "k"), "v"))
                c->labelled++;
        ASSERT_OK(strv_extend(&c->names, info->name));
        return c->stop_after > 0 && c->calls >= c->stop_after ? 1 : 0;
}

static void walk_from(Store *s, uid_t owner, const char *from, size_t stop_after, Counted *ret) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;

        *ret = (Counted) { .stop_after = stop_after };
        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_walk_owner_from(t, owner, from, NULL, count_fn, ret, NULL));
}

#define N_RECORDS 10000

/* uid 1000's n00000 … n09999, in one transaction. */
static int create_many(StoreTxn *t, void *userdata, Error *e) {
        char name[16];

        for (unsigned i = 0; i < N_RECORDS; i++) {
                _cleanup_(snapshot_clear) Snapshot snap = {};
                int r;

                snprintf(name, sizeof name, "n%05u", i);
                r = store_create(t, SNAPSHOT_ACTIVE, 1000, name, 0, NULL, NULL, test_now(), &snap, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A page of 10 from the middle of 10 000 names: the callback runs 10 times, on the 10
 * names from the start on, and never again after it said stop. */
TEST(walk_from_stops_after_a_page) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Counted c;

        ASSERT_OK(store_write(s, create_many, NULL, NULL));
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1001, "n05000x", 0, NULL, NULL, NULL) > 0);

        walk_from(s, 1000, "n05000", 10, &c);
        ASSERT_TRUE(c.calls == 10);
        ASSERT_STREQ(c.names[0], "n05000");
        ASSERT_STREQ(c.names[9], "n05009");
        c.names = strv_free(c.names);

        /* A start between names begins at the next; the end of the owner's names ends it
         * (uid 1001's name is not reached). */
        walk_from(s, 1000, "n09995a", 0, &c);
        ASSERT_TRUE(c.calls == 4);
        ASSERT_STREQ(c.names[0], "n09996");
        c.names = strv_free(c.names);

        walk_from(s, 1000, NULL, 0, &c);
        ASSERT_TRUE(c.calls == N_RECORDS);
        c.names = strv_free(c.names);

        walk_from(s, 1000, NULL, 3, &c);
        ASSERT_TRUE(c.calls == 3);
        ASSERT_STREQ(c.names[0], "n00000");
        c.names = strv_free(c.names);

        walk_from(s, 1000, "o", 0, &c);
        ASSERT_TRUE(c.calls == 0);
        test_store_done(&ts);
}

/* Long names sharing their first NAME_PREFIX_MAX bytes sit in the index by hash: a start
 * inside such a group still gives the names from it on, in name order, with their labels
 * (the group keeps only names; each record is read again for the callback). */
TEST(walk_from_inside_a_group_of_long_names) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_free_ char *l1 = long_name(600, 'l', "1"), *l2 = long_name(600, 'l', "2"),
                            *l3 = long_name(600, 'l', "3"), *prefix = long_name(NAME_PREFIX_MAX, 'l', NULL);
        Labels labels = LABELS_NULL;
        Counted c;

        ASSERT_OK(labels_set(&labels, "k", "v"));
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1000, l3, 0, NULL, &labels, NULL) > 0);
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1000, l1, 0, NULL, NULL, NULL) > 0);
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1000, l2, 0, NULL, NULL, NULL) > 0);
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1000, prefix, 0, NULL, NULL, NULL) > 0);
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1000, "m", 0, NULL, NULL, NULL) > 0);

        walk_from(s, 1000, l2, 0, &c);
        ASSERT_TRUE(c.calls == 3);
        ASSERT_STREQ(c.names[0], l2);
        ASSERT_STREQ(c.names[1], l3);
        ASSERT_STREQ(c.names[2], "m");
        ASSERT_TRUE(c.labelled == 1);
        c.names = strv_free(c.names);

        walk_from(s, 1000, prefix, 2, &c);
        ASSERT_TRUE(c.calls == 2);
        ASSERT_STREQ(c.names[0], prefix);
        ASSERT_STREQ(c.names[1], l1);
        c.names = strv_free(c.names);

        walk_from(s, 1000, "l", 0, &c);
        ASSERT_TRUE(c.calls == 5);
        c.names = strv_free(c.names);
        labels_clear(&labels);
        test_store_done(&ts);
}

TEST_MAIN(TEST_ENTRY(walk_from_stops_after_a_page), TEST_ENTRY(walk_from_inside_a_group_of_long_names))
