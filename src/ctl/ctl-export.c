/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl-diff.h"
#include "ctl.h"
#include "strutil.h"

/* export: a snapshot or an image's top as a tar (pax, numeric owners, xattrs, hard links,
 * sparse files), like machinectl export-tar. laminad mounts a read-only view (or the active
 * snapshot itself) where only the caller can enter, and laminactl reads it from there with
 * libarchive, never following a symbolic link. */

static void archive_freep(struct archive **a) {
        if (*a)
                archive_free(*a);
}

static void linkresolver_freep(struct archive_entry_linkresolver **l) {
        if (*l)
                archive_entry_linkresolver_free(*l);
}

static int copy_data(struct archive *disk, struct archive *out, const char *what) {
        char buf[64 * 1024];

        for (;;) {
                la_ssize_t n = archive_read_data(disk, buf, sizeof buf);

                if (n == 0)
                        return 0;
                if (n < 0)
                        return ctl_fail(-EIO, "cannot read %s: %s", what, archive_error_string(disk));
                if (archive_write_data(out, buf, (size_t) n) != n)
                        return ctl_fail(-EIO, "cannot write the archive: %s", archive_error_string(out));
        }
}

static int write_entry(struct archive *disk, struct archive *out, struct archive_entry *e) {
        if (archive_write_header(out, e) < ARCHIVE_WARN)
                return ctl_fail(-EIO, "cannot write %s to the archive: %s", archive_entry_pathname(e),
                                archive_error_string(out));
        if (archive_entry_size(e) > 0 && archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e))
                return copy_data(disk, out, archive_entry_pathname(e));
        return 0;
}

/* Writes the tree at root (the current directory is changed to it) to fd. */
static int write_tree(const char *root, int fd) {
        _cleanup_(archive_freep) struct archive *disk = archive_read_disk_new(), *out = archive_write_new();
        _cleanup_(linkresolver_freep) struct archive_entry_linkresolver *links = archive_entry_linkresolver_new();
        struct archive_entry *e;
        int r;

        if (!disk || !out || !links)
                return ctl_fail(-ENOMEM, "out of memory");
        if (chdir(root) < 0)
                return ctl_fail(-errno, "cannot enter %s: %m", root);
        archive_entry_linkresolver_set_strategy(links, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
        if (archive_read_disk_set_symlink_physical(disk) != ARCHIVE_OK ||
            archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS) != ARCHIVE_OK ||
            archive_write_set_format_pax(out) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(out, 1) != ARCHIVE_OK ||
            archive_write_open_fd(out, fd) != ARCHIVE_OK || archive_read_disk_open(disk, ".") != ARCHIVE_OK)
                return ctl_fail(-EIO, "cannot start the archive: %s", archive_error_string(out));

        for (;;) {
                struct archive_entry *sparse = NULL;

                e = archive_entry_new();
                if (!e)
                        return ctl_fail(-ENOMEM, "out of memory");
                r = archive_read_next_header2(disk, e);
                if (r == ARCHIVE_EOF) {
                        archive_entry_free(e);
                        break;
                }
                if (r < ARCHIVE_WARN) {
                        archive_entry_free(e);
                        return ctl_fail(-EIO, "cannot read the snapshot: %s", archive_error_string(disk));
                }
                (void) archive_read_disk_descend(disk);
                /* Numeric owners only: the names are the host's, not the image's. */
                archive_entry_set_uname(e, NULL);
                archive_entry_set_gname(e, NULL);
                archive_entry_linkify(links, &e, &sparse);
                r = e ? write_entry(disk, out, e) : 0;
                if (r >= 0 && sparse)
                        r = write_entry(disk, out, sparse);
                archive_entry_free(e);
                if (r < 0)
                        return r;
        }
        /* Hard links whose other names never came: the last deferred entries. */
        for (;;) {
                struct archive_entry *sparse = NULL;

                e = NULL;
                archive_entry_linkify(links, &e, &sparse);
                if (!e)
                        break;
                r = write_entry(disk, out, e);
                archive_entry_free(e);
                if (r < 0)
                        return r;
        }
        if (archive_write_close(out) != ARCHIVE_OK)
                return ctl_fail(-EIO, "cannot finish the archive: %s", archive_error_string(out));
        return 0;
}

/* A read-only mount of key: of a temporary view export-PID[-SUFFIX] on it when it is committed
 * (or an image), else of the snapshot itself. */
typedef struct ExportMount {
        char *key;  /* what is mounted */
        char *view; /* the temporary view, or NULL */
        char *path;
        char *parent; /* of the committed snapshot; "" for none */
} ExportMount;

static void export_unmount(Ctl *c, ExportMount *m) {
        if (m->path)
                (void) ctl_unmount(c, m->key);
        if (m->view)
                (void) ctl_remove(c, m->view);
        free(m->view);
        free(m->path);
        free(m->parent);
        if (m->key != m->view)
                free(m->key);
        *m = (ExportMount) {};
}

static int export_mount(Ctl *c, const char *name, const char *suffix, bool committed_only, ExportMount *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *top_reply = NULL;
        _cleanup_(ctl_info_clear) CtlInfo info = {}, top_info = {};
        _cleanup_free_ char *top = NULL;
        int r;

        *ret = (ExportMount) {};
        r = ctl_stat(c, name, true, &reply, &info);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r >= 0 && !streq(info.kind, "committed")) {
                if (committed_only)
                        return ctl_fail(-EINVAL, "snapshot %s is %s; --diff takes a committed snapshot or an image",
                                        QUOTE(name), info.kind);
                ret->key = strdup(name);
        } else {
                r = ctl_resolve_image(c, name, &top, NULL);
                if (r < 0)
                        return r;
                r = ctl_stat(c, top, false, &top_reply, &top_info);
                if (r < 0)
                        return r;
                ret->parent = strdup(top_info.parent);
                ret->view = strdup_printf("export-%d%s", (int) getpid(), suffix);
                if (!ret->parent || !ret->view)
                        return -ENOMEM;
                r = ctl_call(c, "View", CALL_TIMEOUT_DEFAULT, NULL, "ssa{ss}", ret->view, top, 0);
                if (r < 0) {
                        free(TAKE_PTR(ret->view));
                        return r;
                }
                ret->key = ret->view;
        }
        if (!ret->key)
                return -ENOMEM;
        return ctl_mount(c, ret->key, NULL, (char *[]) { (char *) "ro", NULL }, &ret->path);
}

int verb_export(Ctl *c, int argc, char **argv) {
        _cleanup_free_ char *cwd = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *target = argc > 1 ? argv[1] : "-";
        ExportMount m = {}, parent = {};
        int r;

        if (streq(target, "-") && isatty(STDOUT_FILENO))
                return ctl_fail(-EINVAL, "will not write an archive to a terminal; give a file or redirect");
        fd = streq(target, "-") ? fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3)
                                : open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
                return ctl_fail(-errno, "cannot open %s: %m", streq(target, "-") ? "standard output" : target);
        cwd = get_current_dir_name();

        r = export_mount(c, argv[0], "", arg_diff, &m);
        if (r >= 0 && arg_diff && !isempty(m.parent))
                r = export_mount(c, m.parent, "-parent", true, &parent);
        if (r >= 0)
                r = arg_diff ? ctl_write_diff(m.path, parent.path, fd) : write_tree(m.path, fd);
        if (cwd)
                (void) !chdir(cwd);
        export_unmount(c, &parent);
        export_unmount(c, &m);
        if (r < 0 && !streq(target, "-"))
                (void) unlink(target);
        return r;
}
