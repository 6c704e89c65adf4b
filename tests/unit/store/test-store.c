/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containerd's storage suite (core/snapshots/storage/metastore_test.go) and the shared
 * suite's StatInWalk, adapted to namespaces; in their names and order. */
#include "store-internal.h"
#include "store-suite-test-util.h"

TEST_ON_BASE(GetInfo) {
        for (size_t i = 0; i < ELEMENTSOF(base_info); i++) {
                _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
                ASSERT_OK(t_info(s, base_info[i].name, &info, NULL));
                assert_base_info(&info, i);
        }
}

TEST_ON_BASE(GetInfoNotExist) {
        SnapshotInfo info = {};
        Error e = ERROR_NULL;

        ASSERT_ERR(t_info(s, "active-not-exist", &info, &e), ENOENT);
        ASSERT_TRUE(e.code == ENOENT && strstr(e.message, "\"active-not-exist\""));
}

TEST(GetInfoEmptyDB) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        SnapshotInfo info = {};

        ASSERT_ERR(t_info(s, "active-1", &info, NULL), ENOENT);
        test_store_done(&ts);
}

TEST_ON_BASE(Walk) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;

        assert_walk(s, NULL, "active-1 active-2 active-3 committed-1 committed-2 view-1 view-2");

        /* Every walked info equals Stat's. */
        ASSERT_OK(store_read_begin(s, &t));
        for (size_t i = 0; i < ELEMENTSOF(base_info); i++) {
                _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
                ASSERT_OK(store_get_info(t, 0, base_info[i].name, &info, NULL));
                assert_base_info(&info, i);
        }
        t = (store_read_end(t), NULL);
}

TEST_ON_BASE(GetSnapshot) {
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

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(snapshot_clear) Snapshot snap = {};
                ASSERT_OK(t_snapshot(s, cases[i].name, &snap, NULL));
                ASSERT_TRUE(snap.id == cases[i].id && snap.kind == cases[i].kind);
                ASSERT_TRUE(snap.n_parents == cases[i].n);
                for (size_t j = 0; j < snap.n_parents; j++)
                        ASSERT_TRUE(snap.parent_ids[j] == cases[i].parents[j]);
        }
}

TEST_ON_BASE(GetSnapshotNotExist) {
        Snapshot snap = {};

        ASSERT_ERR(t_snapshot(s, "active-not-exist", &snap, NULL), ENOENT);
}

TEST_ON_BASE(GetSnapshotCommitted) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(snapshot_clear) Snapshot snap = {};
        Error e = ERROR_NULL;

        ASSERT_ERR(t_snapshot(s, "committed-1", &snap, &e), EWRONGKIND);
        ASSERT_TRUE(strstr(e.message, "\"committed-1\""));
        /* store_get_chain takes any kind. */
        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_get_chain(t, 0, "committed-2", &snap, NULL));
        ASSERT_TRUE(snap.id == 2 && snap.n_parents == 1 && snap.parent_ids[0] == 1);
        t = (store_read_end(t), NULL);
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

TEST_ON_BASE(CreateActiveExist) {
        Error e = ERROR_NULL;

        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, "active-1", NULL, &e), EEXIST);
        ASSERT_TRUE(strstr(e.message, "\"active-1\""));
        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, "committed-1", NULL, NULL), EEXIST);
        ASSERT_ERR(t_create(s, SNAPSHOT_VIEW, "view-1", "committed-1", NULL), EEXIST);
        /* The parent is checked before the key: a missing parent wins. */
        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, "active-1", "does-not-exist", NULL), ENOENT);
}

TEST_ON_BASE(CreateActiveFromActive) {
        Error e = ERROR_NULL;

        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, "active-new", "active-1", &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "\"active-1\"") && strstr(e.message, "not committed"));
        ASSERT_ERR(t_create(s, SNAPSHOT_VIEW, "view-new", "view-1", NULL), EINVAL);
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

TEST_ON_BASE(CommitNotExist) {
        Error e = ERROR_NULL;

        ASSERT_ERR(t_commit(s, "active-not-exist", "committed-new", &e), ENOENT);
        ASSERT_TRUE(strstr(e.message, "\"active-not-exist\""));
}

