/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-uid quotas: the configuration (defaults, [Quota:UID], drop-ins, bad lines) and what
 * the core enforces on the metadata (snapshots, label bytes) at Prepare, View, Update and
 * Commit, across snapshotters, before anything changes; root and other users unaffected. */
#include "core-test-util.h"

static char *dir;

static void write_conf(const char *name, const char *content) {
        test_write_file(dir, name, content);
}

static void load(const char *name, QuotaConfig *c) {
        Error e = ERROR_NULL;

        if (quota_config_load(test_path(dir, name), c, &e) < 0)
                fprintf(stderr, "%s\n", e.message);
        ASSERT_TRUE(e.code == 0);
}

TEST(defaults_without_a_file) {
        QuotaConfig c;
        QuotaLimits l;

        load("none.conf", &c);
        quota_config_limits(&c, 1000, 1000000, 4000, &l);
        ASSERT_TRUE(l.max[QUOTA_BYTES] == 250000);
        ASSERT_TRUE(l.max[QUOTA_INODES] == 1000);
        ASSERT_TRUE(l.max[QUOTA_SNAPSHOTS] == QUOTA_DEFAULT_SNAPSHOTS);
        ASSERT_TRUE(l.max[QUOTA_LABEL_BYTES] == QUOTA_DEFAULT_LABEL_BYTES);
        /* btrfs: no fixed number of inodes, so 25% of them is no limit. */
        quota_config_limits(&c, 1000, 1000000, 0, &l);
        ASSERT_TRUE(l.max[QUOTA_INODES] == QUOTA_NONE && l.max[QUOTA_BYTES] == 250000);
        quota_config_limits(&c, 0, 1000000, 4000, &l);
        for (QuotaKind k = 0; k < _QUOTA_KIND_MAX; k++)
                ASSERT_TRUE(l.max[k] == QUOTA_NONE);
        quota_config_clear(&c);
}

TEST(dropins_override_in_name_order_and_users_inherit_defaults) {
        QuotaConfig c;
        QuotaLimits l;

        ASSERT_OK(mkdir(test_path(dir, "q.conf.d"), 0755));
        write_conf("q.conf", "[Quota]\nBytes=10G\nSnapshots=100\n[Quota:1000]\nSnapshots=7\n");
        write_conf("q.conf.d/50-site.conf", "[Quota]\nSnapshots=200\nInodes=50%\n[Quota:1001]\nBytes=infinity\n");
        write_conf("q.conf.d/10-early.conf", "[Quota]\nSnapshots=150\nLabelBytes=1M\n[Quota:1000]\nSnapshots=3\n");
        write_conf("q.conf.d/90-last.conf", "[Quota:1000]\nLabelBytes=4K\n");
        load("q.conf", &c);

        /* 10-early, then 50-site: Snapshots=200 wins over main's 100 and 10-early's 150. */
        quota_config_limits(&c, 2000, 1000, 1000, &l);
        ASSERT_TRUE(l.max[QUOTA_BYTES] == UINT64_C(10) << 30);
        ASSERT_TRUE(l.max[QUOTA_INODES] == 500);
        ASSERT_TRUE(l.max[QUOTA_SNAPSHOTS] == 200);
        ASSERT_TRUE(l.max[QUOTA_LABEL_BYTES] == 1024 * 1024);
        /* uid 1000: Snapshots=3 (10-early after main's 7), LabelBytes=4K; the rest [Quota]'s. */
        quota_config_limits(&c, 1000, 1000, 1000, &l);
        ASSERT_TRUE(l.max[QUOTA_SNAPSHOTS] == 3);
        ASSERT_TRUE(l.max[QUOTA_LABEL_BYTES] == 4096);
        ASSERT_TRUE(l.max[QUOTA_BYTES] == UINT64_C(10) << 30);
        quota_config_limits(&c, 1001, 1000, 1000, &l);
        ASSERT_TRUE(l.max[QUOTA_BYTES] == QUOTA_NONE);
        ASSERT_TRUE(l.max[QUOTA_SNAPSHOTS] == 200);
        quota_config_clear(&c);
}

