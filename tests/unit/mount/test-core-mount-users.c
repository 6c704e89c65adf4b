/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Mounts for users other than root through the core: targets looked up with the user's
 * rights, nosuid,nodev, listed per namespace, capped per user, and not held by another
 * user's copies. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core-mount-fill.h"
#include "mount-api.h"
#include "strutil.h"

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

/* Another user's unshare -Urm copies root's mount in the 0700 runtime directory too, but
 * cannot reach it there: root's Unmount is not Busy because of it. */
static void body_root_mount_copied_by_another_user(const char *dir) {
        Env env = env_new(dir);
        _cleanup_free_ char *path = NULL;
        Error e = ERROR_NULL;
        pid_t pid;

        prepare(&env, 0, "r", NULL);
        path = mount_key(&env, 0, "r", NULL);
        pid = spawn_unshared(65534);
        ASSERT_OK(core_unmount(env.s, 0, "r", false, NULL, &e));
        ASSERT_OK(core_remove(env.s, 0, "r", &e));
        kill_and_reap(pid);
        env_done(&env);
}
TEST(root_mount_copied_by_another_user_is_not_busy) {
        run_isolated(body_root_mount_copied_by_another_user);
}

/* A non-root uid has at most CORE_MOUNTS_PER_USER_MAX mounts per snapshotter, mount fds
 * included: one more is LimitsExceeded (EUSERS) naming the limit, whether by Mount or
 * MountFd; other users and root are not held back, and an Unmount makes room again. */
static void body_mounts_per_user(const char *dir) {
        _cleanup_(user_mounts_done) UserMounts m = { .fd = -EBADF };
        _cleanup_close_ int fd2 = -EBADF;
        const char *key;
        char needle[64];
        Error e = ERROR_NULL;
        Env env = env_new(dir);

        user_mounts_fill(&env, 1000, CORE_MOUNTS_PER_USER_MAX, NULL, &m);
        key = m.next;
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

        unmount_key(&env, 1000, "k0", m.paths[0]);
        free(mount_key(&env, 1000, key, NULL));
        env_done(&env);
}
TEST(mounts_per_user_are_capped) {
        run_isolated(body_mounts_per_user);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(user_targets_looked_up_with_the_users_rights),
                TEST_ENTRY(user_mounts_are_nosuid_nodev_and_listed_per_namespace),
                TEST_ENTRY(root_mount_copied_by_another_user_is_not_busy),
                TEST_ENTRY(mounts_per_user_are_capped),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
