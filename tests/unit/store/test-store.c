/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containerd's storage suite (core/snapshots/storage/metastore_test.go), adapted to
 * namespaces, plus what LMDB makes special: long names, nested reads, IDs. */
#include <pthread.h>

#include "filter.h"
#include "store-internal.h"
#include "store-test-util.h"

/* committed-1 <- committed-2; active-1; active-2 on committed-1; active-3 on committed-2;
 * view-1; view-2 on committed-2. IDs 1..7 in that order. */
static void base_populate(Store *s) {
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "committed-tmp-1", NULL, NULL) == 1);
        ASSERT_TRUE(t_commit_as(s, 0, "committed-tmp-1", "committed-1", 1, NULL, NULL) == 1);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "committed-tmp-2", "committed-1", NULL) == 2);
        ASSERT_TRUE(t_commit_as(s, 0, "committed-tmp-2", "committed-2", 2, NULL, NULL) == 2);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "active-1", NULL, NULL) == 3);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "active-2", "committed-1", NULL) == 4);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "active-3", "committed-2", NULL) == 5);
        ASSERT_TRUE(t_create(s, SNAPSHOT_VIEW, "view-1", NULL, NULL) == 6);
        ASSERT_TRUE(t_create(s, SNAPSHOT_VIEW, "view-2", "committed-2", NULL) == 7);
}

static const struct {
        const char *name, *parent;
        SnapshotKind kind;
        uint64_t id, size;
} base_info[] = {
        { "active-1", NULL, SNAPSHOT_ACTIVE, 3, 0 },
        { "active-2", "committed-1", SNAPSHOT_ACTIVE, 4, 0 },
        { "active-3", "committed-2", SNAPSHOT_ACTIVE, 5, 0 },
        { "committed-1", NULL, SNAPSHOT_COMMITTED, 1, 1 },
        { "committed-2", "committed-1", SNAPSHOT_COMMITTED, 2, 2 },
        { "view-1", NULL, SNAPSHOT_VIEW, 6, 0 },
        { "view-2", "committed-2", SNAPSHOT_VIEW, 7, 0 },
};

static void assert_base_info(const SnapshotInfo *info, size_t i) {
        ASSERT_STREQ(info->name, base_info[i].name);
        ASSERT_TRUE(info->kind == base_info[i].kind);
        ASSERT_TRUE(info->id == base_info[i].id);
        ASSERT_TRUE(info->size == base_info[i].size);
        ASSERT_TRUE(info->owner == 0);
        if (base_info[i].parent) {
                ASSERT_STREQ(info->parent, base_info[i].parent);
                ASSERT_TRUE(info->parent_owner == 0);
        } else
                ASSERT_TRUE(!info->parent);
        ASSERT_TRUE(info->created_usec > 0 && info->created_usec == info->updated_usec);
}

TEST(GetInfo) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);

        base_populate(s);
        for (size_t i = 0; i < ELEMENTSOF(base_info); i++) {
                _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
                ASSERT_OK(t_info(s, base_info[i].name, &info, NULL));
                assert_base_info(&info, i);
        }
        test_store_done(&ts);
}

TEST(GetInfoNotExist) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        SnapshotInfo info = {};
        Error e = ERROR_NULL;

        base_populate(s);
        ASSERT_ERR(t_info(s, "active-not-exist", &info, &e), ENOENT);
        ASSERT_TRUE(e.code == ENOENT && strstr(e.message, "\"active-not-exist\""));
        test_store_done(&ts);
}

TEST(GetInfoEmptyDB) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        SnapshotInfo info = {};

        ASSERT_ERR(t_info(s, "active-1", &info, NULL), ENOENT);
        test_store_done(&ts);
}

typedef struct Collected {
        char **names;
        SnapshotInfo last;
} Collected;

static int collect_fn(const SnapshotInfo *info, void *userdata) {
        Collected *c = userdata;

        ASSERT_OK(strv_extend(&c->names, info->name));
        return 0;
}

/* Walks with filters (NULL: all); returns the names in walk order. */
static char **walk_names(Store *s, char **filters) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(filter_freep) Filter *f = NULL;
        Collected c = {};
        Error e = ERROR_NULL;

        ASSERT_OK(filter_parse(filters, &f, &e));
        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_walk(t, f, collect_fn, &c, &e));
        return c.names;
}

