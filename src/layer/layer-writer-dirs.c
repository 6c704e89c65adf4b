/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "layer-fs.h"
#include "layer-proto.h"
#include "layer-writer-internal.h"
#include "tree-util.h"

/* Reports "layer entry "X": <why>", with the cause of code or, for a rule the layer broke,
 * "; the layer is refused", and returns -code. Fork-safe: vsnprintf into a stack buffer
 * takes no locks, and strerrordesc_np(), unlike strerror(), does not touch the locale
 * (whose lock another thread of the daemon may have held at fork time). */
_printf_(5, 0) static int writer_vfail(LayerWriter *w, int code, bool refused, const char *path, const char *fmt,
                                       va_list ap) {
        char why[512], msg[ERROR_MESSAGE_MAX];

        vsnprintf(why, sizeof why, fmt, ap);
        code = code < 0 ? -code : code;
        if (refused)
                snprintf(msg, sizeof msg, "layer entry %s: %s; the layer is refused", QUOTE(path), why);
        else
                snprintf(msg, sizeof msg, "layer entry %s: %s: %s", QUOTE(path), why, strerrordesc_np(code) ?: "unknown error");
        (void) layer_report_error(w->report_fd, code, msg);
        return -code;
}

/* A failure (EINVAL: the layer is refused). */
int writer_fail(LayerWriter *w, int code, const char *path, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = writer_vfail(w, code, code == EINVAL || code == -EINVAL, path, fmt, ap);
        va_end(ap);
        return r;
}

/* A limit the layer passes: EDQUOT, the layer is refused. */
_printf_(3, 4) static int writer_over(LayerWriter *w, const char *path, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = writer_vfail(w, EDQUOT, true, path, fmt, ap);
        va_end(ap);
        return r;
}

/* The bytes of a report record of path after n fixed bytes. */
static uint64_t record_size(size_t n, const char *path) {
        return sizeof(LayerMsg) + n + strlen(path) + 1;
}

/* Counts what is made next for entry: n entries and bytes of the layer's limits, report
 * bytes of the report's; refuses the entry past one of them, before it is made. */
static int charge(LayerWriter *w, const char *entry, uint64_t n, uint64_t bytes, uint64_t report) {
        if (n > w->max_entries - w->entries)
                return writer_over(w, entry, "the layer makes more than %" PRIu64 " files and directories, the limit "
                                   "(its entries, and %" PRIu64 " directories made for missing parents)",
                                   w->max_entries, w->made_dirs);
        if (bytes > w->max_bytes - w->bytes)
                return writer_over(w, entry, "the layer takes more than the limit of %" PRIu64 " bytes (its regular "
                                   "files, and %" PRIu64 " bytes for each directory, %" PRIu64 " of them made for "
                                   "missing parents)", w->max_bytes, w->block_size, w->made_dirs);
        if (report > w->max_report - w->report_bytes)
                return writer_over(w, entry, "the paths of the layer's directories, kept until the end, pass the "
                                   "limit of %" PRIu64 " bytes", w->max_report);
        w->entries += n;
        w->bytes += bytes;
        w->report_bytes += report;
        return 0;
}

/* What an entry costs, counted before anything is made for it (its missing parents are
 * counted as they are made). */
int writer_charge_entry(LayerWriter *w, const LayerEntryView *e) {
        switch (e->msg->kind) {
        case LAYER_ENTRY_FILE:
                return charge(w, e->path, 1, e->msg->size, 0);
        case LAYER_ENTRY_DIR:
                return charge(w, e->path, 1, w->block_size, record_size(sizeof(LayerDirTimes), e->path));
        default:
                return charge(w, e->path, 1, 0, 0);
        }
}

/* fd, just opened as directory path for entry, or its failure reported: a symlink or a
 * non-directory in the way refuses the layer. */
static int dir_opened(LayerWriter *w, const char *entry, const char *path, int fd) {
        if (fd == -ELOOP || fd == -ENOTDIR)
                return writer_fail(w, EINVAL, entry, "a parent directory is a symlink or not a directory");
        if (fd < 0)
                return writer_fail(w, fd, entry, "cannot open directory %s", QUOTE(path));
        return fd;
}

/* A missing parent of entry, base in parent: counted, made 0755, and reported, so that the
 * committer copies its attributes from the target or a lower layer that has it (the
 * writer holds neither). Returns its fd or a reported failure. */
static int make_implicit_dir(LayerWriter *w, const char *entry, int parent, const char *path, const char *base) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = charge(w, entry, 1, w->block_size, record_size(0, path));
        if (r < 0)
                return r;
        if (mkdirat(parent, base, 0700) < 0)
                return writer_fail(w, errno, entry, "cannot create directory %s", QUOTE(path));
        w->made_dirs++;
        fd = dir_opened(w, entry, path, layer_open_dir_in(parent, base));
        if (fd < 0)
                return fd;
        if (fchmod(fd, 0755) < 0)
                return writer_fail(w, errno, entry, "cannot set the mode of directory %s", QUOTE(path));
        r = layer_report_path(w->report_fd, LAYER_REPORT_IMPLICIT_DIR, path);
        if (r < 0)
                return writer_fail(w, r, entry, "cannot report directory %s", QUOTE(path));
        return TAKE_FD(fd);
}

/* The deepest existing ancestor of path (whose lookup found it missing), opened, and in
 * *ret_len the length of its path: looked up from the end, one lookup per missing
 * component (each is made next, and counted), not one per existing one, which would cost
 * Landlock a walk up to the root each (layer-writer.c: below_non_dir()). */
