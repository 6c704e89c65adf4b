/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What lamina's store does beyond containerd's storage suite: per-owner namespaces,
 * Update's field paths, the shared suite's walk filters, walks of one owner. */
#include "store-internal.h"
#include "store-suite-test-util.h"

/* Children of an active snapshot that gets committed keep pointing at it (same ID). */
TEST_ON_BASE(commit_keeps_child_links) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};

        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "c3-tmp", "committed-2", NULL) == 8);
        ASSERT_TRUE(t_commit(s, "c3-tmp", "committed-3", NULL) == 8);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "on-3", "committed-3", NULL) == 9);
        ASSERT_OK(t_info(s, "on-3", &info, NULL));
        ASSERT_STREQ(info.parent, "committed-3");
        ASSERT_ERR(t_remove(s, "committed-3", NULL, NULL), ENOTEMPTY);
        t_verify(s);
}

TEST_ON_BASE(update_fieldpaths) {
        Labels l = LABELS_NULL, in = LABELS_NULL;
        char *paths12[] = { (char *) "labels.l1", (char *) "labels.l2", NULL };
        char *all[] = { (char *) "labels", NULL };
        char *bad[] = { (char *) "labels.x", (char *) "parent", NULL };
        _cleanup_(snapshot_info_clear) SnapshotInfo before = {};
        Op o;
        Error e = ERROR_NULL;

        ASSERT_OK(t_info(s, "active-2", &before, NULL));

        ASSERT_OK(labels_set(&in, "l1", "v1"));
        ASSERT_OK(labels_set(&in, "l2", "v2"));
        ASSERT_OK(labels_set(&in, "l3", "v3"));
        o = (Op) { .type = OP_UPDATE, .name = "active-2", .labels = &in, .now = before.created_usec + 5 };
        ASSERT_OK(op_run(s, &o, NULL));
        ASSERT_TRUE(labels_equal(&o.info.labels, &in));
        ASSERT_TRUE(o.info.created_usec == before.created_usec && o.info.updated_usec == before.created_usec + 5);
        ASSERT_TRUE(o.info.kind == SNAPSHOT_ACTIVE);
        ASSERT_STREQ(o.info.parent, "committed-1");
        op_done(&o);

        /* labels.l1 set, labels.l2 deleted (not in the input), l4 ignored. */
        labels_clear(&in);
        ASSERT_OK(labels_set(&in, "l1", "updated"));
        ASSERT_OK(labels_set(&in, "l4", "v4"));
        o = (Op) { .type = OP_UPDATE, .name = "active-2", .labels = &in, .fieldpaths = paths12, .now = 7 };
        ASSERT_OK(op_run(s, &o, NULL));
        ASSERT_OK(labels_set(&l, "l1", "updated"));
        ASSERT_OK(labels_set(&l, "l3", "v3"));
        ASSERT_TRUE(labels_equal(&o.info.labels, &l));
        op_done(&o);

        o = (Op) { .type = OP_UPDATE, .name = "active-2", .labels = &in, .fieldpaths = all, .now = 8 };
        ASSERT_OK(op_run(s, &o, NULL));
        ASSERT_TRUE(labels_equal(&o.info.labels, &in));
        op_done(&o);

        /* A bad path changes nothing. */
        o = (Op) { .type = OP_UPDATE, .name = "active-2", .labels = &l, .fieldpaths = bad, .now = 9 };
        ASSERT_ERR(op_run(s, &o, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "\"parent\"") && strstr(e.message, "\"active-2\""));
        op_done(&o);
        /* "labels." names no label: refused, not silently ignored. */
        {
                char *empty_key[] = { (char *) "labels.l1", (char *) "labels.", NULL };
                e = ERROR_NULL;
                o = (Op) { .type = OP_UPDATE, .name = "active-2", .labels = &l, .fieldpaths = empty_key, .now = 10 };
                ASSERT_ERR(op_run(s, &o, &e), EINVAL);
                ASSERT_TRUE(strstr(e.message, "\"labels.\"") && strstr(e.message, "non-empty key"));
                op_done(&o);
        }
        ASSERT_ERR(op_run(s, &(Op) { .type = OP_UPDATE, .name = "nope" }, NULL), ENOENT);
        {
                _cleanup_(snapshot_info_clear) SnapshotInfo after = {};
                ASSERT_OK(t_info(s, "active-2", &after, NULL));
                ASSERT_TRUE(labels_equal(&after.labels, &in) && after.updated_usec == 8);
        }
        /* Labels with dots in the key: everything after the first "labels." */
        {
                char *dotted[] = { (char *) "labels.containerd.io/gc.root", NULL };
                labels_clear(&l);
                ASSERT_OK(labels_set(&l, "containerd.io/gc.root", "x"));
                o = (Op) { .type = OP_UPDATE, .name = "active-2", .labels = &l, .fieldpaths = dotted, .now = 11 };
                ASSERT_OK(op_run(s, &o, NULL));
                ASSERT_STREQ(labels_get(&o.info.labels, "containerd.io/gc.root"), "x");
                ASSERT_STREQ(labels_get(&o.info.labels, "l4"), "v4");
                op_done(&o);
        }
        labels_clear(&l);
        labels_clear(&in);
}

