/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core-mount-test-util.h"
#include "mount-api.h"
#include "strutil.h"

static uint64_t mount_id_at(const char *path) {
        _cleanup_close_ int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        uint64_t id;

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(mount_id_of_fd(fd, &id));
        return id;
}

/* Mounts key, writes name=content into it, unmounts it; checks the daemon's path. */
static void write_through_mount(Env *env, uid_t ns, const char *key, const char *name, const char *content) {
        _cleanup_free_ char *path = mount_key(env, ns, key, NULL);
        _cleanup_free_ char *expected = test_path("%s/%u/", env->mounts, (unsigned) ns);
        _cleanup_free_ char *file = test_path("%s/%s", path, name);
        struct stat st;

        ASSERT_TRUE(strncmp(path, expected, strlen(expected)) == 0); /* in the owner's directory */
        write_file(file, content);
        unmount_key(env, ns, key, path);
        ASSERT_TRUE(stat(path, &st) < 0 && errno == ENOENT); /* the daemon's directory is gone */
}

static void expect_content(const char *dir, const char *name, const char *content) {
        _cleanup_free_ char *p = test_path("%s/%s", dir, name);
        char buf[256];

        ASSERT_STREQ(read_file(p, buf), content);
}

static void body_chain_of_three(const char *dir) {
        Env env = env_new(dir);
        _cleanup_free_ char *path = NULL, *view = NULL;
        char buf[256];

        prepare(&env, 0, "a", NULL);
        write_through_mount(&env, 0, "a", "file1", "1");
        write_through_mount(&env, 0, "a", "shared", "a");
        commit(&env, 0, "A", "a");
        prepare(&env, 0, "b", "A");
        write_through_mount(&env, 0, "b", "file2", "2");
        write_through_mount(&env, 0, "b", "shared", "b");
        commit(&env, 0, "B", "b");
        prepare(&env, 0, "c", "B");

        path = mount_key(&env, 0, "c", NULL);
        expect_content(path, "file1", "1");
        expect_content(path, "file2", "2");
        expect_content(path, "shared", "b");
        write_file(test_path("%s/file3", path), "3");
        write_file(test_path("%s/shared", path), "c");
        unmount_key(&env, 0, "c", path);
        commit(&env, 0, "C", "c");

        ASSERT_OK(core_view(env.s, 0, "v", "C", NULL, NULL, &(Error) {}));
        view = mount_key(&env, 0, "v", NULL);
        expect_content(view, "file1", "1");
        expect_content(view, "file2", "2");
        expect_content(view, "file3", "3");
        expect_content(view, "shared", "c");
        ASSERT_ERR(try_create(test_path("%s/new", view)), EROFS);

        /* a view of a single layer is a read-only bind */
        ASSERT_OK(core_view(env.s, 0, "v1", "A", NULL, NULL, &(Error) {}));
        free(path);
        path = mount_key(&env, 0, "v1", NULL);
        expect_content(path, "shared", "a");
        ASSERT_TRUE(!read_file(test_path("%s/file2", path), buf));
        ASSERT_ERR(try_create(test_path("%s/new", path)), EROFS);
        unmount_key(&env, 0, "v1", path);
        unmount_key(&env, 0, "v", view);
        env_done(&env);
}
TEST(chain_of_three_written_through_mounts) {
        run_isolated(body_chain_of_three);
}

/* n committed layers L0..L<n-1> (L<i> on L<i-1>), each with f=<i> and u<i>=<i>. */
static void make_chain(Env *env, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char key[32], name[32], parent[32], num[32], u[32];
                _cleanup_free_ char *path = NULL;

                snprintf(key, sizeof key, "active-%zu", i);
                snprintf(name, sizeof name, "L%zu", i);
                snprintf(parent, sizeof parent, "L%zu", i - 1);
                snprintf(num, sizeof num, "%zu", i);
                snprintf(u, sizeof u, "u%zu", i);
                prepare(env, 0, key, i == 0 ? NULL : parent);
                path = mount_key(env, 0, key, NULL);
                write_file(test_path("%s/f", path), num);
                write_file(test_path("%s/%s", path, u), num);
                unmount_key(env, 0, key, path);
                commit(env, 0, name, key);
        }
}

