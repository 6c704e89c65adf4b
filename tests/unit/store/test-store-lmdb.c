/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What LMDB makes special: long names and their keys, large labels, IDs never reused,
 * reads beside a writer in another thread, mount records, file modes. */
#include <pthread.h>

#include "store-internal.h"
#include "store-suite-test-util.h"

TEST(labels_round_trip_64k) {
        TestStore ts;
        Store *s = test_store_new(&ts, 64 * 1024);
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_free_ char *v = long_name(LABEL_PAIR_MAX - 3, 'v', NULL);
        Labels l = LABELS_NULL;
        char key[8];
        size_t total = 0;

        for (int i = 0; i < 16; i++) {
                snprintf(key, sizeof key, "k%02d", i);
                v[0] = (char) ('a' + i);
                ASSERT_OK(labels_set(&l, key, v));
                total += strlen(key) + strlen(v);
        }
        ASSERT_TRUE(total == LABELS_TOTAL_MAX);
        ASSERT_OK(labels_validate(&l, NULL));
        ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 0, "big", 0, NULL, &l, NULL) == 1);
        ASSERT_OK(t_info(s, "big", &info, NULL));
        ASSERT_TRUE(labels_equal(&info.labels, &l));
        ASSERT_TRUE(t_commit_as(s, 0, "big", "big-committed", 0, &l, NULL) == 1);
        snapshot_info_clear(&info);
        ASSERT_OK(t_info(s, "big-committed", &info, NULL));
        ASSERT_TRUE(labels_equal(&info.labels, &l));
        labels_clear(&l);
        test_store_done(&ts);
}

TEST(long_names) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_free_ char *n4096 = long_name(4096, 'x', "end");
        _cleanup_free_ char *a = long_name(1000, 'p', "a-tail"), *b = long_name(1000, 'p', "b-tail");
        _cleanup_free_ char *n448 = long_name(448, 'p', NULL), *n449 = long_name(449, 'p', NULL);
        _cleanup_free_ char *committed = long_name(4096, 'c', NULL);
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_strv_free_ char **names = NULL;
        SnapshotKind kind;

        /* a and b share a 994-byte prefix (more than 600), beyond the indexed prefix. */
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, b, NULL, NULL) == 1);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, a, NULL, NULL) == 2);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, n449, NULL, NULL) == 3);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, n448, NULL, NULL) == 4);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, n4096, NULL, NULL) == 5);
        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, a, NULL, NULL), EEXIST);
        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, n4096, NULL, NULL), EEXIST);

        ASSERT_OK(t_info(s, a, &info, NULL));
        ASSERT_TRUE(info.id == 2 && streq(info.name, a));
        snapshot_info_clear(&info);
        ASSERT_OK(t_info(s, b, &info, NULL));
        ASSERT_TRUE(info.id == 1 && streq(info.name, b));
        snapshot_info_clear(&info);

        /* Byte order, long names included. */
        names = walk_names(s, NULL);
        ASSERT_TRUE(strv_length(names) == 5);
        ASSERT_STREQ(names[0], n448);
        ASSERT_STREQ(names[1], n449);
        ASSERT_STREQ(names[2], a);
        ASSERT_STREQ(names[3], b);
        ASSERT_STREQ(names[4], n4096);

        /* Long parents and long committed names. */
        ASSERT_TRUE(t_commit(s, n4096, committed, NULL) == 5);
        ASSERT_TRUE(t_create(s, SNAPSHOT_VIEW, "child", committed, NULL) == 6);
        ASSERT_OK(t_info(s, "child", &info, NULL));
        ASSERT_STREQ(info.parent, committed);

        ASSERT_TRUE(t_remove(s, a, &kind, NULL) == 2);
        ASSERT_ERR(t_info(s, a, &info, NULL), ENOENT);
        ASSERT_OK(t_info(s, b, &info, NULL));
        t_verify(s);
        test_store_done(&ts);
}

static int create_then_fail(StoreTxn *t, void *userdata, Error *e) {
        ASSERT_OK(op_fn(t, userdata, e));
        return -EIO;
}

