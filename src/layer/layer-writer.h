/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The writer: runs in the sandboxed child, receives framed entries (layer-proto.h) and
 * creates them inside root_fd with openat2()/ *at() calls that never follow a symlink.
 * It holds no fd but root_fd that leads to a file system: missing parent directories are
 * made with mode 0755 and reported (LAYER_REPORT_IMPLICIT_DIR); the committer copies their
 * owner, mode, times and xattrs from the target or a lower layer (layer-implicit.c). */

/* The owner the kernel gives a new file in a directory (the writer's fsuid; its fsgid or,
 * in a set-group-ID directory, the directory's group), learnt from the first one made
 * there: a file whose entry names that owner needs no chown. */
typedef struct LayerNewOwner {
        bool known;
        uid_t uid;
        gid_t gid;
} LayerNewOwner;

typedef struct LayerWriter {
        int in_fd;        /* entries from the reader */
        int report_fd;    /* errors and directory times for the parent */
        int mknod_fd;     /* device node requests to the parent; -EBADF: no devices */
        int root_fd;      /* the staging directory */
        uint8_t *buf;     /* LAYER_MSG_MAX bytes, allocated before the fork */
        uint8_t *recv_buf; /* LAYER_MSG_RECV_BYTES bytes, likewise */
        uint8_t *file_xattrs; /* LAYER_XATTRS_MAX bytes, likewise */
        /* What the layer may make here (layer.c sets them from its limits): each entry
         * received and each directory made for a missing parent is one of max_entries;
         * the regular files' sizes, and block_size bytes for each directory (an entry or a
         * missing parent: a directory takes a block of the file system, which the Bytes=
         * quota counts), count against max_bytes; the report holds at most max_report
         * bytes of directory records. Past a limit the entry is refused (EDQUOT) before
         * anything is made for it: the limits bound the staging tree, not only the layer's
         * own entries, which the parser counts. */
        uint64_t max_entries, max_bytes, max_report, block_size;
        /* The writer's own (layer_writer_run() sets them up): the parent directory of the
         * last entry below the root, kept open for the next entries of that directory, and
         * the owner a new file gets in it and in the root. */
        int dir_fd;
        char dir_path[PATH_MAX];
        LayerNewOwner dir_owner, root_owner;
        uint64_t entries, bytes, report_bytes, made_dirs; /* used so far */
} LayerWriter;

/* Exit codes: 0 when END was received and everything was written, 1 after reporting an
 * error, 2 when the reader aborted (EOF without END). */
#define LAYER_WRITER_EXIT_FAILED 1
#define LAYER_WRITER_EXIT_ABORTED 2

int layer_writer_run(void *writer); /* a LayerSandboxFunc */
