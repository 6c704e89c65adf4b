/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "layer.h"

/* The parser: the one process that reads the untrusted stream (gzip/zstd, tar headers,
 * sparse maps: layer-reader.c) and checks every entry (layer-entry.c). It runs confined
 * (layer-sandbox.c, LAYER_SANDBOX_PARSER) with nothing but these three fds: it streams
 * entries to the writer over sock and tells the committing process over report_fd what
 * the commit needs (layer-proto.h: WHITEOUT, OPAQUE, PROGRESS, then RESULT or ERROR). */

typedef struct LayerParser {
        int layer_fd;
        int sock;      /* to the writer */
        int report_fd; /* to the committer */
        LayerMediaType media_type;
        bool overlay_whiteouts;
        bool allow_devices;
        LayerLimits limits; /* resolved */
} LayerParser;

/* Exit codes: 0 after RESULT, 1 after ERROR. */
#define LAYER_PARSER_EXIT_FAILED 1

/* What the parser needs loaded before it loses its filesystem: the C.UTF-8 locale and
 * OpenSSL's configuration. Call it in the process that spawns the parser. */
int layer_parser_prepare(void);

int layer_parser_run(void *parser); /* a LayerSandboxFunc */