TEST(ids_never_reused) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        Op o = { .type = OP_CREATE, .kind = SNAPSHOT_ACTIVE, .name = "x" };

        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "a", NULL, NULL) == 1);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "b", NULL, NULL) == 2);
        ASSERT_TRUE(t_remove(s, "b", NULL, NULL) == 2);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "b", NULL, NULL) == 3);

        /* A failed write rolls the counter back with everything else. */
        ASSERT_ERR(store_write(s, create_then_fail, &o, NULL), EIO);
        op_done(&o);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "c", NULL, NULL) == 4);
        ASSERT_ERR(t_create(s, SNAPSHOT_ACTIVE, "c", NULL, NULL), EEXIST);
        ASSERT_TRUE(t_create(s, SNAPSHOT_ACTIVE, "d", NULL, NULL) == 5);

        /* The counter persists across reopening. */
        ts.store = store_free(ts.store);
        ASSERT_OK(store_open(ts.dir.db, NULL, &ts.store));
        ASSERT_TRUE(t_remove(ts.store, "d", NULL, NULL) == 5);
        ASSERT_TRUE(t_create(ts.store, SNAPSHOT_ACTIVE, "d", NULL, NULL) == 6);
        {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;
                _cleanup_free_ uint64_t *ids = NULL;
                size_t n;

                ASSERT_OK(store_read_begin(ts.store, &t));
                ASSERT_OK(store_list_ids(t, &ids, &n));
                ASSERT_TRUE(n == 4 && ids[0] == 1 && ids[1] == 3 && ids[2] == 4 && ids[3] == 6);
        }
        test_store_done(&ts);
}

typedef struct Writer {
        Store *store;
        int n;
} Writer;

static void *writer_thread(void *userdata) {
        Writer *w = userdata;
        char name[32];

        for (int i = 0; i < w->n; i++) {
                snprintf(name, sizeof name, "w-%d", i);
                ASSERT_TRUE(t_create(w->store, SNAPSHOT_ACTIVE, name, NULL, NULL) > 0);
        }
        return NULL;
}

/* A reader in one thread, writes in another, the map growing meanwhile. */
TEST(read_while_another_thread_writes) {
        TestStore ts;
        Store *s = test_store_new(&ts, 64 * 1024);
        _cleanup_(store_read_endp) StoreTxn *held = NULL;
        Writer one = { .store = s, .n = 1 }, w = { .store = s, .n = 600 };
        SnapshotInfo info = {};
        pthread_t thread;

        base_populate(s);
        /* A read transaction held across a write in another thread. */
        ASSERT_OK(store_read_begin(s, &held));
        ASSERT_TRUE(pthread_create(&thread, NULL, writer_thread, &one) == 0);
        ASSERT_TRUE(pthread_join(thread, NULL) == 0);
        ASSERT_ERR(store_get_info(held, 0, "w-0", &info, NULL), ENOENT); /* its snapshot */
        held = (store_read_end(held), NULL);
        ASSERT_OK(t_info(s, "w-0", &info, NULL));
        snapshot_info_clear(&info);
        ASSERT_TRUE(t_remove(s, "w-0", NULL, NULL) > 0);

        /* Reads keep going (briefly held) while the writer grows the map. */
        ASSERT_TRUE(pthread_create(&thread, NULL, writer_thread, &w) == 0);
        for (int i = 0; i < 2000; i++) {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;
                ASSERT_OK(store_read_begin(s, &t));
                ASSERT_OK(store_get_info(t, 0, "committed-2", &info, NULL));
                snapshot_info_clear(&info);
        }
        ASSERT_TRUE(pthread_join(thread, NULL) == 0);
        ASSERT_OK(t_info(s, "w-599", &info, NULL));
        snapshot_info_clear(&info);
        {
                _cleanup_free_ char *data = strdup_printf("%s/data.mdb", ts.dir.db);
                struct stat st;

                ASSERT_OK(stat(data, &st));
                ASSERT_TRUE(st.st_size > 64 * 1024); /* the map grew meanwhile */
        }
        t_verify(s);
        test_store_done(&ts);
}

static int mount_put_fn(StoreTxn *t, void *userdata, Error *e) {
        return store_mount_put(t, userdata);
}

static int mount_delete_fn(StoreTxn *t, void *userdata, Error *e) {
        return store_mount_delete(t, *(uint64_t *) userdata);
}

