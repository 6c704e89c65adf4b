/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The btrfs backend with quotas on (btrfs-test.h): a snapshot's usage from its qgroup, and
 * each user's qgroup (core-quota.c) that its new subvolumes join, with its limit, the
 * subvolumes that cannot join, older ones moved in at start, the limits set at start. */
#include <linux/fs.h>

#include "btrfs-test.h"
#include "chain-test.h"

/* Quotas on, and the rescan that enabling starts done (until then no new subvolume joins a
 * qgroup: the counts are not up to date). False (the case is skipped, saying so) where they
 * cannot be enabled. */
static bool quotas_enable(void) {
        _cleanup_free_ char *enable = strdup_printf(
                "btrfs quota enable '%s' && btrfs quota rescan -W '%s' >/dev/null", fsdir, fsdir);

        if (system(enable) == 0)
                return true;
        printf("# skipped: btrfs quotas cannot be enabled here\n");
        return false;
}

static void quotas_disable(void) {
        _cleanup_free_ char *disable = strdup_printf("btrfs quota disable '%s'", fsdir);

        ASSERT_OK(system(disable) == 0 ? 0 : -EIO);
}

/* The qgroup of uid's snapshots as `btrfs qgroup show` names it ("1/<id>"). */
static const char *user_group(uid_t uid) {
        static char buf[64];

        snprintf(buf, sizeof buf, "1/%" PRIu64, quota_user_qgroup(uid) & ((UINT64_C(1) << 48) - 1));
        return buf;
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
        Core *c = core_on_btrfs();
        CoreSnapshotter *s = core_snapshotter_by_name(c, "btrfs");
        uint64_t size, inodes;
        Error e = ERROR_NULL;

        if (!quotas_enable()) {
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
        quotas_disable();
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

/* dir/name in the data of snapshot key of ns (one buffer of a few). */
static const char *data_path(CoreSnapshotter *s, uid_t ns, const char *key, const char *name) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        static char bufs[2][4096];
        static unsigned i;
        Error e = ERROR_NULL;

        ASSERT_OK(core_stat(s, ns, key, &info, &e));
        i = (i + 1) % 2;
        snprintf(bufs[i], sizeof bufs[i], "%s/btrfs/snapshots/%" PRIu64 "/%s", state_dir, info.id, name);
        return bufs[i];
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

static bool in_group(CoreSnapshotter *s, uid_t ns, const char *key, const char *group) {
        char max_excl[32], parent[64];

        return snapshot_qgroup(s, ns, key, max_excl, parent) && streq(parent, group);
}

/* The exclusive limit on snapshot key of ns, 0 if it has none. */
static uint64_t snapshot_limit(CoreSnapshotter *s, uid_t ns, const char *key) {
        char max_excl[32], parent[64];

        ASSERT_TRUE(snapshot_qgroup(s, ns, key, max_excl, parent));
        return strtoull(max_excl, NULL, 10);
}

/* A snapshot of uid 1000 on root's layer: in no group, limited by itself to what the
 * quota leaves. */
static void limited_by_itself(CoreSnapshotter *s, const char *key, const QuotaLimits *l) {
        uint64_t limit = snapshot_limit(s, 1000, key);

        ASSERT_TRUE(in_group(s, 1000, key, "-"));
        ASSERT_TRUE(limit > 0 && limit <= l->max[QUOTA_BYTES]);
}

/* No limit is no limit (not 0), and is set from outside a qgroup that is full. */
static void no_limit_is_not_zero(void) {
        const char *group = user_group(1000);
        char max_excl[32], parent[64];
        int fd = open(fsdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(btrfs_qgroup_limit_exclusive(fd, quota_user_qgroup(1000), 0));
        ASSERT_TRUE(qgroup_row(group, max_excl, parent) && streq(max_excl, "0"));
        ASSERT_OK(btrfs_qgroup_limit_exclusive(fd, quota_user_qgroup(1000), UINT64_MAX));
        ASSERT_TRUE(qgroup_row(group, max_excl, parent) && streq(max_excl, "none"));
        close(fd);
}

/* What laminad must never do, and detects if a write races it: a snapshot of root's layer
 * (root_key) made to join the user's qgroup stops the kernel counting until a rescan. Then,
 * until the kernel has dropped that subvolume, the user's qgroup shares its extents with
 * root_key: waits for that, and for the counts to be committed. */
static void joining_from_roots_layer_stops_counting(CoreSnapshotter *s, const char *root_key) {
        _cleanup_free_ char *snapshots = strdup_printf("%s/btrfs/snapshots", state_dir);
        _cleanup_free_ char *wait_dropped = strdup_printf("btrfs subvolume sync '%s' >/dev/null", fsdir);
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_free_ char *name = NULL;
        Error e = ERROR_NULL;
        uint64_t rfer, excl;
        char idname[32];
        int fd = open(snapshots, O_RDONLY | O_DIRECTORY | O_CLOEXEC), src, fs;

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(core_stat(s, 0, root_key, &info, &e));
        snprintf(idname, sizeof idname, "%" PRIu64, info.id);
        src = openat(fd, idname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(src >= 0);
        ASSERT_OK(btrfs_subvol_make_temp(fd, "race-", src, false, quota_user_qgroup(1000), &name));
        ASSERT_TRUE(btrfs_quota_consistent(fd) == 0);
        ASSERT_OK(btrfs_quota_rescan(fd));
        ASSERT_EVENTUALLY(quota_consistent() == 1);
        ASSERT_OK(btrfs_subvol_destroy_at(fd, name));
        close(src);
        close(fd);

        fs = open(fsdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(fs >= 0);
        ASSERT_OK(system(wait_dropped) == 0 ? 0 : -EIO);
        ASSERT_OK(syncfs(fs) < 0 ? -errno : 0);
        ASSERT_OK(btrfs_qgroup_usage(fs, quota_user_qgroup(1000), &rfer, &excl));
        ASSERT_TRUE(rfer == excl);
        close(fs);
}

/* The figures laminad checks are those of the last commit: a file cloned in from outside
 * the qgroup (from outside_key, on root's layer, into own_key) just before a Prepare on
 * base_key passes the check and makes the kernel stop counting (no periodic commit
 * between). laminad starts a rescan; the user's later snapshots of its own ones, which
 * could neither join nor stay out without the same, are refused, also after a restart (of
 * *c); one on root's layer (root_key) is still made, outside. */
static void clone_from_outside_starts_a_rescan(Core **c, const char *outside_key, const char *own_key,
                                               const char *base_key, const char *root_key) {
        _cleanup_free_ char *remount = strdup_printf("mount -o remount,commit=3600 '%s'", fsdir);
        _cleanup_free_ char *bar = strdup_printf(
                "1/%" PRIu64, (quota_user_qgroup(1000) & ((UINT64_C(1) << 48) - 1)) + (UINT64_C(1) << 32));
        CoreSnapshotter *s = core_snapshotter_by_name(*c, "btrfs");
        char max_excl[32], parent[64];
        Error e = ERROR_NULL;
        int from, to;

        write_mib(s, 1000, outside_key, "outside", 1);
        ASSERT_OK(system(remount) == 0 ? 0 : -EIO);
        from = open(data_path(s, 1000, outside_key, "outside"), O_RDONLY | O_CLOEXEC);
        to = open(data_path(s, 1000, own_key, "cloned"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        ASSERT_TRUE(from >= 0 && to >= 0);
        ASSERT_OK(ioctl(to, FICLONE, from) < 0 ? -errno : 0);
        close(from);
        close(to);
        ASSERT_OK(core_prepare(s, 1000, "j-e", base_key, NULL, NULL, &e));
        ASSERT_TRUE(qgroup_row(bar, max_excl, parent));
        ASSERT_EVENTUALLY(quota_consistent() == 1);

        core_free(*c);
        *c = core_on_btrfs();
        s = core_snapshotter_by_name(*c, "btrfs");
        ASSERT_TRUE(core_prepare(s, 1000, "j-f", base_key, NULL, NULL, &e) == -ENOTEMPTY);
        printf("# %s\n", e.message);
        e = ERROR_NULL;
        ASSERT_OK(core_prepare(s, 1000, "j-g", root_key, NULL, NULL, &e));
        ASSERT_TRUE(in_group(s, 1000, "j-g", "-"));
        ASSERT_TRUE(quota_consistent() == 1);
        ASSERT_OK(core_remove(s, 1000, "j-g", &e));
        ASSERT_OK(core_remove(s, 1000, "j-e", &e));
}

/* With quotas on, a user's snapshots join its qgroup when they are made, which carries the
 * user's limit (Bytes=, 25% of the filesystem by default); a snapshot of root's layer
 * cannot join without a rescan of all quotas and is limited by itself instead. Root's
 * snapshots join nothing and have no limit. */
TEST(snapshots_join_their_owners_qgroup) {
        const char *group = user_group(1000);
        char max_excl[32], parent[64];
        Core *c;
        CoreSnapshotter *s;
        QuotaLimits l;
        Error e = ERROR_NULL;

        if (!quotas_enable())
                return;
        c = core_on_btrfs(); /* sees quotas on */
        s = core_snapshotter_by_name(c, "btrfs");
        ASSERT_OK(core_prepare(s, 1000, "j-a", NULL, NULL, NULL, &e));
        ASSERT_TRUE(in_group(s, 1000, "j-a", group));
        ASSERT_TRUE(snapshot_qgroup(s, 1000, "j-a", max_excl, parent) && streq(max_excl, "none"));
        core_quota_limits(c, 1000, &l);
        ASSERT_TRUE(qgroup_row(group, max_excl, parent));
        ASSERT_TRUE(strtoull(max_excl, NULL, 10) == l.max[QUOTA_BYTES]);

        /* Its own committed layer: the snapshot on it joins too, and so does a view. A Commit
         * is not done on the event loop: its qgroup's count needs a syncfs(). */
        ASSERT_TRUE(core_commit_quick(s, 1000, "j-base", "j-a", NULL, &e) == -EWOULDBLOCK && e.code == 0);
        ASSERT_OK(core_commit(s, 1000, "j-base", "j-a", NULL, &e));
        ASSERT_OK(core_prepare(s, 1000, "j-b", "j-base", NULL, NULL, &e));
        ASSERT_TRUE(in_group(s, 1000, "j-b", group));
        ASSERT_OK(core_view(s, 1000, "j-v", "j-base", NULL, NULL, &e));
        ASSERT_TRUE(in_group(s, 1000, "j-v", group));

        /* root's layer: root's snapshots are in no group; the user's snapshot on it is
         * limited by itself, to what the quota leaves. */
        ASSERT_OK(core_prepare(s, 0, "j-root-a", NULL, NULL, NULL, &e));
        ASSERT_OK(core_commit(s, 0, "j-root", "j-root-a", NULL, &e));
        ASSERT_TRUE(in_group(s, 0, "j-root", "-"));
        ASSERT_OK(core_prepare(s, 1000, "j-c", "j-root", NULL, NULL, &e));
        limited_by_itself(s, "j-c", &l);
        /* An Apply's new subvolume is charged as the one it replaces; the kernel kept
         * counting all along. */
        user_apply(s, "j-b", "jl1");
        ASSERT_TRUE(in_group(s, 1000, "j-b", group));
        user_apply(s, "j-c", "jl2");
        limited_by_itself(s, "j-c", &l);
        ASSERT_TRUE(quota_consistent() == 1);

        no_limit_is_not_zero();
        joining_from_roots_layer_stops_counting(s, "j-root");
        clone_from_outside_starts_a_rescan(&c, "j-c", "j-b", "j-base", "j-root");
        s = core_snapshotter_by_name(c, "btrfs");

        ASSERT_OK(core_remove(s, 1000, "j-c", &e));
        ASSERT_OK(core_remove(s, 1000, "j-v", &e));
        ASSERT_OK(core_remove(s, 1000, "j-b", &e));
        ASSERT_OK(core_remove(s, 1000, "j-base", &e));
        ASSERT_OK(core_remove(s, 0, "j-root", &e));
        core_free(c);
        quotas_disable();
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
        const char *group = user_group(1000);
        Core *c = core_on_btrfs();
        CoreSnapshotter *s = core_snapshotter_by_name(c, "btrfs");
        Error e = ERROR_NULL;

        ASSERT_OK(core_prepare(s, 1000, "o-base-a", NULL, NULL, NULL, &e));
        write_mib(s, 1000, "o-base-a", "big", 1);
        ASSERT_OK(core_commit(s, 1000, "o-base", "o-base-a", NULL, &e));
        ASSERT_OK(core_prepare(s, 1000, "o-a", "o-base", NULL, NULL, &e));
        ASSERT_OK(core_prepare(s, 0, "o-r", NULL, NULL, NULL, &e));
        core_free(c);
        if (!quotas_enable())
                return;

        c = core_on_btrfs();
        s = core_snapshotter_by_name(c, "btrfs");
        ASSERT_EVENTUALLY(migrated(s, group));
        ASSERT_TRUE(in_group(s, 0, "o-r", "-"));

        ASSERT_OK(core_remove(s, 1000, "o-a", &e));
        ASSERT_OK(core_remove(s, 1000, "o-base", &e));
        ASSERT_OK(core_remove(s, 0, "o-r", &e));
        core_free(c);
        quotas_disable();
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
        const char *group = user_group(1000);
        Error e = ERROR_NULL;
        Core *c;

        if (!quotas_enable())
                return;
        c = core_with_bytes(64);
        ASSERT_OK(core_prepare(core_snapshotter_by_name(c, "btrfs"), 1000, "l-a", NULL, NULL, NULL, &e));
        ASSERT_TRUE(group_limit_is(group, UINT64_C(64) << 20));
        core_free(c);

        c = core_with_bytes(32);
        ASSERT_EVENTUALLY(group_limit_is(group, UINT64_C(32) << 20));
        ASSERT_OK(core_remove(core_snapshotter_by_name(c, "btrfs"), 1000, "l-a", &e));
        core_free(c);
        quotas_disable();
}

/* Simple quotas (Linux 6.7) count each extent for the subvolume that wrote it and never go
 * stale: a snapshot of root's layer joins the user's qgroup too. */
TEST(simple_quotas_count_every_snapshot_in) {
        struct btrfs_ioctl_quota_ctl_args args = { .cmd = 4 /* BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA */ };
        Error e = ERROR_NULL;
        CoreSnapshotter *s;
        Core *c;
        int fd = open(fsdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

        ASSERT_TRUE(fd >= 0);
        r = ioctl(fd, BTRFS_IOC_QUOTA_CTL, &args) < 0 ? -errno : 0;
        if (r < 0) {
                printf("# skipped: no simple quotas here: %s\n", strerror(-r));
                close(fd);
                return;
        }
        ASSERT_TRUE(btrfs_quota_simple(fd) == 1);
        c = core_on_btrfs();
        s = core_snapshotter_by_name(c, "btrfs");
        ASSERT_OK(core_prepare(s, 0, "s-root-a", NULL, NULL, NULL, &e));
        write_mib(s, 0, "s-root-a", "big", 1);
        ASSERT_OK(core_commit(s, 0, "s-root", "s-root-a", NULL, &e));
        ASSERT_OK(core_prepare(s, 1000, "s-a", "s-root", NULL, NULL, &e));
        ASSERT_TRUE(in_group(s, 1000, "s-a", user_group(1000)));
        ASSERT_TRUE(quota_consistent() == 1);

        ASSERT_OK(core_remove(s, 1000, "s-a", &e));
        ASSERT_OK(core_remove(s, 0, "s-root", &e));
        core_free(c);
        close(fd);
        quotas_disable();
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(usage_from_qgroups_excludes_the_parent),
                TEST_ENTRY(snapshots_join_their_owners_qgroup),
                TEST_ENTRY(older_snapshots_join_their_owners_qgroup_at_start),
                TEST_ENTRY(group_limits_follow_the_configuration_at_start),
                TEST_ENTRY(simple_quotas_count_every_snapshot_in),
        };

        return btrfs_test_main(cases, ELEMENTSOF(cases));
}
