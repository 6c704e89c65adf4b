/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mount_unmount (src/mount/mount-unmount.c) takes exactly the mount it checked, whatever
 * others do between its check and its umount. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "mount-api-test-util.h"

/* What others do between laminad's check of a mount and its umount: this program is linked
 * with -Wl,--wrap=umount2 (meson.build), so every umount2() call, laminad's and the test's
 * own, comes here first and runs before_umount (NULL: nothing) for the mount `unmounting`. */
static void (*before_umount)(uint64_t mnt_id);
static uint64_t unmounting;
int __real_umount2(const char *target, int flags);
int __wrap_umount2(const char *target, int flags);
int __wrap_umount2(const char *target, int flags) {
        if (before_umount)
                before_umount(unmounting);
        return __real_umount2(target, flags);
}

/* open_by_handle_at() as a container's seccomp filter has it (systemd-nspawn's: EPERM), or
 * failing otherwise, while handle_errno is set (also -Wl,--wrap, meson.build). */
static int handle_errno;
int __real_open_by_handle_at(int mount_fd, struct file_handle *handle, int flags);
int __wrap_open_by_handle_at(int mount_fd, struct file_handle *handle, int flags);
int __wrap_open_by_handle_at(int mount_fd, struct file_handle *handle, int flags) {
        if (handle_errno != 0) {
                errno = handle_errno;
                return -1;
        }
        return __real_open_by_handle_at(mount_fd, handle, flags);
}

/* What a caller can do to a target of its own: from a mount namespace of its own, where
 * neither is a mount point, exchange the names of its mount point and of a directory with
 * someone else's mount on it, just after laminad checked the mount and before it unmounts. */
static char *swap_mine, *swap_other;
static void exchange_in_own_namespace(void) {
        int status;
        pid_t pid;

        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                /* Its copies of the mounts go (EINVAL: none there): no mount point is left. */
                bool ok = unshare(CLONE_NEWNS) >= 0;

                ok = ok && (umount2(swap_mine, MNT_DETACH) >= 0 || errno == EINVAL);
                ok = ok && (umount2(swap_other, MNT_DETACH) >= 0 || errno == EINVAL);
                ok = ok && renameat2(AT_FDCWD, swap_mine, AT_FDCWD, swap_other, RENAME_EXCHANGE) >= 0;
                _exit(ok ? EXIT_SUCCESS : EXIT_FAILURE);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SUCCESS);
}
static void exchange_once(uint64_t mnt_id) {
        before_umount = NULL;
        exchange_in_own_namespace();
}

/* Mounts src on a new target dir/name: its ID, and the handle of the target in *handle. */
static uint64_t bind_with_handle(const char *dir, const char *name, const char *src, uint8_t *handle, size_t *size) {
        _cleanup_close_ int tfd = make_target(dir, name, NULL);
        Error e = ERROR_NULL;
        uint64_t id;

        ASSERT_OK(mount_point_handle(tfd, handle, size));
        ASSERT_OK(bind_at(src, tfd, 0, &id, &e));
        return id;
}

/* The swap above does not redirect an unmount: a plain one (through the handle of the
 * directory the mount was attached to) and a forced one (through the mount's own fd) take
 * exactly the mount that was checked, wherever the swap put it; the other one stays. */
static void body_unmount_swapped_mount_point(const char *dir) {
        _cleanup_free_ char *src = test_path("%s/src", dir), *other_src = test_path("%s/other-src", dir);
        _cleanup_free_ char *parent = test_path("%s/p", dir);
        uint8_t handle[MOUNT_POINT_HANDLE_MAX];
        Error e = ERROR_NULL;
        uint64_t mine, other;
        size_t size;
        char buf[256];

        {
                /* None at the root of a mount (dir is the test's tmpfs): its ".." is elsewhere. */
                _cleanup_close_ int root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                ASSERT_ERR(mount_point_handle(root, handle, &size), EOPNOTSUPP);
        }
        ASSERT_OK(mkdir(src, 0755));
        ASSERT_OK(mkdir(other_src, 0755));
        ASSERT_OK(mkdir(parent, 0755));
        write_file(test_path("%s/f", other_src), "other");
        swap_mine = test_path("%s/mine", parent);
        swap_other = test_path("%s/other", parent);
        other = bind_with_handle(parent, "other", other_src, handle, &size);

        for (int force = 0; force <= 1; force++) {
                _cleanup_free_ char *point = NULL;

                unmounting = mine = bind_with_handle(parent, "mine", src, handle, &size);
                before_umount = exchange_once;
                ASSERT_OK(mount_unmount(mine, force, handle, size, &e));
                ASSERT_TRUE(!before_umount); /* the swap happened */
                ASSERT_TRUE(mount_find(mine, NULL) == 0);
                ASSERT_TRUE(mount_find(other, &point) == 1);
                ASSERT_STREQ(point, swap_mine); /* moved by the swap, still mounted */
                ASSERT_STREQ(read_file(test_path("%s/f", swap_mine), buf), "other");
                /* Back as it was, for the next round, and the old mount point gone. */
                exchange_in_own_namespace();
                ASSERT_OK(rmdir(swap_mine));
        }
}
TEST(unmount_swapped_mount_point_takes_the_checked_mount) {
        run_isolated(body_unmount_swapped_mount_point);
}

