/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Apply under a Bytes= quota counts what the user holds without walking its other
 * snapshots each time: an unmounted active snapshot's data changes only through laminad,
 * so its usage as last walked counts; the snapshot an Apply changed, and one mounted since
 * (writes through the mount), are walked again; a restart walks everything once (nothing
 * of this is kept on disk). Applies of one uid run side by side: each reserves what its
 * layer adds once it is unpacked, so together they never pass the quota; one that waits
 * for another's reservation stops when its caller leaves. */
#include <archive.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mount.h>

#include "core-internal.h"
#include "core/core-test-util.h"
#include "interpose.h"
#include "layer-test-util.h"

#define MIB (1024u * 1024u)

static char *dir, *state, *run;
static Core *core;
static CoreSnapshotter *ovl;

static void open_core(const char *conf_text) {
        _cleanup_free_ char *conf = strdup_printf("%s/q.conf", dir);
        Error e = ERROR_NULL;
        QuotaConfig q;

        test_write_file(dir, "q.conf", conf_text);
        ASSERT_OK(quota_config_load(conf, &q, &e));
        ASSERT_OK(core_new(&(CoreOptions) { .state_dir = state, .runtime_dir = run, .quota = &q }, &core));
        quota_config_clear(&q);
        ovl = core_snapshotter_by_name(core, "overlayfs");
        ASSERT_TRUE(ovl);
}

static void close_core(void) {
        core = core_free(core);
        test_rm_rf(state);
        test_rm_rf(run);
}

/* A layer of one file of size bytes, in a memfd. */
static int layer_of(const char *name, size_t size) {
        TarItem item = { .name = name, .data = "x", .size = size };

        return tar_build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, &item, 1);
}

static int apply(const char *key, int fd) {
        CoreApplyResult res = {};
        Error e = ERROR_NULL;
        int r;

        r = core_apply(ovl, 1000, key, fd, &(CoreApplyOptions) { .media_type = "tar" }, &res, &e);
        fprintf(stderr, "apply to %s: %s\n", key, r < 0 ? e.message : "applied");
        return r;
}

static void prepare_and_apply(const char *key, const char *name, size_t size) {
        Error e = ERROR_NULL;
        int fd = layer_of(name, size);

        ASSERT_OK(core_prepare(ovl, 1000, key, NULL, NULL, NULL, &e));
        ASSERT_OK(apply(key, fd));
        close(fd);
}

/* Bytes of uid 1000 as the quota counts them, and as a walk of each of keys counts. */
static uint64_t quota_bytes(void) {
        uint64_t used[_QUOTA_KIND_MAX];
        Error e = ERROR_NULL;

        ASSERT_OK(core_quota_usage(ovl, 1000, used, &e));
        return used[QUOTA_BYTES];
}

static uint64_t walked_bytes(const char *const *keys) {
        uint64_t total = 0;

        for (; *keys; keys++) {
                uint64_t size = 0, inodes = 0;
                Error e = ERROR_NULL;

                ASSERT_OK(core_usage(ovl, 1000, *keys, &size, &inodes, &e));
                total += size;
        }
        return total;
}

static void write_file(const char *path, const void *data, size_t size, int flags) {
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);

        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(write(fd, data, size) == (ssize_t) size);
        ASSERT_OK(close(fd));
}

/* Writes size bytes into a new file of key's data, behind laminad's back. */
static void write_behind(const char *key, const char *name, size_t size) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_free_ char *data = malloc(size), *path = NULL;
        Error e = ERROR_NULL;

        ASSERT_TRUE(data);
        ASSERT_OK(core_stat(ovl, 1000, key, &info, &e));
        path = strdup_printf("%s/overlayfs/snapshots/%" PRIu64 "/fs/%s", state, info.id, name);
        memset(data, 'y', size);
        write_file(path, data, size, O_TRUNC);
}

TEST(other_unmounted_snapshots_count_as_last_walked) {
        static const char *const other[] = { "other", NULL }, *const both[] = { "other", "a", NULL };
        uint64_t before;

        open_core("[Quota]\nBytes=64M\n");
        prepare_and_apply("other", "f", MIB);
        before = quota_bytes();
        ASSERT_TRUE(before == walked_bytes(other) && before >= MIB);
        /* Nothing laminad does changes "other": what it holds is not walked again (a
         * change behind laminad's back shows that). */
        write_behind("other", "g", 2 * MIB);
        ASSERT_TRUE(quota_bytes() == before);
        /* The snapshot an Apply changed counts anew. */
        prepare_and_apply("a", "f", MIB);
        ASSERT_TRUE(quota_bytes() == before + walked_bytes((const char *const[]) { "a", NULL }));
        /* A restart (a crash) walks everything once again. */
        core = core_free(core);
        open_core("[Quota]\nBytes=64M\n");
        ASSERT_TRUE(quota_bytes() == walked_bytes(both));
        ASSERT_TRUE(quota_bytes() >= before + 3 * MIB);
        close_core();
}

