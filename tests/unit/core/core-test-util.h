/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers for tests that drive the core directly: a throwaway state directory, a private
 * mount namespace (so nothing a test mounts can outlive it), writing files. */

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "core.h"
#include "strutil.h"
#include "test-util.h"

/* Returns false when not root or mount namespaces are unavailable. */
static inline bool test_enter_private_mount_ns(void) {
        if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0)
                return false;
        ASSERT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
        return true;
}

static inline Core *test_core_new(const char *dir, size_t map_size) {
        char *state = strdup_printf("%s/state", dir), *run = strdup_printf("%s/run", dir);
        CoreOptions o = { .state_dir = state, .runtime_dir = run, .initial_map_size = map_size };
        Core *c = NULL;

        ASSERT_OK(core_new(&o, &c));
        free(state);
        free(run);
        return c;
}

/* A core on a new throwaway directory (*ret_dir) and its overlayfs snapshotter; undone by
 * test_core_teardown(). */
static inline Core *test_core_setup(char **ret_dir, CoreSnapshotter **ret_ovl) {
        Core *c;

        *ret_dir = test_mkdtemp();
        c = test_core_new(*ret_dir, 0);
        *ret_ovl = core_snapshotter_by_name(c, "overlayfs");
        ASSERT_TRUE(*ret_ovl);
        return c;
}

static inline void test_core_teardown(Core *c, char *dir) {
        core_free(c);
        test_rm_rf(dir);
        free(dir);
}

/* Runs the cases of a test that mounts what the core gives: in a private mount namespace,
 * with *dir a scratch directory, *mnt its empty subdirectory "mnt" and *core a core on
 * *dir, all gone afterwards. Skips without root or mount namespaces, saying that what
 * needs them. */
static inline int test_core_run_mounted(const char *what, const TestCase *cases, size_t n, char **dir, char **mnt,
                                        Core **core) {
        int r;

        if (!test_enter_private_mount_ns()) {
                fprintf(stderr, "%s needs root and mount namespaces\n", what);
                return EXIT_TEST_SKIP;
        }
        *dir = test_mkdtemp();
        *mnt = strdup_printf("%s/mnt", *dir);
        ASSERT_OK(mkdir(*mnt, 0755));
        *core = test_core_new(*dir, 0);

        r = test_run_all(cases, n);

        core_free(*core);
        test_rm_rf(*dir);
        free(*mnt);
        free(*dir);
        return r;
}

/* Commits name (on parent; NULL: none) in ns, through an active snapshot of its own. */
static inline void test_core_commit(CoreSnapshotter *s, uid_t ns, const char *name, const char *parent) {
        char *key = strdup_printf("%s-active", name);
        Error e = ERROR_NULL;

        ASSERT_TRUE(key);
        ASSERT_OK(core_prepare(s, ns, key, parent, NULL, NULL, &e));
        ASSERT_OK(core_commit(s, ns, name, key, NULL, &e));
        free(key);
}

/* dir/name in one of a few rotating buffers, for paths used once in a call. */
static inline const char *test_path(const char *dir, const char *name) {
        static char bufs[4][4096];
        static unsigned i;

        i = (i + 1) % 4;
        snprintf(bufs[i], sizeof bufs[i], "%s/%s", dir, name);
        return bufs[i];
}

static inline void test_write_file(const char *dir, const char *name, const char *content) {
        char *p = strdup_printf("%s/%s", dir, name);
        FILE *f = fopen(p, "we");
        ASSERT_TRUE(f);
        ASSERT_TRUE(fputs(content, f) >= 0);
        ASSERT_TRUE(fclose(f) == 0);
        free(p);
}

/* Contents of dir/name, or NULL when it does not exist. */
static inline char *test_read_file(const char *dir, const char *name) {
        char *p = strdup_printf("%s/%s", dir, name), *buf = calloc(1, 4096);
        FILE *f = fopen(p, "re");
        free(p);
        if (!f) {
                free(buf);
                return NULL;
        }
        ASSERT_TRUE(fread(buf, 1, 4095, f) < 4095);
        fclose(f);
        return buf;
}

/* Mounts one spec from Mounts/Prepare/View the way mount(8) would. */
static inline void test_mount_spec(const MountSpec *m, const char *target) {
        bool ro = false, bind = streq(m->type, "bind");
        char *data = NULL;

        for (char **o = m->options; o && *o; o++) {
                if (streq(*o, "ro"))
                        ro = true;
                else if (streq(*o, "rw") || streq(*o, "rbind"))
                        continue;
                else {
                        char *d = data ? strdup_printf("%s,%s", data, *o) : strdup(*o);
                        free(data);
                        data = d;
                }
        }
        if (bind) {
                ASSERT_OK(mount(m->source, target, NULL, MS_BIND | MS_REC, NULL) < 0 ? -errno : 0);
                if (ro)
                        ASSERT_OK(mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0 ? -errno : 0);
        } else
                ASSERT_OK(mount(m->source, target, m->type, ro ? MS_RDONLY : 0, data) < 0 ? -errno : 0);
        free(data);
}
