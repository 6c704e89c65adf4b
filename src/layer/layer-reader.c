/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layer-reader.h"

#define READ_BLOCK (128u * 1024u)
#define PROGRESS_INTERVAL_USEC 100000u /* ten calls a second at most */

struct LayerReader {
        int fd;
        LayerReaderOptions opts;
        struct archive *outer; /* the filters: compressed fd -> uncompressed stream */
        struct archive *inner; /* tar over the uncompressed stream */
        EVP_MD_CTX *sha256;
        uint64_t bytes;        /* uncompressed bytes read so far */
        uint64_t bytes_in;     /* bytes read from fd */
        uint64_t bytes_total;  /* size of a regular file, else 0 */
        uint64_t last_progress_usec;
        bool over_limit;
        bool outer_eof;
        char *entry;           /* name of the current entry, for messages */
        uint8_t *buf;
};

LayerReader *layer_reader_free(LayerReader *r) {
        if (!r)
                return NULL;
        if (r->inner)
                archive_read_free(r->inner);
        if (r->outer)
                archive_read_free(r->outer);
        EVP_MD_CTX_free(r->sha256);
        free(r->entry);
        free(r->buf);
        free(r);
        return NULL;
}

static uint64_t now_monotonic_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void reader_progress(LayerReader *r) {
        uint64_t now;

        if (!r->opts.progress)
                return;
        now = now_monotonic_usec();
        if (r->last_progress_usec != 0 && now - r->last_progress_usec < PROGRESS_INTERVAL_USEC)
                return;
        r->last_progress_usec = now;
        r->opts.progress(r->bytes_in, r->bytes_total, r->opts.userdata);
}

static la_ssize_t outer_read(struct archive *a, void *userdata, const void **ret) {
        LayerReader *r = userdata;
        ssize_t n;

        do
                n = read(r->fd, r->buf, READ_BLOCK);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                archive_set_error(a, errno, "cannot read the layer");
                return -1;
        }
        r->bytes_in += (uint64_t) n;
        reader_progress(r);
        *ret = r->buf;
        return n;
}

/* The next block of the uncompressed stream, hashed and counted. */
static ssize_t reader_pull(LayerReader *r, const void **ret) {
        la_int64_t offset;
        size_t size;
        int k;

        if (r->outer_eof)
                return 0;
        k = archive_read_data_block(r->outer, ret, &size, &offset);
        if (k == ARCHIVE_EOF) {
                r->outer_eof = true;
                return 0;
        }
        if (k != ARCHIVE_OK)
                return -1;
        r->bytes += size;
        if (r->bytes > r->opts.max_bytes) {
                r->over_limit = true;
                return -1;
        }
        if (EVP_DigestUpdate(r->sha256, *ret, size) != 1)
                return -1;
        return (ssize_t) size;
}

static la_ssize_t inner_read(struct archive *a, void *userdata, const void **ret) {
        LayerReader *r = userdata;
        ssize_t n = reader_pull(r, ret);

        if (n < 0)
                archive_set_error(a, EIO, "%s", r->over_limit ? "over the size limit" :
                                  archive_error_string(r->outer) ?: "cannot decompress");
        return n;
}

static int reader_fail(LayerReader *r, struct archive *a, Error *e) {
        char where[160] = "";

        if (r->entry)
                snprintf(where, sizeof where, " at entry %s", QUOTE(r->entry));
        if (r->over_limit)
                return error_setf(e, EDQUOT, "layer is larger than the limit of %" PRIu64 " bytes uncompressed%s",
                                  r->opts.max_bytes, where);
        return error_setf(e, EINVAL, "layer is not a valid tar, tar+gzip or tar+zstd stream%s: %s", where,
                          archive_error_string(a) ?: "read error");
}

static int outer_open(LayerReader *r, Error *e) {
        LayerMediaType t = r->opts.media_type;
        struct archive_entry *ae;
        int k = ARCHIVE_OK;

        r->outer = archive_read_new();
        if (!r->outer)
                return -ENOMEM;
        /* ARCHIVE_WARN means libarchive would exec an external (de)compressor: refused. */
        if (t == LAYER_MEDIA_DETECT || t == LAYER_MEDIA_TAR_GZIP)
                k = archive_read_support_filter_gzip(r->outer);
        if (k == ARCHIVE_OK && (t == LAYER_MEDIA_DETECT || t == LAYER_MEDIA_TAR_ZSTD))
                k = archive_read_support_filter_zstd(r->outer);
        if (k == ARCHIVE_OK)
                k = archive_read_support_format_raw(r->outer);
        if (k != ARCHIVE_OK)
                return error_setf(e, EOPNOTSUPP, "layer decompression is not available: %s",
                                  archive_error_string(r->outer) ?: "libarchive lacks gzip or zstd");

        if (archive_read_open(r->outer, r, NULL, outer_read, NULL) != ARCHIVE_OK)
                return reader_fail(r, r->outer, e);
        k = archive_read_next_header(r->outer, &ae);
        if (k == ARCHIVE_EOF)
                r->outer_eof = true;
        else if (k != ARCHIVE_OK)
                return reader_fail(r, r->outer, e);
        return 0;
}