TEST(a_snapshot_mounted_since_counts_what_was_written_through_its_mount) {
        _cleanup_free_ char *path = NULL, *file = NULL;
        static const char *const keys[] = { "m", NULL };
        char data[4096];
        Error e = ERROR_NULL;
        uint64_t before;

        open_core("[Quota]\nBytes=64M\n");
        prepare_and_apply("m", "f", MIB);
        before = quota_bytes();
        ASSERT_OK(core_mount(ovl, 1000, "m", NULL, &(CoreMountOptions) {}, &path, &e));
        file = strdup_printf("%s/written", path);
        memset(data, 'z', sizeof data);
        for (unsigned i = 0; i < 256; i++)
                write_file(file, data, sizeof data, O_APPEND);
        /* Mounted: walked at each count. */
        ASSERT_TRUE(quota_bytes() == walked_bytes(keys) && walked_bytes(keys) >= before + MIB);
        ASSERT_OK(core_unmount(ovl, 1000, "m", false, NULL, &e));
        /* Released and its record gone: counted as walked after the mount, not before. */
        ASSERT_TRUE(quota_bytes() == walked_bytes(keys) && walked_bytes(keys) >= before + MIB);
        close_core();
}

typedef struct Racer {
        const char *key;
        int fd;
        int r;
} Racer;

static void *race(void *userdata) {
        Racer *a = userdata;

        a->r = apply(a->key, a->fd);
        return NULL;
}

/* Writes n bytes into the pipe fd (non-blocking): true once the Apply reading it took them
 * (all but what the pipe holds), false when it did not within 60 s. */
static bool fed(int fd, const char *data, size_t n) {
        ASSERT_OK(fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ? -errno : 0);
        for (unsigned waited = 0; n > 0 && waited < 600;) {
                ssize_t k = write(fd, data, n);

                if (k > 0) {
                        data += k;
                        n -= k;
                } else {
                        ASSERT_TRUE(k < 0 && errno == EAGAIN);
                        waited += poll(&(struct pollfd) { .fd = fd, .events = POLLOUT }, 1, 100) == 0;
                }
        }
        return n == 0;
}

/* Two Applies of one uid, each reading its layer of size bytes from a pipe: both are seen
 * unpacking at once (each has taken half of its layer), then the first is given the rest
 * and ends, then the second. */
static void apply_side_by_side(size_t size, Racer *first, Racer *second) {
        int layer = layer_of("f", size), p1[2], p2[2];
        pthread_t t1, t2;
        Error e = ERROR_NULL;
        struct stat st;
        char *tar;

        ASSERT_OK(core_prepare(ovl, 1000, first->key, NULL, NULL, NULL, &e));
        ASSERT_OK(core_prepare(ovl, 1000, second->key, NULL, NULL, NULL, &e));
        ASSERT_OK(fstat(layer, &st));
        tar = malloc(st.st_size);
        ASSERT_TRUE(tar && pread(layer, tar, st.st_size, 0) == st.st_size);
        ASSERT_OK(pipe2(p1, O_CLOEXEC));
        ASSERT_OK(pipe2(p2, O_CLOEXEC));
        first->fd = p1[0];
        second->fd = p2[0];
        ASSERT_OK(-pthread_create(&t1, NULL, race, first));
        ASSERT_OK(-pthread_create(&t2, NULL, race, second));
        /* Before, the second waited until the first was over: it took nothing meanwhile. */
        ASSERT_TRUE(fed(p1[1], tar, st.st_size / 2));
        ASSERT_TRUE(fed(p2[1], tar, st.st_size / 2));
        ASSERT_TRUE(fed(p1[1], tar + st.st_size / 2, st.st_size - st.st_size / 2));
        close(p1[1]);
        ASSERT_OK(-pthread_join(t1, NULL));
        ASSERT_TRUE(fed(p2[1], tar + st.st_size / 2, st.st_size - st.st_size / 2));
        close(p2[1]);
        ASSERT_OK(-pthread_join(t2, NULL));
        close(p1[0]);
        close(p2[0]);
        close(layer);
        free(tar);
}