static char *joined(char **l) {
        return strv_join(l, " ");
}

static void assert_walk(Store *s, char **filters, const char *expected) {
        _cleanup_strv_free_ char **names = walk_names(s, filters);
        _cleanup_free_ char *got = joined(names);

        if (!streq(got, expected))
                fprintf(stderr, "filter %s: got \"%s\", expected \"%s\"\n",
                        filters && filters[0] ? filters[0] : "(none)", got, expected);
        ASSERT_STREQ(got, expected);
}

TEST(Walk) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(store_read_endp) StoreTxn *t = NULL;

        base_populate(s);
        assert_walk(s, NULL, "active-1 active-2 active-3 committed-1 committed-2 view-1 view-2");

        /* Every walked info equals Stat's. */
        ASSERT_OK(store_read_begin(s, &t));
        for (size_t i = 0; i < ELEMENTSOF(base_info); i++) {
                _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
                ASSERT_OK(store_get_info(t, 0, base_info[i].name, &info, NULL));
                assert_base_info(&info, i);
        }
        t = (store_read_end(t), NULL);
        test_store_done(&ts);
}

TEST(GetSnapshot) {
        static const struct {
                const char *name;
                SnapshotKind kind;
                uint64_t id;
                size_t n;
                uint64_t parents[2];
        } cases[] = {
                { "active-1", SNAPSHOT_ACTIVE, 3, 0, {} },
                { "active-2", SNAPSHOT_ACTIVE, 4, 1, { 1 } },
                { "active-3", SNAPSHOT_ACTIVE, 5, 2, { 2, 1 } },
                { "view-1", SNAPSHOT_VIEW, 6, 0, {} },
                { "view-2", SNAPSHOT_VIEW, 7, 2, { 2, 1 } },
        };
        TestStore ts;
        Store *s = test_store_new(&ts, 0);

        base_populate(s);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(snapshot_clear) Snapshot snap = {};
                ASSERT_OK(t_snapshot(s, cases[i].name, &snap, NULL));
                ASSERT_TRUE(snap.id == cases[i].id && snap.kind == cases[i].kind);
                ASSERT_TRUE(snap.n_parents == cases[i].n);
                for (size_t j = 0; j < snap.n_parents; j++)
                        ASSERT_TRUE(snap.parent_ids[j] == cases[i].parents[j]);
        }
        test_store_done(&ts);
}

TEST(GetSnapshotNotExist) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Snapshot snap = {};

        base_populate(s);
        ASSERT_ERR(t_snapshot(s, "active-not-exist", &snap, NULL), ENOENT);
        test_store_done(&ts);
}

TEST(GetSnapshotCommitted) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(snapshot_clear) Snapshot snap = {};
        Error e = ERROR_NULL;

        base_populate(s);
        ASSERT_ERR(t_snapshot(s, "committed-1", &snap, &e), EWRONGKIND);
        ASSERT_TRUE(strstr(e.message, "\"committed-1\""));
        /* store_get_chain takes any kind. */
        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_get_chain(t, 0, "committed-2", &snap, NULL));
        ASSERT_TRUE(snap.id == 2 && snap.n_parents == 1 && snap.parent_ids[0] == 1);
        t = (store_read_end(t), NULL);
        test_store_done(&ts);
}

TEST(GetSnapshotEmptyDB) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Snapshot snap = {};

        ASSERT_ERR(t_snapshot(s, "active-1", &snap, NULL), ENOENT);
        test_store_done(&ts);
}

