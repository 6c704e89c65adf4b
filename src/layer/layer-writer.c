/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "error.h"
#include "layer-fs.h"
#include "layer-proto.h"
#include "layer-writer-internal.h"

/* The state between messages: the regular file whose DATA is arriving. */
typedef struct WriterFile {
        int fd;
        LayerEntryMsg msg;
        char path[PATH_MAX];
        size_t xattrs_len; /* its xattrs, copied to w->file_xattrs */
        uint64_t end;      /* the end of the data written so far */
        bool mode_set;     /* created with its mode: no fchmod needed */
        bool owner_set;    /* created with its owner: no fchown needed */
} WriterFile;

static int report_times(LayerWriter *w, const char *path, const struct timespec *atime,
                        const struct timespec *mtime) {
        LayerDirTimes t = { .atime = *atime, .mtime = *mtime };
        return layer_report_dir_times(w->report_fd, path, &t);
}

static int set_xattrs(LayerWriter *w, const LayerEntryView *e, int fd) {
        const uint8_t *p = e->xattrs;
        const char *name;
        const void *value;
        uint32_t len;
        int r;

        while ((r = layer_xattr_next(&p, e->xattrs_end, &name, &value, &len)) > 0)
                if (fsetxattr(fd, name, value, len, 0) < 0)
                        return writer_fail(w, errno, e->path, "cannot set xattr %s", QUOTE(name));
        if (r < 0)
                return writer_fail(w, r, e->path, "malformed xattrs");
        return 0;
}

/* Owner, mode and xattrs of a file or directory, in that order: chown may clear set-id
 * bits and security.capability, so it goes first. A directory that was there already
 * (a parent made for an earlier entry) loses the xattrs the entry does not have.
 * mode_set: the file was created with its mode, which has no set-id bit chown clears;
 * owner_set: it was created with its owner (a new file: no set-id bit, no capability). */
static int set_fd_attrs(LayerWriter *w, const LayerEntryView *e, int fd, bool mode_set, bool owner_set) {
        int r;

        if (!owner_set && fchown(fd, e->msg->uid, e->msg->gid) < 0)
                return writer_fail(w, errno, e->path, "cannot set the owner");
        if (!mode_set && fchmod(fd, e->msg->mode) < 0)
                return writer_fail(w, errno, e->path, "cannot set the mode");
        if (e->msg->kind == LAYER_ENTRY_DIR) {
                r = layer_clear_xattrs(fd);
                if (r < 0)
                        return writer_fail(w, r, e->path, "cannot remove the earlier xattrs");
        }
        return set_xattrs(w, e, fd);
}