TEST(applies_of_one_uid_run_side_by_side_within_the_quota) {
        Racer first = { .key = "s1" }, second = { .key = "s2" };

        open_core("[Quota]\nBytes=3M\n");
        apply_side_by_side(MIB, &first, &second);
        ASSERT_OK(first.r);
        ASSERT_OK(second.r);
        ASSERT_TRUE(quota_bytes() >= 2 * MIB && quota_bytes() <= 3 * MIB);
        close_core();
}

/* Each of two 2 MiB layers fits in Bytes=3M alone, both started with all 3 MiB left: the
 * one whose data becomes its snapshot's second is refused, and the quota holds. */
TEST(racing_applies_of_one_uid_never_pass_the_quota_together) {
        Racer first = { .key = "r1" }, second = { .key = "r2" };
        static const char *const keys[] = { "r2", NULL };

        open_core("[Quota]\nBytes=3M\n");
        apply_side_by_side(2 * MIB, &first, &second);
        ASSERT_OK(first.r);
        ASSERT_ERR(second.r, EDQUOT);
        ASSERT_TRUE(quota_bytes() <= 3 * MIB);
        ASSERT_TRUE(walked_bytes(keys) < MIB); /* the refused one left r2 as it was */
        close_core();
}

/* While other Applies' reservations leave nothing, an Apply waits for one to be released,
 * and stops when its caller leaves; a released reservation leaves its room again. */
TEST(an_apply_waiting_for_anothers_reservation_stops_when_its_caller_leaves) {
        _cleanup_close_ int cancel = eventfd(1, EFD_CLOEXEC), layer = layer_of("f", MIB);
        uint64_t others[2], id, max[2] = { 3 * MIB, QUOTA_NONE };
        CoreApplyResult res = {};
        Error e = ERROR_NULL;

        open_core("[Quota]\nBytes=3M\n");
        ASSERT_TRUE(cancel >= 0);
        ASSERT_OK(core_prepare(ovl, 1000, "w", NULL, NULL, NULL, &e));
        ASSERT_OK(core_quota_reserve(ovl, 1000, core_quota_reserved(ovl, 1000, others), (const uint64_t[]) { 0, 0 },
                                     (const uint64_t[]) { 3 * MIB, 0 }, max, others, &id));
        ASSERT_ERR(core_apply(ovl, 1000, "w", layer,
                              &(CoreApplyOptions) { .media_type = "tar", .cancel_fd = cancel }, &res, &e),
                   ECANCELED);
        ASSERT_TRUE(strstr(e.message, "other Applies"));
        core_quota_release(ovl, id);
        ASSERT_OK(apply("w", layer));
        close_core();
}

TEST(setup) {
        dir = test_mkdtemp();
        ASSERT_TRUE(dir);
        state = strdup_printf("%s/state", dir);
        run = strdup_printf("%s/run", dir);
        /* Mounts stay in a namespace of the test's own. */
        ASSERT_OK(unshare(CLONE_NEWNS));
        ASSERT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
}

/* Another uid's releases make no Apply of uid walk its usage again, nor end its wait: only
 * uid's own change what its Applies walked. Before, one count of releases served every uid,
 * and a user whose quota'd Applies ended one after another made every other user's Apply
 * reserving walk its usage again, as often as they ended, and never get through. */
TEST(another_uids_releases_leave_an_applys_reservation_alone) {
        _cleanup_close_ int cancel = eventfd(1, EFD_CLOEXEC);
        uint64_t others[2], id, other_id, released, max[2] = { 3 * MIB, QUOTA_NONE };
        static const uint64_t none[2] = { 0, 0 }, some[2] = { MIB, 0 };

        open_core("[Quota]\nBytes=3M\n");
        ASSERT_TRUE(cancel >= 0);
        released = core_quota_reserved(ovl, 1000, others);
        /* uid 1001's Apply reserves and ends while uid 1000's walks. */
        ASSERT_OK(core_quota_reserve(ovl, 1001, core_quota_reserved(ovl, 1001, others), none, some, max, others,
                                     &other_id));
        core_quota_release(ovl, other_id);
        ASSERT_TRUE(core_quota_reserved(ovl, 1000, others) == released);
        ASSERT_OK(core_quota_reserve(ovl, 1000, released, none, some, max, others, &id));
        /* A wait of 1000's for its own releases goes on (until its caller leaves). */
        ASSERT_OK(core_quota_reserve(ovl, 1001, core_quota_reserved(ovl, 1001, others), none, some, max, others,
                                     &other_id));
        core_quota_release(ovl, other_id);
        ASSERT_ERR(core_quota_wait_released(ovl, 1000, released, cancel), ECANCELED);
        /* Its own release ends it. */
        core_quota_release(ovl, id);
        ASSERT_OK(core_quota_wait_released(ovl, 1000, released, cancel));
        ASSERT_TRUE(core_quota_reserved(ovl, 1000, others) == released + 1 && others[0] == 0);
        close_core();
}

