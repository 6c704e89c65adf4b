/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "inode-map.h"

static InodeMapEntry *slot_find(InodeMapEntry *slots, size_t n_slots, dev_t dev, ino_t ino) {
        uint64_t h = ((uint64_t) ino ^ ((uint64_t) dev << 32)) * UINT64_C(0x9e3779b97f4a7c15);

        for (size_t i = (size_t) (h >> 32) & (n_slots - 1);; i = (i + 1) & (n_slots - 1))
                if (!slots[i].used || (slots[i].dev == dev && slots[i].ino == ino))
                        return &slots[i];
}

void *inode_map_get(const InodeMap *m, dev_t dev, ino_t ino) {
        return m->n_slots > 0 ? slot_find(m->slots, m->n_slots, dev, ino)->value : NULL;
}

static int grow(InodeMap *m) {
        size_t n_slots = m->n_slots ? m->n_slots * 2 : 64;
        InodeMapEntry *slots;

        if (n_slots < m->n_slots || n_slots > SIZE_MAX / sizeof(InodeMapEntry))
                return -ENOMEM;
        slots = calloc(n_slots, sizeof(InodeMapEntry));
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_slots; i++)
                if (m->slots[i].used)
                        *slot_find(slots, n_slots, m->slots[i].dev, m->slots[i].ino) = m->slots[i];
        free(m->slots);
        m->slots = slots;
        m->n_slots = n_slots;
        return 0;
}

int inode_map_put(InodeMap *m, dev_t dev, ino_t ino, void *value) {
        InodeMapEntry *e;

        if ((m->n + 1) * 2 > m->n_slots) {
                int r = grow(m);
                if (r < 0)
                        return r;
        }
        e = slot_find(m->slots, m->n_slots, dev, ino);
        if (e->used)
                return 0;
        *e = (InodeMapEntry) { .dev = dev, .ino = ino, .value = value, .used = 1 };
        m->n++;
        return 1;
}

void inode_map_clear(InodeMap *m) {
        for (size_t i = 0; m->free_value && i < m->n_slots; i++)
                if (m->slots[i].used)
                        m->free_value(m->slots[i].value);
        free(m->slots);
        *m = (InodeMap) { .free_value = m->free_value };
}
