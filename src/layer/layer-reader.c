/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <isa-l/igzip_lib.h>
#include <inttypes.h>
#include <locale.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layer-entry.h"
#include "layer-reader.h"
#include "strutil.h"

#define READ_BLOCK (128u * 1024u)
#define PROGRESS_INTERVAL_USEC 20000u /* the committer's writeback follows it (layer-proto.h) */

static const uint8_t gzip_magic[] = { 0x1f, 0x8b };
static const uint8_t zstd_magic[] = { 0x28, 0xb5, 0x2f, 0xfd };

struct LayerReader {
        int fd;
        LayerReaderOptions opts;
        LayerMediaType found;  /* what the stream turned out to be */
        uint8_t *in;           /* what was read from fd ... */
        size_t in_pos, in_len; /* ... and not used yet: in[in_pos..in_len) */
        bool in_eof;
        struct inflate_state *z; /* gzip: ISA-L checks each member's header, CRC32 and length */
        bool z_member_done;
        uint8_t *out;          /* gzip: the inflated block */
        struct archive *zstd;  /* zstd: libarchive's filter (libzstd checks frame checksums) */
        struct archive *tar;   /* the tar reader over the uncompressed stream */
        EVP_MD_CTX *sha256;
        uint64_t bytes;        /* uncompressed bytes read so far */
        uint64_t bytes_in;     /* bytes read from fd */
        uint64_t bytes_total;  /* size of a regular file, else 0 */
        uint64_t last_progress_usec;
        bool over_limit;
        bool stream_eof;
        char error[256];       /* why the uncompressed stream broke, "" if it did not */
        char *entry;           /* name of the current entry, for messages */
        locale_t utf8;         /* C.UTF-8, the locale libarchive decodes names in */
};

static locale_t utf8_locale;
static int prepare_error;

static void prepare_once(void) {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned len;

        utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
        if (!utf8_locale) {
                prepare_error = errno ?: ENOENT;
                return;
        }
        /* OpenSSL reads its configuration and sets up its providers on first use. */
        if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1 ||
            EVP_Digest("", 0, d, &len, EVP_sha256(), NULL) != 1)
                prepare_error = EIO;
}

int layer_reader_prepare(void) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;

        (void) pthread_once(&once, prepare_once);
        return -prepare_error;
}

/* Names are bytes. ustar, GNU and v7 headers carry them as such and libarchive copies
 * them unchanged. pax headers carry UTF-8 (POSIX; Go's archive/tar, hence buildah, podman
 * and docker, write every non-ASCII name that way), which libarchive converts to the
 * charset of the locale it reads in: in the daemon's "C" locale a name like
 * "Főtanúsítvány.crt" cannot be converted and the entry is refused. So every libarchive
 * call that decodes headers runs in C.UTF-8 (this thread only, uselocale()): UTF-8 goes
 * to UTF-8 unchanged, and a pax name that is not valid UTF-8 (without
 * hdrcharset=BINARY) is refused with its entry, like any other libarchive warning. */
static locale_t reader_locale_enter(LayerReader *r) {
        return uselocale(r->utf8);
}

static void reader_locale_leave(locale_t *old) {
        (void) uselocale(*old);
}

#define READER_LOCALE_SCOPE(r) \
        _cleanup_(reader_locale_leave) _unused_ locale_t _reader_old_locale = reader_locale_enter(r)

LayerReader *layer_reader_free(LayerReader *r) {
        if (!r)
                return NULL;
        if (r->tar)
                archive_read_free(r->tar);
        if (r->zstd)
                archive_read_free(r->zstd);
        free(r->z);
        EVP_MD_CTX_free(r->sha256);
        free(r->entry);
        free(r->in);
        free(r->out);
        free(r);
        return NULL;
}

static void reader_progress(LayerReader *r) {
        uint64_t now;

        if (!r->opts.progress)
                return;
        now = clock_usec(CLOCK_MONOTONIC);
        if (r->last_progress_usec != 0 && now - r->last_progress_usec < PROGRESS_INTERVAL_USEC)
                return;
        r->last_progress_usec = now;
        r->opts.progress(r->bytes_in, r->bytes_total, r->opts.userdata);
}

/* Records why the uncompressed stream broke; returns -1 for the pull functions. */
_printf_(2, 3) static ssize_t stream_fail(LayerReader *r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(r->error, sizeof r->error, fmt, ap);
        va_end(ap);
        return -1;
}

/* Makes at least n unused bytes of the layer available, unless it ends first. Returns
 * how many there are, or a negative errno. */