TEST(CreateActive) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Op o = { .type = OP_CREATE, .kind = SNAPSHOT_ACTIVE, .name = "active-1", .now = 42 };
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        long committed;

        ASSERT_OK(op_run(s, &o, NULL));
        ASSERT_TRUE(o.snapshot.kind == SNAPSHOT_ACTIVE && o.snapshot.n_parents == 0 && o.snapshot.id == 1);
        op_done(&o);
        ASSERT_OK(t_info(s, "active-1", &info, NULL));
        ASSERT_TRUE(info.created_usec == 42 && info.updated_usec == 42);

        committed = t_commit(s, "active-1", "committed-1", NULL);
        ASSERT_TRUE(committed == 1);

        o = (Op) { .type = OP_CREATE, .kind = SNAPSHOT_ACTIVE, .name = "active-2", .parent = "committed-1" };
        ASSERT_OK(op_run(s, &o, NULL));
        ASSERT_TRUE(o.snapshot.kind == SNAPSHOT_ACTIVE && o.snapshot.n_parents == 1 &&
                    o.snapshot.parent_ids[0] == (uint64_t) committed);
        op_done(&o);

        o = (Op) { .type = OP_CREATE, .kind = SNAPSHOT_VIEW, .name = "view-1", .parent = "committed-1" };
        ASSERT_OK(op_run(s, &o, NULL));
        ASSERT_TRUE(o.snapshot.kind == SNAPSHOT_VIEW && o.snapshot.n_parents == 1 &&
                    o.snapshot.parent_ids[0] == (uint64_t) committed);
        op_done(&o);

        /* Only active and view can be created. */
        ASSERT_ERR(t_create(s, SNAPSHOT_COMMITTED, "c", NULL, NULL), EINVAL);
        ASSERT_ERR(t_create(s, (SnapshotKind) 0, "c", NULL, NULL), EINVAL);
        t_verify(s);
        test_store_done(&ts);
}

TEST(CreateActiveNotExist) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Error e = ERROR_NULL;

        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, "active-1", "does-not-exist", &e), ENOENT);
        ASSERT_TRUE(strstr(e.message, "\"does-not-exist\""));
        test_store_done(&ts);
}

TEST(CreateActiveExist) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Error e = ERROR_NULL;

        base_populate(s);
        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, "active-1", NULL, &e), EEXIST);
        ASSERT_TRUE(strstr(e.message, "\"active-1\""));
        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, "committed-1", NULL, NULL), EEXIST);
        ASSERT_ERR(t_create(s, SNAPSHOT_VIEW, "view-1", "committed-1", NULL), EEXIST);
        /* The parent is checked before the key: a missing parent wins. */
        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, "active-1", "does-not-exist", NULL), ENOENT);
        test_store_done(&ts);
}

TEST(CreateActiveFromActive) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Error e = ERROR_NULL;

        base_populate(s);
        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, "active-new", "active-1", &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "\"active-1\"") && strstr(e.message, "not committed"));
        ASSERT_ERR(t_create(s, SNAPSHOT_VIEW, "view-new", "view-1", NULL), EINVAL);
        test_store_done(&ts);
}

TEST(Commit) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        Labels l = LABELS_NULL;
        Snapshot snap = {};
        long id;

        ASSERT_OK(labels_set(&l, "from", "commit"));
        id = t_create(s, SNAPSHOT_ACTIVE, "active-1", NULL, NULL);
        ASSERT_TRUE(id > 0);
        ASSERT_TRUE(t_commit_as(s, 0, "active-1", "committed-1", 4096, &l, NULL) == id);
        ASSERT_ERR(t_snapshot(s, "active-1", &snap, NULL), ENOENT);
        ASSERT_ERR(t_snapshot(s, "committed-1", &snap, NULL), EWRONGKIND);
        ASSERT_OK(t_info(s, "committed-1", &info, NULL));
        ASSERT_TRUE(info.kind == SNAPSHOT_COMMITTED && info.size == 4096 && info.id == (uint64_t) id);
        ASSERT_TRUE(labels_equal(&info.labels, &l));
        labels_clear(&l);
        t_verify(s);
        test_store_done(&ts);
}

TEST(CommitNotExist) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Error e = ERROR_NULL;

        base_populate(s);
        ASSERT_ERR(t_commit(s, "active-not-exist", "committed-new", &e), ENOENT);
        ASSERT_TRUE(strstr(e.message, "\"active-not-exist\""));
        test_store_done(&ts);
}

