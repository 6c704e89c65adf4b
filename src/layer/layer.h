/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Applies one OCI/Docker layer (tar, pax or GNU; plain, gzip or zstd) to a directory,
 * safely: libarchive reads the stream in the calling process, an openat2-confined writer
 * in a sandboxed child (namespaces, dropped capabilities, seccomp allowlist) writes the
 * entries. The daemon never calls layer_apply() itself: the unpack helper does
 * (layer-unpack.h), so libarchive and the decompressors never run in the daemon. */

typedef enum LayerMediaType {
        LAYER_MEDIA_DETECT,
        LAYER_MEDIA_TAR,
        LAYER_MEDIA_TAR_GZIP,
        LAYER_MEDIA_TAR_ZSTD,
} LayerMediaType;

int layer_media_type_from_string(const char *s); /* "tar", "tar+gzip", "tar+zstd"; -EINVAL */
const char *layer_media_type_to_string(LayerMediaType t); /* NULL for LAYER_MEDIA_DETECT */

#define LAYER_DEFAULT_MAX_ENTRIES (UINT64_C(1) << 20)
#define LAYER_DEFAULT_MAX_BYTES (UINT64_C(64) << 30)
#define LAYER_DEFAULT_MAX_NAME_LEN (PATH_MAX - 1)
#define LAYER_DEFAULT_MAX_MEMORY (UINT64_C(1) << 30)
#define LAYER_DEFAULT_MAX_CPU_SEC UINT64_C(1800)
#define LAYER_DEFAULT_MAX_WALL_SEC UINT64_C(3600)

typedef struct LayerLimits {
        /* Entries, and directories made for missing parents (layer-writer.h).
         * 0: LAYER_DEFAULT_MAX_ENTRIES */
        uint64_t max_entries;
        /* Of the uncompressed stream, and of all regular files' sizes together (a sparse
         * file counts its full size) with a block of the target's file system for each
         * directory. 0: LAYER_DEFAULT_MAX_BYTES */
        uint64_t max_bytes;
        size_t max_name_len;   /* at most PATH_MAX - 1; 0: that */
        /* The unpack helper's (layer_unpack() only): address space (RLIMIT_AS), CPU
         * seconds (RLIMIT_CPU) and wall-clock seconds. 0: the defaults above. A sixteenth
         * of max_memory also caps the writer's report of directory paths (layer.c). */
        uint64_t max_memory;
        uint64_t max_cpu_sec;
        uint64_t max_wall_sec;
} LayerLimits;

/* l with every 0 replaced by its default. */
LayerLimits layer_limits_resolve(const LayerLimits *l);

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
        /* A layer applied without its parent (a rebase: overlay whiteouts, no lowers): each
         * missing parent directory that neither the target nor a lower has gets the xattr
         * LAYER_XATTR_IMPLICIT, and a directory the layer carries loses it, so that the
         * parent's attributes can be copied in when it is attached (core-rebase.c). */
        bool mark_implicit;
        bool allow_devices;         /* root callers only */
        /* The writer writes as this fsuid (the snapshot's owner): filesystems that keep blocks
         * for root (ext4's resuid 0) keep them from a user's layer. 0 for root's. */
        uid_t write_uid;
        const char *expected_diff_id; /* "sha256:<hex>" or NULL */
        /* The staging directory's name (from layer_staging_name_pick()); NULL: pick one. */
        const char *staging_name;
        LayerLimits limits;
        void (*progress)(uint64_t bytes_done, uint64_t bytes_total, void *userdata);
        void *userdata;
        /* Called once the parser and the writer run, before the layer is read: from then on
         * the calling process only waits, reads their reports, makes the device nodes the
         * writer asks for (only when allow_devices, passed on), stops those two children
         * (their pids) and commits, so the unpack helper confines itself to that here. A
         * negative errno fails the call. NULL: none. */
        int (*confine_self)(bool allow_devices, const pid_t children[static 2]);
        /* layer_unpack() only: an fd (an eventfd) that becomes readable when the Apply must
         * stop (its caller left); the helper is killed and the call fails with ECANCELED.
         * Looked at only when > 0 (fd 0 is stdin, never one). */
        int cancel_fd;
} LayerApplyOptions;

/* The mark of a directory whose owner, mode, times and xattrs come from the parent the
 * snapshot is attached to later (trusted.*: never from a layer, never copied by Apply). */
#define LAYER_XATTR_IMPLICIT "trusted.lamina.implicit"

typedef struct LayerApplyResult {
        char diff_id[7 + 64 + 1]; /* "sha256:<hex>" of the uncompressed stream */
        uint64_t bytes;           /* uncompressed length */
        uint64_t entries;         /* archive entries read */
        /* mark_implicit: a directory below the root got LAYER_XATTR_IMPLICIT (a Commit
         * onto a parent then has directories to complete). */
        bool marked_implicit;
} LayerApplyResult;

/* Reads the layer from layer_fd (a regular file, pipe or socket; O_PATH and other fds
 * are EINVAL) and applies it to target_fd (a directory fd). On failure the target is as
 * it was before the call and e names the entry and the rule broken. Blocks; the daemon
 * calls it from a worker thread. It forks and waits for that child itself, so the
 * daemon must not ignore SIGCHLD nor reap children it did not start (waitpid(-1)).
 * Nothing else may write the target meanwhile; a hidden ".lamina-apply-*" directory
 * exists inside it while the call runs (see layer-staging.h). */
int layer_apply(int layer_fd, int target_fd, const LayerApplyOptions *o, LayerApplyResult *ret, Error *e);

/* The checks both layer_apply() and layer_unpack() make first: the layer fd is readable
 * and a regular file, pipe or socket; expected_diff_id (if any) is "sha256:" and 64
 * lowercase hex digits; the staging name (if any) is valid. EINVAL with e saying why. */
int layer_check_args(int layer_fd, const LayerApplyOptions *o, Error *e);
/* Whether s is a diff_id: "sha256:" and 64 lowercase hex digits. */
bool layer_diff_id_is_valid(const char *s);
