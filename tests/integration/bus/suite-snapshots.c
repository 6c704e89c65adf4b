/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containerd's suite over the bus, the cases on what a snapshot is: its kind, parent,
 * labels and times as Stat, Update and List show them, and which Prepare, View, Commit
 * and Remove are refused. */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "suite-fixture.h"
#include "strutil.h"
#include "test-util.h"

void case_basic(const char *work) {
        _cleanup_free_ char *preparing = path_in(work, "preparing"), *committed = path_in(work, "committed");
        _cleanup_free_ char *next = path_in(work, "nextlayer"), *next_committed = path_in(work, "committed-next");
        _cleanup_free_ char *nextnext = path_in(work, "nextnextlayer");
        _cleanup_(snapshot_info_clear) SnapshotInfo si = {}, si2 = {};
        _cleanup_(info_list_clear) InfoList walked = {};
        static const FsOp initial[] = {
                FS_FILE("/foo", "foo\n", 0777),
                FS_MKDIR("/a", 0755), FS_MKDIR("/a/b", 0755), FS_MKDIR("/a/b/c", 0755),
                FS_END,
        };
        static const FsOp diff[] = {
                FS_FILE("/bar", "bar\n", 0777),
                FS_FILE("/foo", "bar\n", 0777),
                FS_REMOVE_ALL("/a/b"),
                FS_END,
        };

        create_mounted(false, preparing, NULL, preparing);
        ASSERT_OK(fs_apply(preparing, initial));
        unmount_snapshot(preparing, preparing);
        commit(committed, preparing);

        BT_ASSERT_OK(&bus, bt_stat(&bus, committed, &si));
        ASSERT_TRUE(!si.parent);
        ASSERT_TRUE(si.kind == SNAPSHOT_COMMITTED);
        BT_ASSERT_ERROR(&bus, bt_stat(&bus, preparing, NULL), "NotFound");

        create_mounted(false, next, committed, next);
        assert_tree_is(next, work, (const FsOp *const[]) { initial }, 1);
        ASSERT_OK(fs_apply(next, diff));
        assert_stat(next, SNAPSHOT_ACTIVE, committed);
        unmount_snapshot(next, next);

        commit(next_committed, next);
        BT_ASSERT_OK(&bus, bt_stat(&bus, next_committed, &si2));
        ASSERT_STREQ(si2.parent, committed);
        ASSERT_TRUE(si2.kind == SNAPSHOT_COMMITTED);
        BT_ASSERT_ERROR(&bus, bt_stat(&bus, next, NULL), "NotFound");

        /* Walk returns exactly what Stat returns, timestamps included. */
        BT_ASSERT_OK(&bus, bt_list(&bus, NULL, &walked));
        ASSERT_TRUE(info_list_find(&walked, committed));
        ASSERT_TRUE(info_list_find(&walked, next_committed));
        assert_info_equal(info_list_find(&walked, committed), &si);
        assert_info_equal(info_list_find(&walked, next_committed), &si2);

        create_mounted(true, nextnext, next_committed, nextnext);
        assert_tree_is(nextnext, work, (const FsOp *const[]) { initial, diff }, 2);
        unmount_snapshot(nextnext, nextnext);

        BT_ASSERT_OK(&bus, bt_remove(&bus, nextnext));
        ASSERT_TRUE(bt_remove(&bus, committed) < 0);
        if (!strstr(bus.error.message ?: "", "remove")) {
                fprintf(stderr, "Remove of a parent: message does not mention \"remove\": %s\n",
                        bt_error_string(&bus));
                abort();
        }
        BT_ASSERT_OK(&bus, bt_remove(&bus, next_committed));
        BT_ASSERT_OK(&bus, bt_remove(&bus, committed));
}

static void prepare_mount_unmount(const char *key) {
        create_mounted(false, key, NULL, key);
        unmount_snapshot(key, key);
}

void case_stat_active(const char *work) {
        _cleanup_free_ char *preparing = path_in(work, "preparing");

        prepare_mount_unmount(preparing);
        assert_stat(preparing, SNAPSHOT_ACTIVE, NULL);
}

