/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer-fs.h"
#include "layer-implicit.h"
#include "layer-paths.h"
#include "layer-proto.h"
#include "strutil.h"

/* What one call works on. */
typedef struct Implicit {
        int report_fd, staging_fd, target_fd;
        const LayerApplyOptions *opts;
        bool marked; /* a directory got LAYER_XATTR_IMPLICIT */
} Implicit;

/* The implicit directory path of the staging tree: owner, mode, xattrs and times from the
 * first of the target and the lowers that has it as a directory (the times as a report
 * record, applied after the move like the writer's). Kept as the writer made it (0755)
 * when none has it or the layer replaced it. */
static int implicit_dir_copy(Implicit *a, const char *path) {
        _cleanup_close_ int dst = layer_open_dir_in(a->staging_fd, path);
        int r;

        if (dst == -ENOENT || dst == -ENOTDIR || dst == -ELOOP)
                return 0;
        if (dst < 0)
                return dst;
        for (size_t i = 0; i <= a->opts->n_lower_fds; i++) {
                _cleanup_close_ int src = layer_open_dir_in(i == 0 ? a->target_fd : a->opts->lower_fds[i - 1], path);
                struct stat st;

                if (src == -ENOENT || src == -ENOTDIR || src == -ELOOP)
                        continue;
                if (src < 0)
                        return src;
                r = layer_copy_dir_attrs(src, dst, &st);
                if (r < 0)
                        return r;
                if (lseek(a->report_fd, 0, SEEK_END) < 0)
                        return -errno;
                return layer_report_dir_times(a->report_fd, path,
                                              &(LayerDirTimes) { .atime = st.st_atim, .mtime = st.st_mtim });
        }
        if (!a->opts->mark_implicit)
                return 0;
        a->marked = true;
        return RET_NERRNO(fsetxattr(dst, LAYER_XATTR_IMPLICIT, "", 0, 0));
}

/* A directory the layer carries itself: no longer implicit where an earlier Apply left it
 * so (the target is the Apply's own clone: a failure leaves the snapshot as it was). */
static int explicit_dir_unmark(Implicit *a, const char *path) {
        _cleanup_close_ int fd = layer_open_dir_in(a->target_fd, path);

        if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
                return 0;
        if (fd < 0)
                return fd;
        if (fremovexattr(fd, LAYER_XATTR_IMPLICIT) < 0 && errno != ENODATA)
                return -errno;
        return 0;
}

/* The missing parents the writer made and reported, each still implicit: its last record
 * (implicit, or the times of a directory entry of the layer) is read from the end. */
static int dirs_copy(Implicit *a) {
        _cleanup_free_ uint8_t *rbuf = malloc(LAYER_MSG_RECV_BYTES);
        LayerMsgReader in = { .fd = a->report_fd, .buf = rbuf };
        _cleanup_(layer_paths_done) LayerPaths seen = {};
        _cleanup_strv_free_ char **paths = NULL;
        _cleanup_free_ bool *implicit = NULL;
        size_t n = 0, size = 0;
        const uint8_t *buf;
        LayerMsg h;
        int r;

        if (!rbuf)
                return -ENOMEM;
        if (lseek(a->report_fd, 0, SEEK_SET) < 0)
                return -errno;
        while ((r = layer_msg_reader_next(&in, &h, &buf)) > 0) {
                size_t skip = h.type == LAYER_REPORT_DIR_TIMES ? sizeof(LayerDirTimes) : 0;

                if (h.type != LAYER_REPORT_IMPLICIT_DIR && h.type != LAYER_REPORT_DIR_TIMES)
                        continue;
                if (h.size <= skip || buf[h.size - 1] != 0)
                        return -EBADMSG;
                if (n + 2 > size) {
                        size = size ? size * 2 : 64;
                        char **p = reallocarray(paths, size, sizeof(char *));
                        if (!p)
                                return -ENOMEM;
                        paths = p;
                        bool *k = reallocarray(implicit, size, sizeof(bool));
                        if (!k)
                                return -ENOMEM;
                        implicit = k;
                }
                paths[n] = strdup((const char *) buf + skip);
                if (!paths[n])
                        return -ENOMEM;
                implicit[n] = h.type == LAYER_REPORT_IMPLICIT_DIR;
                paths[++n] = NULL;
        }
        if (r < 0)
                return r;
        for (size_t i = n; i > 0; i--) {
                r = layer_paths_add(&seen, paths[i - 1]);
                if (r > 0 && implicit[i - 1])
                        r = implicit_dir_copy(a, paths[i - 1]);
                else if (r > 0 && a->opts->mark_implicit)
                        r = explicit_dir_unmark(a, paths[i - 1]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int layer_implicit_dirs_copy(int report_fd, int staging_fd, int target_fd, const LayerApplyOptions *o,
                             bool *ret_marked) {
        Implicit a = { .report_fd = report_fd, .staging_fd = staging_fd, .target_fd = target_fd, .opts = o };
        int r;

        assert(o);
        assert(ret_marked);

        r = dirs_copy(&a);
        if (r < 0)
                return r;
        *ret_marked = a.marked;
        return 0;
}
