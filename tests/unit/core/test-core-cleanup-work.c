/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The work directories of own-superblock mounts that a crash left (mount-work/<ID> with no
 * mount record, core-cleanup-work.c): a user's Cleanup removes those of its own snapshots
 * and looks at nothing else, root's Cleanup and the start remove all of them, and a
 * snapshot's goes with its data. This program counts, by wrapping readdir and the *at
 * calls, what the calling thread reads and looks up in mount-work/. */
#include <dirent.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "core-internal.h"
#include "core-mount.h"
#include "core-test-util.h"
#include "interpose.h"

/* --- counting what the calling thread does in mount-work/ --- */

static struct stat work_st;    /* mount-work/ */
static _Thread_local bool counting;
static unsigned entries_read;  /* readdir of mount-work/ */
static unsigned names_looked;  /* fstatat, openat, unlinkat of a name in it */

static bool is_work_dir(int fd) {
        struct stat st;

        return counting && fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == work_st.st_dev &&
               st.st_ino == work_st.st_ino;
}

struct dirent *readdir(DIR *d) {
        struct dirent *de = REAL(readdir)(d);

        if (de && is_work_dir(dirfd(d)))
                entries_read++;
        return de;
}

int fstatat(int dirfd, const char *path, struct stat *st, int flags) {
        if (is_work_dir(dirfd))
                names_looked++;
        return REAL(fstatat)(dirfd, path, st, flags);
}

static void openat_seen(int dirfd, const char *path) {
        if (is_work_dir(dirfd))
                names_looked++;
}
DEFINE_OPENAT_WRAPPER(openat_seen)

int unlinkat(int dirfd, const char *path, int flags) {
        if (is_work_dir(dirfd))
                names_looked++;
        return REAL(unlinkat)(dirfd, path, flags);
}

/* --- a state directory with work directories left over --- */

static char *work_path(const char *dir, uint64_t id) {
        char *p = id ? strdup_printf("%s/state/overlayfs/" MOUNT_WORK_DIR "/%" PRIu64, dir, id)
                     : strdup_printf("%s/state/overlayfs/" MOUNT_WORK_DIR, dir);

        ASSERT_TRUE(p);
        return p;
}

/* mount-work/<id> with something in it, as an overlay leaves its work directory. */
static void leave_work(const char *dir, uint64_t id) {
        _cleanup_free_ char *p = work_path(dir, id), *w = strdup_printf("%s/work", p);

        ASSERT_OK(mkdir(p, 0700) < 0 ? -errno : 0);
        ASSERT_OK(mkdir(w, 0700) < 0 ? -errno : 0);
}

static bool work_exists(const char *dir, uint64_t id) {
        _cleanup_free_ char *p = work_path(dir, id);

        return access(p, F_OK) == 0;
}

static uint64_t prepare(CoreSnapshotter *s, uid_t ns, const char *key) {
        SnapshotInfo info = {};
        Error e = ERROR_NULL;
        uint64_t id;

        ASSERT_OK(core_prepare(s, ns, key, NULL, NULL, NULL, &e));
        ASSERT_OK(core_stat(s, ns, key, &info, &e));
        id = info.id;
        snapshot_info_clear(&info);
        return id;
}

static void cleanup_counted(CoreSnapshotter *s, uid_t ns) {
        Error e = ERROR_NULL;
        uint64_t reclaimed;

        entries_read = names_looked = 0;
        counting = true;
        ASSERT_OK(core_cleanup(s, ns, &reclaimed, &e));
        counting = false;
        fprintf(stderr, "Cleanup of %u: %u entries of %s read, %u names in it looked up\n", (unsigned) ns,
                entries_read, MOUNT_WORK_DIR, names_looked);
}

#define N_A 3
#define N_B 300 /* more than a page of records */
#define N_GONE 1000 /* left by snapshots whose data went (IDs never recorded here) */

