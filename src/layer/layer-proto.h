/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

/* The framed protocol between the reader (daemon) and the writer (sandboxed child).
 *
 * Both ends are the same binary, so payloads are plain structs. Each message is a
 * LayerMsg header followed by `size` bytes:
 *   ENTRY  LayerEntryMsg, path NUL, link NUL, xattrs (name NUL, uint32 length, value)*
 *   DATA   uint64 offset, then bytes of the regular file announced by the last ENTRY
 *   END    nothing: the layer is complete; anything else ending the stream is an abort.
 * The writer answers through a report file (a memfd) with the same framing:
 *   ERROR     int32 error kind (positive errno; negative: an internal failure, that errno
 *             negated), message NUL
 *   DIR_TIMES LayerDirTimes, path NUL: set after the merge, when no write moves them.
 * The writer asks the process that commits, over a socket, for each device node (it holds
 * no CAP_MKNOD of the host; layer-sandbox.c), and waits for the answer, an int32 errno:
 *   MKNOD     LayerMknodRequest, path NUL: make that node, mode 0, in the staging tree.
 * The parser (layer-parse.h) tells the process that commits, through a pipe:
 *   WHITEOUT  path NUL: a whited-out path, once each (deletion mode: to delete)
 *   OPAQUE    path NUL: a directory to make opaque, once each
 *   PROGRESS  LayerParseProgress, "" NUL
 *   RESULT    LayerParseResult, "" NUL: the layer is complete and valid; or ERROR. */

#define LAYER_DATA_CHUNK (128u * 1024u)
#define LAYER_PIPELINE_BYTES (2 * 1024 * 1024) /* the parser's send buffer, at most */
#define LAYER_XATTRS_MAX (256u * 1024u) /* all xattrs of one entry, packed */
#define LAYER_MSG_MAX (sizeof(LayerEntryMsg) + 2u * PATH_MAX + LAYER_XATTRS_MAX)
/* The parser queues messages up to this many bytes and sends them in one system call; a
 * DATA chunk larger than LAYER_MSG_COPY_MAX goes out with the queue, without a copy. */
#define LAYER_MSG_QUEUE_BYTES (128u * 1024u)
#define LAYER_MSG_COPY_MAX (32u * 1024u)
/* The writer reads as many messages as have arrived, up to this many bytes at once: room
 * for the largest message and more. */
#define LAYER_MSG_RECV_BYTES (sizeof(LayerMsg) + LAYER_MSG_MAX + 256u * 1024u)
/* The committer has what was written so far written back after each this many bytes of
 * the layer read, at most once in this many microseconds (layer.c). The parser reports
 * its progress at that pace (layer-reader.c); the caller hears of it at most once in
 * LAYER_PROGRESS_USEC. */
#define LAYER_WRITEBACK_BYTES (UINT64_C(4) << 20)
#define LAYER_WRITEBACK_USEC (UINT64_C(40) * 1000u)
#define LAYER_PROGRESS_USEC (UINT64_C(100) * 1000u)

typedef enum LayerMsgType {
        LAYER_MSG_ENTRY = 1,
        LAYER_MSG_DATA,
        LAYER_MSG_END,
        LAYER_REPORT_ERROR,
        LAYER_REPORT_DIR_TIMES,
        LAYER_PARSE_WHITEOUT,
        LAYER_PARSE_OPAQUE,
        LAYER_PARSE_PROGRESS,
        LAYER_PARSE_RESULT,
        LAYER_REPORT_IMPLICIT_DIR, /* writer: made this missing parent, with mode 0755 */
        LAYER_REQUEST_MKNOD,
} LayerMsgType;

typedef struct LayerMsg {
        uint32_t type;
        uint32_t size;
} LayerMsg;

typedef enum LayerEntryKind {
        LAYER_ENTRY_FILE,
        LAYER_ENTRY_DIR,
        LAYER_ENTRY_SYMLINK,
        LAYER_ENTRY_HARDLINK,
        LAYER_ENTRY_FIFO,
        LAYER_ENTRY_CHARDEV,
        LAYER_ENTRY_BLOCKDEV,
        LAYER_ENTRY_WHITEOUT, /* overlay mode only: a 0/0 char device at path */
        LAYER_ENTRY_OPAQUE,   /* overlay mode only: path must exist as a directory */
} LayerEntryKind;

typedef struct LayerEntryMsg {
        uint32_t kind;
        uint32_t mode; /* permission bits, set-id and sticky */
        uint32_t uid, gid;
        uint32_t rdev_major, rdev_minor;
        uint64_t size;
        struct timespec atime, mtime;
        uint32_t path_len, link_len; /* without the NULs */
        uint32_t xattrs_len;
} LayerEntryMsg;