void case_stat_committed(const char *work) {
        _cleanup_free_ char *preparing = path_in(work, "preparing"), *committed = path_in(work, "committed");

        prepare_mount_unmount(preparing);
        commit(committed, preparing);
        assert_stat(committed, SNAPSHOT_COMMITTED, NULL);
}

/* Prepares key on parent, writes ops through a mount, commits it as name. */
static void layer(const char *key, const char *name, const char *parent, const FsOp *ops) {
        create_mounted(false, key, parent, key);
        ASSERT_OK(fs_apply(key, ops));
        unmount_snapshot(key, key);
        commit(name, key);
}

void case_transitivity(const char *work) {
        _cleanup_free_ char *preparing = path_in(work, "preparing"), *snap_a = path_in(work, "snapA");
        _cleanup_free_ char *next = path_in(work, "nextlayer"), *snap_b = path_in(work, "snapB");
        _cleanup_(snapshot_info_clear) SnapshotInfo a = {}, b = {}, pb = {};

        layer(preparing, snap_a, NULL, (const FsOp[]) { FS_FILE("/foo", "foo\n", 0777), FS_END });
        layer(next, snap_b, snap_a, (const FsOp[]) { FS_FILE("/foo", "foo bar\n", 0777), FS_END });

        BT_ASSERT_OK(&bus, bt_stat(&bus, snap_a, &a));
        BT_ASSERT_OK(&bus, bt_stat(&bus, snap_b, &b));
        ASSERT_TRUE(b.parent);
        BT_ASSERT_OK(&bus, bt_stat(&bus, b.parent, &pb));
        ASSERT_TRUE(!a.parent);
        ASSERT_STREQ(b.parent, snap_a);
        ASSERT_TRUE(!pb.parent);
}

void case_prepare_view_failing(const char *work) {
        _cleanup_free_ char *preparing = path_in(work, "preparing"), *snap_a = path_in(work, "snapA");
        _cleanup_free_ char *newlayer = path_in(work, "newlayer"), *prep = path_in(work, "prepLayer");
        _cleanup_free_ char *viewlayer = path_in(work, "viewLayer");
        _cleanup_(labels_clear) Labels l = gc_labels();

        layer(preparing, snap_a, NULL, (const FsOp[]) { FS_FILE("/foo", "foo\n", 0777), FS_END });

        prepare(newlayer, snap_a);
        BT_ASSERT_ERROR(&bus, bt_view(&bus, newlayer, snap_a, &l, NULL), "AlreadyExists");
        prepare(prep, snap_a);
        BT_ASSERT_ERROR(&bus, bt_prepare(&bus, prep, snap_a, &l, NULL), "AlreadyExists");
        view(viewlayer, snap_a);
        BT_ASSERT_ERROR(&bus, bt_view(&bus, viewlayer, snap_a, &l, NULL), "AlreadyExists");
}

static void assert_in_window(uint64_t t, uint64_t from, uint64_t to) {
        if (t < from || t > to) {
                fprintf(stderr, "time %" PRIu64 " not within [%" PRIu64 ", %" PRIu64 "]\n", t, from, to);
                abort();
        }
}