/* A view of L<n-1> (n layers) shows the topmost f and every layer's own file. */
static void check_view_of_depth(Env *env, size_t n) {
        char key[32], parent[32], num[32];
        _cleanup_free_ char *path = NULL;

        snprintf(key, sizeof key, "view-%zu", n);
        snprintf(parent, sizeof parent, "L%zu", n - 1);
        ASSERT_OK(core_view(env->s, 0, key, parent, NULL, NULL, &(Error) {}));
        path = mount_key(env, 0, key, NULL);
        snprintf(num, sizeof num, "%zu", n - 1);
        expect_content(path, "f", num);
        for (size_t i = 0; i < n; i++) {
                char u[32];
                snprintf(u, sizeof u, "u%zu", i);
                snprintf(num, sizeof num, "%zu", i);
                expect_content(path, u, num);
        }
        ASSERT_ERR(try_create(test_path("%s/new", path)), EROFS);
        unmount_key(env, 0, key, path);
}

static void body_deep_chains(const char *dir) {
        Env env = env_new(dir);
        _cleanup_free_ char *path = NULL;
        Error e = ERROR_NULL;

        make_chain(&env, 500);
        check_view_of_depth(&env, 2);
        check_view_of_depth(&env, 128);
        check_view_of_depth(&env, 500);

        /* an active on 500 layers: 500 lowers plus its upper */
        prepare(&env, 0, "top", "L499");
        path = mount_key(&env, 0, "top", NULL);
        expect_content(path, "f", "499");
        expect_content(path, "u0", "0");
        write_file(test_path("%s/f", path), "top");
        unmount_key(&env, 0, "top", path);
        commit(&env, 0, "L500", "top");

        /* a 501st layer can exist but nothing on it can be viewed or mounted */
        expect_error(core_view(env.s, 0, "view-501", "L500", NULL, NULL, &e), &e, EINVAL, "at most 500 layers");
        env_done(&env);
}
TEST(chains_of_2_128_500_layers_and_501_refused) {
        run_isolated(body_deep_chains);
}

static void body_busy_and_kinds(const char *dir) {
        Env env = env_new(dir);
        _cleanup_free_ char *path = NULL, *again = NULL;
        Error e = ERROR_NULL;
        struct stat st;

        prepare(&env, 0, "x", NULL);
        commit(&env, 0, "X", "x");
        expect_error(core_mount(env.s, 0, "X", NULL, NULL, &again, &e), &e, EWRONGKIND, "View");
        e = ERROR_NULL;
        expect_error(core_mount(env.s, 0, "nope", NULL, NULL, &again, &e), &e, ENOENT, "nope");

        prepare(&env, 0, "y", "X");
        path = mount_key(&env, 0, "y", NULL);
        e = ERROR_NULL;
        expect_error(core_mount(env.s, 0, "y", NULL, NULL, &again, &e), &e, EBUSY, "unmount");
        e = ERROR_NULL;
        expect_error(core_remove(env.s, 0, "y", &e), &e, EBUSY, "unmount");
        e = ERROR_NULL;
        expect_error(core_commit(env.s, 0, "Y", "y", NULL, &e), &e, EBUSY, "unmount");
        ASSERT_TRUE(stat(path, &st) == 0); /* nothing changed */

        unmount_key(&env, 0, "y", path);
        e = ERROR_NULL;
        expect_error(core_unmount(env.s, 0, "y", false, NULL, &e), &e, ENOENT, "not mounted");
        ASSERT_OK(core_remove(env.s, 0, "y", &e));
        env_done(&env);
}
TEST(committed_refused_and_mounted_is_busy) {
        run_isolated(body_busy_and_kinds);
}

