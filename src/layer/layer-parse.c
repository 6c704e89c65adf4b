/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "layer-entry.h"
#include "layer-parse.h"
#include "layer-paths.h"
#include "layer-proto.h"
#include "layer-reader.h"
#include "strutil.h"

typedef struct Parse {
        const LayerParser *p;
        LayerReader *reader;
        LayerMsgBuf msg;
        LayerMsgQueue out;    /* to the writer */
        uint64_t entries;
        uint64_t file_bytes;  /* sizes of the regular files so far */
        LayerPaths whiteouts; /* whited-out paths */
        LayerPaths opaques;   /* opaque directories */
} Parse;

static void parse_done(Parse *s) {
        layer_reader_free(s->reader);
        layer_msg_buf_done(&s->msg);
        free(s->out.buf);
        layer_paths_done(&s->whiteouts);
        layer_paths_done(&s->opaques);
}

int layer_parser_prepare(void) {
        return layer_reader_prepare();
}

static void on_progress(uint64_t done, uint64_t total, void *userdata) {
        const LayerParser *p = userdata;
        LayerParseProgress pr = { .done = done, .total = total };

        (void) layer_report_progress(p->report_fd, &pr);
}

static int send_file_data(Parse *s, Error *e) {
        const void *buf;
        uint64_t offset;
        size_t size;
        int r;

        while ((r = layer_reader_data(s->reader, &buf, &size, &offset, e)) > 0)
                for (size_t done = 0; done < size;) {
                        size_t n = size - done < LAYER_DATA_CHUNK ? size - done : LAYER_DATA_CHUNK;

                        r = layer_msg_queue_data(&s->out, offset + done, (const uint8_t *) buf + done, n);
                        if (r < 0)
                                return r;
                        done += n;
                }
        return r;
}

/* A regular file bigger than what is left of the byte limit is refused before the writer
 * starts on it (a sparse file costs nothing to send, whatever size it claims). */
static int check_size(Parse *s, struct archive_entry *ae, const LayerEntryPlan *p, Error *e) {
        uint64_t size = (uint64_t) archive_entry_size(ae); /* not negative: checked by the plan */
        uint64_t left = s->p->limits.max_bytes - s->file_bytes;

        if (p->kind != LAYER_ENTRY_FILE)
                return 0;
        if (size > left)
                return error_setf(e, EDQUOT, "layer entry %s: its %" PRIu64 " bytes pass the limit of %" PRIu64
                                  " bytes for a layer's files (%" PRIu64 " bytes were left); the layer is refused",
                                  QUOTE(layer_entry_name(ae)), size, s->p->limits.max_bytes, left);
        s->file_bytes += size;
        return 0;
}

static int add_path(Parse *s, LayerPaths *set, LayerMsgType type, const char *path) {
        int r = layer_paths_add(set, path);

        if (r <= 0)
                return r;
        return layer_report_path(s->p->report_fd, type, path);
}

/* Keeps what the commit needs: the whiteouts and opaque directories. A directory where
 * this layer put a whiteout is re-created, so it is opaque too (OCI: only this layer's
 * content shows there, nothing of the lower layers nor of an earlier Apply). */
static int collect(Parse *s, const LayerEntryPlan *p) {
        switch (p->name_kind) {
        case LAYER_NAME_WHITEOUT:
                return add_path(s, &s->whiteouts, LAYER_PARSE_WHITEOUT, p->path);
        case LAYER_NAME_OPAQUE:
                return add_path(s, &s->opaques, LAYER_PARSE_OPAQUE, p->path);
        default:
                if (p->kind == LAYER_ENTRY_DIR && layer_paths_contains(&s->whiteouts, p->path))
                        return add_path(s, &s->opaques, LAYER_PARSE_OPAQUE, p->path);
                return 0;
        }
}

/* One entry: checked, collected, then sent to the writer unless it is a whiteout or an
 * opaque marker in deletion mode (those are only applied at the commit). */
static int parse_entry(Parse *s, struct archive_entry *ae, Error *e) {
        const LayerEntryRules rules = {
                .max_name_len = s->p->limits.max_name_len,
                .allow_devices = s->p->allow_devices,
        };
        _cleanup_(layer_entry_plan_done) LayerEntryPlan plan = {};
        int r;

        if (++s->entries > s->p->limits.max_entries)
                return error_setf(e, EDQUOT, "layer entry %s: the layer has more than %" PRIu64 " entries, the limit",
                                  QUOTE(layer_entry_name(ae)), s->p->limits.max_entries);
        r = layer_entry_plan(ae, &rules, &plan, &s->msg, e);
        if (r != 0)
                return r < 0 ? r : 0;
        r = check_size(s, ae, &plan, e);
        if (r < 0)
                return r;
        r = collect(s, &plan);
        if (r < 0)
                return r;
        if (plan.name_kind != LAYER_NAME_PLAIN && !s->p->overlay_whiteouts)
                return 0;

        r = layer_msg_queue(&s->out, &s->msg);
        if (r < 0)
                return r;
        if (plan.kind == LAYER_ENTRY_FILE)
                return send_file_data(s, e);
        return 0;
}

static int parse_all(Parse *s, Error *e) {
        const LayerReaderOptions ro = {
                .media_type = s->p->media_type,
                .max_bytes = s->p->limits.max_bytes,
                .progress = on_progress,
                .userdata = (void *) s->p,
        };
        LayerApplyResult res = {};
        LayerParseResult out = {};
        struct archive_entry *ae;
        int r;

        s->out = (LayerMsgQueue) { .fd = s->p->sock, .buf = malloc(LAYER_MSG_QUEUE_BYTES) };
        if (!s->out.buf)
                return -ENOMEM;
        r = layer_reader_new(s->p->layer_fd, &ro, &s->reader, e);
        if (r < 0)
                return error_from_errno(e, r, "cannot read the layer");
        while ((r = layer_reader_next(s->reader, &ae, e)) > 0) {
                r = parse_entry(s, ae, e);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = layer_msg_queue_end(&s->out);
        if (r < 0)
                return r;
        /* The writer may finish meanwhile: what follows the archive is read to its end
         * (padding, gzip trailers) for the diff_id. */
        r = layer_reader_finish(s->reader, &res, e);
        if (r < 0)
                return r;
        memcpy(out.diff_id, res.diff_id, sizeof out.diff_id);
        out.bytes = res.bytes;
        out.entries = s->entries;
        return layer_report_result(s->p->report_fd, &out);
}

static int exit_report_fd = -EBADF;

/* libarchive ends the process with exit(1) when an allocation it cannot fail on fails
 * (__archive_errx("Out of memory")): out of address space, say so. The parser itself
 * leaves by exit_group(), which runs no atexit handler. */
static void on_library_exit(void) {
        (void) layer_report_error(exit_report_fd, ENOMEM, "libarchive stopped the layer parser: out of memory");
}

int layer_parser_run(void *userdata) {
        _cleanup_(parse_done) Parse s = { .p = userdata };
        Error e = ERROR_NULL;
        int r;

        exit_report_fd = s.p->report_fd;
        if (atexit(on_library_exit) != 0)
                return LAYER_PARSER_EXIT_FAILED;
        r = parse_all(&s, &e);
        if (r >= 0)
                return 0;
        (void) error_from_errno(&e, r, "cannot parse the layer");
        (void) layer_report_error_of(s.p->report_fd, &e);
        return LAYER_PARSER_EXIT_FAILED;
}