static ssize_t input_want(LayerReader *r, size_t n) {
        assert(n <= READ_BLOCK);

        while (r->in_len - r->in_pos < n && !r->in_eof) {
                ssize_t k;

                if (r->in_pos > 0) {
                        memmove(r->in, r->in + r->in_pos, r->in_len - r->in_pos);
                        r->in_len -= r->in_pos;
                        r->in_pos = 0;
                }
                do
                        k = read(r->fd, r->in + r->in_len, READ_BLOCK - r->in_len);
                while (k < 0 && errno == EINTR);
                if (k < 0)
                        return -errno;
                if (k == 0)
                        r->in_eof = true;
                r->in_len += (size_t) k;
                r->bytes_in += (uint64_t) k;
                reader_progress(r);
        }
        return (ssize_t) (r->in_len - r->in_pos);
}

/* All unused bytes of the layer (valid until the next call), 0 at its end. */
static ssize_t input_take(LayerReader *r, const void **ret) {
        ssize_t n = input_want(r, 1);

        if (n < 0)
                return stream_fail(r, "cannot read the layer: %s", strerror((int) -n));
        *ret = r->in + r->in_pos;
        r->in_pos = r->in_len;
        return n;
}

/* ISA-L's inflate (igzip) instead of zlib's: the same checks (gzip header, deflate data,
 * CRC32 and length of each member) at about three times the speed, which the parser of a
 * gzip layer is bound by (bench/README, Apply). */
static void gzip_member_begin(LayerReader *r) {
        isal_inflate_init(r->z);
        r->z->crc_flag = ISAL_GZIP;
        r->z_member_done = false;
}

static const char *gzip_error(int k) {
        switch (k) {
        case ISAL_INVALID_WRAPPER:
                return "not a gzip header";
        case ISAL_UNSUPPORTED_METHOD:
                return "unknown compression method";
        case ISAL_INCORRECT_CHECKSUM:
                return "the CRC32 or length of a member does not match its data";
        case ISAL_NEED_DICT:
                return "a preset dictionary is asked for";
        default:
                return "invalid deflate data";
        }
}

/* The next inflated block. Members follow each other (gzip -c a >x; gzip -c b >>x);
 * anything after the last one that is not another member is refused, as is a member
 * whose CRC32 or length does not match. */
static ssize_t pull_gzip(LayerReader *r, const void **ret) {
        size_t want = 1; /* more than ISA-L left unused when it made no progress */

        for (;;) {
                size_t produced, consumed;
                ssize_t n;
                int k;

                if (r->z_member_done) {
                        n = input_want(r, sizeof gzip_magic);
                        if (n <= 0)
                                return n == 0 ? 0 : stream_fail(r, "cannot read the layer: %s", strerror((int) -n));
                        if ((size_t) n < sizeof gzip_magic || memcmp(r->in + r->in_pos, gzip_magic, sizeof gzip_magic) != 0)
                                return stream_fail(r, "data follows the end of the gzip stream");
                        gzip_member_begin(r);
                }

                n = input_want(r, want);
                if (n < 0)
                        return stream_fail(r, "cannot read the layer: %s", strerror((int) -n));
                if ((size_t) n < want)
                        return stream_fail(r, "the gzip stream is truncated");
                r->z->next_in = r->in + r->in_pos;
                r->z->avail_in = (uint32_t) n;
                r->z->next_out = r->out;
                r->z->avail_out = READ_BLOCK;
                k = isal_inflate(r->z);
                if (k < 0 || k == ISAL_NEED_DICT)
                        return stream_fail(r, "gzip: %s", gzip_error(k));
                consumed = (size_t) n - r->z->avail_in;
                produced = READ_BLOCK - r->z->avail_out;
                r->in_pos += consumed;
                if (r->z->block_state == ISAL_BLOCK_FINISH)
                        r->z_member_done = true;
                if (produced > 0) {
                        *ret = r->out;
                        return (ssize_t) produced;
                }
                if (consumed > 0 || r->z_member_done)
                        want = 1;
                else if ((size_t) n < READ_BLOCK)
                        want = (size_t) n + 1;
                else /* a whole buffer of input and still nothing: not deflate as anyone writes it */
                        return stream_fail(r, "gzip: %s", gzip_error(ISAL_INVALID_BLOCK));
        }
}

static ssize_t pull_zstd(LayerReader *r, const void **ret) {
        la_int64_t offset;
        size_t size;
        int k;

        k = archive_read_data_block(r->zstd, ret, &size, &offset);
        if (k == ARCHIVE_EOF)
                return 0;
        if (k != ARCHIVE_OK)
                return stream_fail(r, "%s", archive_error_string(r->zstd) ?: "cannot decompress");
        return (ssize_t) size;
}

/* The next block of the uncompressed stream, hashed and counted; 0 at its end, -1 with
 * r->error or r->over_limit set. */