static void body_caller_targets(const char *dir) {
        Env env = env_new(dir);
        _cleanup_free_ char *target = test_path("%s/target", dir), *full = test_path("%s/full", dir);
        _cleanup_free_ char *link = test_path("%s/link", dir), *path = NULL, *p2 = NULL;
        Error e = ERROR_NULL;
        struct stat st;

        ASSERT_OK(mkdir(target, 0755));
        ASSERT_OK(mkdir(full, 0755));
        write_file(test_path("%s/x", full), "x");
        ASSERT_OK(symlink(target, link));
        prepare(&env, 0, "t", NULL);

        expect_error(core_mount(env.s, 0, "t", "rel/dir", NULL, &path, &e), &e, EINVAL, "absolute");
        e = ERROR_NULL;
        expect_error(core_mount(env.s, 0, "t", link, NULL, &path, &e), &e, EINVAL, "symbolic link");
        e = ERROR_NULL;
        expect_error(core_mount(env.s, 0, "t", full, NULL, &path, &e), &e, EINVAL, "not empty");

        path = mount_key(&env, 0, "t", target);
        ASSERT_STREQ(path, target);
        ASSERT_TRUE(point_handle_size(&env, snapshot_id(&env, 0, "t")) > 0); /* a plain Unmount goes by it */
        write_file(test_path("%s/hello", path), "hi");
        e = ERROR_NULL;
        expect_error(core_mount(env.s, 0, "t", NULL, NULL, &p2, &e), &e, EBUSY, target);
        unmount_key(&env, 0, "t", target);
        ASSERT_TRUE(stat(target, &st) == 0 && S_ISDIR(st.st_mode)); /* the caller's dir stays */
        ASSERT_TRUE(!read_file(test_path("%s/hello", target), (char[256]) {}));

        /* the write went to the snapshot */
        p2 = mount_key(&env, 0, "t", NULL);
        expect_content(p2, "hello", "hi");
        unmount_key(&env, 0, "t", p2);
        env_done(&env);
}
TEST(caller_targets_checked_and_kept) {
        run_isolated(body_caller_targets);
}

static int put_record(StoreTxn *t, void *userdata, Error *e) {
        return store_mount_put(t, userdata);
}

static void body_reconcile(const char *dir) {
        Env env = env_new(dir);
        _cleanup_free_ char *p1 = NULL, *p2 = NULL, *p3 = NULL, *again = NULL;
        CoreMountInfoList l = {};
        Error e = ERROR_NULL;
        struct stat st;

        prepare(&env, 0, "live", NULL);
        prepare(&env, 0, "gone", NULL);
        prepare(&env, 0, "old-boot", NULL);
        p1 = mount_key(&env, 0, "live", NULL);
        p2 = mount_key(&env, 0, "gone", NULL);

        /* someone else unmounts "gone"; "old-boot" has a record from an earlier boot */
        ASSERT_OK(umount2(p2, MNT_DETACH));
        p3 = test_path("%s/0/stale", env.mounts);
        ASSERT_OK(mkdir(p3, 0700));
        MountRecord fake = {
                .snapshot_id = snapshot_id(&env, 0, "old-boot"),
                .owner = 0,
                .target = p3,
                .mnt_id = mount_id_at(p1), /* even a live ID does not count from another boot */
                .boot_id = "0123456789abcdef0123456789abcdef",
                .daemon_made_target = true,
                .mounted_usec = 1,
        };
        ASSERT_OK(store_write(env.s->store, put_record, &fake, &e));
        ASSERT_OK(core_list_mounts(env.s, 0, &l, &e));
        ASSERT_TRUE(l.n == 1); /* only what is in the mount table */
        core_mount_info_list_clear(&l);

        ASSERT_OK(core_reconcile_mounts(env.core));
        ASSERT_OK(core_list_mounts(env.s, 0, &l, &e));
        ASSERT_TRUE(l.n == 1);
        ASSERT_STREQ(l.items[0].key, "live");
        core_mount_info_list_clear(&l);
        ASSERT_TRUE(stat(p2, &st) < 0 && errno == ENOENT);
        ASSERT_TRUE(stat(p3, &st) < 0 && errno == ENOENT);
        ASSERT_TRUE(mount_find(mount_id_at(p1), NULL) == 1);

        /* what was dropped can be mounted again; what is live is still busy */
        again = mount_key(&env, 0, "gone", NULL);
        unmount_key(&env, 0, "gone", again);
        ASSERT_TRUE(core_mount(env.s, 0, "live", NULL, NULL, NULL, &(Error) {}) == -EBUSY);

        /* a restarted daemon (a new Core on the same state) keeps and unmounts live mounts */
        env_done(&env);
        env = env_new(dir);
        ASSERT_OK(core_reconcile_mounts(env.core));
        ASSERT_OK(core_list_mounts(env.s, 0, &l, &e));
        ASSERT_TRUE(l.n == 1);
        core_mount_info_list_clear(&l);
        unmount_key(&env, 0, "live", p1);
        ASSERT_TRUE(stat(p1, &st) < 0 && errno == ENOENT);
        env_done(&env);
}
TEST(reconcile_drops_old_boot_and_vanished_mounts) {
        run_isolated(body_reconcile);
}