/* The Apply that waits polls its cancel fd (core_quota_wait_released()): told here, so that
 * a test releases what it waits for only once it waits. */
static int waiting_cancel_fd = -1;
static bool waited;

/* A fortified build declares poll()'s fds write-only, as poll() fills in revents: the fds
 * it is given are read here all the same, as the real one reads them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
int poll(struct pollfd *fds, nfds_t n, int timeout) {
        if (n == 1 && fds[0].fd >= 0 && fds[0].fd == __atomic_load_n(&waiting_cancel_fd, __ATOMIC_SEQ_CST))
                __atomic_store_n(&waited, true, __ATOMIC_SEQ_CST);
        return REAL(poll)(fds, n, timeout);
}
#pragma GCC diagnostic pop

typedef struct Waiter {
        int layer, cancel, r;
} Waiter;

static void *apply_waiting(void *userdata) {
        Waiter *w = userdata;
        CoreApplyResult res = {};
        Error e = ERROR_NULL;

        w->r = core_apply(ovl, 1000, "v", w->layer, &(CoreApplyOptions) { .media_type = "tar", .cancel_fd = w->cancel },
                          &res, &e);
        fprintf(stderr, "apply to v: %s\n", w->r < 0 ? e.message : "applied");
        return NULL;
}

/* An Apply that waited for others' reservations is left what the quota leaves once they are
 * released: the limits it found while they were held are not kept. Before, the byte limit
 * lowered to what others left (1 MiB of 3) stayed although the wait was for inodes, and a
 * 2 MiB layer was refused once all of the quota was free again. */
TEST(an_apply_that_waited_is_left_what_the_quota_leaves_after_the_wait) {
        _cleanup_close_ int layer = layer_of("f", 2 * MIB);
        uint64_t others[2], id, max[2] = { 3 * MIB, 1000 };
        Waiter w = { .layer = layer, .cancel = eventfd(0, EFD_CLOEXEC) };
        Error e = ERROR_NULL;
        pthread_t t;

        open_core("[Quota]\nBytes=3M\nInodes=1000\n");
        ASSERT_TRUE(w.cancel >= 0);
        ASSERT_OK(core_prepare(ovl, 1000, "v", NULL, NULL, NULL, &e));
        /* Another Apply's: 2 MiB of bytes (1 left), every inode (the wait). */
        ASSERT_OK(core_quota_reserve(ovl, 1000, core_quota_reserved(ovl, 1000, others), (const uint64_t[]) { 0, 0 },
                                     (const uint64_t[]) { 2 * MIB, 1000 }, max, others, &id));
        __atomic_store_n(&waited, false, __ATOMIC_SEQ_CST);
        __atomic_store_n(&waiting_cancel_fd, w.cancel, __ATOMIC_SEQ_CST);
        ASSERT_OK(-pthread_create(&t, NULL, apply_waiting, &w));
        ASSERT_EVENTUALLY(__atomic_load_n(&waited, __ATOMIC_SEQ_CST));
        core_quota_release(ovl, id);
        ASSERT_OK(-pthread_join(t, NULL));
        __atomic_store_n(&waiting_cancel_fd, -1, __ATOMIC_SEQ_CST);
        ASSERT_OK(w.r);
        ASSERT_TRUE(quota_bytes() >= 2 * MIB && quota_bytes() <= 3 * MIB);
        close(w.cancel);
        close_core();
}

TEST(teardown) {
        test_rm_rf(dir);
        free(dir);
        free(state);
        free(run);
}

TEST_MAIN(TEST_ENTRY(setup), TEST_ENTRY(other_unmounted_snapshots_count_as_last_walked),
          TEST_ENTRY(a_snapshot_mounted_since_counts_what_was_written_through_its_mount),
          TEST_ENTRY(applies_of_one_uid_run_side_by_side_within_the_quota),
          TEST_ENTRY(racing_applies_of_one_uid_never_pass_the_quota_together),
          TEST_ENTRY(an_apply_waiting_for_anothers_reservation_stops_when_its_caller_leaves),
          TEST_ENTRY(another_uids_releases_leave_an_applys_reservation_alone),
          TEST_ENTRY(an_apply_that_waited_is_left_what_the_quota_leaves_after_the_wait), TEST_ENTRY(teardown))
