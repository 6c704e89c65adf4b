/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer-fs.h"
#include "tree-util.h"
#include "layer-proto.h"
#include "layer-staging.h"
#include "strutil.h"

int layer_staging_name_pick(char ret[static LAYER_STAGING_NAME_SIZE]) {
        uint64_t rnd;

        if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
                return -EIO;
        snprintf(ret, LAYER_STAGING_NAME_SIZE, LAYER_STAGING_PREFIX "%016" PRIx64, rnd);
        return 0;
}

bool layer_staging_name_is_valid(const char *name) {
        const char *hex = name + strlen(LAYER_STAGING_PREFIX);

        return strncmp(name, LAYER_STAGING_PREFIX, strlen(LAYER_STAGING_PREFIX)) == 0 &&
               strlen(hex) == 16 && strspn(hex, "0123456789abcdef") == 16;
}

int layer_staging_new(int target_fd, const char *name, LayerStaging *ret) {
        LayerStaging s = { .target_fd = target_fd, .fd = -EBADF };
        struct stat st;
        int r;

        assert(layer_staging_name_is_valid(name));

        if (fstat(target_fd, &st) < 0)
                return -errno;
        s.root_times[0] = st.st_atim;
        s.root_times[1] = st.st_mtim;
        strcpy(s.name, name);
        if (mkdirat(target_fd, s.name, 0700) < 0)
                return -errno;
        s.fd = layer_open_dir_in(target_fd, s.name);
        if (s.fd < 0) {
                r = s.fd;
                (void) unlinkat(target_fd, s.name, AT_REMOVEDIR);
                (void) futimens(target_fd, s.root_times);
                return r;
        }
        r = layer_copy_dir_attrs(target_fd, s.fd, NULL);
        if (r < 0) {
                layer_staging_discard(&s);
                return r;
        }
        *ret = s;
        return 0;
}

void layer_staging_discard(LayerStaging *s) {
        if (s->fd < 0)
                return;
        s->fd = safe_close(s->fd);
        (void) rm_rf_at(s->target_fd, s->name, NULL);
        /* creating and removing the staging directory moved the target's mtime */
        (void) futimens(s->target_fd, s->root_times);
}

/* Splits path into its parent (opened in the target) and base name. -ENOENT when the
 * parent is not a plain directory of the target: nothing there to change. */
static int open_target_parent(LayerStaging *s, const char *path, const char **ret_base) {
        _cleanup_free_ char *dir = strdup(path);
        char *slash;
        int fd;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        *ret_base = slash ? path + (slash - dir) + 1 : path;
        if (slash)
                *slash = 0;
        else
                *dir = 0;
        fd = layer_open_dir_in(s->target_fd, dir);
        return fd == -ENOTDIR || fd == -ELOOP ? -ENOENT : fd;
}

static int apply_deletion(LayerStaging *s, const char *path) {
        _cleanup_close_ int dir_fd = -EBADF;
        const char *base;

        dir_fd = open_target_parent(s, path, &base);
        if (dir_fd == -ENOENT)
                return 0;
        if (dir_fd < 0)
                return dir_fd;
        if (!strchr(path, '/') && streq(base, s->name))
                return 0;
        return rm_rf_at(dir_fd, base, NULL);
}

static int apply_opaque(LayerStaging *s, const char *path) {
        _cleanup_close_ int fd = layer_open_dir_in(s->target_fd, path);

        if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
                return 0;
        if (fd < 0)
                return fd;
        return rm_rf_children(fd, isempty(path) ? s->name : NULL, NULL);
}

static int mark_opaque(LayerStaging *s, const char *path) {
        _cleanup_close_ int fd = layer_open_dir_in(s->target_fd, path);

        /* a later entry of the layer replaced the directory: nothing to mark */
        if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
                return 0;
        if (fd < 0)
                return fd;
        return RET_NERRNO(fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0));
}

static int merge_dir(int src_fd, int dst_fd);

