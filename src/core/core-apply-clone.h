/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "core-internal.h"

/* Apply, all or nothing: the layer goes into a clone of the snapshot's data, which then
 * replaces the data in one atomic exchange (src/snapshotter/backend-apply.h). */

/* <state>/<snapshotter>/applying/: the clones Apply builds in (backend-apply.h), each in a
 * placement directory of its own, both named "<id>-<random>". Nothing else is kept there,
 * so after a crash everything in it is garbage. */
#define APPLY_DIR "applying"

typedef struct ApplyClone {
        int apply_fd; /* the applying/ directory */
        char *place;  /* the clone's placement directory there (core-apply-place.h); NULL
                       * once nothing is left to remove */
        int dir_fd;   /* the placement directory */
        char *name;   /* the clone's name in it */
        int fd;       /* the clone, for the layer to go into */
} ApplyClone;

#define APPLY_CLONE_NULL ((ApplyClone) { .apply_fd = -EBADF, .dir_fd = -EBADF, .fd = -EBADF })

/* Makes a clone of the data of snap, a snapshot of ns, charged to ns as its data (core_quota_charge). */
int apply_clone_begin(CoreSnapshotter *s, uid_t ns, const Snapshot *snap, ApplyClone *ret, Error *e);
/* Makes the clone snapshot id's data. */
int apply_clone_commit(CoreSnapshotter *s, uint64_t id, ApplyClone *c, Error *e);
/* Removes the placement directory with what is in it (the clone, or the data it
 * replaced); closes the fds. */
void apply_clone_done(CoreSnapshotter *s, ApplyClone *c);
