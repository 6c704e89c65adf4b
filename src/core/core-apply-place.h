/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core-internal.h"

/* Where Apply builds a layer's tree, away from trees this snapshotter removed a moment ago
 * (core-apply-place.c). */

/* How near (in inode numbers) and how recent (µs, CLOCK_REALTIME) a removal counts. */
#define PLACE_WINDOW (UINT64_C(8) * 8192)
#define PLACE_RECENT_USEC (UINT64_C(360) * 1000 * 1000)
/* Removals remembered, the oldest forgotten first (one per PLACE_WINDOW / 4 neighbourhood). */
#define PLACE_FREED_MAX 128
/* Placement directories made before one is taken whatever it lands near. */
#define PLACE_TRIES 16

typedef struct ApplyPlacement ApplyPlacement;

/* Remembers where the tree dir_fd/name is, right before it is removed: its inode and those of
 * the first directories in it, also for the next laminad. Only on ext4; a no-op elsewhere. */
void apply_place_note_removal(CoreSnapshotter *s, int dir_fd, const char *name);
/* Makes dir_fd/<prefix><random>, the directory a clone is built in, placed by the filesystem
 * (dir_fd is a top directory) and made again under another name while it lands near a
 * recent removal (check: only on ext4), at most PLACE_TRIES times. Returns how many it made
 * (≥ 1), or a negative errno. */
int apply_place_dir(CoreSnapshotter *s, int dir_fd, const char *prefix, bool check, char **ret_name);
void apply_place_free(ApplyPlacement *p);
/* Whether ino is near a tree s removed less than PLACE_RECENT_USEC ago. */
bool apply_place_near(CoreSnapshotter *s, uint64_t ino);

/* The rule itself, for tests: notes ino removed at usec (or, near one noted already, makes
 * that one as recent); whether ino is near one removed less than PLACE_RECENT_USEC before
 * usec. */
void apply_place_note(ApplyPlacement **p, uint64_t ino, uint64_t usec);
bool apply_place_near_removal(const ApplyPlacement *p, uint64_t ino, uint64_t usec);
