/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "core-internal.h"
#include "layer-fs.h"
#include "layer.h"
#include "log.h"
#include "strutil.h"
#include "tree-walk.h"

/* Rebase, as containerd 2.1 does it for overlayfs: an active snapshot prepared with the
 * rebase option has no parent while a layer is applied to it and is given one at Commit,
 * so the layers of an image can be applied all at once. Only a layered backend can do it:
 * the data of its snapshot is what the layer changed, whatever lies below; whiteouts and
 * opaque directories are recorded as such even where nothing below has the path (what
 * overlayfs accepts). What Apply takes from the layers below, the owner, mode, times and
 * xattrs of a parent directory the layer lacks (layer.c), comes at Commit instead.
 *
 * On the data's root, the xattr REBASE_XATTR: "-" while no Commit has begun, else the ID
 * of the parent a Commit began attaching it to ("0": none); led by "=" (REBASE_CLEAN) while
 * no Apply marked a directory below the root: a Commit then has no tree to walk. The clean
 * state goes in the Apply's clone before it replaces the data, so it changes with the
 * layer, whatever is killed when; a state without it (an older laminad's, or a Commit's
 * that began while it was unknown) has the tree walked. Each directory still to take
 * its attributes from the parent carries LAYER_XATTR_IMPLICIT (Apply marks them; the root
 * from Prepare on, until a layer carries "./"). A Commit records its parent first, then
 * copies into each marked directory what Apply onto that parent would have copied (from
 * the first of the parent's layers, topmost first, that has the path as a directory; the
 * root: the parent root's owner, as Prepare on the parent gives it), drops the marks,
 * syncing each directory it changed, and only then records the commit. Killed in between, a retry onto the same
 * parent finishes what is left; onto another parent, or an Apply, is refused. The state
 * xattr goes once the commit is recorded. */

#define REBASE_XATTR "trusted.lamina.rebase"
#define REBASE_NOT_BEGUN "-"
#define REBASE_CLEAN '='

static int open_root(CoreSnapshotter *s, uint64_t id, int *ret, Error *e) {
        return s->backend->vtable->open_data(s->backend, id, ret, e);
}

/* 0: not a rebase snapshot; 1: one, *ret_parent the parent a Commit began attaching it
 * to, or REBASE_NONE when none began, *ret_clean whether no directory below the root is
 * marked. */
#define REBASE_NONE UINT64_MAX
static int read_state(int root_fd, uint64_t *ret_parent, bool *ret_clean) {
        char buf[32];
        const char *p = buf;
        ssize_t n;
        char *end;

        n = fgetxattr(root_fd, REBASE_XATTR, buf, sizeof buf - 1);
        if (n < 0)
                return errno == ENODATA || errno == EOPNOTSUPP ? 0 : -errno;
        buf[n] = 0;
        *ret_clean = buf[0] == REBASE_CLEAN;
        p += *ret_clean;
        if (streq(p, *ret_clean ? "" : REBASE_NOT_BEGUN)) {
                *ret_parent = REBASE_NONE;
                return 1;
        }
        errno = 0;
        *ret_parent = strtoull(p, &end, 10);
        if (errno != 0 || end == p || *end != 0 || p[0] == '-')
                return -EBADMSG;
        return 1;
}

static int write_state(int root_fd, uint64_t parent, bool clean) {
        char value[32];

        if (parent == REBASE_NONE)
                snprintf(value, sizeof value, "%s", clean ? (const char[]) { REBASE_CLEAN, 0 } : REBASE_NOT_BEGUN);
        else
                snprintf(value, sizeof value, "%s%" PRIu64, clean ? (const char[]) { REBASE_CLEAN, 0 } : "", parent);
        return RET_NERRNO(fsetxattr(root_fd, REBASE_XATTR, value, strlen(value), 0));
}

