/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containerd's shared snapshotter test suite (core/snapshots/testsuite), over the bus.
 *
 *   test-suite SNAPSHOTTER [CASE...]       (or LAMINA_SNAPSHOTTER=...)
 *
 * Run under tests/integration/lib/run-test.sh: every case works in its own directory below
 * $LAMINA_TEST_DIR, uses absolute paths there as keys (so keys contain "/") and as mount
 * targets, and labels what it creates with containerd.io/gc.root, as containerd's suite
 * does. Mounts are performed by the daemon's Mount/Unmount, or with LAMINA_SUITE_MOUNT=hand
 * by this program from the returned (ssas) specs. */

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bus-test.h"
#include "fstest.h"
#include "mount-spec.h"
#include "strutil.h"
#include "test-util.h"

static BusTest bus;
static const char *snapshotter;
static bool mount_by_hand;
static unsigned counter;

/* ---- paths and labels ---- */

static char *path_in(const char *work, const char *name) {
        char *p = strdup_printf("%s/%s", work, name);
        ASSERT_TRUE(p);
        return p;
}

static void mkdir_or_exists(const char *path) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "mkdir %s: %m\n", path);
                abort();
        }
}

static char *make_temp_dir(const char *work, const char *prefix) {
        char *p = strdup_printf("%s/%s-XXXXXX", work, prefix);
        ASSERT_TRUE(p);
        ASSERT_TRUE(mkdtemp(p));
        return p;
}

static Labels gc_labels(void) {
        Labels l = {};
        ASSERT_OK(labels_gc_root(&l));
        return l;
}

/* ---- mounting a snapshot at a directory ---- */

static void mount_snapshot(const char *key, const MountSpecList *specs, const char *target) {
        if (mount_by_hand)
                ASSERT_OK(mount_specs_perform(specs, target));
        else
                BT_ASSERT_OK(&bus, bt_mount(&bus, key, target, NULL, NULL));
}

static void unmount_snapshot(const char *key, const char *target) {
        if (mount_by_hand)
                ASSERT_OK(mount_spec_unmount(target));
        else
                BT_ASSERT_OK(&bus, bt_unmount(&bus, key));
}

/* Prepare (or View) key on parent, labelled like containerd's suite, mounted at target. */
static void create_mounted(bool view, const char *key, const char *parent, const char *target) {
        _cleanup_(labels_clear) Labels l = gc_labels();
        _cleanup_(mount_spec_list_clear) MountSpecList m = {};

        mkdir_or_exists(target);
        if (view)
                BT_ASSERT_OK(&bus, bt_view(&bus, key, parent, &l, &m));
        else
                BT_ASSERT_OK(&bus, bt_prepare(&bus, key, parent, &l, &m));
        ASSERT_TRUE(m.n > 0);
        mount_snapshot(key, &m, target);
}

static void prepare(const char *key, const char *parent) {
        _cleanup_(labels_clear) Labels l = gc_labels();
        BT_ASSERT_OK(&bus, bt_prepare(&bus, key, parent, &l, NULL));
}

static void view(const char *key, const char *parent) {
        _cleanup_(labels_clear) Labels l = gc_labels();
        BT_ASSERT_OK(&bus, bt_view(&bus, key, parent, &l, NULL));
}

static void commit(const char *name, const char *key) {
        _cleanup_(labels_clear) Labels l = gc_labels();
        BT_ASSERT_OK(&bus, bt_commit(&bus, name, key, &l));
}

static void assert_equal_trees(const char *a, const char *b) {
        _cleanup_free_ char *diff = NULL;
        int r = fs_compare(a, b, &diff);

        ASSERT_OK(r);
        if (r == 0) {
                fprintf(stderr, "%s and %s differ: %s\n", a, b, diff);
                abort();
        }
}

static void assert_tree_is(const char *dir, const char *work, const FsOp *const *layers, size_t n) {
        _cleanup_free_ char *flat = make_temp_dir(work, "expected");

        for (size_t i = 0; i < n; i++)
                ASSERT_OK(fs_apply(flat, layers[i]));
        assert_equal_trees(dir, flat);
}

