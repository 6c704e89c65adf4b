/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Review finding (mended): a user's mounts without a target go under
 * <runtime>/mounts/<snapshotter>/<uid>/<random>. The user must reach its mount there and
 * nothing more: search, not write — files of any size and number on laminad's runtime
 * filesystem (/run, a tmpfs every system service shares) would be counted by no quota. */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core-mount-test-util.h"

#define USER 1000

/* In a child as USER: 0 when it reaches path but can create nothing beside it. */
static int as_user_reach_but_not_write(const char *path, const char *beside) {
        struct stat st;
        int status, fd;
        pid_t pid = fork();

        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                if (setresgid(USER, USER, USER) < 0 || setresuid(USER, USER, USER) < 0)
                        _exit(2);
                if (stat(path, &st) < 0) {
                        fprintf(stderr, "uid %d cannot reach its mount %s: %m\n", USER, path);
                        _exit(3);
                }
                fd = open(beside, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        fprintf(stderr, "uid %d created %s beside its mount\n", USER, beside);
                        _exit(4);
                }
                _exit(0);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static void body_mount_dir(const char *dir) {
        _cleanup_free_ char *path = NULL, *beside = NULL;
        Env env;
        char *slash;

        /* As systemd makes RuntimeDirectory=lamina (0755, in /run); laminad makes the
         * missing directories below it 0755 itself. */
        ASSERT_OK(chmod(dir, 0755) < 0 ? -errno : 0);
        env = env_new(dir);
        prepare(&env, USER, "k", NULL);
        path = mount_key(&env, USER, "k", NULL);
        beside = strdup(path);
        ASSERT_TRUE(beside);
        slash = strrchr(beside, '/');
        ASSERT_TRUE(slash);
        strcpy(slash + 1, "fill");
        ASSERT_TRUE(as_user_reach_but_not_write(path, beside) == 0);
        unmount_key(&env, USER, "k", path);
        env_done(&env);
}
TEST(a_users_mount_directory_is_not_writable_by_the_user) {
        run_isolated(body_mount_dir);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(a_users_mount_directory_is_not_writable_by_the_user),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
