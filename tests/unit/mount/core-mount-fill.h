/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A user's mounts up to a limit, for the cases that show the limit: mounts of the user's
 * snapshots k0, k1, ... through the core, the last of them handed out by MountFd (a mount
 * fd counts like a mount). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core-mount-test-util.h"

typedef struct UserMounts {
        unsigned n;
        char **paths; /* where k0..k(n-2) are mounted */
        int fd;       /* k(n-1)'s mount fd */
        char next[32]; /* "kn": prepared, not mounted, the one past the limit */
} UserMounts;

/* Prepares uid's snapshots k0..kn on parent (NULL: none) and mounts all but kn: k0..k(n-2)
 * by Mount, k(n-1) by MountFd. */
static inline void user_mounts_fill(Env *env, uid_t uid, unsigned n, const char *parent, UserMounts *ret) {
        UserMounts m = { .n = n, .paths = calloc(n, sizeof(char *)), .fd = -EBADF };
        Error e = ERROR_NULL;
        char key[32];

        ASSERT_TRUE(m.paths && n > 1);
        for (unsigned i = 0; i <= n; i++) {
                snprintf(key, sizeof key, "k%u", i);
                prepare(env, uid, key, parent);
        }
        for (unsigned i = 0; i + 1 < n; i++) {
                snprintf(key, sizeof key, "k%u", i);
                m.paths[i] = mount_key(env, uid, key, NULL);
        }
        snprintf(key, sizeof key, "k%u", n - 1);
        ASSERT_OK(core_mount_fd(env->s, uid, key, NULL, &m.fd, &e));
        snprintf(m.next, sizeof m.next, "k%u", n);
        *ret = m;
}

static inline void user_mounts_done(UserMounts *m) {
        for (unsigned i = 0; m->paths && i < m->n; i++)
                free(m->paths[i]);
        free(m->paths);
        m->paths = NULL;
        m->fd = safe_close(m->fd);
}