typedef struct LayerDirTimes {
        struct timespec atime, mtime;
} LayerDirTimes;

typedef struct LayerMknodRequest {
        uint32_t type; /* S_IFCHR or S_IFBLK */
        uint32_t major, minor;
} LayerMknodRequest;

typedef struct LayerParseProgress {
        uint64_t done, total; /* compressed bytes read; the size of a regular file, else 0 */
} LayerParseProgress;

typedef struct LayerParseResult {
        char diff_id[7 + 64 + 1]; /* "sha256:<hex>" of the uncompressed stream */
        uint64_t bytes, entries;
} LayerParseResult;

/* An entry as the writer sees it: pointers into the received message. */
typedef struct LayerEntryView {
        const LayerEntryMsg *msg;
        const char *path; /* normalized, "" = root */
        const char *link; /* symlink or hardlink target, "" otherwise */
        const uint8_t *xattrs, *xattrs_end;
} LayerEntryView;

/* A growable buffer the reader packs one message into. */
typedef struct LayerMsgBuf {
        uint8_t *data;
        size_t size, allocated;
} LayerMsgBuf;
void layer_msg_buf_done(LayerMsgBuf *b);

int layer_msg_pack_entry(LayerMsgBuf *b, const LayerEntryMsg *m, const char *path, const char *link);
int layer_msg_add_xattr(LayerMsgBuf *b, const char *name, const void *value, size_t len);

/* The parser's messages to the writer, queued in buf (LAYER_MSG_QUEUE_BYTES, allocated by
 * the caller) and sent over a socket, without SIGPIPE, whenever the next would not fit and
 * at END: one system call (and one wake-up of the writer) for many small entries. */
typedef struct LayerMsgQueue {
        int fd;
        uint8_t *buf;
        size_t len;
} LayerMsgQueue;
/* Queues a packed message / a DATA chunk (at most LAYER_DATA_CHUNK bytes); queues END and
 * sends everything. */
int layer_msg_queue(LayerMsgQueue *q, const LayerMsgBuf *b);
int layer_msg_queue_data(LayerMsgQueue *q, uint64_t offset, const void *data, size_t len);
int layer_msg_queue_end(LayerMsgQueue *q);

/* Receives one message into buf (LAYER_MSG_MAX bytes). Returns 1, 0 on a clean EOF
 * before a header, or -EBADMSG/-EPIPE/-errno. */
int layer_msg_recv(int fd, LayerMsg *ret_hdr, uint8_t *buf);

/* The writer's end: reads whatever has arrived into buf (LAYER_MSG_RECV_BYTES, allocated
 * by the caller) and hands out one message at a time from there. */
typedef struct LayerMsgReader {
        int fd;
        uint8_t *buf;
        size_t pos, len; /* buf[pos..len): received, not handed out yet */
} LayerMsgReader;
/* The next message: *ret_payload points at its ret_hdr->size bytes in the reader's buffer,
 * valid until the next call and not aligned. Same returns as layer_msg_recv(). */
int layer_msg_reader_next(LayerMsgReader *r, LayerMsg *ret_hdr, const uint8_t **ret_payload);
/* Checks an ENTRY payload and points *ret into it. */
int layer_entry_view(const uint8_t *buf, size_t size, LayerEntryView *ret);
/* Iterates the xattrs of a view: 1 with the next item, 0 at the end, -EBADMSG. */
int layer_xattr_next(const uint8_t **p, const uint8_t *end, const char **ret_name,
                     const void **ret_value, uint32_t *ret_len);

/* Writer -> report file. */
int layer_report_error(int fd, int code, const char *message);
/* e as an ERROR report, internal failures as such; and back. */
int layer_report_error_of(int fd, const Error *e);
int layer_error_from_report(Error *e, int32_t code, const char *message);
/* The same for a report from the parser, the writer or the helper, which may have been taken over by
 * the layer: only EINVAL and EDQUOT (what they refuse entries with) keep their kind, any
 * other code is an internal failure (never NotFound, AccessDenied, Busy... on their word). */
int layer_error_from_child(Error *e, int32_t code, const char *message);
int layer_report_dir_times(int fd, const char *path, const LayerDirTimes *t);
/* Parser -> committer: LAYER_PARSE_WHITEOUT or LAYER_PARSE_OPAQUE; writer -> report file:
 * LAYER_REPORT_IMPLICIT_DIR. */
int layer_report_path(int fd, LayerMsgType type, const char *path);
int layer_report_progress(int fd, const LayerParseProgress *p);
/* Writer -> committer: asks for a device node at path and waits; 0 or the negative errno
 * it was answered with (-EPIPE when nobody answers). */
int layer_request_mknod(int fd, const LayerMknodRequest *q, const char *path);
int layer_report_result(int fd, const LayerParseResult *r);
