/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the tests of src/mount's API share: a target directory opened to attach to, and
 * a bind mount attached there. */

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

/* mount_bind and mount_attach onto tfd in one go; the new mount's ID. */
static inline int bind_at(const char *src, int tfd, uint64_t attrs, uint64_t *ret_id, Error *e) {
        _cleanup_close_ int mfd = -EBADF;
        int r = mount_bind(src, attrs, NULL, &mfd, e);

        if (r >= 0 && ret_id)
                r = mount_id_of_fd(mfd, ret_id);
        return r < 0 ? r : mount_attach(mfd, tfd, e);
}
