/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A worker runs random Prepare/View/Commit/Remove/Update/Cleanup calls with labels and is
 * SIGKILLed at a few hundred random points. After each kill the state must open, every
 * record must have its directory, after Cleanup only live snapshots may have one, and what
 * the quotas read (the totals the store keeps) must equal what a List counts. */
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
        char key[32], other[32], value[64];
        uint64_t reclaimed;

        for (;;) {
                Labels labels = LABELS_NULL;
                SnapshotInfo info = {};
                Error e = ERROR_NULL;

                snprintf(key, sizeof key, "k%u", rnd(40));
                snprintf(other, sizeof other, "k%u", rnd(40));
                snprintf(value, sizeof value, "%0*u", (int) rnd(48), rnd(10));
                if (rnd(2))
                        ASSERT_OK(labels_set(&labels, rnd(2) ? "a" : "bb", value));
                switch (rnd(7)) {
                case 0:
                case 1:
                        (void) core_prepare(s, 0, key, rnd(2) ? other : NULL, &labels, NULL, &e);
                        break;
                case 2:
                        (void) core_view(s, 0, key, other, &labels, NULL, &e);
                        break;
                case 3:
                        (void) core_commit(s, 0, key, other, &labels, &e);
                        break;
                case 4:
                        (void) core_remove(s, 0, key, &e);
                        break;
                case 5:
                        (void) core_update(s, 0, key, &labels, NULL, &info, &e);
                        snapshot_info_clear(&info);
                        break;
                default:
                        (void) core_cleanup(s, 0, &reclaimed, &e);
                }
                labels_clear(&labels);
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
        uint64_t reclaimed, used[_QUOTA_KIND_MAX], label_bytes = 0;
        size_t entries;

        ASSERT_OK(core_list(s, 0, NULL, &list, &e));
        ASSERT_OK(core_quota_usage(s, 0, used, &e));
        for (size_t i = 0; i < list.n; i++)
                for (size_t k = 0; k < list.items[i].labels.n; k++)
                        label_bytes += strlen(list.items[i].labels.items[k].key) +
                                       strlen(list.items[i].labels.items[k].value);
        if (used[QUOTA_SNAPSHOTS] != list.n || used[QUOTA_LABEL_BYTES] != label_bytes) {
                fprintf(stderr, "totals: %llu snapshots, %llu label bytes; listed %zu, %llu\n",
                        (unsigned long long) used[QUOTA_SNAPSHOTS], (unsigned long long) used[QUOTA_LABEL_BYTES],
                        list.n, (unsigned long long) label_bytes);
                abort();
        }
        for (size_t i = 0; i < list.n; i++) {
                char id[32];
                snprintf(id, sizeof id, "%lu", (unsigned long) list.items[i].id);
                if (!dir_has_entry(snapdir, id)) {
                        fprintf(stderr, "record %s (id %s) has no directory\n", list.items[i].name, id);
                        abort();
                }
        }
        ASSERT_OK(core_cleanup(s, 0, &reclaimed, &e));
        entries = test_count_entries(snapdir);
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
