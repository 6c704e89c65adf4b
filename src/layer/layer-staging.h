/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <time.h>

#include "error.h"
#include "layer.h"

/* Keeping the target untouched until a layer is known to be good.
 *
 * The writer never writes into the target: it fills a fresh staging directory, created
 * inside the target (same file system, so renames work, even on a btrfs subvolume) under
 * a random name. Only when the whole stream was read, written and its diff_id checked
 * does the daemon change the target: it applies the whiteouts and opaque markers to what
 * was there before, then renames the staged entries into place (a non-directory or a
 * directory of the layer replaces what it lands on; directories on directories merge),
 * and finally sets directory times. Any failure before that point only removes the
 * staging directory, so the target is exactly as it was. The commit itself only renames,
 * removes and sets attributes; if one of those fails (I/O error, full disk) the target is
 * left partly changed. (The daemon's target is a clone of the snapshot's data that only
 * replaces the data once the commit succeeded: src/snapshotter/backend-apply.h.) */

typedef struct LayerStaging {
        int target_fd; /* borrowed */
        int fd;        /* the staging directory, -EBADF when none */
        char name[LAYER_STAGING_NAME_SIZE]; /* its name inside the target */
        struct timespec root_times[2]; /* the target's, restored after the commit */
} LayerStaging;

#define LAYER_STAGING_NULL ((LayerStaging) { .target_fd = -EBADF, .fd = -EBADF })

/* Creates the staging directory name (a valid staging name) with the target root's
 * owner, mode and xattrs. */
int layer_staging_new(int target_fd, const char *name, LayerStaging *ret);
/* Removes the staging directory (if any) and restores the target's times. */
void layer_staging_discard(LayerStaging *s);

typedef struct LayerChanges {
        char **deletions; /* whited-out paths, deletion mode: removed from the target */
        char **opaques;   /* opaque dirs: emptied in the target; marked in overlay mode */
        bool overlay_whiteouts;
        int report_fd;    /* the writer's report: directory times */
} LayerChanges;

/* Moves the staged layer into the target; the staging directory is gone afterwards. */
int layer_staging_commit(LayerStaging *s, const LayerChanges *c, Error *e);
