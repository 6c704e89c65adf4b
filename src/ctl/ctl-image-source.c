/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "ctl-image.h"
#include "ctl.h"
#include "strutil.h"

/* An archive is read from its start for every file asked for, each time through a reader with
 * its own offset on the one fd (pread), so nothing is unpacked to disk and the streams of
 * earlier files cannot disturb later ones. A tar has no index; skipping a member's data is a
 * seek unless the archive is compressed. */

#define READ_BLOCK (128u * 1024u)
#define LINK_DEPTH_MAX 8
#define PIPE_SIZE (1024 * 1024)

typedef struct ArchiveReader {
        struct archive *archive;
        int fd;
        uint64_t offset, size;
        uint64_t member_size; /* of the member found, 0 = unknown */
        /* The member's data is bytes [data_offset, data_offset + member_size) of the file:
         * the archive is not compressed and the member not sparse. */
        bool contiguous;
        uint64_t data_offset;
        char buf[READ_BLOCK];
} ArchiveReader;

struct ImageSource {
        int fd; /* the directory, or the archive */
        bool archive;
        uint64_t size;
        char *name; /* as given, for messages */
};

/* A member being copied into a pipe by its feeder thread. Several may run at once: each has
 * its own reader (its own offset on the archive's fd). */
struct ImageStream {
        ImageSource *source;
        ArchiveReader *reader;
        char *path;
        pthread_t feeder;
        int feeder_fd;
        int feeder_result;
        char *feeder_error;
};

static const char *archive_message(struct archive *a) {
        return archive_error_string(a) ?: "not a readable tar archive";
}

static ArchiveReader *reader_free(ArchiveReader *r) {
        if (!r)
                return NULL;
        if (r->archive)
                archive_read_free(r->archive);
        free(r);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(ArchiveReader *, reader_free);

static la_ssize_t reader_read(struct archive *a, void *userdata, const void **ret) {
        ArchiveReader *r = userdata;
        ssize_t n;

        do
                n = pread(r->fd, r->buf, sizeof r->buf, (off_t) r->offset);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                archive_set_error(a, errno, "%s", strerror(errno));
                return -1;
        }
        r->offset += (uint64_t) n;
        *ret = r->buf;
        return n;
}

static la_int64_t reader_skip(struct archive *a, void *userdata, la_int64_t request) {
        ArchiveReader *r = userdata;
        uint64_t left = r->size > r->offset ? r->size - r->offset : 0;
        uint64_t n = request <= 0 ? 0 : (uint64_t) request < left ? (uint64_t) request : left;

        r->offset += n;
        return (la_int64_t) n;
}

static int reader_open(ImageSource *s, ArchiveReader **ret) {
        _cleanup_(reader_freep) ArchiveReader *r = calloc(1, sizeof(ArchiveReader));

        if (!r)
                return -ENOMEM;
        r->fd = s->fd;
        r->size = s->size;
        r->archive = archive_read_new();
        if (!r->archive)
                return -ENOMEM;
        /* Warnings only say that an external decompressor is missing; libarchive has the usual ones built in. */
        (void) archive_read_support_filter_all(r->archive);
        if (archive_read_support_format_tar(r->archive) != ARCHIVE_OK ||
            archive_read_open2(r->archive, r, NULL, reader_read, reader_skip, NULL) != ARCHIVE_OK)
                return ctl_fail(-EBADMSG, "cannot read %s: %s; give an OCI image layout directory or a docker save archive",
                                s->name, archive_message(r->archive));
        *ret = TAKE_PTR(r);
        return 0;
}

/* Joins base (a directory in the archive, or NULL) and name, and resolves ".", ".." and repeated
 * or leading slashes: "./a//b/../c" is "a/c". NULL when the path leaves the archive's top. */
static char *member_path(const char *base, const char *name) {
        _cleanup_free_ char *joined = !isempty(base) && name[0] != '/' ? strdup_printf("%s/%s", base, name)
                                                                       : strdup(name);
        _cleanup_free_ char *out = NULL;
        char *o, *saveptr = NULL;

        if (!joined)
                return NULL;
        out = o = calloc(1, strlen(joined) + 1);
        if (!out)
                return NULL;
        for (char *c = strtok_r(joined, "/", &saveptr); c; c = strtok_r(NULL, "/", &saveptr)) {
                if (streq(c, "."))
                        continue;
                if (streq(c, "..")) {
                        if (o == out)
                                return NULL;
                        o = memrchr(out, '/', (size_t) (o - out)) ?: out;
                        *o = 0;
                        continue;
                }
                if (o != out)
                        *o++ = '/';
                o = stpcpy(o, c);
        }
        return TAKE_PTR(out);
}