static void update_and_check(const char *key, const SnapshotInfo *before) {
        _cleanup_(labels_clear) Labels all = {}, partial = {}, replace = {}, expected = {};
        _cleanup_(snapshot_info_clear) SnapshotInfo u = {}, st = {};
        uint64_t t0, t1;

        /* No fieldpaths: the labels are replaced; only Updated changes. */
        ASSERT_OK(labels_gc_root(&all));
        ASSERT_OK(labels_from_pairs(&all, "l1", "v1", "l2", "v2", "l3", "v3", NULL));
        t0 = now_usec();
        BT_ASSERT_OK(&bus, bt_update(&bus, key, &all, NULL, &u));
        t1 = now_usec();
        ASSERT_TRUE(u.created_usec == before->created_usec);
        assert_in_window(u.updated_usec, t0, t1);
        ASSERT_TRUE(u.kind == before->kind);
        ASSERT_STREQ(u.parent ?: "", before->parent ?: "");
        ASSERT_STREQ(u.name, before->name);
        ASSERT_TRUE(labels_equal(&u.labels, &all));
        BT_ASSERT_OK(&bus, bt_stat(&bus, key, &st));
        assert_info_equal(&st, &u);
        snapshot_info_clear(&u);

        /* labels.l1 set, labels.l2 deleted (absent from the map), l4 ignored. */
        ASSERT_OK(labels_from_pairs(&partial, "l1", "updated", "l4", "v4", NULL));
        BT_ASSERT_OK(&bus, bt_update(&bus, key, &partial, STRV_MAKE("labels.l1", "labels.l2"), &u));
        ASSERT_OK(labels_copy(&expected, &all));
        ASSERT_OK(labels_from_pairs(&expected, "l1", "updated", "l2", "", NULL));
        ASSERT_TRUE(labels_equal(&u.labels, &expected));
        snapshot_info_clear(&u);

        ASSERT_OK(labels_gc_root(&replace));
        ASSERT_OK(labels_from_pairs(&replace, "l4", "v4", NULL));
        BT_ASSERT_OK(&bus, bt_update(&bus, key, &replace, STRV_MAKE("labels"), &u));
        ASSERT_TRUE(labels_equal(&u.labels, &replace));

        BT_ASSERT_ERROR(&bus, bt_update(&bus, key, &replace, STRV_MAKE("parent"), NULL), "InvalidArgument");
}

void case_update(const char *work) {
        _cleanup_free_ char *c1a = path_in(work, "c1-a"), *c1 = path_in(work, "c1");
        _cleanup_free_ char *c2a = path_in(work, "c2-a"), *c2 = path_in(work, "c2");
        _cleanup_free_ char *a1 = path_in(work, "a1"), *a2 = path_in(work, "a2");
        _cleanup_free_ char *v1 = path_in(work, "v1"), *v2 = path_in(work, "v2");
        struct { const char *key, *parent; SnapshotKind kind; } expect[] = {
                { c1, NULL, SNAPSHOT_COMMITTED }, { c2, c1, SNAPSHOT_COMMITTED },
                { a1, c2, SNAPSHOT_ACTIVE }, { a2, NULL, SNAPSHOT_ACTIVE },
                { v1, c2, SNAPSHOT_VIEW }, { v2, NULL, SNAPSHOT_VIEW },
        };
        uint64_t t0, t1;

        t0 = now_usec();
        prepare(c1a, NULL);
        commit(c1, c1a);
        prepare(c2a, c1);
        commit(c2, c2a);
        prepare(a1, c2);
        prepare(a2, NULL);
        view(v1, c2);
        view(v2, NULL);
        t1 = now_usec();

        for (size_t i = 0; i < ELEMENTSOF(expect); i++) {
                _cleanup_(snapshot_info_clear) SnapshotInfo si = {};

                BT_ASSERT_OK(&bus, bt_stat(&bus, expect[i].key, &si));
                assert_in_window(si.created_usec, t0, t1);
                ASSERT_TRUE(si.created_usec == si.updated_usec);
                ASSERT_TRUE(si.kind == expect[i].kind);
                ASSERT_STREQ(si.parent ?: "", expect[i].parent ?: "");
                ASSERT_STREQ(si.name, expect[i].key);
                update_and_check(expect[i].key, &si);
        }
}

void case_remove(const char *work) {
        _cleanup_free_ char *ca = path_in(work, "committed-a"), *c1 = path_in(work, "committed-1");
        _cleanup_free_ char *reuse = path_in(work, "reuse-1");

        prepare(ca, NULL);
        commit(c1, ca);
        prepare(reuse, c1);
        BT_ASSERT_OK(&bus, bt_remove(&bus, reuse));
        view(reuse, c1);
        BT_ASSERT_OK(&bus, bt_remove(&bus, reuse));
        prepare(reuse, NULL);
        BT_ASSERT_OK(&bus, bt_remove(&bus, c1));
        commit(c1, reuse);
}

