/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A worker runs random Prepare/View/Commit/Remove/Cleanup calls and is SIGKILLed at a few
 * hundred random points. After each kill the state must open, every record must have its
 * directory, and after Cleanup only live snapshots may have one. */
#include <dirent.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>

#include "core-test-util.h"

#define KILLS 300

static unsigned rnd(unsigned n) {
        unsigned v;
        ASSERT_TRUE(getrandom(&v, sizeof v, 0) == sizeof v);
        return v % n;
}

_noreturn_ static void worker(const char *dir) {
        Core *c = test_core_new(dir, 0);
        CoreSnapshotter *s = core_snapshotter_by_name(c, "overlayfs");
        char key[32], other[32];
        uint64_t reclaimed;

        for (;;) {
                Error e = ERROR_NULL;
                snprintf(key, sizeof key, "k%u", rnd(40));
                snprintf(other, sizeof other, "k%u", rnd(40));
                switch (rnd(6)) {
                case 0:
                case 1:
                        (void) core_prepare(s, 0, key, rnd(2) ? other : NULL, NULL, NULL, &e);
                        break;
                case 2:
                        (void) core_view(s, 0, key, other, NULL, NULL, &e);
                        break;
                case 3:
                        (void) core_commit(s, 0, key, other, NULL, &e);
                        break;
                case 4:
                        (void) core_remove(s, 0, key, &e);
                        break;
                default:
                        (void) core_cleanup(s, 0, &reclaimed, &e);
                }
        }
}

static bool dir_has_entry(const char *path, const char *name) {
        char *p = strdup_printf("%s/%s", path, name);
        bool r = access(p, F_OK) == 0;
        free(p);
        return r;
}

static void check_invariants(const char *dir) {
        Core *c = test_core_new(dir, 0);
        CoreSnapshotter *s = core_snapshotter_by_name(c, "overlayfs");
        char *snapdir = strdup_printf("%s/state/overlayfs/snapshots", dir);
        SnapshotInfoList list = {};
        Error e = ERROR_NULL;
        uint64_t reclaimed;
        struct dirent *de;
        size_t entries = 0;
        DIR *d;

        ASSERT_OK(core_list(s, 0, NULL, &list, &e));
        for (size_t i = 0; i < list.n; i++) {
                char id[32];
                snprintf(id, sizeof id, "%lu", (unsigned long) list.items[i].id);
                if (!dir_has_entry(snapdir, id)) {
                        fprintf(stderr, "record %s (id %s) has no directory\n", list.items[i].name, id);
                        abort();
                }
        }
        ASSERT_OK(core_cleanup(s, 0, &reclaimed, &e));
        d = opendir(snapdir);
        ASSERT_TRUE(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        entries++;
        closedir(d);
        if (entries != list.n) {
                fprintf(stderr, "%zu directories for %zu snapshots after cleanup\n", entries, list.n);
                abort();
        }
        snapshot_info_list_clear(&list);
        free(snapdir);
        core_free(c);
}

TEST(sigkill_at_random_points_keeps_metadata_and_disk_in_agreement) {
        char *dir = test_mkdtemp();

        for (int i = 0; i < KILLS; i++) {
                struct timespec delay = { 0, (long) rnd(15000) * 1000L };
                pid_t pid = fork();

                ASSERT_TRUE(pid >= 0);
                if (pid == 0)
                        worker(dir);
                nanosleep(&delay, NULL);
                ASSERT_OK(kill(pid, SIGKILL));
                ASSERT_TRUE(waitpid(pid, NULL, 0) == pid);
                check_invariants(dir);
        }
        test_rm_rf(dir);
        free(dir);
}

TEST_MAIN(TEST_ENTRY(sigkill_at_random_points_keeps_metadata_and_disk_in_agreement))