/* Owner and times of a node that cannot be opened (symlink, device, FIFO), by name. */
static int set_node_attrs(LayerWriter *w, const LayerEntryView *e, int dir_fd, const char *base) {
        struct timespec ts[2] = { e->msg->atime, e->msg->mtime };

        if (fchownat(dir_fd, base, e->msg->uid, e->msg->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return writer_fail(w, errno, e->path, "cannot set the owner");
        if (utimensat(dir_fd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return writer_fail(w, errno, e->path, "cannot set the times");
        return 0;
}

/* Creates the directory where nothing is yet (most are new: no look first), or keeps the
 * one there, or replaces what else is there. */
static int make_dir(LayerWriter *w, const char *path, int parent, const char *base) {
        int r;

        if (mkdirat(parent, base, 0700) >= 0)
                return 0;
        if (errno != EEXIST)
                return writer_fail(w, errno, path, "cannot create the directory");
        r = writer_clear_slot(w, path, parent, base, true);
        if (r != 0)
                return r < 0 ? r : 0;
        if (mkdirat(parent, base, 0700) < 0)
                return writer_fail(w, errno, path, "cannot create the directory");
        return 0;
}

static int write_dir(LayerWriter *w, const LayerEntryView *e) {
        _cleanup_close_ int fd = -EBADF;
        const char *base;
        int parent, r;

        if (isempty(e->path))
                fd = layer_open_dir_in(w->root_fd, "");
        else {
                r = writer_open_parent(w, e->path, &parent, &base, NULL);
                if (r >= 0)
                        r = make_dir(w, e->path, parent, base);
                if (r < 0)
                        return r;
                fd = layer_open_dir_in(parent, base);
        }
        if (fd < 0)
                return writer_fail(w, fd, e->path, "cannot open the directory");
        r = set_fd_attrs(w, e, fd, false, false);
        if (r < 0)
                return r;
        /* Later entries change the directory's times; the parent sets them at the end. */
        r = report_times(w, e->path, &e->msg->atime, &e->msg->mtime);
        if (r < 0)
                return writer_fail(w, r, e->path, "cannot report the times");
        /* Its entries most likely follow: it is their parent, resolved beneath the root
         * through its own (writer_open_parent()). */
        if (isempty(e->path))
                w->root_owner.known = false; /* its group and set-group-ID bit may be new */
        else
                writer_keep_dir(w, TAKE_FD(fd), e->path);
        return 0;
}

static int write_symlink(LayerWriter *w, const LayerEntryView *e) {
        const char *base;
        int parent, r;

        r = writer_open_slot(w, e->path, false, &parent, &base);
        if (r < 0)
                return r;
        if (symlinkat(e->link, parent, base) < 0)
                return writer_fail(w, errno, e->path, "cannot create the symlink");
        return set_node_attrs(w, e, parent, base);
}

/* 1 when an ancestor of path is an entry of this layer that is not a directory (a file,
 * a symlink, a hard link, a node, a whiteout): the staging directory holds nothing else.
 * A whiteout there removes nothing, the entry replaced whatever was below it (umoci writes
 * such whiteouts when it turns a non-empty directory into a file or a symlink), and is
 * ignored: nothing is written, so nothing acts through a symlink. 0 when every existing
 * ancestor is a directory: the whiteout is then created as any entry (and refused through
 * a symlink of the target, which the staging directory never holds).
 * One lookup of the whole parent (none when it is the directory kept open, which is what
 * resolving it gives): it fails at the first ancestor that is not a directory, and a
 * missing one has no ancestor below it. Not one per component: each lookup the writer
 * makes costs Landlock a walk up to the root, so a walk by components would cost a deep
 * whiteout the square of its depth. */
static int below_non_dir(LayerWriter *w, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        char dir[PATH_MAX];

        writer_split_parent(path, dir);
        if (dir[0] == 0 || (w->dir_fd >= 0 && streq(dir, w->dir_path)))
                return 0;
        fd = layer_open_dir_in(w->root_fd, dir);
        if (fd == -ENOTDIR || fd == -ELOOP)
                return 1;
        return fd >= 0 || fd == -ENOENT ? 0 : fd;
}

static int write_node(LayerWriter *w, const LayerEntryView *e) {
        const char *base;
        int parent, r;

        if (e->msg->kind == LAYER_ENTRY_WHITEOUT) {
                r = below_non_dir(w, e->path);
                if (r < 0)
                        return writer_fail(w, r, e->path, "cannot inspect the parent directories");
                if (r > 0)
                        return 0;
        }
        r = writer_open_slot(w, e->path, false, &parent, &base);
        if (r < 0)
                return r;
        if (e->msg->kind == LAYER_ENTRY_CHARDEV || e->msg->kind == LAYER_ENTRY_BLOCKDEV) {
                /* The committer makes it (mode 0): CAP_MKNOD of the host is not ours. */
                LayerMknodRequest q = {
                        .type = e->msg->kind == LAYER_ENTRY_CHARDEV ? S_IFCHR : S_IFBLK,
                        .major = e->msg->rdev_major,
                        .minor = e->msg->rdev_minor,
                };

                r = w->mknod_fd < 0 ? -EPERM : layer_request_mknod(w->mknod_fd, &q, e->path);
                if (r < 0)
                        return writer_fail(w, r, e->path, "cannot create the device node");
                if (fchmodat(parent, base, e->msg->mode, 0) < 0)
                        return writer_fail(w, errno, e->path, "cannot set the mode");
        } else if (e->msg->kind == LAYER_ENTRY_FIFO) {
                if (mknodat(parent, base, S_IFIFO | e->msg->mode, 0) < 0)
                        return writer_fail(w, errno, e->path, "cannot create the FIFO");
        } else if (mknodat(parent, base, S_IFCHR, 0) < 0) /* overlayfs' whiteout, 0/0 */
                return writer_fail(w, errno, e->path, "cannot create the whiteout");
        /* A whiteout takes its entry's owner and times too: the same layer always makes
         * the same upper directory. */
        return set_node_attrs(w, e, parent, base);
}

static int write_hardlink(LayerWriter *w, const LayerEntryView *e) {
        _cleanup_close_ int target_dir = -EBADF;
        const char *target_base, *base;
        char dir[PATH_MAX];
        struct stat st;
        int parent, r;

        if (streq(e->path, e->link))
                return writer_fail(w, EINVAL, e->path, "the hardlink points to itself");
        target_base = writer_base_name(e->link);
        writer_split_parent(e->link, dir);
        target_dir = layer_open_dir_in(w->root_fd, dir);
        if (target_dir >= 0 && fstatat(target_dir, target_base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                r = -errno;
        else
                r = target_dir;
        if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP)
                return writer_fail(w, EINVAL, e->path, "hardlink target %s is not an earlier entry of this layer",
                                   QUOTE(e->link));
        if (r < 0)
                return writer_fail(w, r, e->path, "cannot inspect hardlink target %s", QUOTE(e->link));
        if (S_ISDIR(st.st_mode))
                return writer_fail(w, EINVAL, e->path, "hardlink target %s is a directory", QUOTE(e->link));

        r = writer_open_slot(w, e->path, false, &parent, &base);
        if (r < 0)
                return r;
        if (linkat(target_dir, target_base, parent, base, 0) < 0)
                return writer_fail(w, errno, e->path, "cannot create the hardlink");
        return 0;
}

static int write_opaque(LayerWriter *w, const LayerEntryView *e) {
        _cleanup_close_ int fd = -EBADF;

        /* The parent marks it opaque; here it only has to exist (with copied attributes). */
        return writer_open_dir(w, e->path, e->path, true, &fd);
}

/* Creates the file where nothing is yet, or after clearing the slot: most entries are new,
 * and need no look first. With its mode when that has no set-id bit (the umask is 0 in
 * the sandbox; a new file is writable through the fd O_CREAT returns, whatever its mode),
 * so that no fchmod follows. */
static int file_begin(LayerWriter *w, const LayerEntryView *e, WriterFile *f) {
        LayerNewOwner *owner;
        const char *base;
        mode_t mode;
        int parent, r;

        r = writer_open_parent(w, e->path, &parent, &base, &owner);
        if (r < 0)
                return r;
        f->mode_set = (e->msg->mode & (S_ISUID | S_ISGID)) == 0;
        mode = f->mode_set ? e->msg->mode & 07777 : 0600;
        f->fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (f->fd < 0 && errno == EEXIST) {
                r = writer_clear_slot(w, e->path, parent, base, false);
                if (r < 0)
                        return r;
                f->fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        }
        if (f->fd < 0)
                return writer_fail(w, errno, e->path, "cannot create the file");
        if (!owner->known) {
                struct stat st;

                if (fstat(f->fd, &st) < 0)
                        return writer_fail(w, errno, e->path, "cannot inspect the new file");
                *owner = (LayerNewOwner) { .known = true, .uid = st.st_uid, .gid = st.st_gid };
        }
        f->owner_set = owner->uid == e->msg->uid && owner->gid == e->msg->gid;
        f->end = 0;
        f->msg = *e->msg;
        strcpy(f->path, e->path);
        /* xattrs are set at the end (writes drop security.capability); DATA messages reuse
         * the message buffer, so keep a copy. */
        f->xattrs_len = (size_t) (e->xattrs_end - e->xattrs);
        memcpy(w->file_xattrs, e->xattrs, f->xattrs_len);
        return 0;
}

static int file_data(LayerWriter *w, WriterFile *f, const uint8_t *buf, size_t size) {
        uint64_t offset;
        size_t len;

        if (f->fd < 0 || size < sizeof offset)
                return writer_fail(w, EBADMSG, f->fd < 0 ? "" : f->path, "unexpected data");
        memcpy(&offset, buf, sizeof offset);
        len = size - sizeof offset;
        if (offset > f->msg.size || len > f->msg.size - offset)
                return writer_fail(w, EINVAL, f->path, "data beyond the size in the header");
        for (size_t done = 0; done < len;) {
                ssize_t k = pwrite(f->fd, buf + sizeof offset + done, len - done, (off_t) (offset + done));
                if (k < 0)
                        return writer_fail(w, errno, f->path, "cannot write");
                done += (size_t) k;
        }
        if (offset + len > f->end)
                f->end = offset + len;
        return 0;
}

static int file_end(LayerWriter *w, WriterFile *f) {
        LayerEntryView e = {
                .msg = &f->msg,
                .path = f->path,
                .link = "",
                .xattrs = w->file_xattrs,
                .xattrs_end = w->file_xattrs + f->xattrs_len,
        };
        struct timespec ts[2] = { f->msg.atime, f->msg.mtime };
        _cleanup_close_ int fd = TAKE_FD(f->fd);
        int r;

        /* Sparse files may end in a hole. */
        if (f->end < f->msg.size && ftruncate(fd, (off_t) f->msg.size) < 0)
                return writer_fail(w, errno, f->path, "cannot set the size");
        r = set_fd_attrs(w, &e, fd, f->mode_set, f->owner_set);
        if (r < 0)
                return r;
        if (futimens(fd, ts) < 0)
                return writer_fail(w, errno, f->path, "cannot set the times");
        if (close(TAKE_FD(fd)) < 0)
                return writer_fail(w, errno, f->path, "cannot close");
        return 0;
}

static int write_entry(LayerWriter *w, const LayerEntryView *e, WriterFile *f) {
        int r;

        r = writer_charge_entry(w, e);
        if (r < 0)
                return r;
        writer_forget_dir(w, e->path);
        switch (e->msg->kind) {
        case LAYER_ENTRY_FILE:
                return file_begin(w, e, f);
        case LAYER_ENTRY_DIR:
                return write_dir(w, e);
        case LAYER_ENTRY_SYMLINK:
                return write_symlink(w, e);
        case LAYER_ENTRY_HARDLINK:
                return write_hardlink(w, e);
        case LAYER_ENTRY_FIFO:
        case LAYER_ENTRY_CHARDEV:
        case LAYER_ENTRY_BLOCKDEV:
        case LAYER_ENTRY_WHITEOUT:
                return write_node(w, e);
        case LAYER_ENTRY_OPAQUE:
                return write_opaque(w, e);
        default:
                return writer_fail(w, EBADMSG, e->path, "unknown entry kind %u", e->msg->kind);
        }
}

static int writer_loop(LayerWriter *w, WriterFile *f) {
        LayerMsgReader in = { .fd = w->in_fd, .buf = w->recv_buf };

        for (;;) {
                const uint8_t *payload;
                LayerEntryView e;
                LayerMsg h;
                int r;

                r = layer_msg_reader_next(&in, &h, &payload);
                if (r == 0 || r == -EPIPE)
                        return LAYER_WRITER_EXIT_ABORTED;
                if (r < 0)
                        return writer_fail(w, r, "", "cannot receive"), LAYER_WRITER_EXIT_FAILED;

                if (h.type == LAYER_MSG_DATA) {
                        if (file_data(w, f, payload, h.size) < 0)
                                return LAYER_WRITER_EXIT_FAILED;
                        continue;
                }
                if (f->fd >= 0 && file_end(w, f) < 0)
                        return LAYER_WRITER_EXIT_FAILED;
                if (h.type == LAYER_MSG_END)
                        return 0;
                /* An entry is read in place, aligned: a copy of its few hundred bytes. */
                if (h.type == LAYER_MSG_ENTRY)
                        memcpy(w->buf, payload, h.size);
                if (h.type != LAYER_MSG_ENTRY || layer_entry_view(w->buf, h.size, &e) < 0)
                        return writer_fail(w, EBADMSG, "", "malformed message"), LAYER_WRITER_EXIT_FAILED;
                if (write_entry(w, &e, f) < 0)
                        return LAYER_WRITER_EXIT_FAILED;
        }
}

/* The file and the directory the loop keeps open are closed whatever ended it (the
 * process ends next, but the fuzzer runs the writer many times in one). */
int layer_writer_run(void *userdata) {
        LayerWriter *w = userdata;
        WriterFile f = { .fd = -EBADF };
        int r;

        w->dir_fd = -EBADF;
        w->dir_owner = w->root_owner = (LayerNewOwner) {};
        w->entries = w->bytes = w->report_bytes = w->made_dirs = 0;
        r = writer_loop(w, &f);
        safe_close(f.fd);
        w->dir_fd = safe_close(w->dir_fd);
        return r;
}