/* The mount's ".." leads to the directory above its mount point on the mount it hangs on,
 * wherever that is now: a plain unmount through the handle takes it after the mount it
 * hangs on (a bind of a subtree) was moved by root and its parent directory renamed. */
static void body_unmount_after_parent_mount_moved(const char *dir) {
        _cleanup_free_ char *src = test_path("%s/src", dir), *tree = test_path("%s/tree", dir);
        _cleanup_free_ char *x = test_path("%s/x", dir), *y = test_path("%s/y", dir);
        _cleanup_free_ char *sub = test_path("%s/tree/sub", dir), *sub_x = test_path("%s/x/sub", dir);
        _cleanup_free_ char *sub_y = test_path("%s/y/sub", dir), *renamed = test_path("%s/y/renamed", dir);
        _cleanup_free_ char *point = NULL, *moved_point = NULL;
        uint8_t handle[MOUNT_POINT_HANDLE_MAX];
        Error e = ERROR_NULL;
        uint64_t id, bind_id;
        size_t size;

        ASSERT_OK(mkdir(src, 0755));
        ASSERT_OK(mkdir(tree, 0755));
        ASSERT_OK(mkdir(sub, 0755));
        ASSERT_OK(mkdir(x, 0755));
        ASSERT_OK(mkdir(y, 0755));
        ASSERT_OK(mount(tree, x, NULL, MS_BIND, NULL));
        ASSERT_OK(mount(NULL, x, NULL, MS_PRIVATE, NULL));
        ASSERT_OK(mount_id_of_path(AT_FDCWD, x, &bind_id));
        id = bind_with_handle(sub_x, "t", src, handle, &size);
        ASSERT_OK(mount(x, y, NULL, MS_MOVE, NULL));
        ASSERT_OK(rename(sub_y, renamed));
        moved_point = test_path("%s/t", renamed);
        ASSERT_TRUE(mount_find(id, &point) == 1);
        ASSERT_STREQ(point, moved_point);
        ASSERT_OK(mount_unmount(id, false, handle, size, &e));
        ASSERT_TRUE(mount_find(id, NULL) == 0);
        ASSERT_TRUE(mount_find(bind_id, NULL) == 1); /* only the checked mount went */
}
TEST(unmount_through_the_handle_after_the_mount_it_hangs_on_moved) {
        run_isolated(body_unmount_after_parent_mount_moved);
}

/* A plain unmount of a mount of src on dir/h (through the handle of the directory) and on
 * dir/n (by name), with `action` before the umount of its first try: the mount goes all the
 * same, at a later try (the action stops itself there). */
static void unmount_plain_both_ways(const char *dir, const char *src, void (*action)(uint64_t mnt_id)) {
        for (int with_handle = 0; with_handle <= 1; with_handle++) {
                uint8_t handle[MOUNT_POINT_HANDLE_MAX];
                Error e = ERROR_NULL;
                size_t size;
                uint64_t id;

                unmounting = id = bind_with_handle(dir, with_handle ? "h" : "n", src, handle, &size);
                before_umount = action;
                ASSERT_OK(mount_unmount(id, false, handle, with_handle ? size : 0, &e));
                ASSERT_TRUE(!before_umount); /* acted, then let go */
                ASSERT_TRUE(mount_find(id, NULL) == 0);
        }
}

/* What a caller can do through laminad: a Mount of another snapshot of its own on the same
 * target (it resolves to the root of the mount there, an empty directory of the caller's)
 * lands on top of the checked mount, just after the check. */
static void mount_on_top_once(uint64_t mnt_id) {
        _cleanup_free_ char *point = NULL;

        before_umount = NULL;
        ASSERT_TRUE(mount_find(mnt_id, &point) == 1);
        ASSERT_OK(mount("none", point, "tmpfs", 0, NULL));
}

/* The kernel unmounts what is on top of a mount point, so the mount put there took the
 * unmount: laminad must not take that for the checked mount (whose record would go while it
 * stays mounted, counted nowhere). A plain Unmount tries again and takes the checked mount;
 * a forced one says it is covered, and the checked mount stays. */