TEST(namespaces) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(snapshot_info_clear) SnapshotInfo a = {}, b = {}, c = {};
        long root_id, user_id;
        Error e = ERROR_NULL;

        root_id = t_create_as(s, SNAPSHOT_ACTIVE, 0, "k", 0, NULL, NULL, NULL);
        user_id = t_create_as(s, SNAPSHOT_ACTIVE, 1000, "k", 0, NULL, NULL, NULL);
        ASSERT_TRUE(root_id > 0 && user_id > 0 && root_id != user_id);
        ASSERT_ERR(t_create_as(s, SNAPSHOT_ACTIVE, 1000, "k", 0, NULL, NULL, NULL), EEXIST);
        ASSERT_OK(t_info_as(s, 0, "k", &a, NULL));
        ASSERT_OK(t_info_as(s, 1000, "k", &b, NULL));
        ASSERT_TRUE(a.id == (uint64_t) root_id && a.owner == 0);
        ASSERT_TRUE(b.id == (uint64_t) user_id && b.owner == 1000);
        ASSERT_ERR(t_info_as(s, 1001, "k", &c, &e), ENOENT);

        /* A user builds on root's committed image. */
        ASSERT_TRUE(t_commit_as(s, 0, "k", "image", 0, NULL, NULL) == root_id);
        ASSERT_ERR(t_create_as(s, SNAPSHOT_ACTIVE, 1000, "c", 1000, "image", NULL, NULL), ENOENT);
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1000, "c", 0, "image", NULL, NULL) > 0);
        ASSERT_OK(t_info_as(s, 1000, "c", &c, NULL));
        ASSERT_STREQ(c.parent, "image");
        ASSERT_TRUE(c.parent_owner == 0 && c.owner == 1000);
        ASSERT_ERR(t_remove_as(s, 0, "image", NULL, NULL), ENOTEMPTY);
        ASSERT_ERR(t_remove_as(s, 1000, "image", NULL, NULL), ENOENT);

        /* Walk: owner, then name; the owner filter. */
        assert_walk(s, NULL, "image c k");
        assert_walk(s, (char *[]) { (char *) "owner==1000", NULL }, "c k");
        assert_walk(s, (char *[]) { (char *) "owner==0", NULL }, "image");
        assert_walk(s, (char *[]) { (char *) "owner==1000,kind==active", (char *) "owner==0,kind==committed", NULL },
                    "image c k");
        t_verify(s);
        test_store_done(&ts);
}