/* Moves src/name to dst/name: directories onto directories merge, anything else replaces. */
static int merge_one(int src_fd, int dst_fd, const char *name) {
        struct stat s, d;
        int r;

        if (fstatat(src_fd, name, &s, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (fstatat(dst_fd, name, &d, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                        return -errno;
        } else if (S_ISDIR(s.st_mode) && S_ISDIR(d.st_mode)) {
                _cleanup_close_ int sub_src = -EBADF, sub_dst = -EBADF;

                sub_src = layer_open_dir_in(src_fd, name);
                if (sub_src < 0)
                        return sub_src;
                sub_dst = layer_open_dir_in(dst_fd, name);
                if (sub_dst < 0)
                        return sub_dst;
                r = merge_dir(sub_src, sub_dst);
                if (r < 0)
                        return r;
                return layer_copy_dir_attrs(sub_src, sub_dst, NULL);
        } else if (S_ISDIR(s.st_mode) || S_ISDIR(d.st_mode)) {
                /* rename() replaces a non-directory with a non-directory only. */
                r = rm_rf_at(dst_fd, name, NULL);
                if (r < 0)
                        return r;
        }
        return RET_NERRNO(renameat(src_fd, name, dst_fd, name));
}

static int merge_dir(int src_fd, int dst_fd) {
        _cleanup_strv_free_ char **names = NULL;
        int r;

        r = layer_list_dir(src_fd, &names);
        if (r < 0)
                return r;
        for (char **n = names; *n; n++) {
                r = merge_one(src_fd, dst_fd, *n);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int set_times(LayerStaging *s, const char *path, const struct timespec ts[2]) {
        _cleanup_close_ int fd = layer_open_dir_in(s->target_fd, path);

        if (fd < 0)
                return fd;
        return RET_NERRNO(futimens(fd, ts));
}

/* Directory times from the writer's report, now that nothing moves them any more. */
static int apply_dir_times(LayerStaging *s, int report_fd) {
        _cleanup_free_ uint8_t *rbuf = malloc(LAYER_MSG_RECV_BYTES);
        LayerMsgReader in = { .fd = report_fd, .buf = rbuf };
        int r;

        if (!rbuf)
                return -ENOMEM;
        r = set_times(s, "", s->root_times);
        if (r < 0)
                return r;
        if (lseek(report_fd, 0, SEEK_SET) < 0)
                return -errno;
        for (;;) {
                const uint8_t *buf;
                LayerDirTimes t;
                LayerMsg h;

                r = layer_msg_reader_next(&in, &h, &buf);
                if (r <= 0)
                        return r;
                if (h.type != LAYER_REPORT_DIR_TIMES)
                        continue;
                if (h.size <= sizeof t || buf[h.size - 1] != 0)
                        return -EBADMSG;
                memcpy(&t, buf, sizeof t);
                r = set_times(s, (const char *) buf + sizeof t, (struct timespec[]) { t.atime, t.mtime });
                /* a directory the layer made and then replaced */
                if (r < 0 && r != -ENOENT && r != -ENOTDIR && r != -ELOOP)
                        return r;
        }
}

static int commit_steps(LayerStaging *s, const LayerChanges *c) {
        int r;

        for (char **p = c->deletions; p && *p; p++) {
                r = apply_deletion(s, *p);
                if (r < 0)
                        return r;
        }
        for (char **p = c->opaques; p && *p; p++) {
                r = apply_opaque(s, *p);
                if (r < 0)
                        return r;
        }
        r = merge_dir(s->fd, s->target_fd);
        if (r < 0)
                return r;
        r = layer_copy_dir_attrs(s->fd, s->target_fd, NULL);
        if (r < 0)
                return r;
        if (c->overlay_whiteouts)
                for (char **p = c->opaques; p && *p; p++) {
                        r = mark_opaque(s, *p);
                        if (r < 0)
                                return r;
                }
        s->fd = safe_close(s->fd);
        r = rm_rf_at(s->target_fd, s->name, NULL);
        if (r < 0)
                return r;
        r = apply_dir_times(s, c->report_fd);
        if (r < 0)
                return r;
        return RET_NERRNO(syncfs(s->target_fd));
}

int layer_staging_commit(LayerStaging *s, const LayerChanges *c, Error *e) {
        struct stat st;
        int r;

        /* A layer entry with the staging directory's own name could not be moved. */
        if (fstatat(s->fd, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return error_setf(e, EINVAL, "layer entry %s collides with lamina's staging directory; try again",
                                  QUOTE(s->name));

        r = commit_steps(s, c);
        if (r < 0)
                return error_set_errno(e, r, "cannot move the layer into place");
        return 0;
}
