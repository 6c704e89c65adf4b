/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The writer: runs in the sandboxed child, receives framed entries (layer-proto.h) and
 * creates them inside root_fd with openat2()/ *at() calls that never follow a symlink.
 * Missing parent directories copy owner, mode, times and xattrs from the first of
 * source_fds that has them (the target, then the lower layers). */

typedef struct LayerWriter {
        int in_fd;        /* entries from the reader */
        int report_fd;    /* errors and directory times for the parent */
        int root_fd;      /* the staging directory */
        const int *source_fds;
        size_t n_source_fds;
        uint8_t *buf;     /* LAYER_MSG_MAX bytes, allocated before the fork */
        uint8_t *file_xattrs; /* LAYER_XATTRS_MAX bytes, likewise */
} LayerWriter;

/* Exit codes: 0 when END was received and everything was written, 1 after reporting an
 * error, 2 when the reader aborted (EOF without END). */
#define LAYER_WRITER_EXIT_FAILED 1
#define LAYER_WRITER_EXIT_ABORTED 2

int layer_writer_run(void *writer); /* a LayerSandboxFunc */
