/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>

#include "ctl-image.h"
#include "ctl.h"

/* An image being imported (ctl-import.c reads it, ctl-import-layers.c imports its layers). */
typedef struct Layer {
        const char *path;    /* the (possibly compressed) tar in the image */
        const char *diff_id; /* digest of the uncompressed tar */
        char chain_id[7 + 64 + 1];
} Layer;

/* What either format yields: the layers bottom first, and the name the image carries, if any. */
typedef struct Image {
        json_object *manifest, *config;
        char *ref;
        char **paths; /* owns Layer.path */
        Layer *layers;
        size_t n;
} Image;

/* Makes every layer of img that laminad lacks a committed snapshot named by its chain ID,
 * bottom first, each checked against its diff ID; *ret_new: how many this import made. On
 * overlayfs up to import_jobs() layers are applied at once, each into a snapshot prepared
 * with the rebase option and committed onto its parent in chain order; elsewhere one after
 * the other. Interrupted, it takes back what it made. *ret_rebased: how many of the new ones
 * were applied without their parent and committed onto it. */
int import_layers(Ctl *c, ImageSource *src, const Image *img, size_t *ret_new, size_t *ret_rebased);
