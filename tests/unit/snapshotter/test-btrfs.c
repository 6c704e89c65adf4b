/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The core with the btrfs backend on a loop-backed btrfs made for the test: subvolumes,
 * btrfs mounts by subvolid, read-only views and committed snapshots, Cleanup deleting
 * subvolumes. The filesystem is mounted only in the test's private mount namespace and
 * the loop device is detached at the end whatever happened. */
#include "btrfs-test.h"
#include "deep-test.h"

/* Subvolume IDs from the mounts of each key. */
static struct {
        const char *key;
        uint64_t subvolid;
} seen[8];
static size_t n_seen;

static void check_btrfs_mounts(CoreSnapshotter *s, const char *key, SnapshotKind kind, const MountSpecList *m) {
        const MountSpec *spec = &m->items[0];
        uint64_t id;

        ASSERT_STREQ(spec->type, "btrfs");
        ASSERT_STREQ(spec->source, loopdev);
        ASSERT_TRUE(sscanf(spec->options[0], "subvolid=%" SCNu64, &id) == 1 && id > 5);
        if (kind == SNAPSHOT_ACTIVE)
                ASSERT_TRUE(strv_length(spec->options) == 1);
        else {
                ASSERT_TRUE(strv_length(spec->options) == 2);
                ASSERT_STREQ(spec->options[1], "ro");
        }
        for (size_t i = 0; i < n_seen; i++)
                ASSERT_TRUE(seen[i].subvolid != id); /* each snapshot is a subvolume of its own */
        ASSERT_TRUE(n_seen < ELEMENTSOF(seen));
        seen[n_seen].key = key;
        seen[n_seen++].subvolid = id;
}

