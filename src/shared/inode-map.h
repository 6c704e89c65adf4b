/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "macro.h"

/* A hash map from (st_dev, st_ino) to a pointer, for hardlink groups: constant time per
 * lookup and insert (open addressing, at most half full), linear memory. */

typedef struct InodeMapEntry {
        dev_t dev;
        ino_t ino;
        void *value;
        int used;
} InodeMapEntry;

typedef struct InodeMap {
        InodeMapEntry *slots;
        size_t n, n_slots; /* n_slots is 0 or a power of two */
        void (*free_value)(void *value);
} InodeMap;

/* The value stored for (dev, ino), or NULL. */
void *inode_map_get(const InodeMap *m, dev_t dev, ino_t ino);

/* Stores value for (dev, ino). Returns 1 when it was new, 0 when (dev, ino) was already
 * there (value not stored: the caller still owns it), or -ENOMEM. */
int inode_map_put(InodeMap *m, dev_t dev, ino_t ino, void *value);

/* Frees every value with m->free_value (when set) and the table. */
void inode_map_clear(InodeMap *m);