static void body_unmount_mount_on_top_after_check(const char *dir) {
        _cleanup_free_ char *src = test_path("%s/src", dir);
        uint8_t handle[MOUNT_POINT_HANDLE_MAX];
        Error e = ERROR_NULL;
        size_t size;
        uint64_t id;

        ASSERT_OK(mkdir(src, 0755));
        unmount_plain_both_ways(dir, src, mount_on_top_once);
        unmounting = id = bind_with_handle(dir, "f", src, handle, &size);
        before_umount = mount_on_top_once;
        ASSERT_ERR(mount_unmount(id, true, handle, size, &e), EBUSY);
        ASSERT_TRUE(!before_umount);
        ASSERT_TRUE(mount_find(id, NULL) == 1);
        ASSERT_OK(mount_unmount(id, true, handle, size, &e));
        ASSERT_TRUE(mount_find(id, NULL) == 0);
}
TEST(unmount_does_not_take_a_mount_put_on_top_after_the_check_for_it) {
        run_isolated(body_unmount_mount_on_top_after_check);
}

/* A child that holds a copy of the file table taken while an fd of the mount was open (the
 * check's, or a look at it just before), as one started by another thread (posix_spawn)
 * holds it until its exec: made at the first try, stopped, killed at the next one. */
static pid_t copy_holder;
static void hold_until_next_try(uint64_t mnt_id) {
        _cleanup_free_ char *point = NULL;
        _cleanup_close_ int fd = -EBADF;
        int status;

        if (copy_holder > 0) {
                ASSERT_OK(kill(copy_holder, SIGKILL));
                ASSERT_TRUE(waitpid(copy_holder, NULL, 0) == copy_holder);
                copy_holder = -1;
                before_umount = NULL;
                return;
        }
        pid_t parent = getpid();

        ASSERT_TRUE(mount_find(mnt_id, &point) == 1);
        ASSERT_TRUE((fd = open(point, O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0);
        copy_holder = fork();
        ASSERT_TRUE(copy_holder >= 0);
        if (copy_holder == 0) {
                /* Gone with the test, also when it fails. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(EXIT_FAILURE);
                raise(SIGSTOP);
                _exit(EXIT_SUCCESS);
        }
        ASSERT_TRUE(waitpid(copy_holder, &status, WUNTRACED) == copy_holder && WIFSTOPPED(status));
}

/* Such a holder makes a plain umount EBUSY for a moment (the crash campaign's rare Busy
 * Unmounts): it is tried again, and the mount goes once the holder has let go. */
static void body_unmount_retries_a_passing_holder(const char *dir) {
        _cleanup_free_ char *src = test_path("%s/src", dir);

        ASSERT_OK(mkdir(src, 0755));
        unmount_plain_both_ways(dir, src, hold_until_next_try);
}
TEST(unmount_retries_while_a_child_holds_a_copy_of_the_fd) {
        run_isolated(body_unmount_retries_a_passing_holder);
}

/* Where laminad may not open handles at all (EPERM, ENOSYS: a container's seccomp filter), a
 * plain unmount goes by name as for a record without one; any other failure to open the
 * recorded directory (a handle gone stale) refuses, as the caller cannot choose that. */
static void body_unmount_with_handles_denied(const char *dir) {
        _cleanup_free_ char *src = test_path("%s/src", dir);
        const int denied[] = { EPERM, ENOSYS };
        uint8_t handle[MOUNT_POINT_HANDLE_MAX];
        Error e = ERROR_NULL;
        size_t size;
        uint64_t id;

        ASSERT_OK(mkdir(src, 0755));
        for (size_t i = 0; i < ELEMENTSOF(denied); i++) {
                char name[16];

                snprintf(name, sizeof name, "d%zu", i);
                id = bind_with_handle(dir, name, src, handle, &size);
                handle_errno = denied[i];
                ASSERT_OK(mount_unmount(id, false, handle, size, &e));
                handle_errno = 0;
                ASSERT_TRUE(mount_find(id, NULL) == 0);
        }
        id = bind_with_handle(dir, "stale", src, handle, &size);
        handle_errno = ESTALE;
        ASSERT_TRUE(mount_unmount(id, false, handle, size, &e) == -ESTALE);
        handle_errno = 0;
        ASSERT_TRUE(mount_find(id, NULL) == 1);
        ASSERT_OK(mount_unmount(id, false, handle, size, NULL));
}
TEST(unmount_by_name_where_handles_are_denied) {
        run_isolated(body_unmount_with_handles_denied);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(unmount_swapped_mount_point_takes_the_checked_mount),
                TEST_ENTRY(unmount_through_the_handle_after_the_mount_it_hangs_on_moved),
                TEST_ENTRY(unmount_does_not_take_a_mount_put_on_top_after_the_check_for_it),
                TEST_ENTRY(unmount_retries_while_a_child_holds_a_copy_of_the_fd),
                TEST_ENTRY(unmount_by_name_where_handles_are_denied),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
