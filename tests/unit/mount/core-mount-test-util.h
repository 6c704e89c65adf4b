/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The core of the mount tests: on a state and a runtime directory in the case's tmpfs
 * (mount-test-util.h), with helpers that abort naming the step that failed. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core-internal.h"
#include "mount-test-util.h"

/* The core on a state and a runtime directory inside the test's tmpfs. */
typedef struct Env {
        Core *core;
        CoreSnapshotter *s;
        char *runtime;
        char *mounts; /* runtime/mounts/overlayfs */
} Env;

static inline Env env_new(const char *dir) {
        _cleanup_free_ char *state = test_path("%s/state", dir);
        Env env = { .runtime = test_path("%s/run", dir) };
        CoreOptions o = { .state_dir = state, .runtime_dir = env.runtime };

        ASSERT_OK(core_new(&o, &env.core));
        env.s = core_snapshotter_by_name(env.core, "overlayfs");
        ASSERT_TRUE(env.s);
        env.mounts = test_path("%s/mounts/overlayfs", env.runtime);
        return env;
}

static inline void env_done(Env *env) {
        core_free(env->core);
        free(env->runtime);
        free(env->mounts);
}

static inline void expect_error(int r, Error *e, int code, const char *needle) {
        if (r != -code || e->code != code || !strstr(e->message, needle)) {
                fprintf(stderr, "got %d (%s), expected -%d with \"%s\"\n", r, e->message, code, needle);
                abort();
        }
}

static inline void prepare(Env *env, uid_t ns, const char *key, const char *parent) {
        Error e = ERROR_NULL;
        if (core_prepare(env->s, ns, key, parent, NULL, NULL, &e) < 0) {
                fprintf(stderr, "prepare %s: %s\n", key, e.message);
                abort();
        }
}

static inline void commit(Env *env, uid_t ns, const char *name, const char *key) {
        Error e = ERROR_NULL;
        if (core_commit(env->s, ns, name, key, NULL, &e) < 0) {
                fprintf(stderr, "commit %s: %s\n", key, e.message);
                abort();
        }
}

static inline char *mount_key(Env *env, uid_t ns, const char *key, const char *target) {
        Error e = ERROR_NULL;
        char *path = NULL;

        if (core_mount(env->s, ns, key, target, &(CoreMountOptions) {}, &path, &e) < 0) {
                fprintf(stderr, "mount %s: %s\n", key, e.message);
                abort();
        }
        ASSERT_TRUE(path);
        return path;
}

static inline void unmount_key(Env *env, uid_t ns, const char *key, const char *expected_path) {
        _cleanup_free_ char *path = NULL;
        Error e = ERROR_NULL;

        if (core_unmount(env->s, ns, key, false, &path, &e) < 0) {
                fprintf(stderr, "unmount %s: %s\n", key, e.message);
                abort();
        }
        ASSERT_STREQ(path, expected_path);
}

/* The size of the mount point's handle in the mount record of snapshot id. */
static inline uint32_t point_handle_size(Env *env, uint64_t id) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(mount_record_clear) MountRecord m = {};

        ASSERT_OK(store_read_begin(env->s->store, &t));
        ASSERT_OK(store_mount_get(t, id, &m));
        return m.point_handle_size;
}

/* The ID the store gave the snapshot key. */
static inline uint64_t snapshot_id(Env *env, uid_t ns, const char *key) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        Error e = ERROR_NULL;

        ASSERT_OK(core_stat(env->s, ns, key, &info, &e));
        return info.id;
}