/* A directory fd inside the mount: Unmount is Busy, force detaches it and Commit, Remove
 * and Mount stay Busy until the fd is closed; ListMounts shows only what is mounted. */
static void body_force_and_holder(const char *dir) {
        Env env = env_new(dir);
        _cleanup_free_ char *path = NULL, *inside = NULL, *late = NULL;
        _cleanup_close_ int fd = -EBADF;
        CoreMountInfoList l = {};
        Error e = ERROR_NULL;

        prepare(&env, 1000, "b0", NULL);
        commit(&env, 1000, "base", "b0");
        prepare(&env, 1000, "a", "base");
        path = mount_key(&env, 1000, "a", NULL);
        inside = test_path("%s/d", path);
        ASSERT_OK(mkdir(inside, 0755));
        fd = open(inside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);

        expect_error(core_unmount(env.s, 1000, "a", false, NULL, &e), &e, EBUSY, "in use by 1 process");
        ASSERT_OK(core_list_mounts(env.s, 1000, &l, &e));
        ASSERT_TRUE(l.n == 1);
        core_mount_info_list_clear(&l);

        e = ERROR_NULL;
        ASSERT_OK(core_unmount(env.s, 1000, "a", true, NULL, &e));
        ASSERT_OK(core_list_mounts(env.s, 1000, &l, &e));
        ASSERT_TRUE(l.n == 0);
        late = test_path("/proc/self/fd/%d/late", fd);
        write_file(late, "late"); /* still writable through the fd */
        e = ERROR_NULL;
        expect_error(core_commit(env.s, 1000, "c", "a", NULL, &e), &e, EBUSY, "1 process still uses it");
        e = ERROR_NULL;
        expect_error(core_remove(env.s, 1000, "a", &e), &e, EBUSY, "still uses it");
        e = ERROR_NULL;
        expect_error(core_mount(env.s, 1000, "a", NULL, NULL, NULL, &e), &e, EBUSY, "still uses it");

        fd = safe_close(fd);
        commit(&env, 1000, "c", "a");
        env_done(&env);
}
TEST(force_unmount_keeps_the_snapshot_busy_until_released) {
        run_isolated(body_force_and_holder);
}

/* Where statmount and listmount are refused (EPERM from a seccomp policy that does not
 * know them): Mount, ListMounts, a forced Unmount with a holder and the start-up
 * reconciliation work from mountinfo. A refused umount2 is an internal failure naming
 * the key, never a kind (EPERM would be AccessDenied). */
static void body_without_statmount(const char *dir) {
        _cleanup_free_ char *forced = test_path("%s/forced", dir), *path = NULL;
        CoreMountInfoList l = {};
        Error e = ERROR_NULL;
        Env env;

        mount_test_refuse_statmount();
        ASSERT_OK(mkdir(forced, 0700));
        body_force_and_holder(forced);

        env = env_new(dir);
        prepare(&env, 1000, "m", NULL);
        path = mount_key(&env, 1000, "m", NULL);
        env_done(&env);
        env = env_new(dir); /* a restart keeps the record of what is still mounted */
        ASSERT_OK(core_list_mounts(env.s, 1000, &l, &e));
        ASSERT_TRUE(l.n == 1 && streq(l.items[0].key, "m") && streq(l.items[0].path, path));
        core_mount_info_list_clear(&l);

        mount_test_refuse_syscalls((const int[]) { SYS_umount2, -1 });
        expect_error(core_unmount(env.s, 1000, "m", false, NULL, &e), &e, EPERM, "snapshot \"m\"");
        ASSERT_TRUE(e.internal);
        ASSERT_OK(core_list_mounts(env.s, 1000, &l, &e));
        ASSERT_TRUE(l.n == 1);
        core_mount_info_list_clear(&l);
        env_done(&env);
}
TEST(mount_unmount_and_restart_without_statmount) {
        run_isolated(body_without_statmount);
}