/* The read-only flag of the subvolume with this ID among snapshots/; -ENOENT if none. */
static int subvol_read_only(int snapshots_fd, uint64_t want) {
        DIR *d = fdopendir(openat(snapshots_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        struct dirent *de;
        int r = -ENOENT;

        ASSERT_TRUE(d);
        while (r == -ENOENT && (de = readdir(d))) {
                uint64_t id;
                int fd;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                ASSERT_TRUE(btrfs_is_subvol_at(dirfd(d), de->d_name) == 1);
                fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                ASSERT_TRUE(fd >= 0);
                ASSERT_OK(btrfs_subvol_id(fd, &id));
                if (id == want)
                        r = btrfs_subvol_get_read_only(fd);
                close(fd);
        }
        closedir(d);
        return r;
}

static void check_btrfs_before_remove(CoreSnapshotter *s) {
        char *path = strdup_printf("%s/btrfs/snapshots", state_dir);
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(n_seen == 6);
        for (size_t i = 0; i < n_seen; i++) {
                /* l1 and l2 are committed (c1, c2) by now; only l3 is still active. */
                int expected = streq(seen[i].key, "l3") ? 0 : 1;
                int r = subvol_read_only(fd, seen[i].subvolid);
                if (r != expected)
                        fprintf(stderr, "%s (subvolume %" PRIu64 "): read-only %d, expected %d\n",
                                seen[i].key, seen[i].subvolid, r, expected);
                ASSERT_TRUE(r == expected);
        }
        close(fd);
        free(path);
}

static const ChainHooks btrfs_hooks = {
        .check_mounts = check_btrfs_mounts,
        .before_remove = check_btrfs_before_remove,
};


TEST(btrfs_chain) {
        Core *c = core_on_btrfs();
        CoreSnapshotter *s = core_snapshotter_by_name(c, "btrfs");

        ASSERT_TRUE(s);
        chain_run(s, state_dir, workdir, &btrfs_hooks);
        core_free(c);
}

TEST(btrfs_apply_deletes_whiteouts) {
        Core *c = core_on_btrfs();

        apply_run(core_snapshotter_by_name(c, "btrfs"), workdir);
        core_free(c);
}

/* The native backend on btrfs copies with FICLONE: the same chain must hold. */
TEST(native_chain_on_btrfs) {
        Core *c = core_on_btrfs();

        chain_run(core_snapshotter_by_name(c, "native"), state_dir, workdir, &(ChainHooks) {});
        core_free(c);
}

TEST(cleanup_deletes_orphaned_subvolumes) {
        Core *c = core_on_btrfs();
        CoreSnapshotter *s = core_snapshotter_by_name(c, "btrfs");
        char *snapshots = strdup_printf("%s/btrfs/snapshots", state_dir);
        int fd = open(snapshots, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        uint64_t reclaimed = 0;
        Error e = ERROR_NULL;
        char *name = NULL;

        /* What a crash in the middle of a Prepare leaves: a read-only temporary subvolume
         * and a stale plain directory. */
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(btrfs_subvol_make_temp(fd, "new-", -EBADF, true, 0, &name));
        ASSERT_OK(mkdirat(fd, "stale-1-2", 0700));
        ASSERT_TRUE(dir_entries(snapshots) == 2);
        ASSERT_OK(core_cleanup(s, 0, &reclaimed, &e));
        ASSERT_TRUE(dir_entries(snapshots) == 0);
        close(fd);
        free(name);
        free(snapshots);
        core_free(c);
}

/* A container may make subvolumes of its own inside a snapshot. */
TEST(cleanup_deletes_nested_subvolumes) {
        Core *c = core_on_btrfs();
        CoreSnapshotter *s = core_snapshotter_by_name(c, "btrfs");
        char *mnt = strdup_printf("%s/mnt", workdir);
        char *snapshots = strdup_printf("%s/btrfs/snapshots", state_dir);
        MountSpecList m = {};
        Error e = ERROR_NULL;
        uint64_t reclaimed = 0;
        char *inner = NULL, *deeper = NULL;
        int fd, ifd;

        ASSERT_OK(core_prepare(s, 0, "nest", NULL, NULL, &m, &e));
        test_mount_spec(&m.items[0], mnt);
        fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(btrfs_subvol_make_temp(fd, "inner-", -EBADF, false, 0, &inner));
        ifd = openat(fd, inner, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(ifd >= 0);
        ASSERT_OK(btrfs_subvol_make_temp(ifd, "deeper-", -EBADF, true, 0, &deeper));
        close(ifd);
        close(fd);
        ASSERT_OK(umount2(mnt, 0));
        ASSERT_OK(core_commit(s, 0, "nested", "nest", NULL, &e));
        ASSERT_OK(core_remove(s, 0, "nested", &e));
        ASSERT_OK(core_cleanup(s, 0, &reclaimed, &e));
        ASSERT_TRUE(dir_entries(snapshots) == 0);
        mount_spec_list_clear(&m);
        free(inner);
        free(deeper);
        free(mnt);
        free(snapshots);
        core_free(c);
}

TEST(btrfs_is_offered_only_on_btrfs) {
        struct statfs sfs;
        Core *c = test_core_new(workdir, 0); /* state in the test's directory */

        ASSERT_OK(statfs(workdir, &sfs));
        if (sfs.f_type != BTRFS_SUPER_MAGIC)
                ASSERT_TRUE(!core_snapshotter_by_name(c, "btrfs"));
        core_free(c);
        c = core_on_btrfs();
        ASSERT_TRUE(core_snapshotter_by_name(c, "btrfs"));
        core_free(c);
}

/* A btrfs mounted at <state>/btrfs serves a state directory that is elsewhere. */
TEST(btrfs_mounted_at_state_btrfs) {
        char *elsewhere = strdup_printf("%s/elsewhere", workdir);
        char *state = strdup_printf("%s/state", elsewhere), *at = strdup_printf("%s/btrfs", state);
        char *src = strdup_printf("%s/for-elsewhere", fsdir);
        struct statfs sfs;
        MountSpecList m = {};
        Error e = ERROR_NULL;
        uint64_t reclaimed;
        CoreSnapshotter *s;
        Core *c;

        ASSERT_OK(statfs(workdir, &sfs));
        if (sfs.f_type == BTRFS_SUPER_MAGIC)
                return; /* nothing to show where everything is btrfs */
        ASSERT_OK(mkdir(elsewhere, 0755));
        ASSERT_OK(mkdir(state, 0700));
        ASSERT_OK(mkdir(at, 0700));
        ASSERT_OK(mkdir(src, 0700));
        ASSERT_OK(mount(src, at, NULL, MS_BIND, NULL) < 0 ? -errno : 0);
        c = test_core_new(elsewhere, 0);
        s = core_snapshotter_by_name(c, "btrfs");
        ASSERT_TRUE(s);
        ASSERT_OK(core_prepare(s, 0, "k", NULL, NULL, &m, &e));
        ASSERT_STREQ(m.items[0].type, "btrfs");
        ASSERT_OK(core_remove(s, 0, "k", &e));
        ASSERT_OK(core_cleanup(s, 0, &reclaimed, &e));
        mount_spec_list_clear(&m);
        core_free(c);
        ASSERT_OK(umount2(at, 0));
        free(elsewhere);
        free(state);
        free(at);
        free(src);
}

/* A subvolume holding another, made by the container at the bottom of the deep tree. */
static void nested_subvolumes(int fd) {
        struct btrfs_ioctl_vol_args args = { .name = "sv" };
        int sv;

        ASSERT_OK(ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0 ? -errno : 0);
        sv = openat(fd, "sv", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(sv >= 0);
        strcpy(args.name, "inner");
        ASSERT_OK(ioctl(sv, BTRFS_IOC_SUBVOL_CREATE, &args) < 0 ? -errno : 0);
        close(sv);
}

TEST(btrfs_deep) {
        Core *c = core_on_btrfs();

        deep_run(core_snapshotter_by_name(c, "btrfs"), state_dir, workdir, nested_subvolumes, 2);
        core_free(c);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(btrfs_chain),
                TEST_ENTRY(btrfs_apply_deletes_whiteouts),
                TEST_ENTRY(native_chain_on_btrfs),
                TEST_ENTRY(cleanup_deletes_orphaned_subvolumes),
                TEST_ENTRY(cleanup_deletes_nested_subvolumes),
                TEST_ENTRY(btrfs_is_offered_only_on_btrfs),
                TEST_ENTRY(btrfs_mounted_at_state_btrfs),
                TEST_ENTRY(btrfs_deep),
        };

        return btrfs_test_main(cases, ELEMENTSOF(cases));
}
