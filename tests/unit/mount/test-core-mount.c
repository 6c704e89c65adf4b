/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core-mount-test-util.h"
#include "mount-api.h"
#include "strutil.h"

static uint64_t snapshot_id(Env *env, uid_t ns, const char *key) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        Error e = ERROR_NULL;

        ASSERT_OK(core_stat(env->s, ns, key, &info, &e));
        return info.id;
}

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

/* e's message with target replaced by "TARGET", for comparing refusals of several paths. */
static char *message_for(const Error *e, const char *target) {
        const char *at = strstr(e->message, target);

        ASSERT_TRUE(at);
        return strdup_printf("%.*sTARGET%s", (int) (at - e->message), e->message, at + strlen(target));
}

/* A user's target is looked up with its uid and groups: its own empty directory inside
 * another user's private one is refused like a missing path or another's directory (one
 * message), one below directories it can search is mounted. */
static void body_user_targets(const char *dir) {
        Env env = env_new(dir);
        const CoreMountOptions o = { .target_owner = 1000, .target_gids = (const gid_t[]) { 1000 }, .n_target_gids = 1 };
        _cleanup_free_ char *private = test_path("%s/private", dir), *hidden = test_path("%s/private/own", dir);
        _cleanup_free_ char *open_dir = test_path("%s/open", dir), *own = test_path("%s/open/own", dir);
        _cleanup_free_ char *theirs = test_path("%s/open/theirs", dir), *first = NULL, *path = NULL;
        const char *refused[] = { hidden, theirs, "/nonexistent/own" };
        Error e = ERROR_NULL;

        ASSERT_OK(chmod(dir, 0711));
        ASSERT_OK(mkdir(private, 0700));
        ASSERT_OK(chown(private, 2000, 2000));
        ASSERT_OK(mkdir(open_dir, 0755));
        ASSERT_OK(mkdir(hidden, 0755));
        ASSERT_OK(chown(hidden, 1000, 1000));
        ASSERT_OK(mkdir(own, 0755));
        ASSERT_OK(chown(own, 1000, 1000));
        ASSERT_OK(mkdir(theirs, 0777));
        ASSERT_OK(chown(theirs, 2000, 2000));
        prepare(&env, 1000, "u", NULL);

        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                _cleanup_free_ char *m = NULL;

                e = ERROR_NULL;
                expect_error(core_mount(env.s, 1000, "u", refused[i], &o, &path, &e), &e, EACCES,
                             "not an empty directory of yours (uid 1000)");
                m = message_for(&e, refused[i]);
                if (!first)
                        first = TAKE_PTR(m);
                else
                        ASSERT_STREQ(m, first);
        }
        ASSERT_TRUE(!path);

        ASSERT_OK(core_mount(env.s, 1000, "u", own, &o, &path, &e));
        ASSERT_STREQ(path, own);
        free(mount_options_of(own)); /* a mount there (aborts when none) */
        unmount_key(&env, 1000, "u", own);
        env_done(&env);
}
TEST(user_targets_looked_up_with_the_users_rights) {
        run_isolated(body_user_targets);
}

