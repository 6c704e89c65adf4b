/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* Applies one OCI/Docker layer (tar, pax or GNU; plain, gzip or zstd) to a directory,
 * safely: libarchive reads the stream in the caller's process, an openat2-confined
 * writer in a sandboxed child (namespaces, dropped capabilities, seccomp allowlist)
 * writes the entries. */

typedef enum LayerMediaType {
        LAYER_MEDIA_DETECT,
        LAYER_MEDIA_TAR,
        LAYER_MEDIA_TAR_GZIP,
        LAYER_MEDIA_TAR_ZSTD,
} LayerMediaType;

int layer_media_type_from_string(const char *s); /* "tar", "tar+gzip", "tar+zstd"; -EINVAL */

typedef struct LayerLimits {
        uint64_t max_entries;  /* 0: default */
        uint64_t max_bytes;    /* uncompressed; 0: default */
        size_t max_name_len;   /* 0: default (PATH_MAX) */
} LayerLimits;

typedef struct LayerApplyOptions {
        LayerMediaType media_type;
        /* true: whiteouts become overlay whiteouts (0/0 char devices, opaque xattr);
         * false: they delete from target_fd (native, btrfs: target is a full copy). */
        bool overlay_whiteouts;
        /* Lower layers (topmost first), read-only dir fds, where missing parents copy their
         * owner, mode, times and xattrs from. May be empty. */
        const int *lower_fds;
        size_t n_lower_fds;
        bool allow_devices;         /* root callers only */
        const char *expected_diff_id; /* "sha256:<hex>" or NULL */
        LayerLimits limits;
        void (*progress)(uint64_t bytes_done, uint64_t bytes_total, void *userdata);
        void *userdata;
} LayerApplyOptions;

typedef struct LayerApplyResult {
        char diff_id[7 + 64 + 1]; /* "sha256:<hex>" of the uncompressed stream */
        uint64_t bytes;           /* uncompressed length */
        uint64_t entries;         /* archive entries read */
} LayerApplyResult;

/* Reads the layer from layer_fd (a regular file, pipe or socket; O_PATH and other fds
 * are EINVAL) and applies it to target_fd (a directory fd). On failure the target is as
 * it was before the call and e names the entry and the rule broken. Blocks; the daemon
 * calls it from a worker thread. It forks and waits for that child itself, so the
 * daemon must not ignore SIGCHLD nor reap children it did not start (waitpid(-1)).
 * Nothing else may write the target meanwhile; a hidden ".lamina-apply-*" directory
 * exists inside it while the call runs (see layer-staging.h). */
int layer_apply(int layer_fd, int target_fd, const LayerApplyOptions *o, LayerApplyResult *ret, Error *e);

/* Removes what an apply cut off by a crash left in target_fd (its hidden staging
 * directories). Only call it when no apply to target_fd runs. */
int layer_remove_stale_staging(int target_fd);