static int open_deepest_existing(LayerWriter *w, const char *entry, const char *path, size_t *ret_len) {
        char prefix[PATH_MAX];
        size_t len = strlen(path);

        memcpy(prefix, path, len + 1);
        for (;;) {
                const char *slash = memrchr(prefix, '/', len);
                int fd;

                len = slash ? (size_t) (slash - prefix) : 0;
                prefix[len] = 0;
                fd = layer_open_dir_in(w->root_fd, prefix);
                if (fd != -ENOENT || len == 0) {
                        *ret_len = len;
                        return dir_opened(w, entry, prefix, fd);
                }
        }
}

/* Creates the missing directories of path (for entry) one component at a time below the
 * deepest one that exists; returns an fd of path or a reported failure. */
static int create_dirs(LayerWriter *w, const char *entry, const char *path) {
        char prefix[PATH_MAX];
        size_t i;
        _cleanup_close_ int cur = open_deepest_existing(w, entry, path, &i);

        for (i = i == 0 ? 0 : i + 1; cur >= 0;) {
                size_t len = strcspn(path + i, "/");
                int fd;

                memcpy(prefix, path, i + len);
                prefix[i + len] = 0;
                fd = layer_open_dir_in(cur, prefix + i);
                if (fd == -ENOENT)
                        fd = make_implicit_dir(w, entry, cur, prefix, prefix + i);
                else
                        fd = dir_opened(w, entry, prefix, fd);
                if (fd < 0 || path[i + len] == 0)
                        return fd;
                safe_close(cur);
                cur = fd;
                i += len + 1;
        }
        return cur;
}

/* Opens directory path inside the root, creating missing components when create is set.
 * Never follows a symlink: one in the way fails the entry. */
int writer_open_dir(LayerWriter *w, const char *entry, const char *path, bool create, int *ret) {
        int fd;

        fd = layer_open_dir_in(w->root_fd, path);
        if (fd == -ENOENT && create)
                fd = create_dirs(w, entry, path);
        else
                fd = dir_opened(w, entry, path, fd);
        if (fd < 0)
                return fd;
        *ret = fd;
        return 0;
}

const char *writer_base_name(const char *path) {
        const char *s = strrchr(path, '/');
        return s ? s + 1 : path;
}

/* Copies the directory part of path ("" for a top-level name) to dir. */
void writer_split_parent(const char *path, char dir[static PATH_MAX]) {
        const char *base = writer_base_name(path);
        size_t n = base == path ? 0 : (size_t) (base - path - 1);

        memcpy(dir, path, n);
        dir[n] = 0;
}

/* An entry at path may replace what is there: the directory kept open goes when it is
 * path or below it, so that it is always what resolving its path again would give (only
 * the writer changes the staging tree). */
void writer_forget_dir(LayerWriter *w, const char *path) {
        size_t n = strlen(path);

        if (w->dir_fd >= 0 && strncmp(w->dir_path, path, n) == 0 && (w->dir_path[n] == 0 || w->dir_path[n] == '/'))
                w->dir_fd = safe_close(w->dir_fd);
}

/* Keeps fd open as directory path (a parent for the next entries). */
void writer_keep_dir(LayerWriter *w, int fd, const char *path) {
        safe_close(w->dir_fd);
        w->dir_fd = fd;
        strcpy(w->dir_path, path);
        w->dir_owner.known = false;
}

/* Opens (creating) the parent directory of path; *ret_base points into path. The fd is
 * the writer's: the root, or the directory kept open for the next entries of the same
 * directory (a layer lists a directory's entries together), resolved beneath the root
 * once for them all. *ret_owner (may be NULL): what a new file there is owned by. */
int writer_open_parent(LayerWriter *w, const char *path, int *ret, const char **ret_base, LayerNewOwner **ret_owner) {
        char dir[PATH_MAX];
        int fd, r;

        writer_split_parent(path, dir);
        *ret_base = writer_base_name(path);
        if (dir[0] == 0) {
                *ret = w->root_fd;
                if (ret_owner)
                        *ret_owner = &w->root_owner;
                return 0;
        }
        if (w->dir_fd < 0 || !streq(dir, w->dir_path)) {
                r = writer_open_dir(w, path, dir, true, &fd);
                if (r < 0)
                        return r;
                writer_keep_dir(w, fd, dir);
        }
        *ret = w->dir_fd;
        if (ret_owner)
                *ret_owner = &w->dir_owner;
        return 0;
}

/* Makes room for a new entry: an existing directory stays when keep_dir (dir over dir
 * keeps its contents), anything else is removed. Returns 1 if a directory was kept. */
int writer_clear_slot(LayerWriter *w, const char *path, int dir_fd, const char *base, bool keep_dir) {
        struct stat st;
        int r;

        if (fstatat(dir_fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return writer_fail(w, errno, path, "cannot inspect the existing file");
        }
        if (S_ISDIR(st.st_mode) && keep_dir)
                return 1;
        r = rm_rf_at(dir_fd, base, NULL);
        if (r < 0)
                return writer_fail(w, r, path, "cannot replace the existing file");
        return 0;
}

/* Opens the parent of path (creating it; the fd is writer_open_parent()'s) and makes room there
 * for the entry; *ret_base points into path. Returns what writer_clear_slot() returns. */
int writer_open_slot(LayerWriter *w, const char *path, bool keep_dir, int *ret_parent, const char **ret_base) {
        int r;

        r = writer_open_parent(w, path, ret_parent, ret_base, NULL);
        if (r < 0)
                return r;
        return writer_clear_slot(w, path, *ret_parent, *ret_base, keep_dir);
}