static void expect_bad(const char *content, const char *message) {
        QuotaConfig c = {};
        Error e = ERROR_NULL;

        write_conf("bad.conf", content);
        ASSERT_ERR(quota_config_load(test_path(dir, "bad.conf"), &c, &e), EINVAL);
        if (!strstr(e.message, message))
                fprintf(stderr, "message: %s\nwanted: %s\n", e.message, message);
        ASSERT_TRUE(strstr(e.message, message));
        ASSERT_TRUE(!c.users);
}

TEST(bad_settings_name_file_line_and_key) {
        expect_bad("[Quota]\nBytes=10G\nBites=1\n", "bad.conf:3: unknown key Bites= in [Quota]");
        expect_bad("[Quota]\nSnapshots=many\n", "bad.conf:2: Snapshots=many: give a number");
        expect_bad("[Quota]\nSnapshots=10%\n", "bad.conf:2: Snapshots=10%");
        expect_bad("[Quota]\nBytes=101%\n", "bad.conf:2: Bytes=101%: a percentage is 0% to 100%");
        expect_bad("[Quota:0]\nBytes=1\n", "bad.conf:2: [Quota:0]: root has no quota");
        expect_bad("[Quota:alice]\nBytes=1\n", "bad.conf:2: [Quota:alice]: give a numeric uid");
        expect_bad("[Quota:4294967295]\nBytes=1\n", "give a numeric uid");
        expect_bad("[Mounts]\nX=1\n", "bad.conf:2: unknown section [Mounts]");
}

/* --- enforcement in the core --- */

static Core *core;
static CoreSnapshotter *ovl, *native;

static void core_with(const char *conf) {
        QuotaConfig c;
        char *state = strdup_printf("%s/state", dir), *run = strdup_printf("%s/run", dir);

        write_conf("core.conf", conf);
        load("core.conf", &c);
        ASSERT_OK(core_new(&(CoreOptions) { .state_dir = state, .runtime_dir = run, .quota = &c }, &core));
        quota_config_clear(&c); /* the core keeps a copy */
        ovl = core_snapshotter_by_name(core, "overlayfs");
        native = core_snapshotter_by_name(core, "native");
        ASSERT_TRUE(ovl && native);
        free(state);
        free(run);
}

static void core_done(void) {
        core_free(core);
        core = NULL;
        test_rm_rf(test_path(dir, "state"));
}

static Labels label(const char *k, const char *v) {
        Labels l = LABELS_NULL;

        ASSERT_OK(labels_set(&l, k, v));
        return l;
}

static void expect_quota(int r, const Error *e, const char *limit) {
        if (r != -EDQUOT || !strstr(e->message, limit))
                fprintf(stderr, "r=%d %s\n", r, e->message);
        ASSERT_TRUE(r == -EDQUOT && strstr(e->message, limit));
}

static void expect_absent(CoreSnapshotter *s, uid_t ns, const char *key) {
        SnapshotInfo info = {};

        ASSERT_ERR(core_stat(s, ns, key, &info, NULL), ENOENT);
}

/* Each non-root uid has a group of its own in the filesystem's quotas: a level-1 btrfs
 * qgroup, and a project above 2^31 (older versions gave snapshot directories their IDs as
 * projects, below that). Root, and a uid whose project would not fit, have none. */