/* Where a link member points, as a member path; NULL (with *ret_error) on failure. */
static char *link_target(struct archive_entry *e, const char *name, int *ret_error) {
        _cleanup_free_ char *dir = strdup(name);
        const char *target = archive_entry_hardlink(e);
        char *slash, *p;

        if (!dir) {
                *ret_error = -ENOMEM;
                return NULL;
        }
        if (!target) {
                /* A symbolic link is relative to its own directory; a hard link to the top. */
                target = archive_entry_symlink(e);
                slash = strrchr(dir, '/');
                if (slash)
                        *slash = 0;
                else
                        dir[0] = 0;
        } else
                dir[0] = 0;
        p = target ? member_path(dir, target) : NULL;
        if (!p)
                *ret_error = -ELOOP;
        return p;
}

/* Scans the archive for path, following links between members; on success the reader is at
 * the member's data. */
static int archive_find(ImageSource *s, const char *path, ArchiveReader **ret) {
        _cleanup_free_ char *want = member_path(NULL, path);

        for (unsigned depth = 0; want && depth <= LINK_DEPTH_MAX; depth++) {
                _cleanup_(reader_freep) ArchiveReader *r = NULL;
                _cleanup_free_ char *next = NULL;
                struct archive_entry *e;
                unsigned entries = 0;
                int k, error = 0;

                k = reader_open(s, &r);
                if (k < 0)
                        return k;
                while ((k = archive_read_next_header(r->archive, &e)) == ARCHIVE_OK || k == ARCHIVE_WARN) {
                        const char *raw = archive_entry_pathname(e);
                        _cleanup_free_ char *name = raw ? member_path(NULL, raw) : NULL;

                        entries++;
                        if (!name || !streq(name, want))
                                continue;
                        if (archive_entry_hardlink(e) || archive_entry_filetype(e) == AE_IFLNK) {
                                next = link_target(e, name, &error);
                                if (!next)
                                        return error == -ENOMEM ? ctl_fail(error, "out of memory")
                                                                : ctl_fail(error, "%s in %s is a link out of the archive",
                                                                           path, s->name);
                                break;
                        }
                        if (archive_entry_filetype(e) != AE_IFREG)
                                return ctl_fail(-EISDIR, "%s in %s is not a regular file", path, s->name);
                        r->member_size = archive_entry_size_is_set(e) ? (uint64_t) archive_entry_size(e) : 0;
                        /* What the tar reader consumed so far is where the data starts. */
                        r->contiguous = archive_filter_code(r->archive, 0) == ARCHIVE_FILTER_NONE &&
                                        archive_entry_size_is_set(e) && archive_entry_sparse_count(e) == 0 &&
                                        archive_filter_bytes(r->archive, 0) >= 0;
                        r->data_offset = (uint64_t) archive_filter_bytes(r->archive, 0);
                        *ret = TAKE_PTR(r);
                        return 0;
                }
                if (!next && k != ARCHIVE_EOF)
                        return ctl_fail(-EBADMSG, "cannot read %s: %s; %s", s->name, archive_message(r->archive),
                                        entries > 0 ? "is the archive complete?"
                                                    : "give an OCI image layout directory or a docker save archive");
                if (!next)
                        return -ENOENT;
                free(want);
                want = TAKE_PTR(next);
        }
        if (!want)
                return -ENOENT; /* the path itself leaves the archive */
        return ctl_fail(-ELOOP, "%s in %s is a link that leads through more than %d links", path, s->name,
                        LINK_DEPTH_MAX);
}

/* Opens a regular file of the directory without leaving it. Whoever made the directory
 * chose its files: O_NONBLOCK, so that a FIFO cannot block the open, and nothing but a
 * regular file is read (a device, a socket), as in an archive. */
static int directory_open(ImageSource *s, const char *path) {
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        _cleanup_close_ int fd = (int) syscall(SYS_openat2, s->fd, path, &how, sizeof how);
        struct stat st;

        if (fd < 0 && errno == ENOENT)
                return -ENOENT;
        if (fd < 0 || fstat(fd, &st) < 0)
                return ctl_fail(-errno, "cannot open %s in %s: %m", path, s->name);
        if (!S_ISREG(st.st_mode))
                return ctl_fail(-EISDIR, "%s in %s is not a regular file", path, s->name);
        if (fcntl(fd, F_SETFL, O_RDONLY) < 0)
                return ctl_fail(-errno, "cannot open %s in %s: %m", path, s->name);
        return TAKE_FD(fd);
}