/* User A's Cleanup removes what its snapshots left and looks at nothing of B's, however
 * much B left: it reads no entry of mount-work/ and looks up a few names per snapshot of
 * its own. B's Cleanup then removes B's, root's all the rest; the work directory of a
 * snapshot goes with its data, without a Cleanup. */
TEST(cleanup_of_a_user_looks_only_at_its_own_work_directories) {
        uint64_t a[N_A], b[N_B];
        CoreSnapshotter *s;
        Error e = ERROR_NULL;
        char *dir;
        Core *c;

        c = test_core_setup(&dir, &s);
        ASSERT_EVENTUALLY(!core_reclaim_pending(c));
        for (size_t i = 0; i < N_A; i++) {
                char key[16];

                snprintf(key, sizeof key, "a%zu", i);
                a[i] = prepare(s, 1000, key);
        }
        for (size_t i = 0; i < N_B; i++) {
                char key[16];

                snprintf(key, sizeof key, "b%zu", i);
                b[i] = prepare(s, 1001, key);
        }
        {
                _cleanup_free_ char *w = work_path(dir, 0);

                ASSERT_OK(mkdir(w, 0700) < 0 ? -errno : 0);
                ASSERT_OK(stat(w, &work_st) < 0 ? -errno : 0);
        }
        leave_work(dir, a[0]);
        leave_work(dir, a[2]);
        for (size_t i = 0; i < N_B; i++)
                leave_work(dir, b[i]);
        for (uint64_t id = 100000; id < 100000 + N_GONE; id++)
                leave_work(dir, id);

        cleanup_counted(s, 1000);
        ASSERT_TRUE(!work_exists(dir, a[0]) && !work_exists(dir, a[2]));
        ASSERT_TRUE(entries_read == 0);
        ASSERT_TRUE(names_looked <= 4 * N_A);
        for (size_t i = 0; i < N_B; i++)
                ASSERT_TRUE(work_exists(dir, b[i]));
        ASSERT_TRUE(work_exists(dir, 100000) && work_exists(dir, 100000 + N_GONE - 1));

        cleanup_counted(s, 1001);
        ASSERT_TRUE(entries_read == 0);
        ASSERT_TRUE(names_looked <= 4 * N_B);
        for (size_t i = 0; i < N_B; i++)
                ASSERT_TRUE(!work_exists(dir, b[i]));
        ASSERT_TRUE(work_exists(dir, 100000) && work_exists(dir, 100000 + N_GONE - 1));

        cleanup_counted(s, 0);
        ASSERT_TRUE(entries_read >= N_GONE);
        {
                _cleanup_free_ char *w = work_path(dir, 0);

                ASSERT_TRUE(test_count_entries(w) == 0);
        }

        /* gone with the snapshot's data, no Cleanup needed */
        leave_work(dir, a[1]);
        ASSERT_OK(core_remove(s, 1000, "a1", &e));
        ASSERT_EVENTUALLY(!core_reclaim_pending(c));
        ASSERT_TRUE(!work_exists(dir, a[1]));
        test_core_teardown(c, dir);
}

/* What a crash left is removed at the next start, in the background, whoever it was of. */
TEST(start_removes_every_work_directory_of_no_mount) {
        CoreSnapshotter *s;
        uint64_t id;
        char *dir;
        Core *c;

        c = test_core_setup(&dir, &s);
        id = prepare(s, 1000, "a");
        core_free(c);
        {
                _cleanup_free_ char *w = work_path(dir, 0);

                ASSERT_OK(mkdir(w, 0700) < 0 ? -errno : 0);
        }
        leave_work(dir, id);
        leave_work(dir, 100000);

        c = test_core_new(dir, 0);
        ASSERT_EVENTUALLY(!core_reclaim_pending(c));
        ASSERT_TRUE(!work_exists(dir, id) && !work_exists(dir, 100000));
        test_core_teardown(c, dir);
}

TEST_MAIN(TEST_ENTRY(cleanup_of_a_user_looks_only_at_its_own_work_directories),
          TEST_ENTRY(start_removes_every_work_directory_of_no_mount))