TEST(user_groups_are_one_per_uid_and_apart_from_older_projects) {
        ASSERT_TRUE(quota_user_qgroup(0) == 0);
        ASSERT_TRUE(quota_user_qgroup(1000) >> 48 == 1);
        ASSERT_TRUE(quota_user_qgroup(1000) != quota_user_qgroup(1001));
        ASSERT_TRUE(quota_user_qgroup(UINT32_MAX - 1) >> 48 == 1);
        ASSERT_TRUE(quota_user_qgroup(UINT32_MAX - 1) != quota_user_qgroup(1000));
        ASSERT_TRUE(quota_user_project(0) == 0);
        ASSERT_TRUE(quota_user_project(1) == UINT32_C(0x80000001));
        ASSERT_TRUE(quota_user_project(1000) != quota_user_project(1001));
        ASSERT_TRUE(quota_user_project(0x7ffffffe) == UINT32_C(0xfffffffe));
        ASSERT_TRUE(quota_user_project(0x7fffffff) == 0);
        ASSERT_TRUE(quota_user_project(UINT32_MAX - 1) == 0);
}

TEST(snapshot_count_is_per_uid_across_snapshotters) {
        Error e = ERROR_NULL;
        uint64_t used[_QUOTA_KIND_MAX];

        core_with("[Quota]\nSnapshots=3\n[Quota:1001]\nSnapshots=1\n");
        ASSERT_OK(core_prepare(ovl, 1000, "a", NULL, NULL, NULL, &e));
        ASSERT_OK(core_view(ovl, 1000, "b", NULL, NULL, NULL, &e));
        ASSERT_OK(core_prepare(native, 1000, "c", NULL, NULL, NULL, &e));
        expect_quota(core_prepare(ovl, 1000, "d", NULL, NULL, NULL, &e), &e, "Snapshots=");
        expect_absent(ovl, 1000, "d");
        e = ERROR_NULL;
        expect_quota(core_view(native, 1000, "d", NULL, NULL, NULL, &e), &e, "Snapshots=");
        expect_absent(native, 1000, "d");

        /* Commit keeps the count: allowed at the quota. */
        e = ERROR_NULL;
        ASSERT_OK(core_commit(ovl, 1000, "a-done", "a", NULL, &e));
        ASSERT_OK(core_quota_usage_all(core, 1000, used, &e));
        ASSERT_TRUE(used[QUOTA_SNAPSHOTS] == 3);

        /* Others and root are not held back; 1001 has its own limit. */
        ASSERT_OK(core_prepare(ovl, 1002, "d", NULL, NULL, NULL, &e));
        ASSERT_OK(core_prepare(ovl, 1001, "d", NULL, NULL, NULL, &e));
        expect_quota(core_prepare(ovl, 1001, "e", NULL, NULL, NULL, &e), &e, "Snapshots=1");
        e = ERROR_NULL;
        for (int i = 0; i < 5; i++) {
                char key[16];

                snprintf(key, sizeof key, "r%d", i);
                ASSERT_OK(core_prepare(ovl, 0, key, NULL, NULL, NULL, &e));
        }

        /* Removing one makes room again. */
        ASSERT_OK(core_remove(ovl, 1000, "b", &e));
        ASSERT_OK(core_prepare(ovl, 1000, "d", NULL, NULL, NULL, &e));
        core_done();
}

