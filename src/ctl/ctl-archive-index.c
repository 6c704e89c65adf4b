/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "alloc-util.h"
#include "ctl-archive-index.h"
#include "ctl.h"
#include "strutil.h"

#define READ_BLOCK (128u * 1024u)
#define LINK_DEPTH_MAX 8
/* An image archive has a few members per layer; what an attacker's archive may make
 * laminactl hold stays bounded. */
#define MEMBERS_MAX (64u * 1024u)
#define TEXT_BYTES_MAX (16u * 1024u * 1024u)

struct ArchiveMember {
        char *path;
        char *link; /* a link: the member path it points to */
        bool link_out; /* a link that leaves the archive's top */
        bool regular;
        bool spooled; /* its data is in the temporary copy */
        bool repeated; /* more than one member has this path */
        uint64_t offset, size;
};

typedef struct Reader {
        int fd;
        bool seekable;
        uint64_t offset, size;
        char buf[READ_BLOCK];
} Reader;

static la_ssize_t reader_read(struct archive *a, void *userdata, const void **ret) {
        Reader *r = userdata;
        ssize_t n;

        do
                n = r->seekable ? pread(r->fd, r->buf, sizeof r->buf, (off_t) r->offset)
                                : read(r->fd, r->buf, sizeof r->buf);
        while (n < 0 && errno == EINTR && !ctl_interrupted());
        if (n < 0) {
                archive_set_error(a, errno, "%s", strerror(errno));
                return -1;
        }
        r->offset += (uint64_t) n;
        *ret = r->buf;
        return n;
}