TEST(CommitExist) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Error e = ERROR_NULL;

        base_populate(s);
        ASSERT_ERR(t_commit(s, "active-1", "committed-1", &e), EEXIST);
        ASSERT_TRUE(strstr(e.message, "\"committed-1\""));
        /* The name is checked first, even against the key itself and a missing key. */
        ASSERT_ERR(t_commit(s, "active-1", "active-1", NULL), EEXIST);
        ASSERT_ERR(t_commit(s, "missing", "view-1", NULL), EEXIST);
        test_store_done(&ts);
}

TEST(CommitCommitted) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Error e = ERROR_NULL;

        base_populate(s);
        ASSERT_ERR(t_commit(s, "committed-1", "committed-3", &e), EWRONGKIND);
        ASSERT_TRUE(strstr(e.message, "\"committed-1\"") && strstr(e.message, "not active"));
        test_store_done(&ts);
}

TEST(CommitViewFails) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Error e = ERROR_NULL;

        base_populate(s);
        ASSERT_ERR(t_commit(s, "view-1", "committed-3", &e), EWRONGKIND);
        ASSERT_TRUE(strstr(e.message, "\"view-1\""));
        test_store_done(&ts);
}

TEST(Remove) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        SnapshotInfo info = {};
        SnapshotKind kind;

        base_populate(s);
        ASSERT_TRUE(t_remove(s, "view-1", &kind, NULL) == 6 && kind == SNAPSHOT_VIEW);
        ASSERT_TRUE(t_remove(s, "view-2", &kind, NULL) == 7 && kind == SNAPSHOT_VIEW);
        ASSERT_TRUE(t_remove(s, "active-3", &kind, NULL) == 5 && kind == SNAPSHOT_ACTIVE);
        ASSERT_TRUE(t_remove(s, "committed-2", &kind, NULL) == 2 && kind == SNAPSHOT_COMMITTED);
        ASSERT_ERR(t_info(s, "committed-2", &info, NULL), ENOENT);
        /* The key is free again at once. */
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "committed-2", "committed-1", NULL) == 8);
        t_verify(s);
        test_store_done(&ts);
}

TEST(RemoveNotExist) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Error e = ERROR_NULL;

        base_populate(s);
        ASSERT_ERR(t_remove(s, "does-not-exist", NULL, &e), ENOENT);
        ASSERT_TRUE(strstr(e.message, "\"does-not-exist\""));
        test_store_done(&ts);
}

TEST(RemoveWithChildren) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        Error e = ERROR_NULL;
        size_t n;

        base_populate(s);
        ASSERT_ERR(t_remove(s, "committed-1", NULL, &e), ENOTEMPTY);
        ASSERT_STREQ(e.message, "snapshot \"committed-1\" has 2 children; remove them first");
        e = ERROR_NULL;
        ASSERT_ERR(t_remove(s, "committed-2", NULL, &e), ENOTEMPTY);
        ASSERT_TRUE(t_remove(s, "view-2", NULL, NULL) == 7);
        e = ERROR_NULL;
        ASSERT_ERR(t_remove(s, "committed-2", NULL, &e), ENOTEMPTY);
        ASSERT_STREQ(e.message, "snapshot \"committed-2\" has 1 child; remove it first");

        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_count_children(t, 1, &n));
        ASSERT_TRUE(n == 2);
        ASSERT_OK(store_count_children(t, 3, &n));
        ASSERT_TRUE(n == 0);
        t = (store_read_end(t), NULL);
        test_store_done(&ts);
}

TEST(ParentIDs) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        char key[32], name[32], parent[32] = "";
        uint64_t ids[10];

        for (int i = 0; i < 10; i++) {
                _cleanup_(snapshot_clear) Snapshot snap = {};
                snprintf(key, sizeof key, "active-%d", i);
                snprintf(name, sizeof name, "committed-%d", i);
                ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, key, i ? parent : NULL, NULL) > 0);
                ASSERT_OK(t_snapshot(s, key, &snap, NULL));
                ASSERT_TRUE(snap.n_parents == (size_t) i);
                for (int j = 0; j < i; j++)
                        ASSERT_TRUE(snap.parent_ids[j] == ids[i - 1 - j]); /* nearest first */
                ids[i] = snap.id;
                ASSERT_TRUE(t_commit(s, key, name, NULL) == (long) snap.id);
                snprintf(parent, sizeof parent, "%s", name);
        }
        test_store_done(&ts);
}

