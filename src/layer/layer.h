/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
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

#define LAYER_DEFAULT_MAX_ENTRIES (UINT64_C(1) << 20)
#define LAYER_DEFAULT_MAX_BYTES (UINT64_C(64) << 30)
#define LAYER_DEFAULT_MAX_NAME_LEN (PATH_MAX - 1)

typedef struct LayerLimits {
        uint64_t max_entries;  /* 0: LAYER_DEFAULT_MAX_ENTRIES */
        /* Of the uncompressed stream, and of all regular files' sizes together (a sparse
         * file counts its full size). 0: LAYER_DEFAULT_MAX_BYTES */
        uint64_t max_bytes;
        size_t max_name_len;   /* at most PATH_MAX - 1; 0: that */
} LayerLimits;

/* The hidden directory an apply stages the layer in, inside the target: the prefix and
 * 16 hex digits. */
#define LAYER_STAGING_PREFIX ".lamina-apply-"
#define LAYER_STAGING_NAME_SIZE (sizeof(LAYER_STAGING_PREFIX) + 16)

/* A fresh random staging name, e.g. to record before layer_apply() for recovery. */
int layer_staging_name_pick(char ret[static LAYER_STAGING_NAME_SIZE]);
bool layer_staging_name_is_valid(const char *name);

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
        /* The staging directory's name (from layer_staging_name_pick()); NULL: pick one. */
        const char *staging_name;
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

/* Removes the staging directory `name` that an apply cut off by a crash left in
 * target_fd: that name only, and only if it is a directory (an entry of a layer may have
 * a name like it). Returns 1 if it removed it, 0 if there was none, -EINVAL for a name
 * that is not a staging name. Only call it when no apply to target_fd runs. */
int layer_remove_staging(int target_fd, const char *name);
