/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "labels.h"
#include "strutil.h"

void labels_clear(Labels *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].key);
                free(l->items[i].value);
        }
        free(l->items);
        *l = LABELS_NULL;
}

/* Index of key, or of where it would go, with *found telling which. */
static size_t labels_find(const Labels *l, const char *key, bool *found) {
        size_t lo = 0, hi = l->n;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(l->items[mid].key, key);
                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

int labels_set(Labels *l, const char *key, const char *value) {
        bool found;
        size_t i = labels_find(l, key, &found);

        if (isempty(value)) {
                if (found) {
                        free(l->items[i].key);
                        free(l->items[i].value);
                        memmove(l->items + i, l->items + i + 1, (l->n - i - 1) * sizeof(Label));
                        l->n--;
                }
                return 0;
        }

        _cleanup_free_ char *v = strdup(value);
        if (!v)
                return -ENOMEM;
        if (found) {
                free(l->items[i].value);
                l->items[i].value = TAKE_PTR(v);
                return 0;
        }

        _cleanup_free_ char *k = strdup(key);
        if (!k)
                return -ENOMEM;
        Label *items = realloc(l->items, (l->n + 1) * sizeof(Label));
        if (!items)
                return -ENOMEM;
        l->items = items;
        memmove(l->items + i + 1, l->items + i, (l->n - i) * sizeof(Label));
        l->items[i] = (Label) { .key = TAKE_PTR(k), .value = TAKE_PTR(v) };
        l->n++;
        return 0;
}

/* Sorts by key, and pairs of one key by their position (items[i].value is untouched:
 * positions travel in a side array). */
typedef struct LabelSlot {
        Label label;
        size_t position;
} LabelSlot;

static int label_slot_compare(const void *a, const void *b) {
        const LabelSlot *x = a, *y = b;
        int c = strcmp(x->label.key, y->label.key);

        if (c != 0)
                return c;
        return x->position < y->position ? -1 : x->position > y->position;
}

int labels_build(Label *items, size_t n, Labels *ret) {
        _cleanup_free_ LabelSlot *slots = NULL;
        size_t k = 0;

        if (n > 0) {
                slots = calloc(n, sizeof *slots);
                if (!slots) {
                        Labels all = { .items = items, .n = n };
                        labels_clear(&all);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < n; i++)
                slots[i] = (LabelSlot) { .label = items[i], .position = i };
        if (n > 1)
                qsort(slots, n, sizeof *slots, label_slot_compare);

        /* The last of each run of one key wins; the others and empty values go. items is
         * reused for the result: k never overtakes i. */
        for (size_t i = 0; i < n; i++) {
                Label *l = &slots[i].label;

                if ((i + 1 < n && streq(l->key, slots[i + 1].label.key)) || isempty(l->value)) {
                        free(l->key);
                        free(l->value);
                        continue;
                }
                items[k++] = *l;
        }
        if (k == 0) {
                free(items);
                items = NULL;
        }
        *ret = (Labels) { .items = items, .n = k };
        return 0;
}

const char *labels_get(const Labels *l, const char *key) {
        bool found;
        size_t i = labels_find(l, key, &found);

        return found ? l->items[i].value : NULL;
}

int labels_copy(Labels *dst, const Labels *src) {
        Labels copy = LABELS_NULL;
        int r;

        for (size_t i = 0; i < src->n; i++) {
                r = labels_set(&copy, src->items[i].key, src->items[i].value);
                if (r < 0) {
                        labels_clear(&copy);
                        return r;
                }
        }
        labels_clear(dst);
        *dst = copy;
        return 0;
}

bool labels_equal(const Labels *a, const Labels *b) {
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (!streq(a->items[i].key, b->items[i].key) ||
                    !streq(a->items[i].value, b->items[i].value))
                        return false;
        return true;
}

int labels_validate(const Labels *l, Error *e) {
        size_t total = 0;

        for (size_t i = 0; i < l->n; i++) {
                const char *k = l->items[i].key, *v = l->items[i].value;
                size_t pair = strlen(k) + strlen(v);

                if (isempty(k))
                        return error_setf(e, EINVAL, "label keys must not be empty");
                if (pair > LABEL_PAIR_MAX)
                        return error_setf(e, EINVAL,
                                          "label %s: key and value are %zu bytes, more than the limit of %u; shorten it",
                                          QUOTE(k), pair, LABEL_PAIR_MAX);
                if (!utf8_is_printable(k) || !utf8_is_printable(v))
                        return error_setf(e, EINVAL,
                                          "label %s: key and value must be UTF-8 without control characters",
                                          QUOTE(k));
                total += pair;
        }
        if (total > LABELS_TOTAL_MAX)
                return error_setf(e, EINVAL, "labels are %zu bytes in all, more than the limit of %u; drop some",
                                  total, LABELS_TOTAL_MAX);
        return 0;
}