TEST_ON_BASE(CommitExist) {
        Error e = ERROR_NULL;

        ASSERT_ERR(t_commit(s, "active-1", "committed-1", &e), EEXIST);
        ASSERT_TRUE(strstr(e.message, "\"committed-1\""));
        /* The name is checked first, even against the key itself and a missing key. */
        ASSERT_ERR(t_commit(s, "active-1", "active-1", NULL), EEXIST);
        ASSERT_ERR(t_commit(s, "missing", "view-1", NULL), EEXIST);
}

TEST_ON_BASE(CommitCommitted) {
        Error e = ERROR_NULL;

        ASSERT_ERR(t_commit(s, "committed-1", "committed-3", &e), EWRONGKIND);
        ASSERT_TRUE(strstr(e.message, "\"committed-1\"") && strstr(e.message, "not active"));
}

TEST_ON_BASE(CommitViewFails) {
        Error e = ERROR_NULL;

        ASSERT_ERR(t_commit(s, "view-1", "committed-3", &e), EWRONGKIND);
        ASSERT_TRUE(strstr(e.message, "\"view-1\""));
}

TEST_ON_BASE(Remove) {
        SnapshotInfo info = {};
        SnapshotKind kind;

        ASSERT_TRUE(t_remove(s, "view-1", &kind, NULL) == 6 && kind == SNAPSHOT_VIEW);
        ASSERT_TRUE(t_remove(s, "view-2", &kind, NULL) == 7 && kind == SNAPSHOT_VIEW);
        ASSERT_TRUE(t_remove(s, "active-3", &kind, NULL) == 5 && kind == SNAPSHOT_ACTIVE);
        ASSERT_TRUE(t_remove(s, "committed-2", &kind, NULL) == 2 && kind == SNAPSHOT_COMMITTED);
        ASSERT_ERR(t_info(s, "committed-2", &info, NULL), ENOENT);
        /* The key is free again at once. */
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "committed-2", "committed-1", NULL) == 8);
        t_verify(s);
}

TEST_ON_BASE(RemoveNotExist) {
        Error e = ERROR_NULL;

        ASSERT_ERR(t_remove(s, "does-not-exist", NULL, &e), ENOENT);
        ASSERT_TRUE(strstr(e.message, "\"does-not-exist\""));
}

TEST_ON_BASE(RemoveWithChildren) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        Error e = ERROR_NULL;
        size_t n;

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
TEST_ON_BASE(Rebase) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_(snapshot_clear) Snapshot snap = {};

        ASSERT_TRUE(t_commit(s, "active-2", "committed-3", NULL) == 4);
        ASSERT_OK(t_info(s, "committed-3", &info, NULL));
        ASSERT_STREQ(info.parent, "committed-1");
        ASSERT_TRUE(t_create(s, SNAPSHOT_VIEW, "view-3", "committed-3", NULL) == 8);
        ASSERT_OK(t_snapshot(s, "view-3", &snap, NULL));
        ASSERT_TRUE(snap.n_parents == 2 && snap.parent_ids[0] == 4 && snap.parent_ids[1] == 1);
        ASSERT_ERR(t_remove(s, "committed-1", NULL, NULL), ENOTEMPTY);
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

TEST_ON_BASE(StatInWalk) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        StatInWalk w = { .store = s };

        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_walk(t, NULL, stat_in_walk_fn, &w, NULL));
        ASSERT_TRUE(w.n == ELEMENTSOF(base_info));
        t = (store_read_end(t), NULL);
}

TEST_MAIN(TEST_ENTRY(GetInfo), TEST_ENTRY(GetInfoNotExist), TEST_ENTRY(GetInfoEmptyDB), TEST_ENTRY(Walk),
          TEST_ENTRY(GetSnapshot), TEST_ENTRY(GetSnapshotNotExist), TEST_ENTRY(GetSnapshotCommitted),
          TEST_ENTRY(GetSnapshotEmptyDB), TEST_ENTRY(CreateActive), TEST_ENTRY(CreateActiveNotExist),
          TEST_ENTRY(CreateActiveExist), TEST_ENTRY(CreateActiveFromActive), TEST_ENTRY(Commit),
          TEST_ENTRY(CommitNotExist), TEST_ENTRY(CommitExist), TEST_ENTRY(CommitCommitted),
          TEST_ENTRY(CommitViewFails), TEST_ENTRY(Remove), TEST_ENTRY(RemoveNotExist),
          TEST_ENTRY(RemoveWithChildren), TEST_ENTRY(ParentIDs), TEST_ENTRY(Rebase), TEST_ENTRY(StatInWalk))