/* containerd's shared suite, case 8 (Walk). */
TEST(walk_filters) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        static const struct {
                const char *name, *parent, *l;
                SnapshotKind kind;
        } snaps[] = {
                { "a-np", NULL, NULL, SNAPSHOT_ACTIVE },     { "p", NULL, NULL, SNAPSHOT_COMMITTED },
                { "a", "p", NULL, SNAPSHOT_ACTIVE },         { "v", "p", NULL, SNAPSHOT_VIEW },
                { "p-wl", NULL, "1", SNAPSHOT_COMMITTED },   { "a-wl", "p-wl", "2", SNAPSHOT_ACTIVE },
                { "v-wl", "p-wl", "3", SNAPSHOT_VIEW },      { "a-np-wl", NULL, "2", SNAPSHOT_ACTIVE },
        };
        static const struct {
                const char *filters[3];
                const char *expected;
        } cases[] = {
                { { "labels.\"containerd.io/gc.root\"==check-walk" }, "a a-np a-np-wl a-wl p p-wl v v-wl" },
                { { "kind==active,labels.\"containerd.io/gc.root\"==check-walk" }, "a a-np a-np-wl a-wl" },
                { { "kind==view,labels.\"containerd.io/gc.root\"==check-walk" }, "v v-wl" },
                { { "kind==committed,labels.\"containerd.io/gc.root\"==check-walk" }, "p p-wl" },
                { { "name==p", "name==a-np-wl" }, "a-np-wl p" },
                { { "name==a-wl,labels.l" }, "a-wl" },
                { { "parent==p" }, "a v" },
                { { "parent!=\"\",labels.\"containerd.io/gc.root\"==check-walk" }, "a a-wl v v-wl" },
                { { "labels.l" }, "a-np-wl a-wl p-wl v-wl" },
                { { "labels.l==2" }, "a-np-wl a-wl" },
        };

        for (size_t i = 0; i < ELEMENTSOF(snaps); i++) {
                _cleanup_free_ char *tmp = strdup_printf("%s-tmp", snaps[i].name);
                Labels l = LABELS_NULL;
                bool committed = snaps[i].kind == SNAPSHOT_COMMITTED;

                ASSERT_OK(labels_set(&l, "containerd.io/gc.root", "check-walk"));
                if (snaps[i].l)
                        ASSERT_OK(labels_set(&l, "l", snaps[i].l));
                ASSERT_TRUE(t_create_as(s, committed ? SNAPSHOT_ACTIVE : snaps[i].kind, 0,
                                        committed ? tmp : snaps[i].name, 0, snaps[i].parent, &l, NULL) > 0);
                if (committed)
                        ASSERT_TRUE(t_commit_as(s, 0, tmp, snaps[i].name, 0, &l, NULL) > 0);
                labels_clear(&l);
        }
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_walk(s, (char **) cases[i].filters, cases[i].expected);
        test_store_done(&ts);
}

static int stop_fn(const SnapshotInfo *info, void *userdata) {
        return -ECANCELED;
}

TEST_ON_BASE(walk_callback_stops) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        Error e = ERROR_NULL;

        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_ERR(store_walk(t, NULL, stop_fn, NULL, &e), ECANCELED);
        t = (store_read_end(t), NULL);
}

/* One owner's walk reads only its own names: neighbours in uid order (and long names,
 * grouped by prefix) stay out. */
TEST(walk_owner_reads_one_namespace) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_free_ char *long1 = long_name(300, 'l', "1"), *long2 = long_name(300, 'l', "2");
        static const uid_t owners[] = { 0, 999, 1000, 1001, 65536 };
        Collected c = {};
        Error e = ERROR_NULL;

        for (size_t i = 0; i < ELEMENTSOF(owners); i++) {
                ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, owners[i], "a", 0, NULL, NULL, NULL) > 0);
                ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, owners[i], "b", 0, NULL, NULL, NULL) > 0);
        }
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1000, long2, 0, NULL, NULL, NULL) > 0);
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 1000, long1, 0, NULL, NULL, NULL) > 0);
        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_walk_owner(t, 1000, NULL, collect_fn, &c, &e));
        ASSERT_TRUE(strv_length(c.names) == 4);
        ASSERT_STREQ(c.names[0], "a");
        ASSERT_STREQ(c.names[1], "b");
        ASSERT_STREQ(c.names[2], long1);
        ASSERT_STREQ(c.names[3], long2);
        c.names = strv_free(c.names);
        ASSERT_OK(store_walk_owner(t, 4242, NULL, collect_fn, &c, &e));
        ASSERT_TRUE(strv_length(c.names) == 0);
        ASSERT_OK(store_walk_owner(t, 65536, NULL, collect_fn, &c, &e));
        ASSERT_TRUE(strv_length(c.names) == 2);
        c.names = strv_free(c.names);
        t = (store_read_end(t), NULL);
        test_store_done(&ts);
}

TEST_MAIN(TEST_ENTRY(commit_keeps_child_links), TEST_ENTRY(update_fieldpaths), TEST_ENTRY(namespaces),
          TEST_ENTRY(walk_filters), TEST_ENTRY(walk_callback_stops), TEST_ENTRY(walk_owner_reads_one_namespace))
