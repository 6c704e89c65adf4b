/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fixture of containerd's snapshotter suite over the bus (suite-fixture.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "suite-fixture.h"
#include "strutil.h"
#include "test-util.h"

BusTest bus;
const char *snapshotter;
bool mount_by_hand;
static unsigned counter;

/* ---- paths and labels ---- */

char *path_in(const char *work, const char *name) {
        char *p = strdup_printf("%s/%s", work, name);
        ASSERT_TRUE(p);
        return p;
}

void mkdir_or_exists(const char *path) {
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

Labels gc_labels(void) {
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

void unmount_snapshot(const char *key, const char *target) {
        if (mount_by_hand)
                ASSERT_OK(mount_spec_unmount(target));
        else
                BT_ASSERT_OK(&bus, bt_unmount(&bus, key));
}

/* Prepare (or View) key on parent, labelled like containerd's suite, mounted at target. */
void create_mounted(bool view, const char *key, const char *parent, const char *target) {
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

void prepare(const char *key, const char *parent) {
        _cleanup_(labels_clear) Labels l = gc_labels();
        BT_ASSERT_OK(&bus, bt_prepare(&bus, key, parent, &l, NULL));
}

void view(const char *key, const char *parent) {
        _cleanup_(labels_clear) Labels l = gc_labels();
        BT_ASSERT_OK(&bus, bt_view(&bus, key, parent, &l, NULL));
}

void commit(const char *name, const char *key) {
        _cleanup_(labels_clear) Labels l = gc_labels();
        BT_ASSERT_OK(&bus, bt_commit(&bus, name, key, &l));
}

void assert_equal_trees(const char *a, const char *b) {
        _cleanup_free_ char *diff = NULL;
        int r = fs_compare(a, b, &diff);

        ASSERT_OK(r);
        if (r == 0) {
                fprintf(stderr, "%s and %s differ: %s\n", a, b, diff);
                abort();
        }
}

void assert_tree_is(const char *dir, const char *work, const FsOp *const *layers, size_t n) {
        _cleanup_free_ char *flat = make_temp_dir(work, "expected");

        for (size_t i = 0; i < n; i++)
                ASSERT_OK(fs_apply(flat, layers[i]));
        assert_equal_trees(dir, flat);
}

void assert_info_equal(const SnapshotInfo *a, const SnapshotInfo *b) {
        ASSERT_STREQ(a->name, b->name);
        ASSERT_STREQ(a->parent ?: "", b->parent ?: "");
        ASSERT_TRUE(a->kind == b->kind);
        ASSERT_TRUE(labels_equal(&a->labels, &b->labels));
        ASSERT_TRUE(a->created_usec == b->created_usec);
        ASSERT_TRUE(a->updated_usec == b->updated_usec);
        ASSERT_TRUE(a->owner == b->owner);
}

void assert_stat(const char *key, SnapshotKind kind, const char *parent) {
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

void check_snapshots(const char *work, const FsOp *const *layers, size_t n) {
        _cleanup_free_ char *flat = make_temp_dir(work, "flat"), *parent = NULL;

        for (size_t i = 0; i < n; i++) {
                char *name = create_snapshot(work, parent, layers[i]);

                ASSERT_OK(fs_apply(flat, layers[i]));
                check_snapshot(work, name, flat);
                free(parent);
                parent = name;
        }
}