/* We don't support WithParent on commit; commit keeps the parent the active had. */
TEST(Rebase) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_(snapshot_clear) Snapshot snap = {};

        base_populate(s);
        ASSERT_TRUE(t_commit(s, "active-2", "committed-3", NULL) == 4);
        ASSERT_OK(t_info(s, "committed-3", &info, NULL));
        ASSERT_STREQ(info.parent, "committed-1");
        ASSERT_TRUE(t_create(s, SNAPSHOT_VIEW, "view-3", "committed-3", NULL) == 8);
        ASSERT_OK(t_snapshot(s, "view-3", &snap, NULL));
        ASSERT_TRUE(snap.n_parents == 2 && snap.parent_ids[0] == 4 && snap.parent_ids[1] == 1);
        ASSERT_ERR(t_remove(s, "committed-1", NULL, NULL), ENOTEMPTY);
        test_store_done(&ts);
}

/* Children of an active snapshot that gets committed keep pointing at it (same ID). */
TEST(commit_keeps_child_links) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};

        base_populate(s);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "c3-tmp", "committed-2", NULL) == 8);
        ASSERT_TRUE(t_commit(s, "c3-tmp", "committed-3", NULL) == 8);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "on-3", "committed-3", NULL) == 9);
        ASSERT_OK(t_info(s, "on-3", &info, NULL));
        ASSERT_STREQ(info.parent, "committed-3");
        ASSERT_ERR(t_remove(s, "committed-3", NULL, NULL), ENOTEMPTY);
        t_verify(s);
        test_store_done(&ts);
}

TEST(update_fieldpaths) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Labels l = LABELS_NULL, in = LABELS_NULL;
        char *paths12[] = { (char *) "labels.l1", (char *) "labels.l2", NULL };
        char *all[] = { (char *) "labels", NULL };
        char *bad[] = { (char *) "labels.x", (char *) "parent", NULL };
        _cleanup_(snapshot_info_clear) SnapshotInfo before = {};
        Op o;
        Error e = ERROR_NULL;

        base_populate(s);
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
        test_store_done(&ts);
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

TEST(walk_callback_stops) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        Error e = ERROR_NULL;

        base_populate(s);
        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_ERR(store_walk(t, NULL, stop_fn, NULL, &e), ECANCELED);
        t = (store_read_end(t), NULL);
        test_store_done(&ts);
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

TEST(labels_round_trip_64k) {
        TestStore ts;
        Store *s = test_store_new(&ts, 64 * 1024);
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_free_ char *v = long_name(LABEL_PAIR_MAX - 3, 'v', NULL);
        Labels l = LABELS_NULL;
        char key[8];
        size_t total = 0;

        for (int i = 0; i < 16; i++) {
                snprintf(key, sizeof key, "k%02d", i);
                v[0] = (char) ('a' + i);
                ASSERT_OK(labels_set(&l, key, v));
                total += strlen(key) + strlen(v);
        }
        ASSERT_TRUE(total == LABELS_TOTAL_MAX);
        ASSERT_OK(labels_validate(&l, NULL));
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 0, "big", 0, NULL, &l, NULL) == 1);
        ASSERT_OK(t_info(s, "big", &info, NULL));
        ASSERT_TRUE(labels_equal(&info.labels, &l));
        ASSERT_TRUE(t_commit_as(s, 0, "big", "big-committed", 0, &l, NULL) == 1);
        snapshot_info_clear(&info);
        ASSERT_OK(t_info(s, "big-committed", &info, NULL));
        ASSERT_TRUE(labels_equal(&info.labels, &l));
        labels_clear(&l);
        test_store_done(&ts);
}

