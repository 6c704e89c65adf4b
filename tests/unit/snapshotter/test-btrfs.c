/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The core with the btrfs backend on a loop-backed btrfs made for the test: subvolumes,
 * btrfs mounts by subvolid, read-only views and committed snapshots, Cleanup deleting
 * subvolumes. The filesystem is mounted only in the test's private mount namespace and
 * the loop device is detached at the end whatever happened. */
#include <inttypes.h>
#include <linux/btrfs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "btrfs-util.h"
#include "deep-test.h"
#include "snapshotter-test-util.h"

static char *workdir, *fsdir, *state_dir;
static char loopdev[64];

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

static Core *core_on_btrfs(void) {
        return test_core_new(fsdir, 0); /* state in <fs>/state */
}

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

/* n MiB of data that does not compress into the snapshot key of ns. */
static void write_mib(CoreSnapshotter *s, uid_t ns, const char *key, const char *name, size_t n) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_free_ char *path = NULL;
        Error e = ERROR_NULL;
        char buf[4096];
        FILE *f;

        ASSERT_OK(core_stat(s, ns, key, &info, &e));
        path = strdup_printf("%s/btrfs/snapshots/%" PRIu64 "/%s", state_dir, info.id, name);
        f = fopen(path, "we");
        ASSERT_TRUE(f);
        for (size_t i = 0; i < n * 256; i++) {
                for (size_t j = 0; j < sizeof buf; j++)
                        buf[j] = (char) (random() & 0xff);
                ASSERT_TRUE(fwrite(buf, 1, sizeof buf, f) == sizeof buf);
        }
        ASSERT_TRUE(fclose(f) == 0);
}

/* With quotas on, a snapshot's usage is what it holds alone: not the extents it shares
 * with its parent (a walk would count those again). */
TEST(usage_from_qgroups_excludes_the_parent) {
        _cleanup_free_ char *enable = strdup_printf("btrfs quota enable '%s'", fsdir);
        _cleanup_free_ char *disable = strdup_printf("btrfs quota disable '%s'", fsdir);
        Core *c = core_on_btrfs();
        CoreSnapshotter *s = core_snapshotter_by_name(c, "btrfs");
        uint64_t size, inodes;
        Error e = ERROR_NULL;

        if (system(enable) != 0) {
                printf("# skipped: btrfs quotas cannot be enabled here\n");
                core_free(c);
                return;
        }
        ASSERT_OK(core_prepare(s, 0, "q-base-a", NULL, NULL, NULL, &e));
        write_mib(s, 0, "q-base-a", "big", 4);
        ASSERT_OK(core_commit(s, 0, "q-base", "q-base-a", NULL, &e));
        ASSERT_OK(core_usage(s, 0, "q-base", &size, &inodes, &e));
        ASSERT_TRUE(size >= 4u << 20);

        ASSERT_OK(core_prepare(s, 0, "q-child-a", "q-base", NULL, NULL, &e));
        write_mib(s, 0, "q-child-a", "small", 1);
        ASSERT_OK(core_usage(s, 0, "q-child-a", &size, &inodes, &e));
        printf("# child usage with quotas: %" PRIu64 " bytes, %" PRIu64 " inodes\n", size, inodes);
        ASSERT_TRUE(size >= 1u << 20 && size < 2u << 20);
        ASSERT_TRUE(inodes == 3); /* root dir, big (shared), small */
        ASSERT_OK(core_commit(s, 0, "q-child", "q-child-a", NULL, &e));
        ASSERT_OK(core_usage(s, 0, "q-child", &size, &inodes, &e));
        ASSERT_TRUE(size >= 1u << 20 && size < 2u << 20);

        ASSERT_OK(core_remove(s, 0, "q-child", &e));
        ASSERT_OK(core_remove(s, 0, "q-base", &e));
        ASSERT_OK(system(disable) == 0 ? 0 : -EIO);
        core_free(c);
}

/* The row of qgroup `id` ("0/257", "1/4294968296") in `btrfs qgroup show`: its exclusive
 * limit ("none" or bytes) and parent ("-" or a qgroup). False when it has none. */
static bool qgroup_row(const char *id, char max_excl[static 32], char parent[static 64]) {
        _cleanup_free_ char *cmd = strdup_printf("btrfs qgroup show -pe --raw '%s' 2>/dev/null", fsdir);
        FILE *f = popen(cmd, "r");
        char line[512], q[64], rfer[32], excl[32];
        bool found = false;

        ASSERT_TRUE(f);
        while (!found && fgets(line, sizeof line, f))
                found = sscanf(line, "%63s %31s %31s %31s %63s", q, rfer, excl, max_excl, parent) == 5 && streq(q, id);
        pclose(f);
        return found;
}

