/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* A snapshot's labels: key/value strings kept sorted by key, values never empty. */
typedef struct Label {
        char *key;
        char *value;
} Label;

typedef struct Labels {
        Label *items;
        size_t n;
} Labels;

#define LABELS_NULL ((Labels) {})
#define LABEL_PAIR_MAX 4096u        /* len(key) + len(value) */
#define LABELS_TOTAL_MAX (64u * 1024u)

void labels_clear(Labels *l);
/* Sets key to value; an empty value deletes the key. */
int labels_set(Labels *l, const char *key, const char *value);
/* Labels from n pairs as a caller sent them, in O(n log n): for a key sent more than once
 * the last value wins, and an empty value deletes it (it is dropped). Takes the pairs'
 * strings and frees items itself, also on failure. */
int labels_build(Label *items, size_t n, Labels *ret);
const char *labels_get(const Labels *l, const char *key);
int labels_copy(Labels *dst, const Labels *src);
bool labels_equal(const Labels *a, const Labels *b);
/* The API's label limits: non-empty key, pair and total sizes, UTF-8 without control chars. */
int labels_validate(const Labels *l, Error *e);
