/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdint.h>
#include <string.h>

#include "layer-paths.h"

void layer_paths_done(LayerPaths *p) {
        p->list.l = strv_free(p->list.l);
        p->list.n = p->list.allocated = 0;
        free(p->slots);
        p->slots = NULL;
        p->n_slots = 0;
}

static uint64_t hash_path(const char *s) {
        uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a */

        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * UINT64_C(1099511628211);
        return h;
}

/* The slot holding path, or the free slot where it belongs. */
static size_t find_slot(size_t *slots, size_t n_slots, char *const *items, const char *path) {
        size_t i = (size_t) hash_path(path) & (n_slots - 1);

        while (slots[i] != 0 && !streq(items[slots[i] - 1], path))
                i = (i + 1) & (n_slots - 1);
        return i;
}

static int grow(LayerPaths *p) {
        size_t n = p->n_slots ? p->n_slots * 2 : 64;
        size_t *slots = calloc(n, sizeof(size_t));

        if (!slots)
                return -ENOMEM;
        for (size_t k = 0; k < p->list.n; k++)
                slots[find_slot(slots, n, p->list.l, p->list.l[k])] = k + 1;
        free(p->slots);
        p->slots = slots;
        p->n_slots = n;
        return 0;
}

int layer_paths_add(LayerPaths *p, const char *path) {
        size_t i;
        int r;

        if (layer_paths_contains(p, path))
                return 0;
        if (2 * (p->list.n + 1) >= p->n_slots) {
                r = grow(p);
                if (r < 0)
                        return r;
        }
        r = strv_builder_extend(&p->list, path);
        if (r < 0)
                return r;
        i = find_slot(p->slots, p->n_slots, p->list.l, path);
        p->slots[i] = p->list.n;
        return 1;
}

bool layer_paths_contains(const LayerPaths *p, const char *path) {
        if (p->n_slots == 0)
                return false;
        return p->slots[find_slot(p->slots, p->n_slots, p->list.l, path)] != 0;
}
