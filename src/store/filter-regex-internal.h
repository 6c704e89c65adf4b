/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The parts of filter-regex.c: a pattern is parsed (filter-regex-parse.c) into a tree of
 * RegexNodes whose characters are sets of runes (filter-regex-class.c), then compiled into a
 * program the matcher runs (filter-regex.c). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filter-regex.h"

#define RUNE_MAX 0x10ffffu
#define RUNE_ERROR 0xfffdu

/* Decodes the UTF-8 character at s[0..len) as Go does: an invalid or truncated sequence
 * is RUNE_ERROR, one byte wide. Returns its width (len > 0). */
size_t rune_decode(const unsigned char *s, size_t len, uint32_t *ret);

typedef struct RuneRange {
        uint32_t lo, hi;
} RuneRange;

/* A set of runes: sorted, disjoint, non-adjacent ranges once normalized. */
typedef struct RuneSet {
        RuneRange *ranges;
        size_t n, allocated;
} RuneSet;

void rune_set_clear(RuneSet *s);
int rune_set_add(RuneSet *s, uint32_t lo, uint32_t hi);
int rune_set_add_set(RuneSet *s, const RuneSet *from);
void rune_set_normalize(RuneSet *s);
int rune_set_negate(RuneSet *s);
/* Adds the other cases of every letter in s (Go's (?i)), normalized. */
int rune_set_fold(RuneSet *s);
bool rune_set_has(const RuneSet *s, uint32_t r);

/* Adds \d \s \w (and their negations, upper case) to s, folded first when fold (as Go
 * does: (?i)\W leaves out k and s, whose other cases include non-word runes); -ENOENT for
 * another letter. */
int rune_set_perl(RuneSet *s, char c, bool fold);
/* The same for [:name:] or [:^name:] (name without the brackets and colons, n bytes);
 * -EINVAL when it is unknown. */
int rune_set_posix(RuneSet *s, const char *name, size_t n, bool fold);

typedef enum RegexAssert {
        ASSERT_BEGIN_TEXT,  /* ^, \A */
        ASSERT_END_TEXT,    /* $, \z */
        ASSERT_BEGIN_LINE,  /* ^ with (?m) */
        ASSERT_END_LINE,    /* $ with (?m) */
        ASSERT_WORD,        /* \b, ASCII word characters */
        ASSERT_NOT_WORD,    /* \B */
} RegexAssert;

typedef enum RegexNodeType {
        NODE_EMPTY,
        NODE_CLASS,  /* one rune of classes[class] */
        NODE_ASSERT,
        NODE_CONCAT, /* children */
        NODE_ALT,    /* children */
        NODE_REPEAT, /* child, min to max times (max -1: any) */
} RegexNodeType;

#define REGEX_REPEAT_MAX 1000
/* Groups nest at most this deep (Go allows 1000; real patterns nest a few). */
#define REGEX_DEPTH_MAX 100

typedef struct RegexNode {
        RegexNodeType type;
        size_t child, next; /* first child, next sibling; 0: none (node 0 is never a child) */
        int min, max;
        RegexAssert assert;
        size_t class;
} RegexNode;

typedef struct RegexTree {
        RegexNode *nodes;
        size_t n_nodes, allocated_nodes;
        RuneSet *classes;
        size_t n_classes, allocated_classes;
        size_t root;
} RegexTree;

void regex_tree_clear(RegexTree *t);
/* Parses pattern (Go's regexp syntax) into t. -EINVAL with *ret_why (static) when it is
 * not valid or uses what Go does not support either (backreferences, lookaround). */
int regex_parse(const char *pattern, RegexTree *t, const char **ret_why);

/* --- the compiled program (filter-regex.c) and its DFA cache (filter-regex-dfa.c) --- */

typedef struct RegexDfa RegexDfa;

typedef enum InstOp {
        OP_CLASS,  /* one rune of classes[x], then the next instruction */
        OP_ASSERT, /* an empty match where x (a RegexAssert) holds */
        OP_SPLIT,  /* both x and y */
        OP_JMP,    /* x */
        OP_MATCH,
} InstOp;

typedef struct Inst {
        InstOp op;
        uint32_t x, y;
} Inst;

typedef struct RegexClass {
        uint64_t ascii[2]; /* runes below 128, bit by bit */
        RuneSet set;
} RegexClass;

/* The threads at one position: a sparse set of instructions. */
typedef struct ThreadList {
        uint32_t *dense, *sparse;
        size_t n;
} ThreadList;

struct FilterRegex {
        Inst *prog;
        size_t n;
        RegexClass *classes;
        size_t n_classes;
        ThreadList lists[2];
        uint32_t *stack;
        bool anchored; /* starts with ^: only threads from position 0 */
        /* When no thread is alive, positions whose first byte cannot start a match are
         * skipped (skip: a match needs a first rune): the ASCII bytes that can, and whether
         * any byte of 128 or more can. */
        bool skip, first_high;
        uint64_t first[2];
        RegexDfa *dfa; /* NULL: the program has assertions it cannot take */
        uint64_t steps;
};

#define RUNE_NONE UINT32_MAX /* before the start or after the end */

/* What the assertions see at a position between two runes. */
typedef struct Position {
        uint32_t prev, next;
} Position;

static inline bool regex_class_has(const RegexClass *k, uint32_t r) {
        if (r < 128)
                return k->ascii[r / 64] & (UINT64_C(1) << (r % 64));
        return rune_set_has(&k->set, r);
}

/* Whether a match may start with the rune whose first byte is b (re->skip). */
static inline bool regex_first_has(const FilterRegex *re, unsigned char b) {
        return b < 128 ? re->first[b / 64] & (UINT64_C(1) << (b % 64)) : re->first_high;
}

/* Adds the thread at pc and all it reaches without a rune at position at to l; true when
 * one of them matches. */
bool regex_thread_add(FilterRegex *re, ThreadList *l, uint32_t pc, const Position *at);
/* Steps the threads of now over rune r into next (emptied first), at position after;
 * true when one of them matches. */
bool regex_step(FilterRegex *re, const ThreadList *now, ThreadList *next, uint32_t r, const Position *after);

/* A DFA cache for re, or *ret NULL when its program has assertions other than those of the
 * text's ends. */
int regex_dfa_new(const FilterRegex *re, RegexDfa **ret);
RegexDfa *regex_dfa_free(RegexDfa *d);
/* filter_regex_search() through re->dfa. */
bool regex_dfa_search(FilterRegex *re, const unsigned char *u, size_t len);
