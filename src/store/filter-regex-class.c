/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sets of runes for the classes of filter patterns: ranges, Go's Perl and POSIX classes,
 * negation and (?i)'s case folding, and UTF-8 decoding as Go's matcher does it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "filter-regex-internal.h"
#include "macro.h"

size_t rune_decode(const unsigned char *s, size_t len, uint32_t *ret) {
        uint32_t r, min;
        size_t n;

        if (s[0] < 0x80) {
                *ret = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                n = 2;
                r = s[0] & 0x1f;
                min = 0x80;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                n = 3;
                r = s[0] & 0x0f;
                min = 0x800;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                n = 4;
                r = s[0] & 0x07;
                min = 0x10000;
        } else
                n = 0;
        if (n == 0 || len < n)
                goto invalid;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        goto invalid;
                r = r << 6 | (s[i] & 0x3f);
        }
        if (r < min || r > RUNE_MAX || (r >= 0xd800 && r <= 0xdfff))
                goto invalid;
        *ret = r;
        return n;
invalid:
        *ret = RUNE_ERROR;
        return 1;
}

void rune_set_clear(RuneSet *s) {
        free(s->ranges);
        *s = (RuneSet) {};
}

int rune_set_add(RuneSet *s, uint32_t lo, uint32_t hi) {
        if (GREEDY_REALLOC(s->ranges, s->allocated, s->n + 1, 4) < 0)
                return -ENOMEM;
        s->ranges[s->n++] = (RuneRange) { lo, hi };
        return 0;
}