TEST(long_names) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_free_ char *n4096 = long_name(4096, 'x', "end");
        _cleanup_free_ char *a = long_name(1000, 'p', "a-tail"), *b = long_name(1000, 'p', "b-tail");
        _cleanup_free_ char *n448 = long_name(448, 'p', NULL), *n449 = long_name(449, 'p', NULL);
        _cleanup_free_ char *committed = long_name(4096, 'c', NULL);
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_strv_free_ char **names = NULL;
        SnapshotKind kind;

        /* a and b share a 994-byte prefix (more than 600), beyond the indexed prefix. */
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, b, NULL, NULL) == 1);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, a, NULL, NULL) == 2);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, n449, NULL, NULL) == 3);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, n448, NULL, NULL) == 4);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, n4096, NULL, NULL) == 5);
        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, a, NULL, NULL), EEXIST);
        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, n4096, NULL, NULL), EEXIST);

        ASSERT_OK(t_info(s, a, &info, NULL));
        ASSERT_TRUE(info.id == 2 && streq(info.name, a));
        snapshot_info_clear(&info);
        ASSERT_OK(t_info(s, b, &info, NULL));
        ASSERT_TRUE(info.id == 1 && streq(info.name, b));
        snapshot_info_clear(&info);

        /* Byte order, long names included. */
        names = walk_names(s, NULL);
        ASSERT_TRUE(strv_length(names) == 5);
        ASSERT_STREQ(names[0], n448);
        ASSERT_STREQ(names[1], n449);
        ASSERT_STREQ(names[2], a);
        ASSERT_STREQ(names[3], b);
        ASSERT_STREQ(names[4], n4096);

        /* Long parents and long committed names. */
        ASSERT_TRUE(t_commit(s, n4096, committed, NULL) == 5);
        ASSERT_TRUE(t_create(s, SNAPSHOT_VIEW, "child", committed, NULL) == 6);
        ASSERT_OK(t_info(s, "child", &info, NULL));
        ASSERT_STREQ(info.parent, committed);

        ASSERT_TRUE(t_remove(s, a, &kind, NULL) == 2);
        ASSERT_ERR(t_info(s, a, &info, NULL), ENOENT);
        ASSERT_OK(t_info(s, b, &info, NULL));
        t_verify(s);
        test_store_done(&ts);
}

static int create_then_fail(StoreTxn *t, void *userdata, Error *e) {
        ASSERT_OK(op_fn(t, userdata, e));
        return -EIO;
}

TEST(ids_never_reused) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Op o = { .type = OP_CREATE, .kind = SNAPSHOT_ACTIVE, .name = "x" };

        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "a", NULL, NULL) == 1);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "b", NULL, NULL) == 2);
        ASSERT_TRUE(t_remove(s, "b", NULL, NULL) == 2);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "b", NULL, NULL) == 3);

        /* A failed write rolls the counter back with everything else. */
        ASSERT_ERR(store_write(s, create_then_fail, &o, NULL), EIO);
        op_done(&o);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "c", NULL, NULL) == 4);
        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, "c", NULL, NULL), EEXIST);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "d", NULL, NULL) == 5);

        /* The counter persists across reopening. */
        ts.store = store_free(ts.store);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        ASSERT_TRUE(t_remove(ts.store, "d", NULL, NULL) == 5);
        ASSERT_TRUE(t_create(ts.store, SNAPSHOT_ACTIVE, "d", NULL, NULL) == 6);
        {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;
                _cleanup_free_ uint64_t *ids = NULL;
                size_t n;

                ASSERT_OK(store_read_begin(ts.store, &t));
                ASSERT_OK(store_list_ids(t, &ids, &n));
                ASSERT_TRUE(n == 4 && ids[0] == 1 && ids[1] == 3 && ids[2] == 4 && ids[3] == 6);
        }
        test_store_done(&ts);
}

typedef struct StatInWalk {
        Store *store;
        size_t n;
} StatInWalk;

static int stat_in_walk_fn(const SnapshotInfo *info, void *userdata) {
        StatInWalk *w = userdata;
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(snapshot_info_clear) SnapshotInfo again = {};

        ASSERT_OK(store_read_begin(w->store, &t)); /* a nested read transaction */
        ASSERT_OK(store_get_info(t, info->owner, info->name, &again, NULL));
        ASSERT_TRUE(again.id == info->id && again.kind == info->kind);
        ASSERT_TRUE(again.created_usec == info->created_usec && again.updated_usec == info->updated_usec);
        ASSERT_TRUE(labels_equal(&again.labels, &info->labels));
        ASSERT_TRUE((!again.parent && !info->parent) || streq(again.parent, info->parent));
        w->n++;
        return 0;
}