/* Whether /proc/self/mountinfo shows a mount at dir or below it. */
static bool mounted_below(const char *dir) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096];
        bool found = false;

        ASSERT_TRUE(f);
        while (!found && fgets(line, sizeof line, f))
                found = strstr(line, dir);
        fclose(f);
        return found;
}

/* When what the mount shows cannot be recorded (statmount refused once it was found
 * usable), copies of it could never be found: Mount fails, telling the key, and the mount
 * is detached and forgotten again. */
static void body_identity_refused(const char *dir) {
        _cleanup_free_ char *path = NULL, *again = NULL;
        CoreMountInfoList l = {};
        Error e = ERROR_NULL;
        Env env = env_new(dir);

        prepare(&env, 1000, "m", NULL);
        path = mount_key(&env, 1000, "m", NULL);
        unmount_key(&env, 1000, "m", path);
        mount_test_refuse_statmount();
        expect_error(core_mount(env.s, 1000, "m", NULL, NULL, &again, &e), &e, EPERM, "snapshot \"m\"");
        ASSERT_TRUE(e.internal);
        ASSERT_TRUE(!again);

        /* undone through the mount's fd (finding it by ID needs statmount too): not in the
         * mount table, no record, nothing Busy */
        ASSERT_OK(core_list_mounts(env.s, CORE_NS_ALL, &l, &e));
        ASSERT_TRUE(l.n == 0);
        ASSERT_TRUE(!mounted_below(env.mounts));
        ASSERT_OK(core_remove(env.s, 1000, "m", &e));
        env_done(&env);
}
TEST(mount_fails_when_its_identity_cannot_be_recorded) {
        run_isolated(body_identity_refused);
}

/* The state on a tmpfs with no inode left: overlayfs cannot create its work dir and would
 * mount read-only; Mount refuses (QuotaExceeded, naming the key) instead of handing out a
 * read-only mount as writable, leaves no record, and works again once there is room. */
static void body_full_fs(const char *dir) {
        _cleanup_free_ char *state = test_path("%s/state", dir), *filler = NULL, *path = NULL, *written = NULL;
        CoreMountInfoList l = {};
        Error e = ERROR_NULL;
        Env env;
        unsigned n = 0;

        ASSERT_OK(mkdir(state, 0700));
        ASSERT_OK(mount("tmpfs", state, "tmpfs", 0, "nr_inodes=400,size=64m,mode=0700"));
        env = env_new(dir);
        prepare(&env, 0, "b0", NULL);
        commit(&env, 0, "base", "b0");
        prepare(&env, 0, "a", "base");

        filler = test_path("%s/filler", state);
        ASSERT_OK(mkdir(filler, 0700));
        for (;; n++) {
                _cleanup_free_ char *f = test_path("%s/%u", filler, n);
                int fd = open(f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0) {
                        ASSERT_TRUE(errno == ENOSPC);
                        break;
                }
                close(fd);
        }

        expect_error(core_mount(env.s, 0, "a", NULL, NULL, NULL, &e), &e, EDQUOT, "could only be mounted read-only");
        ASSERT_TRUE(strstr(e.message, "\"a\""));
        ASSERT_OK(core_list_mounts(env.s, 0, &l, &e));
        ASSERT_TRUE(l.n == 0);

        for (unsigned i = 0; i < n; i++) {
                _cleanup_free_ char *f = test_path("%s/%u", filler, i);
                ASSERT_OK(unlink(f));
        }
        path = mount_key(&env, 0, "a", NULL);
        written = test_path("%s/written", path);
        write_file(written, "yes");
        unmount_key(&env, 0, "a", path);
        env_done(&env);
}
TEST(read_only_fallback_on_a_full_fs_is_refused) {
        run_isolated(body_full_fs);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(chain_of_three_written_through_mounts),
                TEST_ENTRY(committed_refused_and_mounted_is_busy),
                TEST_ENTRY(caller_targets_checked_and_kept),
                TEST_ENTRY(reconcile_drops_old_boot_and_vanished_mounts),
                TEST_ENTRY(read_only_fallback_on_a_full_fs_is_refused),
                TEST_ENTRY(force_unmount_keeps_the_snapshot_busy_until_released),
                TEST_ENTRY(mount_unmount_and_restart_without_statmount),
                TEST_ENTRY(mount_fails_when_its_identity_cannot_be_recorded),
                TEST_ENTRY(chains_of_2_128_500_layers_and_501_refused),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