static void assert_info_equal(const SnapshotInfo *a, const SnapshotInfo *b) {
        ASSERT_STREQ(a->name, b->name);
        ASSERT_STREQ(a->parent ?: "", b->parent ?: "");
        ASSERT_TRUE(a->kind == b->kind);
        ASSERT_TRUE(labels_equal(&a->labels, &b->labels));
        ASSERT_TRUE(a->created_usec == b->created_usec);
        ASSERT_TRUE(a->updated_usec == b->updated_usec);
        ASSERT_TRUE(a->owner == b->owner);
}

static void assert_stat(const char *key, SnapshotKind kind, const char *parent) {
        _cleanup_(snapshot_info_clear) SnapshotInfo i = {};

        BT_ASSERT_OK(&bus, bt_stat(&bus, key, &i));
        ASSERT_STREQ(i.name, key);
        ASSERT_TRUE(i.kind == kind);
        ASSERT_STREQ(i.parent ?: "", parent ?: "");
}

/* ---- containerd's createSnapshot / checkSnapshot / checkSnapshots ---- */

static char *create_snapshot(const char *work, const char *parent, const FsOp *ops) {
        _cleanup_free_ char *name = strdup_printf("%s/%u-%ld", work, counter++, random());
        _cleanup_free_ char *preparing = strdup_printf("%s-prepare", name);
        _cleanup_free_ char *td = make_temp_dir(work, "prepare");

        create_mounted(false, preparing, parent, td);
        ASSERT_OK(fs_apply(td, ops));
        unmount_snapshot(preparing, td);
        commit(name, preparing);
        ASSERT_OK(RET_NERRNO(rmdir(td)));
        return TAKE_PTR(name);
}

static void check_snapshot(const char *work, const char *name, const char *flat) {
        _cleanup_free_ char *key = strdup_printf("%s-view", name);
        _cleanup_free_ char *td = make_temp_dir(work, "check");

        create_mounted(true, key, name, td);
        assert_equal_trees(td, flat);
        unmount_snapshot(key, td);
        BT_ASSERT_OK(&bus, bt_remove(&bus, key));
        ASSERT_OK(RET_NERRNO(rmdir(td)));
}

static void check_snapshots(const char *work, const FsOp *const *layers, size_t n) {
        _cleanup_free_ char *flat = make_temp_dir(work, "flat"), *parent = NULL;

        for (size_t i = 0; i < n; i++) {
                char *name = create_snapshot(work, parent, layers[i]);

                ASSERT_OK(fs_apply(flat, layers[i]));
                check_snapshot(work, name, flat);
                free(parent);
                parent = name;
        }
}

#define CHECK_SNAPSHOTS(work, ...)                                                         \
        do {                                                                               \
                const FsOp *const _layers[] = { __VA_ARGS__ };                             \
                check_snapshots((work), _layers, ELEMENTSOF(_layers));                     \
        } while (0)

/* ---- the cases, in containerd's order and with its names ---- */

