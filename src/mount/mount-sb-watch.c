/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whether the filesystem of an overlay laminad made still lives, wherever it is held. An
 * overlay has a superblock of its own, which the kernel shuts down when the last mount of
 * it goes: the last copy in any namespace, the last file descriptor, also one in flight in
 * a socket (SCM_RIGHTS), which no look through /proc finds. An inotify watch on its root
 * does not keep it (only a mount does); its shutdown removes the watch (IN_UNMOUNT, then
 * IN_IGNORED). So while laminad runs, a watched overlay is known to be in use exactly as
 * long as it is. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "alloc-util.h"
#include "log.h"
#include "mount-api.h"
#include "mount-util.h"
#include "strutil.h"

typedef struct Watched {
        int wd;
        uint64_t key;
} Watched;

struct MountSbWatch {
        pthread_mutex_t lock;
        int fd;
        Watched *watched;
        size_t n, allocated;
};

int mount_sb_watch_new(MountSbWatch **ret) {
        MountSbWatch *w;

        assert(ret);

        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->fd < 0) {
                int r = -errno;
                free(w);
                return r;
        }
        pthread_mutex_init(&w->lock, NULL);
        *ret = w;
        return 0;
}

MountSbWatch *mount_sb_watch_free(MountSbWatch *w) {
        if (!w)
                return NULL;
        safe_close(w->fd);
        free(w->watched);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
}

static void forget_wd(MountSbWatch *w, int wd) {
        for (size_t i = 0; i < w->n; i++)
                if (w->watched[i].wd == wd) {
                        w->watched[i] = w->watched[--w->n];
                        return;
                }
}

/* Takes in what the kernel reported: removed watches are shut-down filesystems. A queue
 * that overflowed lost some: every watch is forgotten then (their mounts are looked for
 * as those of a laminad started afresh are). */
static void drain(MountSbWatch *w) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

        for (;;) {
                ssize_t n = read(w->fd, buf, sizeof buf);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;

                        if (ev->mask & IN_Q_OVERFLOW) {
                                log_debug("the watches of overlays laminad handed out overflowed; forgetting them");
                                w->n = 0;
                        } else if (ev->mask & IN_IGNORED)
                                forget_wd(w, ev->wd);
                        p += sizeof *ev + ev->len;
                }
        }
}

/* With w->lock. */
static int watch_one(MountSbWatch *w, const char *path, uint64_t key) {
        int wd;

        if (w->n >= MOUNT_SB_WATCH_MAX)
                return -ENOSPC;
        /* Events only on what never happens to an overlay's root: the watch is quiet. */
        wd = inotify_add_watch(w->fd, path, IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
        if (wd < 0)
                return -errno;
        forget_wd(w, wd); /* the same root watched again */
        if (GREEDY_REALLOC(w->watched, w->allocated, w->n + 1, 16) < 0) {
                (void) inotify_rm_watch(w->fd, wd);
                return -ENOMEM;
        }
        w->watched[w->n++] = (Watched) { .wd = wd, .key = key };
        return 0;
}

int mount_sb_watch_add(MountSbWatch *w, int mnt_fd, uint64_t key) {
        char path[PROC_FD_PATH_MAX];
        int r;

        assert(w);
        assert(mnt_fd >= 0);

        snprintf(path, sizeof path, "/proc/self/fd/%d", mnt_fd);
        pthread_mutex_lock(&w->lock);
        drain(w);
        r = watch_one(w, path, key);
        pthread_mutex_unlock(&w->lock);
        return r;
}

void mount_sb_watch_forget(MountSbWatch *w, uint64_t key) {
        assert(w);

        pthread_mutex_lock(&w->lock);
        drain(w);
        for (size_t i = 0; i < w->n; i++)
                if (w->watched[i].key == key) {
                        (void) inotify_rm_watch(w->fd, w->watched[i].wd);
                        w->watched[i] = w->watched[--w->n];
                        break;
                }
        pthread_mutex_unlock(&w->lock);
}

bool mount_sb_watch_alive(MountSbWatch *w, uint64_t key) {
        bool alive = false;

        assert(w);

        pthread_mutex_lock(&w->lock);
        drain(w);
        for (size_t i = 0; i < w->n && !alive; i++)
                alive = w->watched[i].key == key;
        pthread_mutex_unlock(&w->lock);
        return alive;
}

bool mount_sb_watch_wait_gone(MountSbWatch *w, uint64_t key, unsigned timeout_ms) {
        uint64_t deadline = clock_usec(CLOCK_MONOTONIC) + (uint64_t) timeout_ms * 1000;

        assert(w);

        for (;;) {
                struct pollfd p = { .fd = w->fd, .events = POLLIN };
                uint64_t now, left_ms;

                if (!mount_sb_watch_alive(w, key))
                        return true;
                now = clock_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        return false;
                /* Others may drain the queue meanwhile: look again at least every 10 ms. */
                left_ms = (deadline - now + 999) / 1000;
                (void) poll(&p, 1, left_ms < 10 ? (int) left_ms : 10);
        }
}

size_t mount_sb_watch_live(MountSbWatch *w) {
        size_t n;

        assert(w);

        pthread_mutex_lock(&w->lock);
        drain(w);
        n = w->n;
        pthread_mutex_unlock(&w->lock);
        return n;
}