static void walk_create(bool view_kind, const char *key, const char *parent, const char *l) {
        _cleanup_(labels_clear) Labels labels = {};

        ASSERT_OK(labels_from_pairs(&labels, BT_GC_ROOT_LABEL, "check-walk", "l", l ?: "", NULL));
        if (view_kind)
                BT_ASSERT_OK(&bus, bt_view(&bus, key, parent, &labels, NULL));
        else
                BT_ASSERT_OK(&bus, bt_prepare(&bus, key, parent, &labels, NULL));
}

static void walk_commit(const char *name, const char *tmp, const char *l) {
        _cleanup_(labels_clear) Labels labels = {};

        walk_create(false, tmp, NULL, NULL);
        ASSERT_OK(labels_from_pairs(&labels, BT_GC_ROOT_LABEL, "check-walk", "l", l ?: "", NULL));
        BT_ASSERT_OK(&bus, bt_commit(&bus, name, tmp, &labels));
}

/* The names List returns for filters must be exactly `expected` (any order). */
static void assert_walk(char *const *filters, char *const *expected) {
        _cleanup_(info_list_clear) InfoList l = {};

        BT_ASSERT_OK(&bus, bt_list(&bus, filters, &l));
        for (size_t i = 0; i < l.n; i++) {
                bool found = false;
                for (char *const *e = expected; *e; e++)
                        found = found || streq(*e, l.items[i].name);
                if (!found) {
                        fprintf(stderr, "filter \"%s\": unexpected %s\n", filters[0], l.items[i].name);
                        abort();
                }
        }
        if (l.n != strv_length(expected)) {
                fprintf(stderr, "filter \"%s\": %zu results, expected %zu\n", filters[0], l.n,
                        strv_length(expected));
                abort();
        }
}

void case_walk(const char *work) {
        _cleanup_free_ char *anp = path_in(work, "a-np"), *p = path_in(work, "p"), *ptmp = path_in(work, "p-tmp");
        _cleanup_free_ char *a = path_in(work, "a"), *v = path_in(work, "v");
        _cleanup_free_ char *pwl = path_in(work, "p-wl"), *pwltmp = path_in(work, "p-wl-tmp");
        _cleanup_free_ char *awl = path_in(work, "a-wl"), *vwl = path_in(work, "v-wl");
        _cleanup_free_ char *anpwl = path_in(work, "a-np-wl");
        _cleanup_free_ char *by_name_p = strdup_printf("name==\"%s\"", p);
        _cleanup_free_ char *by_name_anpwl = strdup_printf("name==\"%s\"", anpwl);
        _cleanup_free_ char *by_name_awl = strdup_printf("name==\"%s\",labels.l", awl);
        _cleanup_free_ char *by_parent = strdup_printf("parent==\"%s\"", p);
        char gc[] = "labels.\"containerd.io/gc.root\"==check-walk";

        walk_create(false, anp, NULL, NULL);
        walk_commit(p, ptmp, NULL);
        walk_create(false, a, p, NULL);
        walk_create(true, v, p, NULL);
        walk_commit(pwl, pwltmp, "1");
        walk_create(false, awl, pwl, "2");
        walk_create(true, vwl, pwl, "3");
        walk_create(false, anpwl, NULL, "2");

        assert_walk(STRV_MAKE(gc), STRV_MAKE(anp, p, a, v, pwl, awl, vwl, anpwl));
        assert_walk(STRV_MAKE("kind==active,labels.\"containerd.io/gc.root\"==check-walk"),
                    STRV_MAKE(anp, a, awl, anpwl));
        assert_walk(STRV_MAKE("kind==view,labels.\"containerd.io/gc.root\"==check-walk"), STRV_MAKE(v, vwl));
        assert_walk(STRV_MAKE("kind==committed,labels.\"containerd.io/gc.root\"==check-walk"), STRV_MAKE(p, pwl));
        assert_walk(STRV_MAKE(by_name_p, by_name_anpwl), STRV_MAKE(p, anpwl));
        assert_walk(STRV_MAKE(by_name_awl), STRV_MAKE(awl));
        assert_walk(STRV_MAKE(by_parent), STRV_MAKE(a, v));
        assert_walk(STRV_MAKE("parent!=\"\",labels.\"containerd.io/gc.root\"==check-walk"),
                    STRV_MAKE(a, v, awl, vwl));
        assert_walk(STRV_MAKE("labels.l"), STRV_MAKE(pwl, awl, vwl, anpwl));
        assert_walk(STRV_MAKE("labels.l==2"), STRV_MAKE(awl, anpwl));
}