int rune_set_add_set(RuneSet *s, const RuneSet *from) {
        for (size_t i = 0; i < from->n; i++) {
                int r = rune_set_add(s, from->ranges[i].lo, from->ranges[i].hi);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int range_compare(const void *a, const void *b) {
        const RuneRange *x = a, *y = b;

        return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void rune_set_normalize(RuneSet *s) {
        size_t n = 0;

        if (s->n == 0)
                return;
        qsort(s->ranges, s->n, sizeof *s->ranges, range_compare);
        for (size_t i = 1; i < s->n; i++) {
                RuneRange *last = s->ranges + n;

                if (s->ranges[i].lo <= last->hi + 1) {
                        if (s->ranges[i].hi > last->hi)
                                last->hi = s->ranges[i].hi;
                } else
                        s->ranges[++n] = s->ranges[i];
        }
        s->n = n + 1;
}

/* Everything not in s: Go's negated classes match "\n" too. */
int rune_set_negate(RuneSet *s) {
        _cleanup_free_ RuneRange *old = NULL;
        uint32_t next = 0;
        size_t n;
        int r;

        rune_set_normalize(s);
        old = TAKE_PTR(s->ranges);
        n = s->n;
        *s = (RuneSet) {};
        for (size_t i = 0; i < n; i++) {
                if (old[i].lo > next) {
                        r = rune_set_add(s, next, old[i].lo - 1);
                        if (r < 0)
                                return r;
                }
                next = old[i].hi + 1;
        }
        return next <= RUNE_MAX ? rune_set_add(s, next, RUNE_MAX) : 0;
}

bool rune_set_has(const RuneSet *s, uint32_t r) {
        size_t lo = 0, hi = s->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (r < s->ranges[mid].lo)
                        hi = mid;
                else if (r > s->ranges[mid].hi)
                        lo = mid + 1;
                else
                        return true;
        }
        return false;
}

/* Go folds by Unicode's simple case folding; these tables cover the letters of ASCII,
 * Latin-1, Latin Extended-A and -Additional, Greek and Cyrillic (docs say so). */

/* Letters whose other case is delta away. */
static const struct {
        uint32_t lo, hi;
        int32_t delta;
} fold_shift[] = {
        { 'A', 'Z', 32 },       { 'a', 'z', -32 },       { 0xc0, 0xd6, 32 },     { 0xd8, 0xde, 32 },
        { 0xe0, 0xf6, -32 },    { 0xf8, 0xfe, -32 },     { 0x391, 0x3a1, 32 },   { 0x3a3, 0x3ab, 32 },
        { 0x3b1, 0x3c1, -32 },  { 0x3c3, 0x3cb, -32 },   { 0x400, 0x40f, 80 },   { 0x410, 0x42f, 32 },
        { 0x430, 0x44f, -32 },  { 0x450, 0x45f, -80 },   { 0x386, 0x386, 38 },   { 0x3ac, 0x3ac, -38 },
        { 0x388, 0x38a, 37 },   { 0x3ad, 0x3af, -37 },   { 0x38c, 0x38c, 64 },   { 0x3cc, 0x3cc, -64 },
        { 0x38e, 0x38f, 63 },   { 0x3cd, 0x3ce, -63 },
};

/* Blocks of alternating cases: lo, lo+1 are one letter, lo+2, lo+3 the next... */
static const RuneRange fold_pairs[] = {
        { 0x100, 0x12f }, { 0x132, 0x137 }, { 0x139, 0x148 }, { 0x14a, 0x177 },   { 0x179, 0x17e },
        { 0x460, 0x481 }, { 0x48a, 0x4bf }, { 0x4c1, 0x4ce }, { 0x4d0, 0x52f },   { 0x1e00, 0x1e95 },
        { 0x1ea0, 0x1eff },
};

/* Letters folding together beyond the tables above (0: end of the orbit). */
static const uint32_t fold_orbits[][4] = {
        { 'K', 'k', 0x212a }, { 'S', 's', 0x17f }, { 0xb5, 0x39c, 0x3bc }, { 0x3a3, 0x3c2, 0x3c3 },
        { 0xdf, 0x1e9e },     { 0xff, 0x178 },     { 0xc5, 0xe5, 0x212b },
};

static uint32_t max_u32(uint32_t a, uint32_t b) {
        return a > b ? a : b;
}

static uint32_t min_u32(uint32_t a, uint32_t b) {
        return a < b ? a : b;
}

static bool ranges_have(const RuneRange *r, size_t n, uint32_t c) {
        for (size_t i = 0; i < n; i++)
                if (c >= r[i].lo && c <= r[i].hi)
                        return true;
        return false;
}

int rune_set_fold(RuneSet *s) {
        size_t n = s->n;
        int r = 0;

        for (size_t i = 0; i < n && r >= 0; i++) {
                RuneRange x = s->ranges[i];

                for (size_t j = 0; j < ELEMENTSOF(fold_shift) && r >= 0; j++) {
                        uint32_t lo = max_u32(x.lo, fold_shift[j].lo), hi = min_u32(x.hi, fold_shift[j].hi);
                        if (lo <= hi)
                                r = rune_set_add(s, lo + (uint32_t) fold_shift[j].delta,
                                                 hi + (uint32_t) fold_shift[j].delta);
                }
                for (size_t j = 0; j < ELEMENTSOF(fold_pairs) && r >= 0; j++) {
                        uint32_t base = fold_pairs[j].lo, lo = max_u32(x.lo, base), hi = min_u32(x.hi, fold_pairs[j].hi);
                        if (lo <= hi)
                                r = rune_set_add(s, base + ((lo - base) & ~1u),
                                                 min_u32(fold_pairs[j].hi, base + ((hi - base) | 1u)));
                }
        }
        for (size_t j = 0; j < ELEMENTSOF(fold_orbits) && r >= 0; j++) {
                bool in = false;

                for (size_t k = 0; k < 4 && fold_orbits[j][k]; k++)
                        in = in || ranges_have(s->ranges, n, fold_orbits[j][k]);
                for (size_t k = 0; in && k < 4 && fold_orbits[j][k] && r >= 0; k++)
                        r = rune_set_add(s, fold_orbits[j][k], fold_orbits[j][k]);
        }
        if (r < 0)
                return r;
        rune_set_normalize(s);
        return 0;
}

/* Ranges as pairs of characters, n bytes: "09" is [0-9]. */
typedef struct RunePairs {
        const char *pairs;
        size_t n;
} RunePairs;
#define PAIRS(s) { s, sizeof(s) - 1 }

/* Adds the class to s, folded first under (?i) and then negated, as Go does. */
static int rune_set_add_class(RuneSet *s, RunePairs p, bool negate, bool fold) {
        RuneSet t = {};
        int r = 0;

        for (size_t i = 0; i + 1 < p.n && r >= 0; i += 2)
                r = rune_set_add(&t, (unsigned char) p.pairs[i], (unsigned char) p.pairs[i + 1]);
        if (r >= 0 && fold)
                r = rune_set_fold(&t);
        if (r >= 0 && negate)
                r = rune_set_negate(&t);
        if (r >= 0)
                r = rune_set_add_set(s, &t);
        rune_set_clear(&t);
        return r;
}

int rune_set_perl(RuneSet *s, char c, bool fold) {
        static const RunePairs digit = PAIRS("09"), space = PAIRS("\t\n\f\r  "), word = PAIRS("09AZ__az");

        switch (c) {
        case 'd':
        case 'D':
                return rune_set_add_class(s, digit, c == 'D', fold);
        case 's':
        case 'S':
                return rune_set_add_class(s, space, c == 'S', fold);
        case 'w':
        case 'W':
                return rune_set_add_class(s, word, c == 'W', fold);
        }
        return -ENOENT;
}

int rune_set_posix(RuneSet *s, const char *name, size_t n, bool fold) {
        static const struct {
                const char *name;
                RunePairs p;
        } posix[] = {
                { "alnum", PAIRS("09AZaz") },
                { "alpha", PAIRS("AZaz") },
                { "ascii", PAIRS("\0\x7f") },
                { "blank", PAIRS("\t\t  ") },
                { "cntrl", PAIRS("\0\x1f\x7f\x7f") },
                { "digit", PAIRS("09") },
                { "graph", PAIRS("!~") },
                { "lower", PAIRS("az") },
                { "print", PAIRS(" ~") },
                { "punct", PAIRS("!/:@[`{~") },
                { "space", PAIRS("\t\r  ") },
                { "upper", PAIRS("AZ") },
                { "word", PAIRS("09AZ__az") },
                { "xdigit", PAIRS("09AFaf") },
        };
        bool negate = n > 0 && name[0] == '^';

        if (negate) {
                name++;
                n--;
        }
        for (size_t i = 0; i < ELEMENTSOF(posix); i++)
                if (strlen(posix[i].name) == n && memcmp(posix[i].name, name, n) == 0)
                        return rune_set_add_class(s, posix[i].p, negate, fold);
        return -EINVAL;
}