static int check_media_type(LayerReader *r, Error *e) {
        static const struct {
                int code;
                const char *name;
        } types[] = {
                [LAYER_MEDIA_TAR] = { ARCHIVE_FILTER_NONE, "tar" },
                [LAYER_MEDIA_TAR_GZIP] = { ARCHIVE_FILTER_GZIP, "tar+gzip" },
                [LAYER_MEDIA_TAR_ZSTD] = { ARCHIVE_FILTER_ZSTD, "tar+zstd" },
        };
        LayerMediaType t = r->opts.media_type;

        /* Only the enabled filter can match; anything else reads as uncompressed. */
        if (t == LAYER_MEDIA_DETECT || archive_filter_code(r->outer, 0) == types[t].code)
                return 0;
        return error_setf(e, EINVAL, "layer is not of media type %s, which was asked for", types[t].name);
}

int layer_reader_new(int fd, const LayerReaderOptions *o, LayerReader **ret, Error *e) {
        _cleanup_(layer_reader_freep) LayerReader *r = NULL;
        struct stat st;
        int k;

        r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->fd = fd;
        r->opts = *o;
        r->buf = malloc(READ_BLOCK);
        r->sha256 = EVP_MD_CTX_new();
        if (!r->buf || !r->sha256)
                return -ENOMEM;
        if (EVP_DigestInit_ex(r->sha256, EVP_sha256(), NULL) != 1)
                return error_setf(e, EIO, "SHA-256 is not available");
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISREG(st.st_mode))
                r->bytes_total = (uint64_t) st.st_size;

        k = outer_open(r, e);
        if (k < 0)
                return k;
        k = check_media_type(r, e);
        if (k < 0)
                return k;

        r->inner = archive_read_new();
        if (!r->inner)
                return -ENOMEM;
        if (archive_read_support_format_tar(r->inner) != ARCHIVE_OK)
                return error_setf(e, EOPNOTSUPP, "tar support is missing from libarchive");
        if (archive_read_open(r->inner, r, NULL, inner_read, NULL) != ARCHIVE_OK)
                return reader_fail(r, r->inner, e);

        *ret = TAKE_PTR(r);
        return 0;
}

int layer_reader_next(LayerReader *r, struct archive_entry **ret, Error *e) {
        int k;

        k = archive_read_next_header(r->inner, ret);
        if (k == ARCHIVE_EOF)
                return 0;
        /* ARCHIVE_WARN (e.g. a malformed pax attribute) is as fatal as an error. */
        if (k != ARCHIVE_OK)
                return reader_fail(r, r->inner, e);
        free(r->entry);
        r->entry = strdup(archive_entry_pathname(*ret) ?: "?");
        if (!r->entry)
                return -ENOMEM;
        return 1;
}

int layer_reader_data(LayerReader *r, const void **ret_buf, size_t *ret_size, uint64_t *ret_offset, Error *e) {
        la_int64_t offset;
        int k;

        k = archive_read_data_block(r->inner, ret_buf, ret_size, &offset);
        if (k == ARCHIVE_EOF)
                return 0;
        if (k != ARCHIVE_OK || offset < 0)
                return reader_fail(r, r->inner, e);
        *ret_offset = (uint64_t) offset;
        return 1;
}

int layer_reader_finish(LayerReader *r, LayerApplyResult *ret, Error *e) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned len;
        const void *p;
        ssize_t n;

        /* The tar reader stops at the end-of-archive blocks; the diff_id covers the
         * whole stream, padding included. */
        while ((n = reader_pull(r, &p)) > 0)
                ;
        if (n < 0)
                return reader_fail(r, r->outer, e);
        if (EVP_DigestFinal_ex(r->sha256, digest, &len) != 1 || len != 32)
                return error_setf(e, EIO, "cannot compute the SHA-256 of the layer");

        strcpy(ret->diff_id, "sha256:");
        for (unsigned i = 0; i < len; i++)
                sprintf(ret->diff_id + 7 + 2 * i, "%02x", digest[i]);
        ret->bytes = r->bytes;
        return 0;
}