/* The qgroup row of snapshot key of ns. */
static bool snapshot_qgroup(CoreSnapshotter *s, uid_t ns, const char *key, char max_excl[static 32],
                            char parent[static 64]) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_free_ char *path = NULL;
        Error e = ERROR_NULL;
        uint64_t subvolid;
        char id[32];
        int fd;

        ASSERT_OK(core_stat(s, ns, key, &info, &e));
        path = strdup_printf("%s/btrfs/snapshots/%" PRIu64, state_dir, info.id);
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(btrfs_subvol_id(fd, &subvolid));
        close(fd);
        snprintf(id, sizeof id, "0/%" PRIu64, subvolid);
        return qgroup_row(id, max_excl, parent);
}

/* A one-file layer applied to key of uid 1000. */
static void user_apply(CoreSnapshotter *s, const char *key, const char *layer) {
        static const char *const files[] = { "f=layer\n", NULL };
        int fd = make_layer(workdir, layer, files);
        CoreApplyOptions o = {};
        CoreApplyResult res = {};
        Error e = ERROR_NULL;

        if (core_apply(s, 1000, key, fd, &o, &res, &e) < 0)
                fprintf(stderr, "apply to %s: %s\n", key, e.message);
        ASSERT_TRUE(e.code == 0);
        close(fd);
}