typedef ssize_t (*ReadFn)(void *userdata, void *buf, size_t n);

static ssize_t read_fd(void *userdata, void *buf, size_t n) {
        ssize_t k;

        do
                k = read(*(int *) userdata, buf, n);
        while (k < 0 && errno == EINTR);
        return k < 0 ? -errno : k;
}

static ssize_t read_member(void *userdata, void *buf, size_t n) {
        la_ssize_t k = archive_read_data(((ArchiveReader *) userdata)->archive, buf, n);

        return k < 0 ? -EBADMSG : k;
}

static int read_whole(ReadFn fn, void *userdata, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = malloc(max + 1);
        size_t n = 0;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = fn(userdata, buf + n, max + 1 - n);

                if (k < 0)
                        return (int) k;
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max)
                        return -EFBIG;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

int image_source_read(ImageSource *s, const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_(reader_freep) ArchiveReader *r = NULL;
        _cleanup_close_ int fd = -EBADF;
        int k;

        if (s->archive) {
                k = archive_find(s, path, &r);
                if (k < 0)
                        return k;
                k = read_whole(read_member, r, max, ret, ret_len);
        } else {
                fd = directory_open(s, path);
                if (fd < 0)
                        return fd;
                k = read_whole(read_fd, &fd, max, ret, ret_len);
        }
        if (r && k == -EBADMSG)
                return ctl_fail(k, "cannot read %s from %s: %s", path, s->name, archive_message(r->archive));
        if (k < 0)
                return ctl_fail(k, "cannot read %s from %s: %s", path, s->name, strerror(-k));
        return 0;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* A member stored as a range of the archive file goes into the pipe by splice: the page
 * cache's pages, no copy through this process (libarchive's reading and our write were
 * most of laminactl's CPU time in an import). */
static int feed_range(ImageStream *st) {
        loff_t offset = (loff_t) st->reader->data_offset;
        uint64_t left = st->reader->member_size;

        while (left > 0) {
                ssize_t n = splice(st->source->fd, &offset, st->feeder_fd, NULL, left < PIPE_SIZE ? (size_t) left : PIPE_SIZE,
                                   SPLICE_F_MOVE);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0) {
                        st->feeder_error = strdup("truncated archive: it ends inside the member");
                        return -EBADMSG;
                }
                left -= (uint64_t) n;
                if (ctl_interrupted())
                        return -EINTR;
        }
        return 0;
}

/* The feeder thread: copies the member into the pipe, then closes it (the reader sees EOF). */
static void *feed(void *userdata) {
        ImageStream *st = userdata;
        _cleanup_free_ char *buf = NULL;
        sigset_t blocked;

        /* A reader that goes away must end the copy with EPIPE, not the whole program; the
         * main thread takes the interrupting signals (its waits return EINTR for them). */
        sigemptyset(&blocked);
        sigaddset(&blocked, SIGPIPE);
        sigaddset(&blocked, SIGINT);
        sigaddset(&blocked, SIGTERM);
        sigaddset(&blocked, SIGHUP);
        (void) pthread_sigmask(SIG_BLOCK, &blocked, NULL);

        if (st->reader->contiguous) {
                st->feeder_result = feed_range(st);
                st->feeder_fd = safe_close(st->feeder_fd);
                return NULL;
        }
        buf = malloc(READ_BLOCK);
        st->feeder_result = buf ? 0 : -ENOMEM;
        while (st->feeder_result == 0) {
                la_ssize_t n = archive_read_data(st->reader->archive, buf, READ_BLOCK);

                if (n < 0) {
                        st->feeder_error = strdup(archive_message(st->reader->archive));
                        st->feeder_result = -EBADMSG;
                } else if (n == 0)
                        break;
                else
                        st->feeder_result = write_all(st->feeder_fd, buf, (size_t) n);
                /* The reader sees a truncated layer and its Apply ends; the caller knows why. */
                if (st->feeder_result == 0 && ctl_interrupted())
                        st->feeder_result = -EINTR;
        }
        st->feeder_fd = safe_close(st->feeder_fd);
        return NULL;
}

static ImageStream *stream_free(ImageStream *st) {
        if (!st)
                return NULL;
        safe_close(st->feeder_fd);
        reader_free(st->reader);
        free(st->path);
        free(st->feeder_error);
        free(st);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageStream *, stream_free);

