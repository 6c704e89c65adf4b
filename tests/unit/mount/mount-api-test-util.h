/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the tests of src/mount's API share: a target directory opened to attach to, a
 * bind mount attached there, and overlays of layers made for the test, checked. */

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "mount-api.h"
#include "mount-util.h"
#include "mount-test-util.h"

/* An empty directory dir/<name> opened as a mount target. */
static inline int make_target(const char *dir, const char *name, char **ret_path) {
        _cleanup_free_ char *p = test_path("%s/%s", dir, name);
        Error e = ERROR_NULL;
        int fd;

        ASSERT_OK(mkdir(p, 0755));
        ASSERT_OK(mount_open_target(p, &fd, &e));
        if (ret_path)
                *ret_path = TAKE_PTR(p);
        return fd;
}

/* mount_bind of src (absolute: below "/") and mount_attach onto tfd in one go; the new
 * mount's ID. */
static inline int bind_at(const char *src, int tfd, uint64_t attrs, uint64_t *ret_id, Error *e) {
        _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), mfd = -EBADF;
        int r;

        ASSERT_TRUE(root >= 0 && src[0] == '/');
        r = mount_bind(root, src + 1, attrs, NULL, &mfd, e);

        if (r >= 0 && ret_id)
                r = mount_id_of_fd(mfd, ret_id);
        return r < 0 ? r : mount_attach(mfd, tfd, e);
}

/* n layer directories dir/L/<i>, each with its own file u<i> and a shared file f
 * saying "<i>"; returns the lowers topmost first (layer n-1 on top). */
static inline char **make_layers(const char *dir, size_t n) {
        char **lowers = calloc(n + 1, sizeof(char *));
        _cleanup_free_ char *base = test_path("%s/L", dir);

        ASSERT_TRUE(lowers);
        ASSERT_OK(mkdir(base, 0755));
        for (size_t i = 0; i < n; i++) {
                char *l = test_path("%s/%zu", base, i);
                _cleanup_free_ char *f = test_path("%s/f", l), *u = test_path("%s/u%zu", l, i);
                char content[32];

                ASSERT_OK(mkdir(l, 0755));
                snprintf(content, sizeof content, "%zu", i);
                write_file(f, content);
                write_file(u, content);
                lowers[n - 1 - i] = l;
        }
        return lowers;
}

static inline void free_layers(char **lowers) {
        for (char **l = lowers; *l; l++)
                free(*l);
        free(lowers);
}

static inline void make_upper(const char *dir, char **ret_upper, char **ret_work) {
        *ret_upper = test_path("%s/upper", dir);
        *ret_work = test_path("%s/work", dir);
        ASSERT_OK(mkdir(*ret_upper, 0755));
        ASSERT_OK(mkdir(*ret_work, 0755));
}

/* Where path (absolute, below dir) is below dir. */
static inline const char *path_below(const char *dir, const char *path) {
        size_t k = strlen(dir);

        ASSERT_TRUE(strncmp(path, dir, k) == 0 && path[k] == '/');
        return path + k + 1;
}

/* mount_overlay of directories given by their paths below dir, opened below dir. */
static inline int overlay_below(const char *dir, const char *const *lowers, size_t n, const char *upper,
                                const char *work, uint64_t attrs, const MountIdmapping *idmap, int *ret_fd,
                                Error *e) {
        _cleanup_close_ int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ const char **rel = calloc(n + 1, sizeof *rel);

        ASSERT_TRUE(root >= 0 && rel);
        for (size_t i = 0; i < n; i++)
                rel[i] = path_below(dir, lowers[i]);
        return mount_overlay(&(MountOverlayDirs) { .root_fd = root,
                                                   .lowers = rel,
                                                   .n_lowers = n,
                                                   .upper = upper ? path_below(dir, upper) : NULL,
                                                   .work = work ? path_below(dir, work) : NULL },
                             attrs, idmap, ret_fd, e);
}

/* overlay_below and mount_attach onto tfd in one go; the new mount's ID. */
static inline int overlay_at(const char *dir, char **lowers, size_t n, const char *upper, const char *work, int tfd,
                             uint64_t attrs, const MountIdmapping *idmap, uint64_t *ret_id, Error *e) {
        _cleanup_close_ int mfd = -EBADF;
        int r = overlay_below(dir, (const char *const *) lowers, n, upper, work, attrs, idmap, &mfd, e);

        if (r >= 0 && ret_id)
                r = mount_id_of_fd(mfd, ret_id);
        return r < 0 ? r : mount_attach(mfd, tfd, e);
}

/* Mounts n layers (with an upper when rw) and checks the merged view: the topmost f
 * wins and every layer's own file shows through. */
static inline void check_overlay_idmapped(const char *dir, size_t n, bool rw, const MountIdmapping *idmap) {
        char **lowers = make_layers(dir, n);
        _cleanup_free_ char *target = NULL, *upper = NULL, *work = NULL;
        _cleanup_close_ int tfd = -EBADF, mfd = -EBADF;
        Error e = ERROR_NULL;
        uint64_t id, id2;
        char buf[256], expect[32];

        if (rw)
                make_upper(dir, &upper, &work);
        tfd = make_target(dir, "merged", &target);
        if (overlay_at(dir, lowers, n, upper, work, tfd, 0, idmap, &id, &e) < 0) {
                fprintf(stderr, "mount_overlay(%zu): %s\n", n, e.message);
                abort();
        }

        mfd = open(target, O_PATH | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(mfd >= 0);
        ASSERT_OK(mount_id_of_fd(mfd, &id2));
        ASSERT_TRUE(id == id2);
        ASSERT_TRUE(mount_find(id, NULL) == 1);

        snprintf(expect, sizeof expect, "%zu", n - 1);
        ASSERT_STREQ(read_file(test_path("%s/f", target), buf), expect);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *u = test_path("%s/u%zu", target, i);
                snprintf(expect, sizeof expect, "%zu", i);
                ASSERT_STREQ(read_file(u, buf), expect);
        }

        if (rw && idmap) { /* image id 0 is idmap->uid: created as it, stored as 0 */
                ASSERT_OK(chmod(dir, 0711));
                expect_owner(test_path("%s/f", target), idmap->uid, idmap->gid);
                create_as(test_path("%s/new", target), idmap->uid, idmap->gid);
                expect_owner(test_path("%s/new", upper), 0, 0);
        } else if (rw) {
                _cleanup_free_ char *merged_new = test_path("%s/new", target);
                _cleanup_free_ char *upper_new = test_path("%s/new", upper);
                _cleanup_free_ char *merged_f = test_path("%s/f", target);
                _cleanup_free_ char *lower_f = test_path("%s/f", lowers[0]);
                char lower_before[256];

                ASSERT_TRUE(read_file(lower_f, lower_before));
                write_file(merged_new, "written");
                ASSERT_STREQ(read_file(upper_new, buf), "written");
                write_file(merged_f, "changed");
                ASSERT_STREQ(read_file(merged_f, buf), "changed");
                ASSERT_STREQ(read_file(lower_f, buf), lower_before); /* copied up, lower untouched */
        } else
                ASSERT_ERR(try_create(test_path("%s/new", target)), EROFS);

        free_layers(lowers);
}

static inline void check_overlay(const char *dir, size_t n, bool rw) {
        check_overlay_idmapped(dir, n, rw, NULL);
}