static void case_basic(const char *work) {
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

static void case_stat_active(const char *work) {
        _cleanup_free_ char *preparing = path_in(work, "preparing");

        prepare_mount_unmount(preparing);
        assert_stat(preparing, SNAPSHOT_ACTIVE, NULL);
}

static void case_stat_committed(const char *work) {
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

static void case_transitivity(const char *work) {
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

static void case_prepare_view_failing(const char *work) {
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

static void case_update(const char *work) {
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

static void case_remove(const char *work) {
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

static void case_walk(const char *work) {
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

static void sleep_to_next_second(void) {
        struct timespec now;

        ASSERT_OK(RET_NERRNO(clock_gettime(CLOCK_REALTIME, &now)));
        nanosleep(&(struct timespec) { .tv_nsec = 1000000000L - now.tv_nsec }, NULL);
}

static void case_layer_file_update(const char *work) {
        static const FsOp l1[] = {
                FS_MKDIR("/etc", 0700),
                FS_FILE("/etc/hosts", "mydomain 10.0.0.1", 0644),
                FS_FILE("/etc/profile", "PATH=/usr/bin", 0644),
                FS_END,
        };
        static const FsOp l2[] = {
                FS_FILE("/etc/hosts", "mydomain 10.0.0.2", 0644),
                FS_FILE("/etc/profile", "PATH=/usr/bin", 0666),
                FS_MKDIR("/root", 0700),
                FS_FILE("/root/.bashrc", "PATH=/usr/sbin:/usr/bin", 0644),
                FS_END,
        };

        /* Each run starts on a new second: catches same-size, same-mtime caching bugs. */
        for (int i = 0; i < 5; i++) {
                _cleanup_free_ char *w = strdup_printf("%s/%d", work, i);

                sleep_to_next_second();
                mkdir_or_exists(w);
                CHECK_SNAPSHOTS(w, l1, l2);
        }
}

static void case_remove_directory_in_lower_layer(const char *work) {
        CHECK_SNAPSHOTS(work,
                (const FsOp[]) { FS_MKDIR("/lib", 0700), FS_FILE("/lib/hidden", "", 0644), FS_END },
                (const FsOp[]) { FS_REMOVE_ALL("/lib"), FS_MKDIR("/lib", 0700),
                                 FS_FILE("/lib/not-hidden", "", 0644), FS_END },
                (const FsOp[]) { FS_FILE("/lib/newfile", "", 0644), FS_END });
}

static void case_chown(const char *work) {
        CHECK_SNAPSHOTS(work,
                (const FsOp[]) { FS_MKDIR("/opt", 0700), FS_MKDIR("/opt/a", 0700), FS_MKDIR("/opt/a/b", 0700),
                                 FS_FILE("/opt/a/b/file.txt", "hello", 0644), FS_END },
                (const FsOp[]) { FS_CHOWN("/opt", 1, 1), FS_CHOWN("/opt/a", 1, 1), FS_CHOWN("/opt/a/b", 1, 1),
                                 FS_CHOWN("/opt/a/b/file.txt", 1, 1), FS_END });
}

static void case_directory_permission_on_commit(const char *work) {
        CHECK_SNAPSHOTS(work,
                (const FsOp[]) { FS_MKDIR("/dir1", 0700), FS_MKDIR("/dir2", 0700), FS_MKDIR("/dir3", 0700),
                                 FS_MKDIR("/dir4", 0700), FS_FILE("/dir4/f1", "...", 0644),
                                 FS_MKDIR("/dir5", 0700), FS_FILE("/dir5/f1", "...", 0644),
                                 FS_CHOWN("/dir1", 1, 1), FS_CHOWN("/dir2", 1, 1), FS_CHOWN("/dir3", 1, 1),
                                 FS_CHOWN("/dir5", 1, 1), FS_CHOWN("/dir5/f1", 1, 1), FS_END },
                (const FsOp[]) { FS_CHOWN("/dir2", 0, 0), FS_REMOVE_ALL("/dir3"), FS_CHOWN("/dir4", 1, 1),
                                 FS_CHOWN("/dir4/f1", 1, 1), FS_END },
                (const FsOp[]) { FS_MKDIR("/dir3", 0700), FS_CHOWN("/dir3", 1, 1), FS_REMOVE_ALL("/dir5"),
                                 FS_MKDIR("/dir5", 0700), FS_CHOWN("/dir5", 1, 1), FS_END });
}

static void case_remove_intermediate_snapshot(const char *work) {
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

static void case_deleted_files_in_child_snapshot(const char *work) {
        CHECK_SNAPSHOTS(work,
                (const FsOp[]) { FS_FILE("/foo", "foo\n", 0777), FS_FILE("/foobar", "foobar\n", 0777), FS_END },
                (const FsOp[]) { FS_REMOVE_ALL("/foobar"), FS_END },
                (const FsOp[]) { FS_END });
}

static void case_move_file_from_lower_layer(const char *work) {
        CHECK_SNAPSHOTS(work,
                (const FsOp[]) { FS_MKDIR("/dir1", 0700), FS_FILE("/dir1/f1", "Hello", 0644),
                                 FS_MKDIR("/dir2", 0700), FS_FILE("/dir2/f2", "...", 0644), FS_END },
                (const FsOp[]) { FS_MKDIR("/dir3", 0700), FS_FILE("/dir3/f1", "Hello", 0644),
                                 FS_REMOVE_ALL("/dir1"), FS_LINK("/dir2/f2", "/dir3/f2"),
                                 FS_REMOVE_ALL("/dir2/f2"), FS_END });
}

static void case_view_readonly(const char *work) {
        _cleanup_free_ char *preparing = path_in(work, "preparing"), *committed = path_in(work, "committed");
        _cleanup_free_ char *v = path_in(work, "view"), *file = path_in(v, "testfile");
        int fd;

        prepare(preparing, NULL);
        commit(committed, preparing);
        create_mounted(true, v, committed, v);
        fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
                fprintf(stderr, "created %s in a read-only view\n", file);
                abort();
        }
        if (errno != EROFS)
                fprintf(stderr, "# writing into the view failed with %m (EROFS expected; accepted)\n");
        unmount_snapshot(v, v);
        BT_ASSERT_OK(&bus, bt_remove(&bus, v));
        BT_ASSERT_OK(&bus, bt_remove(&bus, committed));
}

static void case_stat_in_walk(const char *work) {
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

static void case_close_twice(const char *work) {
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

static void case_root_permission(const char *work) {
        _cleanup_free_ char *preparing = path_in(work, "preparing");
        struct stat st;

        create_mounted(false, preparing, NULL, preparing);
        ASSERT_OK(RET_NERRNO(stat(preparing, &st)));
        unmount_snapshot(preparing, preparing);
        if ((st.st_mode & 0777) != 0755) {
                fprintf(stderr, "root of a new snapshot has mode %04o, expected 0755\n", st.st_mode & 0777);
                abort();
        }
}

static void case_rename(const char *work) {
        /* overlay without redirect_dir cannot rename a lower directory: containerd leaves
         * that step out for overlayfs, fuse-overlayfs and erofs. */
        bool rename_dir = !streq(snapshotter, "overlayfs");
        const FsOp l2[] = {
                FS_RENAME("/dir1", "/dir2"),
                FS_FILE("/somefiles/f1-overwrite", "new content 1", 0644),
                FS_RENAME("/somefiles/f1-overwrite", "/somefiles/f1"),
                FS_RENAME("/somefiles/f2", "/somefiles/f3"),
                FS_END,
        };

        if (!rename_dir)
                printf("# Rename: SKIP renaming a lower directory on %s (as containerd); file renames checked\n",
                       snapshotter);
        CHECK_SNAPSHOTS(work,
                (const FsOp[]) { FS_MKDIR("/dir1", 0700), FS_MKDIR("/somefiles", 0700),
                                 FS_FILE("/somefiles/f1", "was here first!", 0644),
                                 FS_FILE("/somefiles/f2", "nothing interesting", 0644), FS_END },
                rename_dir ? l2 : l2 + 1);
}

static void case_128_layers_mount(const char *work) {
        _cleanup_free_ char *flat = path_in(work, "flat"), *parent = NULL, *full = path_in(work, "fullview");
        static const FsOp base[] = {
                FS_FILE("/bottom", "way at the bottom\n", 0777),
                FS_FILE("/overwriteme", "FIRST!\n", 0777),
                FS_MKDIR("/addhere", 0755),
                FS_MKDIR("/onlyme", 0755),
                FS_FILE("/onlyme/bottom", "bye!\n", 0777),
                FS_END,
        };

        mkdir_or_exists(flat);
        for (int i = 0; i < 128; i++) {
                _cleanup_free_ char *preparing = strdup_printf("%s/prepare-layer-%d", work, i);
                _cleanup_free_ char *committed = strdup_printf("%s/committed-%d", work, i);
                char content[32], added[32], only[32];
                const FsOp upper[] = {
                        FS_FILE("/overwriteme", content, 0777),
                        FS_FILE(added, "same\n", 0755),
                        FS_REMOVE_ALL("/onlyme"),
                        FS_MKDIR("/onlyme", 0755),
                        FS_FILE(only, "only me!\n", 0777),
                        FS_END,
                };

                snprintf(content, sizeof content, "%d WAS HERE!\n", i);
                snprintf(added, sizeof added, "/addhere/file-%d", i);
                snprintf(only, sizeof only, "/onlyme/file-%d", i);

                create_mounted(false, preparing, parent, preparing);
                assert_equal_trees(preparing, flat);
                ASSERT_OK(fs_apply(preparing, i == 0 ? base : upper));
                ASSERT_OK(fs_apply(flat, i == 0 ? base : upper));
                assert_equal_trees(preparing, flat);
                unmount_snapshot(preparing, preparing);
                commit(committed, preparing);
                free(parent);
                parent = TAKE_PTR(committed);
        }

        create_mounted(true, full, parent, full);
        assert_equal_trees(full, flat);
        unmount_snapshot(full, full);
}

typedef struct SuiteCase {
        const char *name;
        void (*func)(const char *work);
} SuiteCase;

static const SuiteCase cases[] = {
        { "Basic", case_basic },
        { "StatActive", case_stat_active },
        { "StatComitted", case_stat_committed },
        { "TransitivityTest", case_transitivity },
        { "PreareViewFailingtest", case_prepare_view_failing },
        { "Update", case_update },
        { "Remove", case_remove },
        { "Walk", case_walk },
        { "LayerFileupdate", case_layer_file_update },
        { "RemoveDirectoryInLowerLayer", case_remove_directory_in_lower_layer },
        { "Chown", case_chown },
        { "DirectoryPermissionOnCommit", case_directory_permission_on_commit },
        { "RemoveIntermediateSnapshot", case_remove_intermediate_snapshot },
        { "DeletedFilesInChildSnapshot", case_deleted_files_in_child_snapshot },
        { "MoveFileFromLowerLayer", case_move_file_from_lower_layer },
        { "ViewReadonly", case_view_readonly },
        { "StatInWalk", case_stat_in_walk },
        { "CloseTwice", case_close_twice },
        { "RootPermission", case_root_permission },
        { "Rename", case_rename },
        { "128LayersMount", case_128_layers_mount },
};

int main(int argc, char **argv) {
        const char *test_dir = getenv("LAMINA_TEST_DIR"), *mode = getenv("LAMINA_SUITE_MOUNT");
        _cleanup_free_ char *root = NULL;
        size_t n = 0;

        snapshotter = argc > 1 ? argv[1] : getenv("LAMINA_SNAPSHOTTER");
        if (!snapshotter || !test_dir) {
                fprintf(stderr, "usage: test-suite SNAPSHOTTER [CASE...], under run-test.sh\n");
                return EXIT_FAILURE;
        }
        mount_by_hand = mode && streq(mode, "hand");
        srandom(getpid());
        umask(0); /* as containerd's suite: modes are exactly what the appliers say */

        ASSERT_OK(bt_open(&bus, snapshotter));
        root = strdup_printf("%s/suite-%s", test_dir, snapshotter);
        mkdir_or_exists(root);
        /* Shut to users: their unshare -Urm copies of the suite's mounts (other tests'
         * users, run at the same time) then cannot reach them, and do not count. */
        ASSERT_OK(RET_NERRNO(chmod(root, 0700)));
        printf("# snapshotter %s over the bus, mounts %s\n", snapshotter,
               mount_by_hand ? "performed by the test from the returned specs" : "made by the daemon");

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *dir = NULL, *work = NULL;

                if (!bt_case_selected(cases[i].name, argc, argv))
                        continue;
                dir = strdup_printf("%s/%s", root, cases[i].name);
                work = strdup_printf("%s/work", dir);
                mkdir_or_exists(dir);
                mkdir_or_exists(work);
                printf("# %s\n", cases[i].name);
                fflush(stdout);
                cases[i].func(work);
                printf("ok %zu - %s\n", ++n, cases[i].name);
                fflush(stdout);
        }
        bt_close(&bus);
        if (n == 0) {
                fprintf(stderr, "no case matched\n");
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