static ssize_t reader_pull(LayerReader *r, const void **ret) {
        ssize_t n;

        if (r->stream_eof)
                return 0;
        switch (r->found) {
        case LAYER_MEDIA_TAR_GZIP:
                n = pull_gzip(r, ret);
                break;
        case LAYER_MEDIA_TAR_ZSTD:
                n = pull_zstd(r, ret);
                break;
        default:
                n = input_take(r, ret);
        }
        if (n <= 0) {
                r->stream_eof = n == 0;
                return n;
        }
        r->bytes += (uint64_t) n;
        if (r->bytes > r->opts.max_bytes) {
                r->over_limit = true;
                return -1;
        }
        if (EVP_DigestUpdate(r->sha256, *ret, (size_t) n) != 1)
                return stream_fail(r, "cannot compute the SHA-256");
        return n;
}

static la_ssize_t tar_read(struct archive *a, void *userdata, const void **ret) {
        LayerReader *r = userdata;
        ssize_t n = reader_pull(r, ret);

        if (n < 0)
                archive_set_error(a, EIO, "%s", r->over_limit ? "over the size limit" : r->error);
        return n;
}

static la_ssize_t zstd_read(struct archive *a, void *userdata, const void **ret) {
        LayerReader *r = userdata;
        ssize_t n = input_take(r, ret);

        if (n < 0)
                archive_set_error(a, EIO, "%s", r->error);
        return n;
}

/* where: how the failure relates to r->entry ("at entry", "in the header after entry"). */
static int reader_fail_where(LayerReader *r, struct archive *a, const char *where_entry, Error *e) {
        const char *why = r->error[0] ? r->error : a ? archive_error_string(a) : NULL;
        char where[160] = "";

        if (r->entry)
                snprintf(where, sizeof where, " %s %s", where_entry, QUOTE(r->entry));
        else if (streq(where_entry, "in the header after entry"))
                snprintf(where, sizeof where, " in its first header");
        if (r->over_limit)
                return error_setf(e, EDQUOT, "layer is larger than the limit of %" PRIu64 " bytes uncompressed%s",
                                  r->opts.max_bytes, where);
        /* Out of memory is the reader's limit (RLIMIT_AS), not a broken layer. */
        if (a && archive_errno(a) == ENOMEM)
                return error_setf(e, ENOMEM, "out of memory reading the layer%s: %s", where, why ?: "");
        return error_setf(e, EINVAL, "layer is not a valid tar, tar+gzip or tar+zstd stream%s: %s", where,
                          why ?: "read error");
}

static int reader_fail(LayerReader *r, struct archive *a, Error *e) {
        return reader_fail_where(r, a, "at entry", e);
}

/* gzip by its magic, zstd by its magic, anything else is read as a plain tar; a forced
 * media type must match what was found. */
static int reader_detect(LayerReader *r, Error *e) {
        LayerMediaType t = r->opts.media_type;
        ssize_t n = input_want(r, sizeof zstd_magic);
        const uint8_t *p = r->in + r->in_pos;

        if (n < 0)
                return error_set_errno(e, (int) -n, "cannot read the layer");
        if ((size_t) n >= sizeof gzip_magic && memcmp(p, gzip_magic, sizeof gzip_magic) == 0)
                r->found = LAYER_MEDIA_TAR_GZIP;
        else if ((size_t) n >= sizeof zstd_magic && memcmp(p, zstd_magic, sizeof zstd_magic) == 0)
                r->found = LAYER_MEDIA_TAR_ZSTD;
        else
                r->found = LAYER_MEDIA_TAR;
        if (t != LAYER_MEDIA_DETECT && t != r->found)
                return error_setf(e, EINVAL, "layer is not of media type %s, which was asked for; it is %s",
                                  layer_media_type_to_string(t), layer_media_type_to_string(r->found));
        return 0;
}

static int gzip_open(LayerReader *r) {
        r->out = malloc(READ_BLOCK);
        r->z = malloc(sizeof *r->z);
        if (!r->out || !r->z)
                return -ENOMEM;
        gzip_member_begin(r);
        return 0;
}

static int zstd_open(LayerReader *r, Error *e) {
        struct archive_entry *ae;
        int k;

        r->zstd = archive_read_new();
        if (!r->zstd)
                return -ENOMEM;
        /* ARCHIVE_WARN means libarchive would exec an external decompressor: refused. */
        k = archive_read_support_filter_zstd(r->zstd);
        if (k == ARCHIVE_OK)
                k = archive_read_support_format_raw(r->zstd);
        if (k != ARCHIVE_OK)
                return error_setf(e, EOPNOTSUPP, "zstd decompression is not available: %s",
                                  archive_error_string(r->zstd) ?: "libarchive lacks libzstd");
        if (archive_read_open(r->zstd, r, NULL, zstd_read, NULL) != ARCHIVE_OK ||
            archive_read_next_header(r->zstd, &ae) != ARCHIVE_OK)
                return reader_fail(r, r->zstd, e);
        if (archive_filter_code(r->zstd, 0) != ARCHIVE_FILTER_ZSTD)
                return error_setf(e, EINVAL, "layer is not a valid tar+zstd stream");
        return 0;
}

