/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "alloc-util.h"

int greedy_realloc(void **p, size_t *allocated, size_t need, size_t size, size_t first) {
        size_t n = *allocated ? *allocated : first;
        void *q;

        if (need <= *allocated)
                return 0;
        if (n == 0)
                n = 1;
        while (n < need) {
                if (n > SIZE_MAX / 2)
                        return -ENOMEM;
                n *= 2;
        }
        /* Checked here, not left to reallocarray(): the sanitizer's aborts instead of failing. */
        if (size > 0 && n > SIZE_MAX / size)
                return -ENOMEM;
        q = realloc(*p, n * size);
        if (!q)
                return -ENOMEM;
        *p = q;
        *allocated = n;
        return 0;
}