/* Only for a seekable archive: skipping a member's data moves the offset. */
static la_int64_t reader_skip(struct archive *a, void *userdata, la_int64_t request) {
        Reader *r = userdata;
        uint64_t left = r->size > r->offset ? r->size - r->offset : 0;
        uint64_t n = request <= 0 ? 0 : (uint64_t) request < left ? (uint64_t) request : left;

        r->offset += n;
        return (la_int64_t) n;
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

/* Where a link member points, as a member path, into m; m->link_out when it leaves the top. */
static int link_target(struct archive_entry *e, ArchiveMember *m) {
        _cleanup_free_ char *dir = strdup(m->path);
        const char *target = archive_entry_hardlink(e);
        char *slash;

        if (!dir)
                return -ENOMEM;
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
        m->link = target ? member_path(dir, target) : NULL;
        m->link_out = !m->link;
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

/* The temporary copy stops before it leaves less than a twentieth of its file system free:
 * an archive may not fit, or be a bomb (a few MiB of gzip that expand to all the disk). The
 * file system is looked at again once half of the room left then is used. */
static int spool_reserve(ArchiveIndex *x, uint64_t n, const char *name, const char *dir) {
        uint64_t avail, reserve;
        struct statvfs v;

        if (x->spool_size + n <= x->spool_room)
                return 0;
        if (fstatvfs(x->spool, &v) < 0)
                return ctl_fail(-errno, "cannot look at the file system of %s: %m", dir);
        avail = (uint64_t) v.f_bavail * v.f_frsize;
        reserve = (uint64_t) v.f_blocks * v.f_frsize / 20;
        if (avail < reserve + n)
                return ctl_fail(-ENOSPC, "the temporary copy of %s would leave less than 5%% of %s free; set TMPDIR to "
                                "a place with room for the whole image, uncompressed", name, dir);
        x->spool_room = x->spool_size + (avail - reserve) / 2;
        return 0;
}

/* Copies the member's data to the end of the temporary copy (made on first use: an
 * unlinked file in $TMPDIR, else /var/tmp; images can be larger than memory). */
static int spool_member(ArchiveIndex *x, struct archive *a, ArchiveMember *m, const char *name) {
        const char *dir = getenv("TMPDIR") ?: "/var/tmp";
        _cleanup_free_ char *buf = malloc(READ_BLOCK);

        if (!buf)
                return ctl_fail(-ENOMEM, "out of memory");
        if (x->spool < 0) {
                x->spool = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
                if (x->spool < 0)
                        return ctl_fail(-errno, "cannot make a temporary file in %s for %s: %m; set TMPDIR", dir, name);
        }
        m->spooled = true;
        m->offset = x->spool_size;
        for (;;) {
                la_ssize_t n = archive_read_data(a, buf, READ_BLOCK);
                int r;

                if (n < 0)
                        return ctl_fail(-EBADMSG, "cannot read %s from %s: %s; is the archive complete?", m->path, name,
                                        archive_error_string(a) ?: "not a readable tar archive");
                if (n == 0)
                        return 0;
                if (ctl_interrupted())
                        return -EINTR;
                r = spool_reserve(x, (uint64_t) n, name, dir);
                if (r < 0)
                        return r;
                r = write_all(x->spool, buf, (size_t) n);
                if (r < 0)
                        return ctl_fail(r, "cannot write a temporary copy of %s to %s: %s", name, dir, strerror(-r));
                x->spool_size += (uint64_t) n;
                m->size += (uint64_t) n;
        }
}

static int member_add(ArchiveIndex *x, ArchiveMember *m, const char *name) {
        x->text_bytes += strlen(m->path) + 1 + (m->link ? strlen(m->link) + 1 : 0);
        if (x->n >= MEMBERS_MAX || x->text_bytes > TEXT_BYTES_MAX)
                return ctl_fail(-E2BIG, "%s has more than %u members or %u MiB of member names; it is no image archive",
                                name, MEMBERS_MAX, TEXT_BYTES_MAX >> 20);
        if (GREEDY_REALLOC(x->members, x->allocated, x->n + 1, 64) < 0)
                return ctl_fail(-ENOMEM, "out of memory");
        x->members[x->n++] = *m;
        *m = (ArchiveMember) {};
        return 0;
}

/* The entry just read (its header), added unless its path leaves the archive's top. */
static int index_entry(ArchiveIndex *x, struct archive *a, struct archive_entry *e, bool in_place, const char *name) {
        const char *raw = archive_entry_pathname(e);
        ArchiveMember m = { .path = raw ? member_path(NULL, raw) : NULL };
        int r = 0;

        if (!m.path)
                return 0; /* no lookup can reach it */
        if (archive_entry_hardlink(e) || archive_entry_filetype(e) == AE_IFLNK) {
                if (link_target(e, &m) < 0)
                        r = ctl_fail(-ENOMEM, "out of memory");
        } else if (archive_entry_filetype(e) == AE_IFREG) {
                m.regular = true;
                /* Its data is where the tar reader stands, unless compressed or sparse. */
                if (in_place && archive_entry_size_is_set(e) && archive_entry_sparse_count(e) == 0 &&
                    archive_filter_bytes(a, 0) >= 0) {
                        m.offset = (uint64_t) archive_filter_bytes(a, 0);
                        m.size = (uint64_t) archive_entry_size(e);
                } else
                        r = spool_member(x, a, &m, name);
        }
        if (r >= 0)
                r = member_add(x, &m, name);
        free(m.path);
        free(m.link);
        return r;
}

static int member_compare(const void *a, const void *b) {
        return strcmp(((const ArchiveMember *) a)->path, ((const ArchiveMember *) b)->path);
}

/* Sorted by path, one member per path. Of equal paths one stays, marked: tar -x keeps the
 * last, a scan finds the first, and a reviewer and laminactl must not see two images in
 * one archive. */
static void index_sort(ArchiveIndex *x) {
        size_t kept = 0;

        if (x->n == 0)
                return;
        qsort(x->members, x->n, sizeof(ArchiveMember), member_compare);
        for (size_t i = 0; i < x->n; i++) {
                if (kept > 0 && streq(x->members[kept - 1].path, x->members[i].path)) {
                        x->members[kept - 1].repeated = true;
                        free(x->members[i].path);
                        free(x->members[i].link);
                        continue;
                }
                x->members[kept++] = x->members[i];
        }
        x->n = kept;
}

int archive_index_build(ArchiveIndex *x, int fd, bool seekable, uint64_t size, const char *name) {
        _cleanup_free_ Reader *r = calloc(1, sizeof(Reader));
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        unsigned entries = 0;
        bool in_place;
        int k = ARCHIVE_FATAL, ret = 0;

        if (!r || !a) {
                if (a)
                        archive_read_free(a);
                return ctl_fail(-ENOMEM, "out of memory");
        }
        *r = (Reader) { .fd = fd, .seekable = seekable, .size = size };
        /* Warnings only say that an external decompressor is missing; libarchive has the usual ones built in. */
        (void) archive_read_support_filter_all(a);
        if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
            archive_read_open2(a, r, NULL, reader_read, seekable ? reader_skip : NULL, NULL) != ARCHIVE_OK)
                ret = ctl_fail(-EBADMSG, "cannot read %s: %s; give an OCI image layout directory or a docker save archive",
                               name, archive_error_string(a) ?: "not a readable tar archive");
        in_place = seekable && archive_filter_code(a, 0) == ARCHIVE_FILTER_NONE;
        while (ret >= 0 && ((k = archive_read_next_header(a, &e)) == ARCHIVE_OK || k == ARCHIVE_WARN)) {
                entries++;
                ret = ctl_interrupted() ? -EINTR : index_entry(x, a, e, in_place, name);
        }
        if (ret >= 0 && k != ARCHIVE_EOF && ctl_interrupted())
                ret = -EINTR;
        else if (ret >= 0 && k != ARCHIVE_EOF && entries > 0)
                /* In the last member's data, or right after it. */
                ret = ctl_fail(-EBADMSG, "cannot read %s from %s: %s; is the archive complete?",
                               x->n > 0 ? x->members[x->n - 1].path : "a member", name,
                               archive_error_string(a) ?: "not a readable tar archive");
        else if (ret >= 0 && k != ARCHIVE_EOF)
                ret = ctl_fail(-EBADMSG, "cannot read %s: %s; give an OCI image layout directory or a docker save "
                               "archive", name, archive_error_string(a) ?: "not a readable tar archive");
        archive_read_free(a);
        if (ret >= 0)
                index_sort(x);
        return ret;
}

void archive_index_done(ArchiveIndex *x) {
        for (size_t i = 0; i < x->n; i++) {
                free(x->members[i].path);
                free(x->members[i].link);
        }
        free(x->members);
        safe_close(x->spool);
        *x = ARCHIVE_INDEX_NULL;
}

static const ArchiveMember *member_lookup(const ArchiveIndex *x, const char *path) {
        for (size_t lo = 0, hi = x->n; lo < hi;) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(path, x->members[mid].path);

                if (c == 0)
                        return x->members + mid;
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

int archive_index_find(const ArchiveIndex *x, int archive_fd, const char *path, const char *name, int *ret_fd,
                       uint64_t *ret_offset, uint64_t *ret_size) {
        _cleanup_free_ char *want = member_path(NULL, path);
        const char *p = want;

        if (!want)
                return -ENOENT; /* the path itself leaves the archive */
        for (unsigned depth = 0; depth <= LINK_DEPTH_MAX; depth++) {
                const ArchiveMember *m = member_lookup(x, p);

                if (!m)
                        return -ENOENT;
                if (m->repeated)
                        return ctl_fail(-EBADMSG, "%s is in %s more than once; which one is meant is not clear, "
                                        "so the archive is refused", m->path, name);
                if (m->link_out)
                        return ctl_fail(-ELOOP, "%s in %s is a link out of the archive", path, name);
                if (m->link) {
                        p = m->link;
                        continue;
                }
                if (!m->regular)
                        return ctl_fail(-EISDIR, "%s in %s is not a regular file", path, name);
                *ret_fd = m->spooled ? x->spool : archive_fd;
                *ret_offset = m->offset;
                *ret_size = m->size;
                return 0;
        }
        return ctl_fail(-ELOOP, "%s in %s is a link that leads through more than %d links", path, name,
                        LINK_DEPTH_MAX);
}