int image_source_stream(ImageSource *s, const char *path, ImageStream **ret, int *ret_fd, uint64_t *ret_size) {
        _cleanup_(stream_freep) ImageStream *st = NULL;
        _cleanup_close_ int rfd = -EBADF;
        int fds[2], k;

        *ret = NULL;
        if (!s->archive) {
                /* The daemon sees the size of a file itself. */
                k = directory_open(s, path);
                if (k < 0)
                        return k;
                *ret_fd = k;
                *ret_size = 0;
                return 0;
        }

        st = calloc(1, sizeof *st);
        if (!st)
                return ctl_fail(-ENOMEM, "out of memory");
        st->source = s;
        st->feeder_fd = -EBADF;
        k = archive_find(s, path, &st->reader);
        if (k < 0)
                return k;
        st->path = strdup(path);
        if (!st->path || pipe2(fds, O_CLOEXEC) < 0)
                return ctl_fail(st->path ? -errno : -ENOMEM, "cannot make a pipe: %s",
                                strerror(st->path ? errno : ENOMEM));
        rfd = fds[0];
        st->feeder_fd = fds[1];
        (void) fcntl(st->feeder_fd, F_SETPIPE_SZ, PIPE_SIZE); /* fewer wake-ups; the default works too */

        k = pthread_create(&st->feeder, NULL, feed, st);
        if (k != 0)
                return ctl_fail(-k, "cannot start a thread: %s", strerror(k));
        *ret_fd = TAKE_FD(rfd);
        *ret_size = st->reader->member_size;
        *ret = TAKE_PTR(st);
        return 0;
}

int image_stream_end(ImageStream *st) {
        _cleanup_(stream_freep) ImageStream *owned = st;
        int r;

        if (!st)
                return 0;
        (void) pthread_join(st->feeder, NULL);
        r = st->feeder_result;
        if (r == -EPIPE || r >= 0)
                return 0; /* the reader stopped early: its own error, if any, says why */
        if (r == -EINTR)
                return r;
        return ctl_fail(r, "cannot read %s from %s: %s%s", st->path, st->source->name, st->feeder_error ?: strerror(-r),
                        r == -EBADMSG ? "; is the archive complete?" : "");
}

/* An archive that arrives through a pipe is read more than once: it is copied into an unlinked
 * file first (not memory: images can be large). */
static int spool(ImageSource *s, int in) {
        const char *dir = getenv("TMPDIR") ?: "/var/tmp";
        _cleanup_close_ int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        _cleanup_free_ char *buf = malloc(READ_BLOCK);
        struct stat st;

        if (fd < 0)
                return ctl_fail(-errno, "cannot make a temporary file in %s for %s: %m; set TMPDIR", dir, s->name);
        if (!buf)
                return ctl_fail(-ENOMEM, "out of memory");
        for (;;) {
                ssize_t n = read_fd(&in, buf, READ_BLOCK);
                int r;

                if (n < 0)
                        return ctl_fail((int) n, "cannot read %s: %s", s->name, strerror((int) -n));
                if (n == 0)
                        break;
                r = write_all(fd, buf, (size_t) n);
                if (r < 0)
                        return ctl_fail(r, "cannot write a temporary copy of %s to %s: %s", s->name, dir, strerror(-r));
        }
        if (fstat(fd, &st) < 0)
                return ctl_fail(-errno, "cannot stat the temporary copy of %s: %m", s->name);
        safe_close(s->fd);
        s->fd = TAKE_FD(fd);
        s->size = (uint64_t) st.st_size;
        return 0;
}

int image_source_open(const char *path, ImageSource **ret) {
        _cleanup_(image_source_freep) ImageSource *s = calloc(1, sizeof(ImageSource));
        bool stdin_ = streq(path, "-");
        struct stat st;

        if (!s || !(s->name = strdup(stdin_ ? "standard input" : path)))
                return ctl_fail(-ENOMEM, "out of memory");
        s->fd = stdin_ ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3) : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (s->fd < 0 || fstat(s->fd, &st) < 0)
                return ctl_fail(-errno, "cannot open %s: %m; give an OCI image layout directory or a docker save archive",
                                s->name);
        s->archive = !S_ISDIR(st.st_mode);
        s->size = (uint64_t) st.st_size;
        if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
                int r = spool(s, s->fd);

                if (r < 0)
                        return r;
        } else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return ctl_fail(-EINVAL, "%s is neither a directory nor a file; give an OCI image layout directory "
                                "or a docker save archive", s->name);
        *ret = TAKE_PTR(s);
        return 0;
}

ImageSource *image_source_free(ImageSource *s) {
        if (!s)
                return NULL;
        safe_close(s->fd);
        free(s->name);
        free(s);
        return NULL;
}

const char *image_source_name(const ImageSource *s) {
        return s->name;
}