void case_remove_intermediate_snapshot(const char *work) {
        _cleanup_free_ char *base = path_in(work, "base"), *cbase = path_in(work, "committed-base");
        _cleanup_free_ char *inter = path_in(work, "inter"), *cinter = path_in(work, "committed-inter");
        _cleanup_free_ char *top = path_in(work, "toplayer");

        layer(base, cbase, NULL, (const FsOp[]) { FS_FILE("/foo", "foo\n", 0777), FS_END });
        layer(inter, cinter, cbase, (const FsOp[]) { FS_FILE("/bar", "bar\n", 0777), FS_END });
        prepare(top, cinter);

        BT_ASSERT_ERROR(&bus, bt_remove(&bus, cinter), "FailedPrecondition");
        BT_ASSERT_OK(&bus, bt_remove(&bus, top));
        BT_ASSERT_OK(&bus, bt_remove(&bus, cinter));
        BT_ASSERT_OK(&bus, bt_remove(&bus, cbase));
}

void case_stat_in_walk(const char *work) {
        _cleanup_free_ char *prefix = path_in(work, "stats-in-walk-");
        _cleanup_free_ char *c1a = strdup_printf("%sc1-a", prefix), *c1 = strdup_printf("%sc1", prefix);
        _cleanup_free_ char *c2a = strdup_printf("%sc2-a", prefix), *c2 = strdup_printf("%sc2", prefix);
        _cleanup_free_ char *a1 = strdup_printf("%sa1", prefix), *v1 = strdup_printf("%sv1", prefix);
        _cleanup_(info_list_clear) InfoList l = {};
        size_t seen = 0;

        prepare(c1a, NULL);
        commit(c1, c1a);
        prepare(c2a, c1);
        commit(c2, c2a);
        prepare(a1, c2);
        view(v1, c2);

        BT_ASSERT_OK(&bus, bt_list(&bus, NULL, &l));
        for (size_t i = 0; i < l.n; i++) {
                _cleanup_(snapshot_info_clear) SnapshotInfo si = {};

                if (strncmp(l.items[i].name, prefix, strlen(prefix)) != 0)
                        continue;
                BT_ASSERT_OK(&bus, bt_stat(&bus, l.items[i].name, &si));
                assert_info_equal(&si, &l.items[i]);
                seen++;
        }
        ASSERT_TRUE(seen == 4);
}

void case_close_twice(const char *work) {
        _cleanup_free_ char *preparing = path_in(work, "preparing"), *committed = path_in(work, "committed");
        _cleanup_(bt_close) BusTest other = {};

        /* The bus has no Close: a client closing its connection (twice) must leave the
         * daemon serving. */
        printf("# CloseTwice: no Close over the bus; closing a client connection twice instead\n");
        ASSERT_OK(bt_open(&other, snapshotter));
        BT_ASSERT_OK(&other, bt_prepare(&other, preparing, NULL, NULL, NULL));
        BT_ASSERT_OK(&other, bt_commit(&other, committed, preparing, NULL));
        BT_ASSERT_OK(&other, bt_remove(&other, committed));
        bt_close(&other);
        bt_close(&other);
        BT_ASSERT_ERROR(&bus, bt_stat(&bus, committed, NULL), "NotFound");
}
