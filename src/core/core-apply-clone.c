/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "backend-apply.h"
#include "core-apply-clone.h"
#include "core-apply-place.h"
#include "dir-util.h"
#include "inode-flags.h"
#include "log.h"
#include "strutil.h"


/* The directory is marked a top of directory hierarchies (chattr +T): ext4's allocator
 * then places each directory made in it, a clone's placement directory, in a block group of
 * its own choosing instead of next to applying/, and the clone's files and directories
 * follow it there (core-apply-place.c says why that matters on an ext4 without a journal,
 * and how the placement keeps away from trees removed a moment ago). Elsewhere the flag
 * means nothing or does not exist: *ret_top says whether it is set. */
static int apply_dir_open(CoreSnapshotter *s, bool *ret_top) {
        int fd, r;

        if (mkdirat(s->backend->state_fd, APPLY_DIR, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(s->backend->state_fd, APPLY_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = fd_add_inode_flags(fd, FS_TOPDIR_FL);
        if (r < 0)
                log_debug_errno(r, "%s: cannot mark %s a top directory: %m", s->name, APPLY_DIR);
        if (ret_top)
                *ret_top = r >= 0;
        return fd;
}

int apply_clone_begin(CoreSnapshotter *s, uid_t ns, const Snapshot *snap, ApplyClone *ret, Error *e) {
        ApplyClone c = APPLY_CLONE_NULL;
        uint64_t id = snap->id;
        BackendCharge charge;
        char prefix[32];
        bool top;
        int r;

        c.apply_fd = apply_dir_open(s, &top);
        if (c.apply_fd < 0)
                return error_set_errno(e, c.apply_fd, "cannot open the %s directory of %s", APPLY_DIR, s->name);
        snprintf(prefix, sizeof prefix, "%" PRIu64 "-", id);
        r = apply_place_dir(s, c.apply_fd, prefix, top, &c.place);
        if (r < 0) {
                apply_clone_done(s, &c);
                return error_set_errno(e, r, "cannot make a directory in %s of %s", APPLY_DIR, s->name);
        }
        if (r > 1)
                log_debug("%s: %s/%s placed after %d tries, away from trees removed a moment ago",
                          s->name, APPLY_DIR, c.place, r);
        c.dir_fd = openat(c.apply_fd, c.place, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (c.dir_fd < 0) {
                r = error_set_errno(e, errno, "cannot open %s/%s", APPLY_DIR, c.place);
                apply_clone_done(s, &c);
                return r;
        }
        /* The clone becomes the snapshot's data: charged as the snapshot's new data is. */
        core_quota_charge(s, ns, snap->kind, id, &charge);
        r = s->backend->vtable->clone_data(s->backend, id, c.dir_fd, prefix, &charge, &c.name, e);
        core_quota_charged(s, ns, &charge);
        if (r < 0) {
                apply_clone_done(s, &c);
                return r;
        }
        c.fd = openat(c.dir_fd, c.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (c.fd < 0) {
                r = error_set_errno(e, errno, "cannot open the clone %s/%s/%s", APPLY_DIR, c.place, c.name);
                apply_clone_done(s, &c);
                return r;
        }
        *ret = c;
        return 0;
}

int apply_clone_commit(CoreSnapshotter *s, uint64_t id, ApplyClone *c, Error *e) {
        c->fd = safe_close(c->fd);
        /* After it, the clone's name holds the data it replaced, which apply_clone_done removes. */
        return backend_exchange_data(s->backend, id, c->dir_fd, c->name, e);
}

static int list_entries(int dir_fd, char ***ret) {
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

/* Removes applying/<name>: a placement directory with the clone, or what it replaced, in it
 * (on btrfs a subvolume, which rm_rf does not cross into: EXDEV, so each entry goes by
 * remove_clone), or a clone an older laminad left there. */
static int remove_place(const BackendVTable *vt, int apply_fd, const char *name) {
        _cleanup_strv_free_ char **entries = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r = vt->remove_clone(apply_fd, name);

        if (r != -EXDEV)
                return r;
        fd = openat(apply_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = list_entries(fd, &entries);
        for (char **e = entries; r >= 0 && e && *e; e++)
                r = vt->remove_clone(fd, *e);
        if (r >= 0 && unlinkat(apply_fd, name, AT_REMOVEDIR) < 0)
                r = -errno;
        return r;
}

void apply_clone_done(CoreSnapshotter *s, ApplyClone *c) {
        c->fd = safe_close(c->fd);
        if (c->name)
                apply_place_note_removal(s, c->dir_fd, c->name);
        if (c->place) {
                int r = remove_place(s->backend->vtable, c->apply_fd, c->place);

                /* Harmless: the next start removes it. */
                if (r < 0)
                        log_warning_errno(r, "%s: cannot remove %s/%s: %m", s->name, APPLY_DIR, c->place);
        }
        free(c->name);
        c->name = NULL;
        free(c->place);
        c->place = NULL;
        c->dir_fd = safe_close(c->dir_fd);
        c->apply_fd = safe_close(c->apply_fd);
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

/* A killed laminad's unpack helpers die after it (each by its parent's death signal), and
 * a writer still finishing a file may add to a leftover while it is being removed: tried
 * again while it is not empty, for up to 10 s. */
#define LEFTOVER_TRIES 100
#define LEFTOVER_RETRY_USEC (100 * 1000)

static void *remove_leftovers(void *userdata) {
        Leftovers *l = userdata;

        for (char **n = l->names; *n; n++) {
                int r = remove_place(l->vt, l->dir_fd, *n);

                for (unsigned try = 1; r == -ENOTEMPTY && try < LEFTOVER_TRIES; try++) {
                        (void) usleep(LEFTOVER_RETRY_USEC);
                        r = remove_place(l->vt, l->dir_fd, *n);
                }
                if (r < 0)
                        log_warning_errno(r, "%s: cannot remove %s/%s that an interrupted apply left: %m",
                                          l->snapshotter, APPLY_DIR, *n);
                else
                        log_info("%s: removed %s/%s that an interrupted apply left", l->snapshotter, APPLY_DIR, *n);
        }
        leftovers_free(l);
        return NULL;
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
        l->dir_fd = apply_dir_open(s, NULL);
        l->snapshotter = strdup(s->name);
        r = l->dir_fd < 0 ? l->dir_fd : !l->snapshotter ? -ENOMEM : list_entries(l->dir_fd, &l->names);
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