TEST(StatInWalk) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        StatInWalk w = { .store = s };

        base_populate(s);
        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_walk(t, NULL, stat_in_walk_fn, &w, NULL));
        ASSERT_TRUE(w.n == ELEMENTSOF(base_info));
        t = (store_read_end(t), NULL);
        test_store_done(&ts);
}

typedef struct Writer {
        Store *store;
        int n;
} Writer;

static void *writer_thread(void *userdata) {
        Writer *w = userdata;
        char name[32];

        for (int i = 0; i < w->n; i++) {
                snprintf(name, sizeof name, "w-%d", i);
                ASSERT_TRUE(t_create(w->store, SNAPSHOT_ACTIVE, name, NULL, NULL) > 0);
        }
        return NULL;
}

/* A reader in one thread, writes in another, the map growing meanwhile. */
TEST(read_while_another_thread_writes) {
        TestStore ts;
        Store *s = test_store_new(&ts, 64 * 1024);
        _cleanup_(store_read_endp) StoreTxn *held = NULL;
        Writer one = { .store = s, .n = 1 }, w = { .store = s, .n = 600 };
        SnapshotInfo info = {};
        pthread_t thread;

        base_populate(s);
        /* A read transaction held across a write in another thread. */
        ASSERT_OK(store_read_begin(s, &held));
        ASSERT_TRUE(pthread_create(&thread, NULL, writer_thread, &one) == 0);
        ASSERT_TRUE(pthread_join(thread, NULL) == 0);
        ASSERT_ERR(store_get_info(held, 0, "w-0", &info, NULL), ENOENT); /* its snapshot */
        held = (store_read_end(held), NULL);
        ASSERT_OK(t_info(s, "w-0", &info, NULL));
        snapshot_info_clear(&info);
        ASSERT_TRUE(t_remove(s, "w-0", NULL, NULL) > 0);

        /* Reads keep going (briefly held) while the writer grows the map. */
        ASSERT_TRUE(pthread_create(&thread, NULL, writer_thread, &w) == 0);
        for (int i = 0; i < 2000; i++) {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;
                ASSERT_OK(store_read_begin(s, &t));
                ASSERT_OK(store_get_info(t, 0, "committed-2", &info, NULL));
                snapshot_info_clear(&info);
        }
        ASSERT_TRUE(pthread_join(thread, NULL) == 0);
        ASSERT_OK(t_info(s, "w-599", &info, NULL));
        snapshot_info_clear(&info);
        {
                _cleanup_free_ char *data = strdup_printf("%s/data.mdb", ts.dir.db);
                struct stat st;

                ASSERT_OK(stat(data, &st));
                ASSERT_TRUE(st.st_size > 64 * 1024); /* the map grew meanwhile */
        }
        t_verify(s);
        test_store_done(&ts);
}

static int mount_put_fn(StoreTxn *t, void *userdata, Error *e) {
        return store_mount_put(t, userdata);
}

static int mount_delete_fn(StoreTxn *t, void *userdata, Error *e) {
        return store_mount_delete(t, *(uint64_t *) userdata);
}

static int mount_count_fn(const MountRecord *r, void *userdata) {
        (*(size_t *) userdata)++;
        return 0;
}

TEST(mount_records) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        MountRecord m = { .snapshot_id = 7, .owner = 1000, .target = (char *) "/run/lamina/mounts/overlayfs/7",
                          .mnt_id = 1234, .boot_id = "0123456789abcdef0123456789abcdef",
                          .daemon_made_target = true, .mounted_usec = 99, .attrs = 0x100006 };
        _cleanup_(mount_record_clear) MountRecord got = {};

        ASSERT_OK(store_write(s, mount_put_fn, &m, NULL));
        {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;
                size_t n = 0;

                ASSERT_OK(store_read_begin(s, &t));
                ASSERT_OK(store_mount_get(t, 7, &got));
                ASSERT_TRUE(got.owner == 1000 && got.mnt_id == 1234 && got.daemon_made_target &&
                            got.mounted_usec == 99);
                ASSERT_TRUE(got.attrs == 0x100006 && got.attrs_known); /* the options it was made with */
                ASSERT_STREQ(got.target, m.target);
                ASSERT_STREQ(got.boot_id, m.boot_id);
                ASSERT_ERR(store_mount_get(t, 8, &got), ENOENT);
                ASSERT_OK(store_mount_walk(t, mount_count_fn, &n));
                ASSERT_TRUE(n == 1);
        }
        ASSERT_OK(store_write(s, mount_delete_fn, &m.snapshot_id, NULL));
        {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;
                ASSERT_OK(store_read_begin(s, &t));
                ASSERT_ERR(store_mount_get(t, 7, &got), ENOENT);
        }
        test_store_done(&ts);
}

