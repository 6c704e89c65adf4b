/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The matcher's thread sets kept as the states of a DFA built as the input asks for them
 * (a lazy DFA): a state is the set of character instructions alive at a position, a new
 * thread from the start included, and its successor on an ASCII byte leading to a position
 * inside the text is computed once by the Pike VM (filter-regex.c), then looked up. Only for
 * programs whose assertions are those of the text's ends (^ $ \A \z), which never hold inside
 * it; the last rune and runes of 128 or more are stepped by the VM. The cache holds at most
 * 2 * size + 8 states and is emptied when full: an input that reaches a new state at every
 * byte ("(a|b)*a(a|b){20}" over a and b) costs what the VM costs plus a lookup, one that
 * stays among a few states ("x{254}y" over x, 500 threads' steps per byte in the VM) one
 * lookup per byte. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "filter-regex-internal.h"

#define DFA_UNKNOWN (-1)
#define DFA_MATCHED (-2)

/* States are numbered in int16_t, their instructions counted in uint16_t. */
_Static_assert(2 * FILTER_REGEX_SIZE_MAX + 8 <= INT16_MAX, "DFA states must fit an int16_t");

struct RegexDfa {
        size_t words;          /* of a state's bitmap of instructions */
        size_t max, n;         /* states */
        uint64_t *bits;        /* max * words; and one more: the key being looked up */
        uint16_t *threads;     /* max: how many instructions each state has */
        int16_t *next;         /* max * 128: the state after each ASCII byte */
        int16_t *table;        /* hash of the bits to a state, -1: empty */
        size_t table_size;     /* a power of two, at least twice max */
        uint64_t generation;   /* times the cache was emptied */
        int start;             /* the state of a new thread alone, -1: not known */
};

RegexDfa *regex_dfa_free(RegexDfa *d) {
        if (!d)
                return NULL;
        free(d->bits);
        free(d->threads);
        free(d->next);
        free(d->table);
        free(d);
        return NULL;
}

int regex_dfa_new(const FilterRegex *re, RegexDfa **ret) {
        RegexDfa *d;

        *ret = NULL;
        for (size_t i = 0; i < re->n; i++)
                if (re->prog[i].op == OP_ASSERT && re->prog[i].x != ASSERT_BEGIN_TEXT &&
                    re->prog[i].x != ASSERT_END_TEXT)
                        return 0;
        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->words = (re->n + 63) / 64;
        d->max = 2 * re->n + 8;
        for (d->table_size = 16; d->table_size < 2 * d->max; d->table_size *= 2)
                ;
        d->bits = calloc((d->max + 1) * d->words, sizeof *d->bits);
        d->threads = calloc(d->max, sizeof *d->threads);
        d->next = calloc(d->max * 128, sizeof *d->next);
        d->table = malloc(d->table_size * sizeof *d->table);
        if (!d->bits || !d->threads || !d->next || !d->table) {
                regex_dfa_free(d);
                return -ENOMEM;
        }
        memset(d->table, 0xff, d->table_size * sizeof *d->table);
        d->start = -1;
        *ret = d;
        return 0;
}

static size_t dfa_hash(const RegexDfa *d, const uint64_t *key) {
        uint64_t h = 0x9e3779b97f4a7c15u;

        for (size_t i = 0; i < d->words; i++) {
                h = (h ^ key[i]) * 0xff51afd7ed558ccdu;
                h ^= h >> 32;
        }
        return (size_t) h & (d->table_size - 1);
}

/* The state of the character instructions in l, found or added (the cache emptied first
 * when it is full). */
static int dfa_state(RegexDfa *d, const FilterRegex *re, const ThreadList *l) {
        uint64_t *key = d->bits + d->max * d->words;
        size_t slot, threads = 0;
        int s;

        memset(key, 0, d->words * sizeof *key);
        for (size_t i = 0; i < l->n; i++)
                if (re->prog[l->dense[i]].op == OP_CLASS) {
                        key[l->dense[i] / 64] |= UINT64_C(1) << (l->dense[i] % 64);
                        threads++;
                }
        for (slot = dfa_hash(d, key); d->table[slot] >= 0; slot = (slot + 1) & (d->table_size - 1))
                if (memcmp(d->bits + (size_t) d->table[slot] * d->words, key, d->words * sizeof *key) == 0)
                        return d->table[slot];
        if (d->n == d->max) {
                d->n = 0;
                d->generation++;
                d->start = -1;
                memset(d->table, 0xff, d->table_size * sizeof *d->table);
                slot = dfa_hash(d, key);
        }
        s = (int) d->n++;
        memcpy(d->bits + (size_t) s * d->words, key, d->words * sizeof *key);
        d->threads[s] = (uint16_t) threads;
        for (size_t b = 0; b < 128; b++)
                d->next[(size_t) s * 128 + b] = DFA_UNKNOWN;
        d->table[slot] = (int16_t) s;
        return s;
}

/* Puts the instructions of state s into l. */
static void dfa_threads(const RegexDfa *d, int s, ThreadList *l) {
        l->n = 0;
        for (size_t w = 0; w < d->words; w++)
                for (uint64_t bits = d->bits[(size_t) s * d->words + w]; bits != 0; bits &= bits - 1) {
                        uint32_t pc = (uint32_t) (w * 64 + (size_t) __builtin_ctzll(bits));

                        l->sparse[pc] = (uint32_t) l->n;
                        l->dense[l->n++] = pc;
                }
}

/* The state after s on ASCII byte b, at a position inside the text (where the assertions of
 * its ends do not hold), computed by the VM and kept unless the cache was emptied meanwhile. */
static int dfa_successor(FilterRegex *re, RegexDfa *d, int s, unsigned char b) {
        const Position inside = { .prev = b, .next = 0 };
        ThreadList *now = &re->lists[0], *next = &re->lists[1];
        uint64_t generation = d->generation;
        int t;

        bool none;

        dfa_threads(d, s, now);
        if (regex_step(re, now, next, b, &inside))
                return DFA_MATCHED; /* not kept: the search ends */
        none = next->n == 0;
        if (!re->anchored && regex_thread_add(re, next, 0, &inside))
                return DFA_MATCHED;
        t = dfa_state(d, re, next);
        if (none && !re->anchored)
                d->start = t;
        if (d->generation == generation)
                d->next[(size_t) s * 128 + b] = (int16_t) t;
        return t;
}

bool regex_dfa_search(FilterRegex *re, const unsigned char *u, size_t len) {
        ThreadList *now = &re->lists[0], *next = &re->lists[1], *swap;
        RegexDfa *d = re->dfa;
        Position at = { .prev = RUNE_NONE, .next = RUNE_NONE };
        size_t pos = 0;

        now->n = 0;
        if (len > 0)
                rune_decode(u, len, &at.next);
        if (regex_thread_add(re, now, 0, &at))
                return true;
        for (;;) {
                Position after = { .next = RUNE_NONE };
                size_t width;
                int s;

                if (pos == len || (now->n == 0 && re->anchored))
                        return false;
                s = dfa_state(d, re, now);
                /* ASCII bytes leading inside the text: through the cache. From the state
                 * of a new thread alone, bytes no match starts with lead back to it. */
                while (u[pos] < 128 && pos + 1 < len) {
                        int t;

                        if (s == d->start && re->skip && !regex_first_has(re, u[pos])) {
                                pos++;
                                continue;
                        }
                        t = d->next[(size_t) s * 128 + u[pos]];
                        if (t == DFA_UNKNOWN)
                                t = dfa_successor(re, d, s, u[pos]);
                        else
                                re->steps++;
                        if (t == DFA_MATCHED)
                                return true;
                        s = t;
                        pos++;
                        if (d->threads[s] == 0 && re->anchored)
                                return false;
                }
                /* The last rune, or one of 128 or more: by the VM. */
                dfa_threads(d, s, now);
                width = rune_decode(u + pos, len - pos, &after.prev);
                if (pos + width < len)
                        rune_decode(u + pos + width, len - pos - width, &after.next);
                if (regex_step(re, now, next, after.prev, &after))
                        return true;
                pos += width;
                if (!re->anchored && regex_thread_add(re, next, 0, &after))
                        return true;
                swap = now;
                now = next;
                next = swap;
        }
}