static void body_user_mounts(const char *dir) {
        Env env = env_new(dir);
        _cleanup_free_ char *upath = NULL, *rpath = NULL, *uopts = NULL, *ropts = NULL, *p = NULL;
        CoreMountInfoList l = {};
        Error e = ERROR_NULL;
        uint64_t before = now_usec();

        prepare(&env, 1000, "k", NULL);
        prepare(&env, 0, "k", NULL);
        upath = mount_key(&env, 1000, "k", NULL);
        rpath = mount_key(&env, 0, "k", NULL);
        ASSERT_TRUE(!streq(upath, rpath));

        uopts = mount_options_of(upath);
        ASSERT_TRUE(mnt_optstr_get_option(uopts, "nosuid", NULL, NULL) == 0);
        ASSERT_TRUE(mnt_optstr_get_option(uopts, "nodev", NULL, NULL) == 0);
        ropts = mount_options_of(rpath);
        ASSERT_TRUE(mnt_optstr_get_option(ropts, "nosuid", NULL, NULL) == 1);

        ASSERT_OK(core_list_mounts(env.s, 1000, &l, &e));
        ASSERT_TRUE(l.n == 1);
        ASSERT_STREQ(l.items[0].key, "k");
        ASSERT_STREQ(l.items[0].path, upath);
        ASSERT_TRUE(l.items[0].owner == 1000);
        ASSERT_TRUE(l.items[0].mounted_usec >= before && l.items[0].mounted_usec <= now_usec());
        /* what the mount objects show: the snapshot's ID, the options it was made with */
        ASSERT_TRUE(l.items[0].snapshot_id == snapshot_id(&env, 1000, "k"));
        ASSERT_TRUE(l.items[0].attrs_known && l.items[0].attrs == (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
        core_mount_info_list_clear(&l);
        {
                CoreMountInfo one = {};

                ASSERT_OK(core_mount_info(env.s, 1000, snapshot_id(&env, 1000, "k"), &one, &e));
                ASSERT_STREQ(one.key, "k");
                ASSERT_STREQ(one.path, upath);
                ASSERT_TRUE(one.owner == 1000 && one.attrs == (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
                core_mount_info_clear(&one);
                /* not another namespace's, nor a snapshot without a mount */
                ASSERT_TRUE(core_mount_info(env.s, 0, snapshot_id(&env, 1000, "k"), &one, &e) == -ENOENT);
                ASSERT_TRUE(core_mount_info(env.s, 1000, snapshot_id(&env, 1000, "k") + 1000, &one, &e) == -ENOENT);
        }

        ASSERT_OK(core_list_mounts(env.s, 0, &l, &e));
        ASSERT_TRUE(l.n == 1);
        ASSERT_STREQ(l.items[0].path, rpath);
        ASSERT_TRUE(l.items[0].owner == 0);
        core_mount_info_list_clear(&l);

        /* the one mount of a key, looked up alone */
        ASSERT_OK(core_mount_path(env.s, 1000, "k", &p, &e));
        ASSERT_STREQ(p, upath);
        free(p);
        p = NULL;
        ASSERT_OK(core_mount_path(env.s, 0, "k", &p, &e));
        ASSERT_STREQ(p, rpath);
        free(p);
        p = NULL;
        ASSERT_ERR(core_mount_path(env.s, 1000, "nope", &p, &e), ENOENT);
        e = ERROR_NULL;

        /* unmounting the user's k leaves root's k alone: keys are per namespace */
        unmount_key(&env, 1000, "k", upath);
        ASSERT_OK(core_mount_path(env.s, 1000, "k", &p, &e));
        ASSERT_STREQ(p, "");
        free(p);
        p = NULL;
        ASSERT_OK(core_list_mounts(env.s, 1000, &l, &e));
        ASSERT_TRUE(l.n == 0);
        ASSERT_OK(core_list_mounts(env.s, 0, &l, &e));
        ASSERT_TRUE(l.n == 1);
        core_mount_info_list_clear(&l);
        unmount_key(&env, 0, "k", rpath);
        env_done(&env);
}
TEST(user_mounts_are_nosuid_nodev_and_listed_per_namespace) {
        run_isolated(body_user_mounts);
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

/* Another user's unshare -Urm copies root's mount in the 0700 runtime directory too, but
 * cannot reach it there: root's Unmount is not Busy because of it. */
static void body_root_mount_copied_by_another_user(const char *dir) {
        Env env = env_new(dir);
        _cleanup_free_ char *path = NULL;
        int ready[2], status;
        Error e = ERROR_NULL;
        pid_t pid;
        char c;

        prepare(&env, 0, "r", NULL);
        path = mount_key(&env, 0, "r", NULL);
        ASSERT_OK(pipe2(ready, O_CLOEXEC));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || /* also when the test aborts */
                    setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0 ||
                    unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0 || write(ready[1], "x", 1) != 1)
                        _exit(1);
                pause();
                _exit(0);
        }
        ASSERT_TRUE(read(ready[0], &c, 1) == 1);
        ASSERT_OK(core_unmount(env.s, 0, "r", false, NULL, &e));
        ASSERT_OK(core_remove(env.s, 0, "r", &e));
        ASSERT_OK(kill(pid, SIGKILL));
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        safe_close(ready[0]);
        safe_close(ready[1]);
        env_done(&env);
}
TEST(root_mount_copied_by_another_user_is_not_busy) {
        run_isolated(body_root_mount_copied_by_another_user);
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

/* Mount with "idmap" for a user with a subordinate range: the snapshot's image ids show
 * as the user's, what it creates is stored with image ids (seen through a plain mount),
 * still nosuid,nodev; on native too, and for an overlay over idmapped layers. */
/* What the mount object shows (core_mount_info): idmap among the options it was made with. */
static void expect_idmap_recorded(Env *env, uid_t ns, const char *key) {
        CoreMountInfo mi = {};

        ASSERT_OK(core_mount_info(env->s, ns, snapshot_id(env, ns, key), &mi, NULL));
        ASSERT_TRUE(mi.attrs_known && (mi.attrs & MOUNT_ATTR_IDMAP) && (mi.attrs & MOUNT_ATTR_NOSUID));
        core_mount_info_clear(&mi);
}

static void body_idmap(const char *dir) {
        _cleanup_free_ char *subids = test_path("%s/subids", dir), *path = NULL, *plain = NULL, *opts = NULL;
        CoreMountOptions o = { .idmap = true };
        Error e = ERROR_NULL;
        Env env;
        FILE *f;

        ASSERT_OK(chmod(dir, 0711)); /* the test's tmpfs: the user may pass */
        ASSERT_TRUE((f = fopen(subids, "we")));
        fputs("54321:200000:65536\n", f);
        fclose(f);
        o.subuid_path = o.subgid_path = subids;
        env = env_new(dir);
        for (int native = 0; native <= 1; native++) {
                if (native)
                        env.s = core_snapshotter_by_name(env.core, "native");
                ASSERT_TRUE(env.s);
                prepare(&env, 54321, "i", NULL);
                ASSERT_OK(core_mount(env.s, 54321, "i", NULL, &o, &path, &e));
                expect_owner(path, 54321, 54321); /* no passwd entry: the uid's number as gid */
                ASSERT_OK(chmod(path, 0777)); /* for the subordinate id too */
                create_as(test_path("%s/by-caller", path), 54321, 54321);
                create_as(test_path("%s/by-sub", path), 200009, 200009);
                opts = mount_options_of(path);
                ASSERT_TRUE(strstr(opts, "idmapped") && strstr(opts, "nosuid") && strstr(opts, "nodev"));
                expect_idmap_recorded(&env, 54321, "i");
                unmount_key(&env, 54321, "i", path);

                plain = mount_key(&env, 54321, "i", NULL);
                expect_owner(test_path("%s/by-caller", plain), 0, 0);
                expect_owner(test_path("%s/by-sub", plain), 10, 10);
                unmount_key(&env, 54321, "i", plain);
                free(path), free(plain), free(opts);
                path = plain = opts = NULL;
        }

        /* an overlay over idmapped layers: writable, copy-ups and new files stored with
         * image ids */
        env.s = core_snapshotter_by_name(env.core, "overlayfs");
        commit(&env, 54321, "base", "i");
        prepare(&env, 54321, "j", "base");
        ASSERT_OK(core_mount(env.s, 54321, "j", NULL, &o, &path, &e));
        expect_owner(path, 54321, 54321);
        expect_owner(test_path("%s/by-caller", path), 54321, 54321);
        expect_owner(test_path("%s/by-sub", path), 200009, 200009);
        opts = mount_options_of(path);
        ASSERT_TRUE(strstr(opts, "nosuid") && strstr(opts, "nodev") && !strstr(opts, "ro,"));
        expect_idmap_recorded(&env, 54321, "j");
        ASSERT_OK(chmod(path, 0777));
        create_as(test_path("%s/new-by-caller", path), 54321, 54321);
        create_as(test_path("%s/new-by-sub", path), 200009, 200009);
        ASSERT_OK(chown(test_path("%s/by-sub", path), 200011, 200011)); /* a copy-up, as root */
        unmount_key(&env, 54321, "j", path);
        plain = mount_key(&env, 54321, "j", NULL);
        expect_owner(test_path("%s/new-by-caller", plain), 0, 0);
        expect_owner(test_path("%s/new-by-sub", plain), 10, 10);
        expect_owner(test_path("%s/by-sub", plain), 12, 12);
        expect_owner(test_path("%s/by-caller", plain), 0, 0);
        unmount_key(&env, 54321, "j", plain);
        env_done(&env);
}
TEST(idmapped_mounts_for_a_user_with_subids) {
        run_isolated(body_idmap);
}

/* A non-root uid has at most CORE_MOUNTS_PER_USER_MAX mounts per snapshotter, mount fds
 * included: one more is LimitsExceeded (EUSERS) naming the limit, whether by Mount or
 * MountFd; other users and root are not held back, and an Unmount makes room again. */
static void body_mounts_per_user(const char *dir) {
        _cleanup_free_ char **paths = calloc(CORE_MOUNTS_PER_USER_MAX, sizeof *paths);
        _cleanup_close_ int fd = -EBADF, fd2 = -EBADF;
        char key[32], needle[64];
        Error e = ERROR_NULL;
        Env env = env_new(dir);

        ASSERT_TRUE(paths);
        for (unsigned i = 0; i <= CORE_MOUNTS_PER_USER_MAX; i++) {
                snprintf(key, sizeof key, "k%u", i);
                prepare(&env, 1000, key, NULL);
        }
        for (unsigned i = 0; i + 1 < CORE_MOUNTS_PER_USER_MAX; i++) {
                snprintf(key, sizeof key, "k%u", i);
                paths[i] = mount_key(&env, 1000, key, NULL);
        }
        snprintf(key, sizeof key, "k%u", CORE_MOUNTS_PER_USER_MAX - 1);
        ASSERT_OK(core_mount_fd(env.s, 1000, key, NULL, &fd, &e));

        snprintf(key, sizeof key, "k%u", CORE_MOUNTS_PER_USER_MAX);
        snprintf(needle, sizeof needle, "the most a user may have (%u", CORE_MOUNTS_PER_USER_MAX);
        expect_error(core_mount(env.s, 1000, key, NULL, NULL, NULL, &e), &e, EUSERS, needle);
        ASSERT_TRUE(strstr(e.message, "\"k256\"") && !e.internal);
        e = ERROR_NULL;
        expect_error(core_mount_fd(env.s, 1000, key, NULL, &fd2, &e), &e, EUSERS, needle);
        ASSERT_TRUE(fd2 < 0);

        prepare(&env, 1001, "other", NULL);
        free(mount_key(&env, 1001, "other", NULL));
        prepare(&env, 0, "root", NULL);
        free(mount_key(&env, 0, "root", NULL));

        unmount_key(&env, 1000, "k0", paths[0]);
        free(mount_key(&env, 1000, key, NULL));
        for (unsigned i = 0; i < CORE_MOUNTS_PER_USER_MAX; i++)
                free(paths[i]);
        env_done(&env);
}
TEST(mounts_per_user_are_capped) {
        run_isolated(body_mounts_per_user);
}

typedef struct MountThread {
        Env *env;
        uid_t ns;
        const char *key;
        const CoreMountOptions *o;
        char *path;
        Error e;
        int r;
} MountThread;

static void *mount_thread(void *p) {
        MountThread *m = p;

        m->r = core_mount(m->env->s, m->ns, m->key, NULL, m->o, &m->path, &m->e);
        return NULL;
}

static void *prepare_thread(void *p) {
        MountThread *m = p;

        m->r = core_prepare(m->env->s, m->ns, m->key, NULL, NULL, NULL, &m->e);
        return NULL;
}

/* Resolving an idmapped mount's ids (user database, subid files) may take long: the
 * store's write lock is not held meanwhile, so every other change goes on. The subuid
 * file here is a FIFO that the test writes only after another Prepare has finished. */
static void body_idmap_outside_the_write_lock(const char *dir) {
        _cleanup_free_ char *fifo = test_path("%s/subuid", dir), *subgid = test_path("%s/subgid", dir);
        CoreMountOptions o = { .idmap = true, .subuid_path = fifo, .subgid_path = subgid };
        Env env = env_new(dir);
        MountThread m = { .env = &env, .ns = 54321, .key = "i", .o = &o };
        MountThread other = { .env = &env, .ns = 1000, .key = "other" };
        static const char line[] = "54321:200000:65536\n";
        pthread_t mounting, preparing;
        struct timespec deadline;
        int fd;

        write_file(subgid, line);
        ASSERT_OK(mkfifo(fifo, 0600));
        prepare(&env, 54321, "i", NULL);
        ASSERT_TRUE(pthread_create(&mounting, NULL, mount_thread, &m) == 0);
        fd = open(fifo, O_WRONLY | O_CLOEXEC); /* returns once the Mount reads the subuid file */
        ASSERT_TRUE(fd >= 0);

        ASSERT_TRUE(pthread_create(&preparing, NULL, prepare_thread, &other) == 0);
        ASSERT_OK(clock_gettime(CLOCK_REALTIME, &deadline));
        deadline.tv_sec += 120; /* generous: it waits for nothing once the lock is free */
        if (pthread_timedjoin_np(preparing, NULL, &deadline) != 0) {
                fprintf(stderr, "Prepare waited for the Mount reading the subuid file\n");
                abort();
        }
        ASSERT_OK(other.r);

        ASSERT_TRUE(write(fd, line, strlen(line)) == (ssize_t) strlen(line));
        ASSERT_OK(close(fd));
        ASSERT_TRUE(pthread_join(mounting, NULL) == 0);
        if (m.r < 0) {
                fprintf(stderr, "mount: %s\n", m.e.message);
                abort();
        }
        expect_owner(m.path, 54321, 54321);
        unmount_key(&env, 54321, "i", m.path);
        free(m.path);
        env_done(&env);
}
TEST(idmap_resolved_outside_the_write_lock) {
        run_isolated(body_idmap_outside_the_write_lock);
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
                TEST_ENTRY(user_targets_looked_up_with_the_users_rights),
                TEST_ENTRY(user_mounts_are_nosuid_nodev_and_listed_per_namespace),
                TEST_ENTRY(reconcile_drops_old_boot_and_vanished_mounts),
                TEST_ENTRY(read_only_fallback_on_a_full_fs_is_refused),
                TEST_ENTRY(force_unmount_keeps_the_snapshot_busy_until_released),
                TEST_ENTRY(root_mount_copied_by_another_user_is_not_busy),
                TEST_ENTRY(mount_unmount_and_restart_without_statmount),
                TEST_ENTRY(mount_fails_when_its_identity_cannot_be_recorded),
                TEST_ENTRY(idmapped_mounts_for_a_user_with_subids),
                TEST_ENTRY(idmap_resolved_outside_the_write_lock),
                TEST_ENTRY(mounts_per_user_are_capped),
                TEST_ENTRY(chains_of_2_128_500_layers_and_501_refused),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
