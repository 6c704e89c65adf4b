/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the parser side of an Apply: what the confined parser runs on an
 * untrusted layer (layer-parse.c without its sockets): media type detection, gzip/zstd,
 * libarchive's tar/pax/GNU headers and sparse maps, and every entry's checks and message
 * packing (layer-entry.c). See fuzz/README.md. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layer-entry.h"
#include "layer-proto.h"
#include "layer-reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const LayerReaderOptions ro = { .media_type = LAYER_MEDIA_DETECT, .max_bytes = 64u << 20 };
        const LayerEntryRules rules = { .max_name_len = LAYER_DEFAULT_MAX_NAME_LEN, .allow_devices = true };
        _cleanup_(layer_reader_freep) LayerReader *r = NULL;
        _cleanup_close_ int fd = memfd_create("fuzz-layer", MFD_CLOEXEC);
        LayerMsgBuf msg = {};
        LayerApplyResult res;
        struct archive_entry *ae;
        Error e = ERROR_NULL;
        int k;

        if (fd < 0 || write(fd, data, size) != (ssize_t) size || lseek(fd, 0, SEEK_SET) != 0)
                abort();
        if (layer_reader_new(fd, &ro, &r, &e) < 0)
                return 0;
        while ((k = layer_reader_next(r, &ae, &e)) > 0) {
                LayerEntryPlan plan = {};
                const void *buf;
                uint64_t offset;
                size_t n;

                k = layer_entry_plan(ae, &rules, &plan, &msg, &e);
                layer_entry_plan_done(&plan);
                if (k < 0)
                        break;
                while ((k = layer_reader_data(r, &buf, &n, &offset, &e)) > 0)
                        ;
                if (k < 0)
                        break;
        }
        if (k == 0)
                (void) layer_reader_finish(r, &res, &e);
        layer_msg_buf_done(&msg);
        return 0;
}
