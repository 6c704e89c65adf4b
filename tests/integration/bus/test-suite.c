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

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suite-fixture.h"
#include "strutil.h"
#include "test-util.h"

typedef struct SuiteCase {
        const char *name;
        void (*func)(const char *work);
} SuiteCase;

/* containerd's cases, in its order and with its names (its typos too: they select cases). */
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
