/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "error.h"
#include "layer.h"

/* The daemon's side of an Apply: it never reads a layer itself. layer_unpack() checks the
 * caller's fd (no O_PATH; a regular file, pipe or socket), execs the unpack helper
 * (lamina-unpack, which runs layer_apply() confined) with that fd, the target and the
 * lower layers, waits for it under a wall-clock limit, and turns its result or its death
 * into an error kind and a message naming the entry or the limit:
 *   EINVAL  the layer is invalid (named entry and rule)
 *   EDQUOT  a limit was reached: entries, bytes, memory, CPU time or wall-clock time
 *   EIO     the helper failed otherwise (killed by its seccomp filter, a bug)
 * A helper that dies leaves at most its staging directory in the target; the daemon's
 * target is a clone of the snapshot's data that it removes then (core-apply-clone.h).
 * Same contract as layer_apply() otherwise. */
int layer_unpack(int layer_fd, int target_fd, const LayerApplyOptions *o, LayerApplyResult *ret, Error *e);

/* The helper's contract, for src/unpack (argv carries the options, see there). */
#define LAYER_UNPACK_HELPER "lamina-unpack"
/* The helper is found next to the daemon's executable (both in libexecdir); tests that
 * run the core in their own process name it with an absolute path in this variable. */
#define LAYER_UNPACK_PATH_ENV "LAMINA_UNPACK_PATH"

enum {
        LAYER_UNPACK_FD_LAYER = 3,
        LAYER_UNPACK_FD_TARGET,
        LAYER_UNPACK_FD_RESULT,   /* memfd: one LayerUnpackResult at offset 0 */
        LAYER_UNPACK_FD_PROGRESS, /* pipe: LayerUnpackProgress records */
        LAYER_UNPACK_FD_LOWERS,   /* and the n lower layers after it, topmost first */
};

#define LAYER_UNPACK_RESULT_MAGIC UINT32_C(0x4c4d5532) /* "LMU2" */

typedef struct LayerUnpackResult {
        uint32_t magic;
        int32_t code; /* 0, or the positive errno kind of the failure; negated: an internal
                       * failure (Error.internal), that errno */
        uint64_t bytes, entries;
        uint32_t marked_implicit; /* LayerApplyResult's, 0 or 1 */
        char diff_id[7 + 64 + 1];
        char message[ERROR_MESSAGE_MAX];
} LayerUnpackResult;

typedef struct LayerUnpackProgress {
        uint64_t done, total;
} LayerUnpackProgress;

/* Exit codes of the helper besides 0 (applied) and 1 (refused, see the result). */
#define LAYER_UNPACK_EXIT_USAGE 2 /* bad arguments: a mismatch between daemon and helper */
