/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "ctl-archive-index.h"
#include "ctl-image.h"
#include "ctl.h"
#include "strutil.h"

/* An archive is read once, into an index of its members (ctl-archive-index.h): every file
 * asked for is then a byte range of a file, read with pread or spliced into a pipe, so that
 * several can stream at once and none costs a scan of the archive. */

#define PIPE_SIZE (1024 * 1024)

struct ImageSource {
        int fd; /* the directory, or the archive */
        bool archive;
        ArchiveIndex index;
        char *name; /* as given, for messages */
};

/* A member being copied into a pipe by its feeder thread. Several may run at once. */
struct ImageStream {
        ImageSource *source;
        char *path;
        int data_fd; /* the archive's, or the index's temporary copy: not ours */
        uint64_t offset, size;
        pthread_t feeder;
        int feeder_fd;
        int feeder_result;
        char *feeder_error;
};

/* Opens a regular file of the directory without leaving it. Whoever made the directory
 * chose its files, and opening a FIFO blocks, opening a device acts (a watchdog starts its
 * countdown, a tape rewinds): the file is looked at through an O_PATH descriptor, which
 * opens nothing, and only a regular file is then opened for reading, through that
 * descriptor (the same inode, whatever the directory holds by then). */
static int directory_open(ImageSource *s, const char *path) {
        struct open_how how = {
                .flags = O_PATH | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        _cleanup_close_ int pfd = (int) syscall(SYS_openat2, s->fd, path, &how, sizeof how);
        char proc[sizeof("/proc/self/fd/") + 11];
        struct stat st;
        int fd;

        if (pfd < 0 && errno == ENOENT)
                return -ENOENT;
        if (pfd < 0 || fstat(pfd, &st) < 0)
                return ctl_fail(-errno, "cannot open %s in %s: %m", path, s->name);
        if (!S_ISREG(st.st_mode))
                return ctl_fail(-EISDIR, "%s in %s is not a regular file", path, s->name);
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
        fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return ctl_fail(-errno, "cannot open %s in %s: %m", path, s->name);
        return fd;
}

/* Bytes [offset, + left) of fd, read with pread; left UINT64_MAX: to its end. */
typedef struct Range {
        int fd;
        uint64_t offset, left;
} Range;

static int read_whole(Range *range, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;

        if (range->left != UINT64_MAX && range->left > max)
                return -EFBIG;
        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        while (range->left > 0) {
                size_t want = max + 1 - n < range->left ? max + 1 - n : (size_t) range->left;
                ssize_t k = pread(range->fd, buf + n, want, (off_t) range->offset);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
                range->offset += (uint64_t) k;
                range->left -= range->left == UINT64_MAX ? 0 : (uint64_t) k;
                if (n > max)
                        return -EFBIG;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

/* Where the file at path is: a range of the archive (or of its index's copy), or a file
 * of the directory (*ret_owned, to be closed). */
static int source_find(ImageSource *s, const char *path, Range *ret, int *ret_owned) {
        int fd;

        *ret_owned = -EBADF;
        if (s->archive)
                return archive_index_find(&s->index, s->fd, path, s->name, &ret->fd, &ret->offset, &ret->left);
        fd = directory_open(s, path);
        if (fd < 0)
                return fd;
        *ret = (Range) { .fd = fd, .left = UINT64_MAX };
        *ret_owned = fd;
        return 0;
}

int image_source_read(ImageSource *s, const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int owned = -EBADF;
        Range range;
        int k;

        k = source_find(s, path, &range, &owned);
        if (k < 0)
                return k;
        k = read_whole(&range, max, ret, ret_len);
        if (k < 0)
                return ctl_fail(k, "cannot read %s from %s: %s", path, s->name, strerror(-k));
        return 0;
}

/* The member goes into the pipe by splice: the page cache's pages, no copy through this
 * process (libarchive's reading and our write were most of laminactl's CPU time in an
 * import). */
static int feed_range(ImageStream *st) {
        loff_t offset = (loff_t) st->offset;
        uint64_t left = st->size;

        while (left > 0) {
                ssize_t n = splice(st->data_fd, &offset, st->feeder_fd, NULL, left < PIPE_SIZE ? (size_t) left : PIPE_SIZE,
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
                /* The reader sees a truncated layer and its Apply ends; the caller knows why. */
                if (ctl_interrupted())
                        return -EINTR;
        }
        return 0;
}

/* The feeder thread: copies the member into the pipe, then closes it (the reader sees EOF). */
static void *feed(void *userdata) {
        ImageStream *st = userdata;
        sigset_t blocked;

        /* A reader that goes away must end the copy with EPIPE, not the whole program; the
         * main thread takes the interrupting signals (its waits return EINTR for them). */
        sigemptyset(&blocked);
        sigaddset(&blocked, SIGPIPE);
        sigaddset(&blocked, SIGINT);
        sigaddset(&blocked, SIGTERM);
        sigaddset(&blocked, SIGHUP);
        (void) pthread_sigmask(SIG_BLOCK, &blocked, NULL);

        st->feeder_result = feed_range(st);
        st->feeder_fd = safe_close(st->feeder_fd);
        return NULL;
}

static ImageStream *stream_free(ImageStream *st) {
        if (!st)
                return NULL;
        safe_close(st->feeder_fd);
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
        k = archive_index_find(&s->index, s->fd, path, s->name, &st->data_fd, &st->offset, &st->size);
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
        *ret_size = st->size;
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

int image_source_open(const char *path, ImageSource **ret) {
        _cleanup_(image_source_freep) ImageSource *s = calloc(1, sizeof(ImageSource));
        bool stdin_ = streq(path, "-");
        struct stat st;

        if (!s)
                return ctl_fail(-ENOMEM, "out of memory");
        s->index = ARCHIVE_INDEX_NULL;
        s->fd = stdin_ ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3) : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (!(s->name = strdup(stdin_ ? "standard input" : path)))
                return ctl_fail(-ENOMEM, "out of memory");
        if (s->fd < 0 || fstat(s->fd, &st) < 0)
                return ctl_fail(-errno, "cannot open %s: %m; give an OCI image layout directory or a docker save archive",
                                s->name);
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
                return ctl_fail(-EINVAL, "%s is neither a directory nor a file; give an OCI image layout directory "
                                "or a docker save archive", s->name);
        s->archive = !S_ISDIR(st.st_mode);
        if (s->archive) {
                /* A pipe is read once; its members' data goes to a temporary file. */
                int r = archive_index_build(&s->index, s->fd, S_ISREG(st.st_mode), (uint64_t) st.st_size, s->name);

                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

ImageSource *image_source_free(ImageSource *s) {
        if (!s)
                return NULL;
        safe_close(s->fd);
        archive_index_done(&s->index);
        free(s->name);
        free(s);
        return NULL;
}

const char *image_source_name(const ImageSource *s) {
        return s->name;
}
