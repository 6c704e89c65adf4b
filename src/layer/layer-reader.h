/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <archive_entry.h>
#include <stdint.h>

#include "error.h"
#include "layer.h"

/* Reads a layer in the daemon. The first bytes say what it is: gzip is inflated with
 * zlib, which checks every member's CRC32 and length (members may follow each other;
 * anything else after the last is refused); zstd goes through libarchive's filter
 * (libzstd checks frame checksums); anything else is read as a plain tar. The
 * uncompressed stream is hashed and counted, and a tar reader (ustar, pax, GNU; nothing
 * else, no filter) reads it. Progress is reported on the compressed input. */

typedef struct LayerReader LayerReader;

typedef struct LayerReaderOptions {
        LayerMediaType media_type;
        uint64_t max_bytes; /* of the uncompressed stream */
        void (*progress)(uint64_t bytes_done, uint64_t bytes_total, void *userdata);
        void *userdata;
} LayerReaderOptions;

/* Loads what the reader needs from the filesystem (the C.UTF-8 locale, OpenSSL's setup),
 * once per process: call it before the process loses its filesystem. */
int layer_reader_prepare(void);

int layer_reader_new(int fd, const LayerReaderOptions *o, LayerReader **ret, Error *e);
LayerReader *layer_reader_free(LayerReader *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(LayerReader *, layer_reader_free);

/* 1 and the next entry (owned by the reader), or 0 at the end of the archive. */
int layer_reader_next(LayerReader *r, struct archive_entry **ret, Error *e);
/* 1 and the next block of the current entry's data, or 0 at its end. */
int layer_reader_data(LayerReader *r, const void **ret_buf, size_t *ret_size, uint64_t *ret_offset, Error *e);
/* Reads what follows the archive and fills diff_id ("sha256:<hex>") and bytes. */
int layer_reader_finish(LayerReader *r, LayerApplyResult *ret, Error *e);