TEST(label_bytes_at_prepare_update_and_commit) {
        Labels l10 = label("key", "1234567"), l6 = label("k", "12345"), big = label("kk", "123456789"),
               huge = label("kkkkkkkk", "123456789");
        SnapshotInfo info = {};
        Error e = ERROR_NULL;
        uint64_t used[_QUOTA_KIND_MAX];

        core_with("[Quota]\nLabelBytes=16\n");
        ASSERT_OK(core_prepare(ovl, 1000, "a", NULL, &l10, NULL, &e)); /* 10 */
        expect_quota(core_prepare(native, 1000, "b", NULL, &l10, NULL, &e), &e, "LabelBytes=16");
        expect_absent(native, 1000, "b");
        e = ERROR_NULL;
        ASSERT_OK(core_prepare(native, 1000, "b", NULL, &l6, NULL, &e)); /* 16 */
        ASSERT_OK(core_quota_usage_all(core, 1000, used, &e));
        ASSERT_TRUE(used[QUOTA_LABEL_BYTES] == 16);

        /* Update: growing past the quota is refused and changes nothing; shrinking passes. */
        expect_quota(core_update(native, 1000, "b", &big, NULL, &info, &e), &e, "LabelBytes=");
        snapshot_info_clear(&info);
        ASSERT_OK(core_stat(native, 1000, "b", &info, NULL));
        ASSERT_STREQ(labels_get(&info.labels, "k"), "12345");
        snapshot_info_clear(&info);
        e = ERROR_NULL;
        ASSERT_OK(core_update(native, 1000, "b", &LABELS_NULL, NULL, &info, &e)); /* 10 */
        snapshot_info_clear(&info);

        /* Commit replaces the labels: more than the quota leaves the active as it was. */
        expect_quota(core_commit(ovl, 1000, "a-done", "a", &huge, &e), &e, "LabelBytes="); /* 17 */
        ASSERT_OK(core_stat(ovl, 1000, "a", &info, NULL));
        ASSERT_TRUE(info.kind == SNAPSHOT_ACTIVE);
        snapshot_info_clear(&info);
        expect_absent(ovl, 1000, "a-done");
        e = ERROR_NULL;
        ASSERT_OK(core_commit(ovl, 1000, "a-done", "a", &l6, &e));

        /* Root: no quota. */
        ASSERT_OK(core_prepare(ovl, 0, "r", NULL, &big, NULL, &e));
        ASSERT_OK(core_update(ovl, 0, "r", &big, NULL, &info, &e));
        snapshot_info_clear(&info);
        labels_clear(&l10);
        labels_clear(&l6);
        labels_clear(&big);
        labels_clear(&huge);
        core_done();
}

TEST(usage_counts_committed_records_and_active_data) {
        Error e = ERROR_NULL;
        uint64_t used[_QUOTA_KIND_MAX], size = 0, inodes = 0;
        uid_t *owners = NULL;
        size_t n = 0;

        core_with("");
        ASSERT_OK(core_prepare(native, 1000, "a", NULL, NULL, NULL, &e));
        ASSERT_OK(core_prepare(native, 1002, "x", NULL, NULL, NULL, &e));
        ASSERT_OK(core_prepare(native, 0, "r", NULL, NULL, NULL, &e));
        ASSERT_OK(core_usage(native, 1000, "a", &size, &inodes, &e));
        ASSERT_OK(core_quota_usage(native, 1000, used, &e));
        ASSERT_TRUE(used[QUOTA_BYTES] == size && used[QUOTA_INODES] == inodes && used[QUOTA_SNAPSHOTS] == 1);
        ASSERT_OK(core_commit(native, 1000, "a-done", "a", NULL, &e));
        ASSERT_OK(core_usage(native, 1000, "a-done", &size, &inodes, &e));
        ASSERT_OK(core_quota_usage(native, 1000, used, &e));
        ASSERT_TRUE(used[QUOTA_BYTES] == size && used[QUOTA_INODES] == inodes);

        ASSERT_OK(core_quota_owners(native, &owners, &n, &e));
        ASSERT_TRUE(n == 3 && owners[0] == 0 && owners[1] == 1000 && owners[2] == 1002);
        free(owners);
        core_done();
}

/* What the quotas read (the totals the store keeps) against what a List of the same
 * snapshots counts. */