static int mount_count_fn(const MountRecord *r, void *userdata) {
        (*(size_t *) userdata)++;
        return 0;
}

TEST(mount_records) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        MountRecord m = { .snapshot_id = 7, .owner = 1000, .target = (char *) "/run/lamina/mounts/overlayfs/7",
                          .mnt_id = 1234, .boot_id = "0123456789abcdef0123456789abcdef",
                          .daemon_made_target = true, .mounted_usec = 99, .attrs = 0x100006,
                          .point_handle = { 8, 0, 0, 0, 1, 0, 0, 0, 0xfe }, .point_handle_size = 9 };
        _cleanup_(mount_record_clear) MountRecord got = {};

        ASSERT_OK(store_write(s, mount_put_fn, &m, NULL));
        {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;
                size_t n = 0;

                ASSERT_OK(store_read_begin(s, &t));
                ASSERT_OK(store_mount_get(t, 7, &got));
                ASSERT_TRUE(got.owner == 1000 && got.mnt_id == 1234 && got.daemon_made_target &&
                            got.mounted_usec == 99);
                ASSERT_TRUE(got.attrs == 0x100006 && got.attrs_known); /* the options it was made with */
                ASSERT_TRUE(got.point_handle_size == 9 && memcmp(got.point_handle, m.point_handle, 9) == 0);
                ASSERT_STREQ(got.target, m.target);
                ASSERT_STREQ(got.boot_id, m.boot_id);
                ASSERT_ERR(store_mount_get(t, 8, &got), ENOENT);
                ASSERT_OK(store_mount_walk(t, mount_count_fn, &n));
                ASSERT_TRUE(n == 1);
        }
        ASSERT_OK(store_write(s, mount_delete_fn, &m.snapshot_id, NULL));
        {
                _cleanup_(store_read_endp) StoreTxn *t = NULL;
                ASSERT_OK(store_read_begin(s, &t));
                ASSERT_ERR(store_mount_get(t, 7, &got), ENOENT);
        }
        test_store_done(&ts);
}

TEST(directory_modes) {
        TestStore ts;
        struct stat st;
        char p[128];

        test_store_new(&ts, 0);
        ASSERT_OK(stat(ts.dir.db, &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0700);
        snprintf(p, sizeof p, "%s/data.mdb", ts.dir.db);
        ASSERT_OK(stat(p, &st));
        ASSERT_TRUE((st.st_mode & 0077) == 0);
        test_store_done(&ts);
}

/* The on-disk key of a long name is owner, prefix and SHA-256 of the whole name: a fixed
 * vector (python3 hashlib.sha256(b"n" * 500)), so a change of hashing library cannot change
 * the keys existing stores hold. */
TEST(name_key_long_is_sha256) {
        static const uint8_t want[HASH_LEN] = {
                0x2c, 0x62, 0xce, 0x96, 0x04, 0xb9, 0x64, 0xdf, 0x36, 0xbf, 0xb0, 0xf5, 0x05, 0xad, 0x10, 0xb7,
                0x8c, 0x56, 0x26, 0x9e, 0x3a, 0x2e, 0xde, 0x20, 0x28, 0x29, 0xea, 0x6b, 0xfc, 0x53, 0xd8, 0xd3,
        };
        char name[500];
        NameKey k;

        memset(name, 'n', sizeof name);
        ASSERT_OK(name_key(1000, name, sizeof name, &k));
        ASSERT_TRUE(k.n == NAME_KEY_LONG);
        ASSERT_TRUE(k.b[3] == 0xe8 && k.b[2] == 0x03 && k.b[0] == 0 && k.b[1] == 0);
        ASSERT_TRUE(memcmp(k.b + OWNER_LEN, name, NAME_PREFIX_MAX) == 0);
        ASSERT_TRUE(memcmp(k.b + NAME_GROUP_LEN, want, HASH_LEN) == 0);
}

TEST_MAIN(TEST_ENTRY(labels_round_trip_64k), TEST_ENTRY(long_names), TEST_ENTRY(ids_never_reused),
          TEST_ENTRY(read_while_another_thread_writes), TEST_ENTRY(mount_records), TEST_ENTRY(directory_modes),
          TEST_ENTRY(name_key_long_is_sha256))