int core_rebase_mark(CoreSnapshotter *s, uint64_t id, Error *e) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = open_root(s, id, &fd, e);
        if (r < 0)
                return r;
        if (fsetxattr(fd, LAYER_XATTR_IMPLICIT, "", 0, 0) < 0 || write_state(fd, REBASE_NONE, true) < 0 || fsync(fd) < 0)
                return error_set_errno(e, errno, "cannot mark the new snapshot's data for a rebase");
        return 0;
}

int core_rebase_applied(int clone_fd, const char *key, Error *e) {
        uint64_t parent;
        bool clean;
        int r;

        r = read_state(clone_fd, &parent, &clean);
        if (r > 0 && clean)
                r = write_state(clone_fd, parent, false);
        if (r < 0)
                return error_set_errno(e, r, "cannot record the rebase state of snapshot %s", QUOTE(key));
        return 0;
}

int core_rebase_apply_check(CoreSnapshotter *s, uint64_t id, const char *key, bool *ret_mark, Error *e) {
        _cleanup_close_ int fd = -EBADF;
        uint64_t parent;
        bool clean;
        int r;

        *ret_mark = false;
        if (!s->backend->vtable->layered)
                return 0;
        r = open_root(s, id, &fd, e);
        if (r < 0)
                return r;
        r = read_state(fd, &parent, &clean);
        if (r < 0)
                return error_set_errno(e, r, "cannot read the rebase state of snapshot %s", QUOTE(key));
        if (r > 0 && parent != REBASE_NONE)
                return error_setf(e, EWRONGKIND,
                                  "snapshot %s was being committed when laminad stopped; commit it again or remove it",
                                  QUOTE(key));
        *ret_mark = r > 0;
        return 0;
}

typedef struct Attach {
        const int *lowers; /* the parent's layers' data, topmost first */
        size_t n_lowers;
        char *path;        /* of the directory entered, relative to the root */
        size_t *ends;      /* ends[d]: the length of path at depth d (ends[0] = 0) */
        size_t n_ends;
} Attach;

static void attach_done(Attach *a) {
        free(a->path);
        free(a->ends);
}

static int path_enter(Attach *a, size_t depth, const char *name) {
        size_t base, len;
        char *p;

        if (depth >= a->n_ends) {
                size_t *k = reallocarray(a->ends, depth + 16, sizeof(size_t));
                if (!k)
                        return -ENOMEM;
                if (a->n_ends == 0)
                        k[0] = 0;
                a->ends = k;
                a->n_ends = depth + 16;
        }
        base = a->ends[depth - 1];
        len = base + (base > 0) + strlen(name);
        p = realloc(a->path, len + 1);
        if (!p)
                return -ENOMEM;
        a->path = p;
        if (base > 0)
                p[base] = '/';
        strcpy(p + base + (base > 0), name);
        a->ends[depth] = len;
        return 0;
}

/* What implicit_dir_copy() (layer.c) copies, from the first layer below with the path as a
 * directory; kept as Apply made it when none has it. */
static int copy_from_lowers(Attach *a, int fd, const char *path) {
        for (size_t i = 0; i < a->n_lowers; i++) {
                _cleanup_close_ int src = layer_open_dir_in(a->lowers[i], path);
                struct stat st;
                int r;

                if (src == -ENOENT || src == -ENOTDIR || src == -ELOOP)
                        continue;
                if (src < 0)
                        return src;
                r = layer_copy_dir_attrs(src, fd, &st);
                if (r < 0)
                        return r;
                return RET_NERRNO(futimens(fd, (const struct timespec[]) { st.st_atim, st.st_mtim }));
        }
        return 0;
}

/* Durable at once: only the directories changed are synced, not the filesystem (other
 * layers' Applies may be writing to it). */
static int unmark(int fd) {
        if (fremovexattr(fd, LAYER_XATTR_IMPLICIT) < 0 && errno != ENODATA)
                return -errno;
        return RET_NERRNO(fsync(fd));
}