static void expect_totals_as_listed(uid_t ns) {
        uint64_t used[_QUOTA_KIND_MAX], snapshots = 0, label_bytes = 0;
        Error e = ERROR_NULL;

        for (CoreSnapshotter **s = (CoreSnapshotter *[]) { ovl, native, NULL }; *s; s++) {
                SnapshotInfoList l = {};

                ASSERT_OK(core_list(*s, ns, NULL, &l, &e));
                for (size_t i = 0; i < l.n; i++) {
                        if (l.items[i].owner != ns)
                                continue;
                        snapshots++;
                        for (size_t k = 0; k < l.items[i].labels.n; k++)
                                label_bytes += strlen(l.items[i].labels.items[k].key) +
                                               strlen(l.items[i].labels.items[k].value);
                }
                snapshot_info_list_clear(&l);
        }
        ASSERT_OK(core_quota_usage_all(core, ns, used, &e));
        if (used[QUOTA_SNAPSHOTS] != snapshots || used[QUOTA_LABEL_BYTES] != label_bytes)
                fprintf(stderr, "uid %u: totals %llu snapshots, %llu label bytes; listed %llu, %llu\n", (unsigned) ns,
                        (unsigned long long) used[QUOTA_SNAPSHOTS], (unsigned long long) used[QUOTA_LABEL_BYTES],
                        (unsigned long long) snapshots, (unsigned long long) label_bytes);
        ASSERT_TRUE(used[QUOTA_SNAPSHOTS] == snapshots && used[QUOTA_LABEL_BYTES] == label_bytes);
        ASSERT_TRUE(snapshots <= 12 && label_bytes <= 3000);
}

TEST(totals_stay_as_listed_and_within_quota_after_random_changes) {
        unsigned state = 0x2545f491u, refused = 0;

        core_with("[Quota]\nSnapshots=12\nLabelBytes=3000\n");
        for (unsigned i = 0; i < 400; i++) {
                CoreSnapshotter *s = (state = state * 1103515245u + 12345u) >> 16 & 1 ? ovl : native;
                unsigned op = (state = state * 1103515245u + 12345u) >> 16 & 7;
                char key[16], other[16], value[512];
                Labels l = LABELS_NULL;
                SnapshotInfo info = {};
                Error e = ERROR_NULL;
                int r;

                snprintf(key, sizeof key, "k%u", (state = state * 1103515245u + 12345u) >> 16 & 15);
                snprintf(other, sizeof other, "k%u", (state = state * 1103515245u + 12345u) >> 16 & 15);
                memset(value, 'v', sizeof value - 1);
                value[((state = state * 1103515245u + 12345u) >> 16) % sizeof value] = 0;
                if (value[0])
                        ASSERT_OK(labels_set(&l, op & 1 ? "a" : "b", value));
                switch (op) {
                case 0:
                case 1:
                case 2:
                        r = core_prepare(s, 1000, key, op == 2 ? other : NULL, &l, NULL, &e);
                        break;
                case 3:
                        r = core_commit(s, 1000, other, key, &l, &e);
                        break;
                case 4:
                case 5:
                        r = core_update(s, 1000, key, &l, NULL, &info, &e);
                        snapshot_info_clear(&info);
                        break;
                default:
                        r = core_remove(s, 1000, key, &e);
                }
                refused += r == -EDQUOT;
                labels_clear(&l);
                expect_totals_as_listed(1000);
        }
        ASSERT_TRUE(refused > 0); /* the quotas were reached */
        core_done();
}

TEST(setup) {
        dir = test_mkdtemp();
        ASSERT_TRUE(dir);
}

TEST(teardown) {
        test_rm_rf(dir);
        free(dir);
}

TEST_MAIN(TEST_ENTRY(setup), TEST_ENTRY(defaults_without_a_file),
          TEST_ENTRY(dropins_override_in_name_order_and_users_inherit_defaults),
          TEST_ENTRY(bad_settings_name_file_line_and_key),
          TEST_ENTRY(user_groups_are_one_per_uid_and_apart_from_older_projects),
          TEST_ENTRY(snapshot_count_is_per_uid_across_snapshotters),
          TEST_ENTRY(label_bytes_at_prepare_update_and_commit), TEST_ENTRY(usage_counts_committed_records_and_active_data),
          TEST_ENTRY(totals_stay_as_listed_and_within_quota_after_random_changes),
          TEST_ENTRY(teardown))
