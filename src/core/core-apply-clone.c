/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include "backend-apply.h"
#include "core-apply-clone.h"
#include "dir-util.h"
#include "inode-flags.h"
#include "log.h"
#include "strutil.h"

/* <state>/<snapshotter>/applying/: the clones Apply builds in (backend-apply.h), named
 * "<id>-<random>". Nothing else is kept there, so after a crash everything in it is
 * garbage. */
#define APPLY_DIR "applying"

/* The directory is marked a top of directory hierarchies (chattr +T): ext4's allocator
 * then places each clone, a tree of its own, in a block group of its own choosing instead
 * of next to the directory, so the inodes of a layer's files do not all go into the group
 * where the trees of earlier snapshots were just deleted. On an ext4 without a journal
 * every new inode is allocated past the free ones of its group that were deleted in the
 * last minute (recently_deleted()); after the removal of an image of 8 700 files that
 * made the next import of it spend 2 to 5 s of CPU there instead of 0.5 s for everything
 * (bench/README, Import, session 5). Elsewhere the flag means nothing or does not exist. */
static int apply_dir_open(CoreSnapshotter *s) {
        int fd, r;

        if (mkdirat(s->backend->state_fd, APPLY_DIR, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(s->backend->state_fd, APPLY_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = fd_add_inode_flags(fd, FS_TOPDIR_FL);
        if (r < 0)
                log_debug_errno(r, "%s: cannot mark %s a top directory: %m", s->name, APPLY_DIR);
        return fd;
}

int apply_clone_begin(CoreSnapshotter *s, uid_t ns, const Snapshot *snap, ApplyClone *ret, Error *e) {
        ApplyClone c = { .dir_fd = -EBADF, .fd = -EBADF };
        uint64_t id = snap->id;
        BackendCharge charge;
        char prefix[32];
        int r;

        c.dir_fd = apply_dir_open(s);
        if (c.dir_fd < 0)
                return error_set_errno(e, c.dir_fd, "cannot open the %s directory of %s", APPLY_DIR, s->name);
        snprintf(prefix, sizeof prefix, "%" PRIu64 "-", id);
        /* The clone becomes the snapshot's data: charged as the snapshot's new data is. */
        core_quota_charge(s, ns, snap->kind, id, &charge);
        r = s->backend->vtable->clone_data(s->backend, id, c.dir_fd, prefix, &charge, &c.name, e);
        core_quota_charged(s, ns, &charge);
        if (r < 0) {
                safe_close(c.dir_fd);
                return r;
        }
        c.fd = openat(c.dir_fd, c.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (c.fd < 0) {
                r = error_set_errno(e, errno, "cannot open the clone %s/%s", APPLY_DIR, c.name);
                apply_clone_done(s, &c);
                return r;
        }
        *ret = c;
        return 0;
}

static void remove_clone(CoreSnapshotter *s, ApplyClone *c) {
        int r = s->backend->vtable->remove_clone(c->dir_fd, c->name);

        /* Harmless: the next start removes it. */
        if (r < 0)
                log_warning_errno(r, "%s: cannot remove %s/%s: %m", s->name, APPLY_DIR, c->name);
}

int apply_clone_commit(CoreSnapshotter *s, uint64_t id, ApplyClone *c, Error *e) {
        int r;

        c->fd = safe_close(c->fd);
        r = backend_exchange_data(s->backend, id, c->dir_fd, c->name, e);
        if (r < 0)
                return r;
        /* the clone's name now holds the data it replaced */
        remove_clone(s, c);
        free(c->name);
        c->name = NULL;
        return 0;
}

void apply_clone_done(CoreSnapshotter *s, ApplyClone *c) {
        c->fd = safe_close(c->fd);
        if (c->name) {
                remove_clone(s, c);
                free(c->name);
                c->name = NULL;
        }
        c->dir_fd = safe_close(c->dir_fd);
}

typedef struct Leftovers {
        const BackendVTable *vt; /* static: outlives the Core */
        char *snapshotter;
        int dir_fd;
        char **names;
} Leftovers;

static void leftovers_free(Leftovers *l) {
        safe_close(l->dir_fd);
        strv_free(l->names);
        free(l->snapshotter);
        free(l);
}

static void *remove_leftovers(void *userdata) {
        Leftovers *l = userdata;

        for (char **n = l->names; *n; n++) {
                int r = l->vt->remove_clone(l->dir_fd, *n);
                if (r < 0)
                        log_warning_errno(r, "%s: cannot remove %s/%s that an interrupted apply left: %m",
                                          l->snapshotter, APPLY_DIR, *n);
                else
                        log_info("%s: removed %s/%s that an interrupted apply left", l->snapshotter, APPLY_DIR, *n);
        }
        leftovers_free(l);
        return NULL;
}

static int list_leftovers(int dir_fd, char ***ret) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;
        int r;

        r = dir_open_fd(dir_fd, &d);
        if (r < 0)
                return r;
        while ((errno = 0, de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        r = strv_extend(&names, de->d_name);
                        if (r < 0)
                                return r;
                }
        if (errno > 0)
                return -errno;
        *ret = TAKE_PTR(names);
        return 0;
}

int core_apply_recover(CoreSnapshotter *s) {
        Leftovers *l;
        pthread_attr_t attr;
        pthread_t thread;
        int r;

        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->vt = s->backend->vtable;
        l->dir_fd = apply_dir_open(s);
        l->snapshotter = strdup(s->name);
        r = l->dir_fd < 0 ? l->dir_fd : !l->snapshotter ? -ENOMEM : list_leftovers(l->dir_fd, &l->names);
        if (r < 0 || !l->names) {
                leftovers_free(l);
                return r < 0 ? log_error_errno(r, "%s: cannot read the %s directory: %m", s->name, APPLY_DIR) : 0;
        }
        /* Every leftover is garbage whatever the crash cut off (backend-apply.h) and
         * nothing refers to it: removing it, which may take long, need not delay serving. */
        r = -pthread_attr_init(&attr);
        if (r == 0) {
                r = -pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                if (r == 0)
                        r = -pthread_create(&thread, &attr, remove_leftovers, l);
                pthread_attr_destroy(&attr);
        }
        if (r < 0) {
                log_warning_errno(r, "%s: cannot start removing what interrupted applies left: %m", s->name);
                leftovers_free(l);
                return r;
        }
        return 0;
}