static int attach_one(TreeWalkEvent event, const TreeWalkItem *item, void *userdata) {
        Attach *a = userdata;
        int r;

        if (event != TREE_WALK_ENTER)
                return 0;
        r = path_enter(a, item->depth, item->name);
        if (r < 0)
                return r;
        if (fgetxattr(item->fd, LAYER_XATTR_IMPLICIT, NULL, 0) < 0)
                return errno == ENODATA ? 0 : -errno;
        r = copy_from_lowers(a, item->fd, a->path);
        if (r < 0)
                return r;
        return unmark(item->fd);
}

/* The root: as Prepare on the parent makes it (overlayfs.c: the parent root's owner). */
static int attach_root(Attach *a, int root_fd) {
        struct stat st;

        if (fgetxattr(root_fd, LAYER_XATTR_IMPLICIT, NULL, 0) < 0)
                return errno == ENODATA ? 0 : -errno;
        if (a->n_lowers > 0) {
                if (fstat(a->lowers[0], &st) < 0 || fchown(root_fd, st.st_uid, st.st_gid) < 0)
                        return -errno;
        }
        return unmark(root_fd);
}

static void close_lowers(int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                safe_close(fds[i]);
        free(fds);
}

int core_rebase_attach(CoreSnapshotter *s, uint64_t id, const char *key, const Snapshot *chain, Error *e) {
        _cleanup_(attach_done) Attach a = {};
        _cleanup_close_ int root = -EBADF;
        uint64_t begun, parent = chain ? chain->id : 0;
        bool clean;
        int *lowers = NULL;
        size_t n = chain ? chain->n_parents + 1 : 0;
        int r;

        r = open_root(s, id, &root, e);
        if (r < 0)
                return r;
        r = read_state(root, &begun, &clean);
        if (r < 0)
                return error_set_errno(e, r, "cannot read the rebase state of snapshot %s", QUOTE(key));
        if (r == 0) {
                if (!chain)
                        return 0; /* a plain Commit */
                return error_setf(e, EWRONGKIND,
                                  "snapshot %s was not prepared with the rebase option; only such a snapshot takes a parent at Commit",
                                  QUOTE(key));
        }
        if (begun != REBASE_NONE && begun != parent)
                return error_setf(e, EWRONGKIND,
                                  "snapshot %s was being committed onto another parent when laminad stopped; commit it onto that one or remove it",
                                  QUOTE(key));

        if (write_state(root, parent, clean) < 0 || fsync(root) < 0)
                return error_set_errno(e, errno, "cannot record the parent of snapshot %s", QUOTE(key));

        if (n > 0) {
                lowers = calloc(n, sizeof(int));
                if (!lowers)
                        return error_set_errno(e, ENOMEM, "snapshot %s", QUOTE(key));
                for (size_t i = 0; i < n; i++) {
                        r = s->backend->vtable->open_data(s->backend, i == 0 ? chain->id : chain->parent_ids[i - 1],
                                                          &lowers[i], e);
                        if (r < 0) {
                                close_lowers(lowers, i);
                                return core_data_error(e, r, key);
                        }
                }
        }
        a.lowers = lowers;
        a.n_lowers = n;
        r = attach_root(&a, root);
        /* Nothing below the root to complete: no Apply marked a directory there. */
        if (r >= 0 && !clean)
                r = tree_walk(root, -EBADF, attach_one, &a);
        close_lowers(lowers, n);
        if (r < 0)
                return error_set_errno(e, r, "cannot give snapshot %s its parent's directories%s%s", QUOTE(key),
                                       a.path ? " at " : "", a.path ?: "");
        log_debug("%s: data of %s attached to parent ID %" PRIu64 "%s", s->name, QUOTE(key), parent,
                  clean ? " (nothing below its root marked)" : "");
        return 1;
}

void core_rebase_finish(CoreSnapshotter *s, uint64_t id, const char *key) {
        _cleanup_close_ int fd = -EBADF;

        /* Left behind, it only says how the committed data was made. */
        if (open_root(s, id, &fd, NULL) < 0 || (fremovexattr(fd, REBASE_XATTR) < 0 && errno != ENODATA))
                log_warning("%s: committed %s, but cannot drop its rebase mark: %m", s->name, QUOTE(key));
}