static int quota_consistent(void) {
        int fd = open(fsdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

        ASSERT_TRUE(fd >= 0);
        r = btrfs_quota_consistent(fd);
        close(fd);
        return r;
}

/* With quotas on, a user's snapshots join its qgroup when they are made, which carries the
 * user's limit (Bytes=, 25% of the filesystem by default); a snapshot of root's layer
 * cannot join without a rescan of all quotas and is limited by itself instead. Root's
 * snapshots join nothing and have no limit. */
TEST(snapshots_join_their_owners_qgroup) {
        _cleanup_free_ char *enable = strdup_printf("btrfs quota enable '%s'", fsdir);
        _cleanup_free_ char *disable = strdup_printf("btrfs quota disable '%s'", fsdir);
        _cleanup_free_ char *group = strdup_printf("1/%" PRIu64, quota_user_qgroup(1000) & ((UINT64_C(1) << 48) - 1));
        char max_excl[32], parent[64];
        Core *c;
        CoreSnapshotter *s;
        QuotaLimits l;
        Error e = ERROR_NULL;

        if (system(enable) != 0) {
                printf("# skipped: btrfs quotas cannot be enabled here\n");
                return;
        }
        c = core_on_btrfs(); /* sees quotas on */
        s = core_snapshotter_by_name(c, "btrfs");
        ASSERT_OK(core_prepare(s, 1000, "j-a", NULL, NULL, NULL, &e));
        ASSERT_TRUE(snapshot_qgroup(s, 1000, "j-a", max_excl, parent));
        ASSERT_STREQ(parent, group);
        ASSERT_STREQ(max_excl, "none");
        core_quota_limits(c, 1000, &l);
        ASSERT_TRUE(qgroup_row(group, max_excl, parent));
        ASSERT_TRUE(strtoull(max_excl, NULL, 10) == l.max[QUOTA_BYTES]);

        /* Its own committed layer: the snapshot on it joins too, and so does a view. A Commit
         * is not done on the event loop: its qgroup's count needs a syncfs(). */
        ASSERT_TRUE(core_commit_quick(s, 1000, "j-base", "j-a", NULL, &e) == -EWOULDBLOCK && e.code == 0);
        ASSERT_OK(core_commit(s, 1000, "j-base", "j-a", NULL, &e));
        ASSERT_OK(core_prepare(s, 1000, "j-b", "j-base", NULL, NULL, &e));
        ASSERT_TRUE(snapshot_qgroup(s, 1000, "j-b", max_excl, parent));
        ASSERT_STREQ(parent, group);
        ASSERT_OK(core_view(s, 1000, "j-v", "j-base", NULL, NULL, &e));
        ASSERT_TRUE(snapshot_qgroup(s, 1000, "j-v", max_excl, parent));
        ASSERT_STREQ(parent, group);

        /* root's layer: root's snapshots are in no group; the user's snapshot on it is
         * limited by itself, to what the quota leaves. */
        ASSERT_OK(core_prepare(s, 0, "j-root-a", NULL, NULL, NULL, &e));
        ASSERT_OK(core_commit(s, 0, "j-root", "j-root-a", NULL, &e));
        ASSERT_TRUE(snapshot_qgroup(s, 0, "j-root", max_excl, parent));
        ASSERT_STREQ(parent, "-");
        ASSERT_OK(core_prepare(s, 1000, "j-c", "j-root", NULL, NULL, &e));
        ASSERT_TRUE(snapshot_qgroup(s, 1000, "j-c", max_excl, parent));
        ASSERT_STREQ(parent, "-");
        ASSERT_TRUE(strtoull(max_excl, NULL, 10) > 0 && strtoull(max_excl, NULL, 10) <= l.max[QUOTA_BYTES]);
        /* The kernel kept counting all along. */
        /* An Apply's new subvolume is charged as the one it replaces. */
        user_apply(s, "j-b", "jl1");
        ASSERT_TRUE(snapshot_qgroup(s, 1000, "j-b", max_excl, parent));
        ASSERT_STREQ(parent, group);
        user_apply(s, "j-c", "jl2");
        ASSERT_TRUE(snapshot_qgroup(s, 1000, "j-c", max_excl, parent));
        ASSERT_STREQ(parent, "-");
        ASSERT_TRUE(strtoull(max_excl, NULL, 10) > 0 && strtoull(max_excl, NULL, 10) <= l.max[QUOTA_BYTES]);
        ASSERT_TRUE(quota_consistent() == 1);

        /* No limit is no limit (not 0), and is set from outside a qgroup that is full. */
        {
                int fd = open(fsdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                ASSERT_TRUE(fd >= 0);
                ASSERT_OK(btrfs_qgroup_limit_exclusive(fd, quota_user_qgroup(1000), 0));
                ASSERT_TRUE(qgroup_row(group, max_excl, parent) && streq(max_excl, "0"));
                ASSERT_OK(btrfs_qgroup_limit_exclusive(fd, quota_user_qgroup(1000), UINT64_MAX));
                ASSERT_TRUE(qgroup_row(group, max_excl, parent) && streq(max_excl, "none"));
                close(fd);
        }

        /* What laminad must never do, and detects if a write races it: a snapshot of root's
         * layer made to join the user's qgroup stops the kernel counting until a rescan. */
        {
                _cleanup_free_ char *snapshots = strdup_printf("%s/btrfs/snapshots", state_dir);
                _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
                _cleanup_free_ char *name = NULL;
                char idname[32];
                int fd = open(snapshots, O_RDONLY | O_DIRECTORY | O_CLOEXEC), src;

                ASSERT_TRUE(fd >= 0);
                ASSERT_OK(core_stat(s, 0, "j-root", &info, &e));
                snprintf(idname, sizeof idname, "%" PRIu64, info.id);
                src = openat(fd, idname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                ASSERT_TRUE(src >= 0);
                ASSERT_OK(btrfs_subvol_make_temp(fd, "race-", src, false, quota_user_qgroup(1000), &name));
                ASSERT_TRUE(btrfs_quota_consistent(fd) == 0);
                ASSERT_OK(btrfs_quota_rescan(fd));
                for (int i = 0; i < 600 && quota_consistent() != 1; i++)
                        usleep(100 * 1000);
                ASSERT_TRUE(quota_consistent() == 1);
                ASSERT_OK(btrfs_subvol_destroy_at(fd, name));
                close(src);
                close(fd);
        }

        ASSERT_OK(core_remove(s, 1000, "j-c", &e));
        ASSERT_OK(core_remove(s, 1000, "j-v", &e));
        ASSERT_OK(core_remove(s, 1000, "j-b", &e));
        ASSERT_OK(core_remove(s, 1000, "j-base", &e));
        ASSERT_OK(core_remove(s, 0, "j-root", &e));
        core_free(c);
        ASSERT_OK(system(disable) == 0 ? 0 : -EIO);
}

static bool in_group(CoreSnapshotter *s, uid_t ns, const char *key, const char *group) {
        char max_excl[32], parent[64];

        return snapshot_qgroup(s, ns, key, max_excl, parent) && streq(parent, group);
}

static bool migrated(CoreSnapshotter *s, const char *group) {
        char max_excl[32], parent[64];

        return in_group(s, 1000, "o-a", group) && in_group(s, 1000, "o-base", group) && quota_consistent() == 1 &&
               qgroup_row("1/4294967296", max_excl, parent);
}

/* Subvolumes made while quotas were off (or by an older laminad) are in no qgroup: at the
 * next start with quotas on, a background pass puts the users' ones into their owners'
 * qgroups, has the kernel rescan what it cannot count in at once, and marks the quota tree
 * done. Root's stay out. */
TEST(older_snapshots_join_their_owners_qgroup_at_start) {
        _cleanup_free_ char *enable = strdup_printf("btrfs quota enable '%s'", fsdir);
        _cleanup_free_ char *disable = strdup_printf("btrfs quota disable '%s'", fsdir);
        _cleanup_free_ char *group = strdup_printf("1/%" PRIu64, quota_user_qgroup(1000) & ((UINT64_C(1) << 48) - 1));
        char max_excl[32], parent[64];
        Core *c = core_on_btrfs();
        CoreSnapshotter *s = core_snapshotter_by_name(c, "btrfs");
        Error e = ERROR_NULL;
        int i;

        ASSERT_OK(core_prepare(s, 1000, "o-base-a", NULL, NULL, NULL, &e));
        write_mib(s, 1000, "o-base-a", "big", 1);
        ASSERT_OK(core_commit(s, 1000, "o-base", "o-base-a", NULL, &e));
        ASSERT_OK(core_prepare(s, 1000, "o-a", "o-base", NULL, NULL, &e));
        ASSERT_OK(core_prepare(s, 0, "o-r", NULL, NULL, NULL, &e));
        core_free(c);
        if (system(enable) != 0) {
                printf("# skipped: btrfs quotas cannot be enabled here\n");
                return;
        }

        c = core_on_btrfs();
        s = core_snapshotter_by_name(c, "btrfs");
        for (i = 0; i < 600 && !migrated(s, group); i++)
                usleep(100 * 1000);
        ASSERT_TRUE(migrated(s, group));
        ASSERT_TRUE(snapshot_qgroup(s, 0, "o-r", max_excl, parent) && streq(parent, "-"));

        ASSERT_OK(core_remove(s, 1000, "o-a", &e));
        ASSERT_OK(core_remove(s, 1000, "o-base", &e));
        ASSERT_OK(core_remove(s, 0, "o-r", &e));
        core_free(c);
        ASSERT_OK(system(disable) == 0 ? 0 : -EIO);
}

/* A core on the test filesystem whose non-root users have Bytes=mib MiB. */
static Core *core_with_bytes(uint64_t mib) {
        _cleanup_free_ char *state = strdup_printf("%s/state", fsdir), *run = strdup_printf("%s/run", fsdir);
        QuotaConfig q;
        CoreOptions o = { .state_dir = state, .runtime_dir = run, .quota = &q };
        Core *c = NULL;

        quota_config_init(&q);
        q.defaults[QUOTA_BYTES] = (QuotaSetting) { .value = mib << 20, .set = true };
        ASSERT_OK(core_new(&o, &c));
        quota_config_clear(&q);
        return c;
}

static bool group_limit_is(const char *group, uint64_t bytes) {
        char max_excl[32], parent[64];

        return qgroup_row(group, max_excl, parent) && strtoull(max_excl, NULL, 10) == bytes;
}

/* A changed quota holds from the next start on, before the user calls again. */
TEST(group_limits_follow_the_configuration_at_start) {
        _cleanup_free_ char *enable = strdup_printf("btrfs quota enable '%s'", fsdir);
        _cleanup_free_ char *disable = strdup_printf("btrfs quota disable '%s'", fsdir);
        _cleanup_free_ char *group = strdup_printf("1/%" PRIu64, quota_user_qgroup(1000) & ((UINT64_C(1) << 48) - 1));
        Error e = ERROR_NULL;
        Core *c;
        int i;

        if (system(enable) != 0) {
                printf("# skipped: btrfs quotas cannot be enabled here\n");
                return;
        }
        c = core_with_bytes(64);
        ASSERT_OK(core_prepare(core_snapshotter_by_name(c, "btrfs"), 1000, "l-a", NULL, NULL, NULL, &e));
        ASSERT_TRUE(group_limit_is(group, UINT64_C(64) << 20));
        core_free(c);

        c = core_with_bytes(32);
        for (i = 0; i < 600 && !group_limit_is(group, UINT64_C(32) << 20); i++)
                usleep(100 * 1000);
        ASSERT_TRUE(group_limit_is(group, UINT64_C(32) << 20));
        ASSERT_OK(core_remove(core_snapshotter_by_name(c, "btrfs"), 1000, "l-a", &e));
        core_free(c);
        ASSERT_OK(system(disable) == 0 ? 0 : -EIO);
}

static void mount_test_fs(void) {
        ASSERT_TRUE(test_enter_private_mount_ns());
        ASSERT_OK(mkdir(fsdir, 0755));
        ASSERT_OK(mount(loopdev, fsdir, "btrfs", 0, NULL) < 0 ? -errno : 0);
}

static bool kernel_has_btrfs(void) {
        FILE *f;
        char line[128];
        bool found = false;

        (void) !system("modprobe btrfs >/dev/null 2>&1");
        f = fopen("/proc/filesystems", "re");
        if (!f)
                return false;
        while (!found && fgets(line, sizeof line, f))
                found = streq(line, "\tbtrfs\n");
        fclose(f);
        return found;
}

/* Attaches image to a free loop device with autoclear, so it goes away on the last
 * close even if this program is killed. Returns the loop fd (kept open until the end). */
static int loop_attach(const char *image) {
        int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        int img, r = -1;

        if (ctl < 0)
                return -errno;
        img = open(image, O_RDWR | O_CLOEXEC);
        ASSERT_TRUE(img >= 0);
        for (int attempt = 0; attempt < 16 && r < 0; attempt++) {
                struct loop_config config = {
                        .fd = (uint32_t) img,
                        .info.lo_flags = LO_FLAGS_AUTOCLEAR,
                };
                int n = ioctl(ctl, LOOP_CTL_GET_FREE), fd;

                if (n < 0) {
                        r = -errno;
                        break;
                }
                snprintf(loopdev, sizeof loopdev, "/dev/loop%d", n);
                fd = open(loopdev, O_RDWR | O_CLOEXEC);
                if (fd < 0) {
                        r = -errno;
                        continue;
                }
                if (ioctl(fd, LOOP_CONFIGURE, &config) < 0) {
                        r = -errno;
                        close(fd);
                        continue; /* taken by someone else meanwhile */
                }
                r = fd;
        }
        close(img);
        close(ctl);
        return r;
}

static int make_image(const char *image) {
        char *cmd = strdup_printf("mkfs.btrfs -q -f '%s' >/dev/null", image);
        int fd = open(image, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), r;

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(ftruncate(fd, 512 * 1024 * 1024));
        ASSERT_OK(close(fd));
        r = system(cmd);
        free(cmd);
        return r == 0 ? 0 : -EIO;
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

static void run_cases(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(btrfs_chain),
                TEST_ENTRY(btrfs_apply_deletes_whiteouts),
                TEST_ENTRY(native_chain_on_btrfs),
                TEST_ENTRY(cleanup_deletes_orphaned_subvolumes),
                TEST_ENTRY(cleanup_deletes_nested_subvolumes),
                TEST_ENTRY(btrfs_is_offered_only_on_btrfs),
                TEST_ENTRY(btrfs_mounted_at_state_btrfs),
                TEST_ENTRY(usage_from_qgroups_excludes_the_parent),
                TEST_ENTRY(snapshots_join_their_owners_qgroup),
                TEST_ENTRY(older_snapshots_join_their_owners_qgroup_at_start),
                TEST_ENTRY(group_limits_follow_the_configuration_at_start),
                TEST_ENTRY(btrfs_deep),
        };

        mount_test_fs();
        test_run_all(cases, ELEMENTSOF(cases));
}

int main(void) {
        static const TestCase child[] = { { "mount the test filesystem and run", run_cases } };
        char *image;
        int loop_fd, r;

        if (geteuid() != 0) {
                fprintf(stderr, "skipping: btrfs tests make a filesystem and mount it, which needs root\n");
                return EXIT_TEST_SKIP;
        }
        if (!kernel_has_btrfs()) {
                fprintf(stderr, "skipping: this kernel has no btrfs (not in /proc/filesystems after modprobe btrfs)\n");
                return EXIT_TEST_SKIP;
        }

        workdir = test_mkdtemp();
        fsdir = strdup_printf("%s/fs", workdir);
        state_dir = strdup_printf("%s/state", fsdir);
        image = strdup_printf("%s/btrfs.img", workdir);
        if (make_image(image) < 0) {
                test_remove_tree(workdir);
                fprintf(stderr, "mkfs.btrfs failed (is btrfs-progs installed?)\n");
                return EXIT_FAILURE;
        }
        loop_fd = loop_attach(image);
        if (loop_fd < 0) {
                test_remove_tree(workdir);
                fprintf(stderr, "skipping: no loop device available: %s\n", strerror(-loop_fd));
                return EXIT_TEST_SKIP;
        }

        /* The child mounts in its own namespace; the mount dies with it. */
        r = test_run_forked(child, 1, workdir);
        if (ioctl(loop_fd, LOOP_CLR_FD) < 0 && errno != ENXIO)
                fprintf(stderr, "detaching %s: %m (autoclear will when it is free)\n", loopdev);
        close(loop_fd);
        free(image);
        return r;
}