/* The tar formats only, and no filter: the stream is uncompressed already. */
static int tar_open(LayerReader *r, Error *e) {
        READER_LOCALE_SCOPE(r);

        r->tar = archive_read_new();
        if (!r->tar)
                return -ENOMEM;
        if (archive_read_support_format_tar(r->tar) != ARCHIVE_OK)
                return error_setf(e, EOPNOTSUPP, "tar support is missing from libarchive");
        if (archive_read_open(r->tar, r, NULL, tar_read, NULL) != ARCHIVE_OK)
                return reader_fail(r, r->tar, e);
        return 0;
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
        r->in = malloc(READ_BLOCK);
        r->sha256 = EVP_MD_CTX_new();
        if (!r->in || !r->sha256)
                return -ENOMEM;
        k = layer_reader_prepare();
        if (k < 0)
                return error_set_errno(e, k, "cannot load the C.UTF-8 locale (to decode names in) or OpenSSL");
        r->utf8 = utf8_locale;
        if (EVP_DigestInit_ex(r->sha256, EVP_sha256(), NULL) != 1)
                return error_setf(e, EIO, "SHA-256 is not available");
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISREG(st.st_mode))
                r->bytes_total = (uint64_t) st.st_size;

        k = reader_detect(r, e);
        if (k >= 0 && r->found == LAYER_MEDIA_TAR_GZIP)
                k = gzip_open(r);
        if (k >= 0 && r->found == LAYER_MEDIA_TAR_ZSTD)
                k = zstd_open(r, e);
        if (k < 0)
                return k;

        k = tar_open(r, e);
        if (k < 0)
                return k;

        *ret = TAKE_PTR(r);
        return 0;
}

int layer_reader_next(LayerReader *r, struct archive_entry **ret, Error *e) {
        READER_LOCALE_SCOPE(r);
        int k;

        k = archive_read_next_header(r->tar, ret);
        if (k == ARCHIVE_EOF)
                return 0;
        if (k != ARCHIVE_OK && k != ARCHIVE_WARN) /* no entry: name the one before */
                return reader_fail_where(r, r->tar, "in the header after entry", e);
        free(r->entry);
        r->entry = strdup(layer_entry_name(*ret));
        if (!r->entry)
                return -ENOMEM;
        /* ARCHIVE_WARN: the entry was read, but libarchive ignored or could not decode
         * part of its header (a malformed pax record, a sparse map or ACL it could not
         * parse, a pax name that is not UTF-8). Applying what it made of it would be a
         * guess: refused, naming the entry. */
        if (k == ARCHIVE_WARN)
                return error_setf(e, EINVAL, "layer entry %s: libarchive could not read all of its header (%s); "
                                  "the layer is refused", QUOTE(r->entry),
                                  archive_error_string(r->tar) ?: "no reason given");
        return 1;
}

int layer_reader_data(LayerReader *r, const void **ret_buf, size_t *ret_size, uint64_t *ret_offset, Error *e) {
        la_int64_t offset;
        int k;

        k = archive_read_data_block(r->tar, ret_buf, ret_size, &offset);
        if (k == ARCHIVE_EOF)
                return 0;
        if (k != ARCHIVE_OK || offset < 0)
                return reader_fail(r, r->tar, e);
        *ret_offset = (uint64_t) offset;
        return 1;
}

int layer_reader_finish(LayerReader *r, LayerApplyResult *ret, Error *e) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned len;
        const void *p;
        ssize_t n;

        /* The tar reader stops at the end-of-archive blocks; the diff_id covers the
         * whole stream, padding included, and only its end proves the gzip trailers. */
        while ((n = reader_pull(r, &p)) > 0)
                ;
        if (n < 0)
                return reader_fail(r, NULL, e);
        if (EVP_DigestFinal_ex(r->sha256, digest, &len) != 1 || len != 32)
                return error_setf(e, EIO, "cannot compute the SHA-256 of the layer");

        strcpy(ret->diff_id, "sha256:");
        for (unsigned i = 0; i < len; i++)
                sprintf(ret->diff_id + 7 + 2 * i, "%02x", digest[i]);
        ret->bytes = r->bytes;
        return 0;
}
