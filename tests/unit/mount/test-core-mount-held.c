/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A descriptor of an overlay that a user keeps where no search for holders looks (in
 * flight in a socket, SCM_RIGHTS) keeps its snapshot busy: after a forced Unmount, for a
 * MountFd, and after a plain Unmount when the descriptor is of a copy of the mount whose
 * namespace is gone, Remove is Busy naming why, laminad does not exit on idle meanwhile,
 * and once the message is gone the snapshot is released. So does one of a writable mount
 * of what a backend would bind (native, btrfs, overlayfs without parents): an overlay of
 * its data. */
#include "core-mount-test-util.h"

static void expect_held_then_released(Env *env, int pair[2]) {
        Error e = ERROR_NULL;

        ASSERT_TRUE(core_mount_filesystems_watched(env->core));
        expect_error(core_remove(env->s, 1000, "k", &e), &e, EBUSY, "its filesystem is still in use");
        e = ERROR_NULL;
        safe_close(pair[0]);
        safe_close(pair[1]);
        ASSERT_TRUE(!core_mount_filesystems_watched(env->core));
        ASSERT_OK(core_remove(env->s, 1000, "k", &e));
}

static void body_force_unmounted(const char *dir) {
        _cleanup_free_ char *path = NULL, *inside = NULL;
        Env env = env_new(dir);
        int pair[2], fd;

        prepare(&env, 0, "a", NULL);
        commit(&env, 0, "base", "a");
        prepare(&env, 1000, "k", "base");
        path = mount_key(&env, 1000, "k", NULL);
        ASSERT_TRUE(!core_mount_filesystems_watched(env.core)); /* a mount laminad sees */
        inside = test_path("%s/d", path);
        ASSERT_OK(mkdir(inside, 0755));
        fd = open(inside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        send_in_flight(fd, pair);
        ASSERT_OK(core_unmount(env.s, 1000, "k", true, NULL, &(Error) {}));
        expect_held_then_released(&env, pair);
        env_done(&env);
}
TEST(a_force_unmounted_overlay_in_flight_stays_busy) {
        run_isolated(body_force_unmounted);
}

static void body_mount_fd(const char *dir) {
        Env env = env_new(dir);
        int pair[2], fd = -EBADF;

        prepare(&env, 0, "a", NULL);
        commit(&env, 0, "base", "a");
        prepare(&env, 1000, "k", "base");
        ASSERT_OK(core_mount_fd(env.s, 1000, "k", NULL, &fd, &(Error) {}));
        /* The original's mount point is not the clone's. */
        ASSERT_TRUE(point_handle_size(&env, snapshot_id(&env, 1000, "k")) == 0);
        send_in_flight(fd, pair);
        expect_held_then_released(&env, pair);
        env_done(&env);
}
TEST(a_handed_out_overlay_in_flight_stays_busy) {
        run_isolated(body_mount_fd);
}

/* Writable snapshots without an overlay of their own, handed out and forced off. */
static void body_bind_type(const char *dir) {
        _cleanup_free_ char *path = NULL;
        Env env = env_new(dir);
        int pair[2], fd = -EBADF;

        for (int native = 0; native <= 1; native++) {
                if (native)
                        env.s = core_snapshotter_by_name(env.core, "native");
                prepare(&env, 1000, "k", NULL);
                ASSERT_OK(core_mount_fd(env.s, 1000, "k", NULL, &fd, &(Error) {}));
                send_in_flight(fd, pair);
                expect_held_then_released(&env, pair);

                prepare(&env, 1000, "k", NULL);
                path = mount_key(&env, 1000, "k", NULL);
                fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                ASSERT_TRUE(fd >= 0);
                send_in_flight(fd, pair);
                ASSERT_OK(core_unmount(env.s, 1000, "k", true, NULL, &(Error) {}));
                expect_held_then_released(&env, pair);
                free(path);
                path = NULL;
        }
        env_done(&env);
}
TEST(a_writable_snapshot_without_overlay_in_flight_stays_busy) {
        run_isolated(body_bind_type);
}

/* What a user's `unshare -m` and a descriptor sent out of it leave: a copy of the mount at
 * path, detached when its namespace went, held only by a file of it in flight in pair. */
static void send_copy_in_flight(const char *path, int pair[2]) {
        int status;
        pid_t pid;

        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                int fd;

                ASSERT_OK(unshare(CLONE_NEWNS));
                fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                ASSERT_TRUE(fd >= 0);
                send_fd(pair[0], fd);
                _exit(EXIT_SUCCESS);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void body_plain_unmount_of_copy(const char *dir) {
        _cleanup_free_ char *path = NULL;
        Env env = env_new(dir);
        Error e = ERROR_NULL;
        int pair[2];

        prepare(&env, 0, "a", NULL);
        commit(&env, 0, "base", "a");
        prepare(&env, 1000, "k", "base");
        path = mount_key(&env, 1000, "k", NULL);
        send_copy_in_flight(path, pair);
        /* The mount itself is not held: the plain umount succeeds, the copy lives on. */
        expect_error(core_unmount(env.s, 1000, "k", false, NULL, &e), &e, EBUSY, "its filesystem is still in use");
        expect_held_then_released(&env, pair);
        env_done(&env);
}
TEST(a_plain_unmounted_overlay_whose_copy_is_in_flight_stays_busy) {
        run_isolated(body_plain_unmount_of_copy);
}

/* A copy in a live namespace of root's own keeps the filesystem too: then it tells nothing,
 * and copies of root's do not count against a user's mount. */
static void body_plain_unmount_root_copy(const char *dir) {
        _cleanup_free_ char *path = NULL;
        Env env = env_new(dir);
        pid_t copier;

        prepare(&env, 0, "a", NULL);
        commit(&env, 0, "base", "a");
        prepare(&env, 1000, "k", "base");
        path = mount_key(&env, 1000, "k", NULL);
        copier = spawn_unshared(0);
        unmount_key(&env, 1000, "k", path);
        ASSERT_TRUE(!core_mount_filesystems_watched(env.core));
        ASSERT_OK(core_remove(env.s, 1000, "k", &(Error) {}));
        kill_and_reap(copier);
        env_done(&env);
}
TEST(a_copy_in_roots_namespace_does_not_keep_a_plain_unmounted_overlay) {
        run_isolated(body_plain_unmount_root_copy);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(a_force_unmounted_overlay_in_flight_stays_busy),
                TEST_ENTRY(a_handed_out_overlay_in_flight_stays_busy),
                TEST_ENTRY(a_writable_snapshot_without_overlay_in_flight_stays_busy),
                TEST_ENTRY(a_plain_unmounted_overlay_whose_copy_is_in_flight_stays_busy),
                TEST_ENTRY(a_copy_in_roots_namespace_does_not_keep_a_plain_unmounted_overlay),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
