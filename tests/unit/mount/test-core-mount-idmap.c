/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Idmapped mounts through the core: a user's subordinate ranges, and their resolution
 * outside the store's write lock. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core-mount-test-util.h"
#include "mount-api.h"

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
                /* Writable: an overlay of the data, over its idmapped directory (what it
                 * stores: below). */
                opts = mount_options_of(path);
                ASSERT_TRUE(strstr(opts, "nosuid") && strstr(opts, "nodev"));
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

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(idmapped_mounts_for_a_user_with_subids),
                TEST_ENTRY(idmap_resolved_outside_the_write_lock),
        };

        mount_test_require();
        return test_run_all(cases, ELEMENTSOF(cases));
}
