/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The fixture of containerd's shared snapshotter suite over the bus (test-suite.c runs
 * the cases of suite-snapshots.c and suite-trees.c): the connection to laminad, the
 * snapshotter, and containerd's helpers. Every case works in its own directory `work`
 * below $LAMINA_TEST_DIR, uses absolute paths there as keys and as mount targets, and
 * labels what it creates with containerd.io/gc.root. */

#include <stdbool.h>
#include <stddef.h>

#include "bus-test.h"
#include "fstest.h"
#include "macro.h"
#include "mount-spec.h"

extern BusTest bus;
extern const char *snapshotter;
extern bool mount_by_hand; /* LAMINA_SUITE_MOUNT=hand: the test mounts the returned specs */

/* ---- paths and labels ---- */
char *path_in(const char *work, const char *name);
void mkdir_or_exists(const char *path);
Labels gc_labels(void);

/* ---- snapshots, labelled like containerd's suite; mounts by laminad or by hand ---- */
void unmount_snapshot(const char *key, const char *target);
/* Prepare (or View) key on parent, mounted at target. */
void create_mounted(bool view, const char *key, const char *parent, const char *target);
void prepare(const char *key, const char *parent);
void view(const char *key, const char *parent);
void commit(const char *name, const char *key);

/* ---- assertions (abort naming what differs) ---- */
void assert_equal_trees(const char *a, const char *b);
/* dir holds exactly the layers applied in order to an empty directory. */
void assert_tree_is(const char *dir, const char *work, const FsOp *const *layers, size_t n);
void assert_info_equal(const SnapshotInfo *a, const SnapshotInfo *b);
void assert_stat(const char *key, SnapshotKind kind, const char *parent);

/* containerd's checkSnapshots: each layer written through a mount of a new active on the
 * previous one and committed; a view of each shows all the layers so far. */
void check_snapshots(const char *work, const FsOp *const *layers, size_t n);
#define CHECK_SNAPSHOTS(work, ...)                                                         \
        do {                                                                               \
                const FsOp *const _layers[] = { __VA_ARGS__ };                             \
                check_snapshots((work), _layers, ELEMENTSOF(_layers));                     \
        } while (0)

/* ---- the cases (containerd's names in test-suite.c) ---- */
/* suite-snapshots.c */
void case_basic(const char *work);
void case_stat_active(const char *work);
void case_stat_committed(const char *work);
void case_transitivity(const char *work);
void case_prepare_view_failing(const char *work);
void case_update(const char *work);
void case_remove(const char *work);
void case_walk(const char *work);
void case_remove_intermediate_snapshot(const char *work);
void case_stat_in_walk(const char *work);
void case_close_twice(const char *work);
/* suite-trees.c */
void case_layer_file_update(const char *work);
void case_remove_directory_in_lower_layer(const char *work);
void case_chown(const char *work);
void case_directory_permission_on_commit(const char *work);
void case_deleted_files_in_child_snapshot(const char *work);
void case_move_file_from_lower_layer(const char *work);
void case_view_readonly(const char *work);
void case_root_permission(const char *work);
void case_rename(const char *work);
void case_128_layers_mount(const char *work);