TEST(directory_modes) {
        TestStore ts;
        struct stat st;
        char p[128];

        test_store_new(&ts, 0);
        ASSERT_OK(stat(ts.dir.db, &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0700);
        snprintf(p, sizeof p, "%s/data.mdb", ts.dir.db);
        ASSERT_OK(stat(p, &st));
        ASSERT_TRUE((st.st_mode & 0077) == 0);
        test_store_done(&ts);
}

/* The on-disk key of a long name is owner, prefix and SHA-256 of the whole name: a fixed
 * vector (python3 hashlib.sha256(b"n" * 500)), so a change of hashing library cannot change
 * the keys existing stores hold. */
TEST(name_key_long_is_sha256) {
        static const uint8_t want[HASH_LEN] = {
                0x2c, 0x62, 0xce, 0x96, 0x04, 0xb9, 0x64, 0xdf, 0x36, 0xbf, 0xb0, 0xf5, 0x05, 0xad, 0x10, 0xb7,
                0x8c, 0x56, 0x26, 0x9e, 0x3a, 0x2e, 0xde, 0x20, 0x28, 0x29, 0xea, 0x6b, 0xfc, 0x53, 0xd8, 0xd3,
        };
        char name[500];
        NameKey k;

        memset(name, 'n', sizeof name);
        ASSERT_OK(name_key(1000, name, sizeof name, &k));
        ASSERT_TRUE(k.n == NAME_KEY_LONG);
        ASSERT_TRUE(k.b[3] == 0xe8 && k.b[2] == 0x03 && k.b[0] == 0 && k.b[1] == 0);
        ASSERT_TRUE(memcmp(k.b + OWNER_LEN, name, NAME_PREFIX_MAX) == 0);
        ASSERT_TRUE(memcmp(k.b + NAME_GROUP_LEN, want, HASH_LEN) == 0);
}

TEST_MAIN(TEST_ENTRY(GetInfo), TEST_ENTRY(GetInfoNotExist), TEST_ENTRY(GetInfoEmptyDB), TEST_ENTRY(Walk),
          TEST_ENTRY(GetSnapshot), TEST_ENTRY(GetSnapshotNotExist), TEST_ENTRY(GetSnapshotCommitted),
          TEST_ENTRY(GetSnapshotEmptyDB), TEST_ENTRY(CreateActive), TEST_ENTRY(CreateActiveNotExist),
          TEST_ENTRY(CreateActiveExist), TEST_ENTRY(CreateActiveFromActive), TEST_ENTRY(Commit),
          TEST_ENTRY(CommitNotExist), TEST_ENTRY(CommitExist), TEST_ENTRY(CommitCommitted),
          TEST_ENTRY(CommitViewFails), TEST_ENTRY(Remove), TEST_ENTRY(RemoveNotExist),
          TEST_ENTRY(RemoveWithChildren), TEST_ENTRY(ParentIDs), TEST_ENTRY(Rebase),
          TEST_ENTRY(commit_keeps_child_links), TEST_ENTRY(update_fieldpaths), TEST_ENTRY(namespaces),
          TEST_ENTRY(walk_filters), TEST_ENTRY(walk_callback_stops), TEST_ENTRY(walk_owner_reads_one_namespace), TEST_ENTRY(labels_round_trip_64k),
          TEST_ENTRY(long_names), TEST_ENTRY(ids_never_reused), TEST_ENTRY(StatInWalk),
          TEST_ENTRY(read_while_another_thread_writes), TEST_ENTRY(mount_records),
          TEST_ENTRY(directory_modes), TEST_ENTRY(name_key_long_is_sha256))
