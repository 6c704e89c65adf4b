/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ~= patterns compiled to a program of at most FILTER_REGEX_SIZE_MAX instructions and
 * matched by simulating all of its threads at once (a Pike VM without captures): a thread
 * is an instruction, each is in the list at most once per position, so a search costs at
 * most two steps per instruction and rune however the pattern nests and repeats ("(a*)*b",
 * "(x+x+)+y"), and needs no memory beyond two lists sized by the program (and the DFA
 * cache of filter-regex-dfa.c, bounded by it too). glibc's regexec() backtracked on
 * backreferences and grew its DFA cache without bound; this has neither. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "filter-regex-internal.h"
#include "filter-regex.h"

FilterRegex *filter_regex_free(FilterRegex *re) {
        if (!re)
                return NULL;
        for (size_t i = 0; i < re->n_classes; i++)
                rune_set_clear(&re->classes[i].set);
        free(re->classes);
        for (size_t i = 0; i < 2; i++) {
                free(re->lists[i].dense);
                free(re->lists[i].sparse);
        }
        free(re->stack);
        free(re->prog);
        regex_dfa_free(re->dfa);
        free(re);
        return NULL;
}

static void thread_push(ThreadList *l, uint32_t *stack, size_t *top, uint32_t pc);

/* --- compiling --- */

typedef struct Compiler {
        const RegexTree *t;
        Inst *prog;
        size_t n, max;
} Compiler;

static int emit(Compiler *c, InstOp op, uint32_t x, uint32_t y) {
        if (c->n >= c->max)
                return -E2BIG;
        c->prog[c->n++] = (Inst) { op, x, y };
        return 0;
}

/* Appends a copy of code, compiled at from, n instructions whose jumps stay within it. */
static int emit_copy(Compiler *c, const Inst *code, size_t n, size_t from) {
        uint32_t delta = (uint32_t) (c->n - from);

        if (n > c->max - c->n)
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                Inst in = code[i];

                if (in.op == OP_SPLIT || in.op == OP_JMP) {
                        in.x += delta;
                        in.y += delta;
                }
                c->prog[c->n++] = in;
        }
        return 0;
}

static int compile_node(Compiler *c, size_t node);

/* x{min,max}: min copies of x, then x* (a loop back over the last copy when there is
 * one) or max - min optional copies. x is compiled once, then copied; x{0} and copies of
 * what compiles to nothing ("(){1000}") take nothing. */
static int compile_repeat(Compiler *c, const RegexNode *node) {
        _cleanup_free_ Inst *body = NULL;
        size_t start = c->n, n, split;
        int r;

        r = compile_node(c, node->child);
        if (r < 0)
                return r;
        n = c->n - start;
        if (n == 0 || node->max == 0) {
                c->n = start;
                return 0;
        }
        body = malloc(n * sizeof *body);
        if (!body)
                return -ENOMEM;
        memcpy(body, c->prog + start, n * sizeof *body);
        c->n = start;

        for (int i = 0; i < node->min; i++) {
                r = emit_copy(c, body, n, start);
                if (r < 0)
                        return r;
        }
        if (node->max < 0 && node->min > 0) /* x+ */
                return emit(c, OP_SPLIT, (uint32_t) (c->n - n), (uint32_t) (c->n + 1));
        if (node->max < 0) { /* x*: split, x, back to the split */
                split = c->n;
                r = emit(c, OP_SPLIT, (uint32_t) (split + 1), 0);
                if (r >= 0)
                        r = emit_copy(c, body, n, start);
                if (r >= 0)
                        r = emit(c, OP_JMP, (uint32_t) split, 0);
                if (r >= 0)
                        c->prog[split].y = (uint32_t) c->n;
                return r;
        }
        for (int i = node->min; i < node->max; i++) { /* x? */
                split = c->n;
                r = emit(c, OP_SPLIT, (uint32_t) (split + 1), (uint32_t) (split + 1 + n));
                if (r >= 0)
                        r = emit_copy(c, body, n, start);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* x|y|z: split to x or on, x, jump to the end; ... z. The jumps to patch are chained
 * through their targets until the end is known. */
static int compile_alternation(Compiler *c, const RegexNode *node) {
        uint32_t jumps = UINT32_MAX;
        int r;

        for (size_t k = node->child; k != 0; k = c->t->nodes[k].next) {
                size_t split = c->n;
                bool last = c->t->nodes[k].next == 0;

                if (!last) {
                        r = emit(c, OP_SPLIT, (uint32_t) (split + 1), 0);
                        if (r < 0)
                                return r;
                }
                r = compile_node(c, k);
                if (r < 0)
                        return r;
                if (last)
                        break;
                r = emit(c, OP_JMP, jumps, 0);
                if (r < 0)
                        return r;
                jumps = (uint32_t) (c->n - 1);
                c->prog[split].y = (uint32_t) c->n;
        }
        while (jumps != UINT32_MAX) {
                uint32_t next = c->prog[jumps].x;

                c->prog[jumps].x = (uint32_t) c->n;
                jumps = next;
        }
        return 0;
}

static int compile_node(Compiler *c, size_t index) {
        const RegexNode *node = c->t->nodes + index;
        int r;

        switch (node->type) {
        case NODE_EMPTY:
                return 0;
        case NODE_CLASS:
                return emit(c, OP_CLASS, (uint32_t) node->class, 0);
        case NODE_ASSERT:
                return emit(c, OP_ASSERT, node->assert, 0);
        case NODE_CONCAT:
                for (size_t k = node->child; k != 0; k = c->t->nodes[k].next) {
                        r = compile_node(c, k);
                        if (r < 0)
                                return r;
                }
                return 0;
        case NODE_ALT:
                return compile_alternation(c, node);
        case NODE_REPEAT:
                return compile_repeat(c, node);
        }
        return -EINVAL;
}

/* Takes the tree's classes that the program uses (not those of "(...){0}"), numbered
 * again in their order there, each with a bitmap of its ASCII runes. */
static int regex_take_classes(FilterRegex *re, RegexTree *t) {
        _cleanup_free_ uint32_t *number = malloc((t->n_classes ?: 1) * sizeof *number);

        re->classes = calloc(re->n, sizeof *re->classes);
        if (!number || !re->classes)
                return -ENOMEM;
        memset(number, 0xff, t->n_classes * sizeof *number);
        for (size_t pc = 0; pc < re->n; pc++) {
                Inst *in = re->prog + pc;
                RegexClass *k;

                if (in->op != OP_CLASS)
                        continue;
                if (number[in->x] == UINT32_MAX) {
                        k = re->classes + re->n_classes;
                        k->set = t->classes[in->x];
                        t->classes[in->x] = (RuneSet) {};
                        for (uint32_t r = 0; r < 128; r++)
                                if (rune_set_has(&k->set, r))
                                        k->ascii[r / 64] |= UINT64_C(1) << (r % 64);
                        number[in->x] = (uint32_t) re->n_classes++;
                }
                in->x = number[in->x];
        }
        return 0;
}

/* What the first rune of a match may be: the classes that pc 0 reaches without a rune,
 * assertions taken as holding. None when it reaches the match itself. */
static void regex_first_runes(FilterRegex *re) {
        size_t top = 0;

        re->lists[0].n = 0;
        thread_push(&re->lists[0], re->stack, &top, 0);
        re->skip = true;
        while (top > 0) {
                const Inst *in = re->prog + re->stack[--top];
                const RegexClass *k;

                switch (in->op) {
                case OP_CLASS:
                        k = re->classes + in->x;
                        re->first[0] |= k->ascii[0];
                        re->first[1] |= k->ascii[1];
                        re->first_high = re->first_high || (k->set.n > 0 && k->set.ranges[k->set.n - 1].hi >= 128);
                        break;
                case OP_MATCH:
                        re->skip = false;
                        return;
                case OP_JMP:
                        thread_push(&re->lists[0], re->stack, &top, in->x);
                        break;
                case OP_SPLIT:
                        thread_push(&re->lists[0], re->stack, &top, in->y);
                        thread_push(&re->lists[0], re->stack, &top, in->x);
                        break;
                case OP_ASSERT:
                        thread_push(&re->lists[0], re->stack, &top, (uint32_t) (in - re->prog) + 1);
                        break;
                }
        }
}

int filter_regex_compile(const char *pattern, size_t *budget, FilterRegex **ret, const char **ret_why) {
        _cleanup_(filter_regex_freep) FilterRegex *re = NULL;
        _cleanup_(regex_tree_clear) RegexTree t = {};
        Compiler c = { .max = *budget };
        int r;

        r = regex_parse(pattern, &t, ret_why);
        if (r < 0)
                return r;
        re = calloc(1, sizeof *re);
        if (!re)
                return -ENOMEM;
        c.t = &t;
        c.prog = re->prog = calloc(c.max ?: 1, sizeof *re->prog);
        if (!c.prog)
                return -ENOMEM;
        r = compile_node(&c, t.root);
        if (r >= 0)
                r = emit(&c, OP_MATCH, 0, 0);
        if (r == -E2BIG) {
                *ret_why = "regular expressions too large (too many repetitions, alternatives or characters); simplify them";
                return -EINVAL;
        }
        if (r < 0)
                return r;
        re->n = c.n;
        re->anchored = re->prog[0].op == OP_ASSERT && re->prog[0].x == ASSERT_BEGIN_TEXT;
        r = regex_take_classes(re, &t);
        if (r < 0)
                return r;
        for (size_t i = 0; i < 2; i++) {
                re->lists[i].dense = calloc(re->n, sizeof(uint32_t));
                re->lists[i].sparse = calloc(re->n, sizeof(uint32_t));
                if (!re->lists[i].dense || !re->lists[i].sparse)
                        return -ENOMEM;
        }
        re->stack = calloc(re->n, sizeof(uint32_t));
        if (!re->stack)
                return -ENOMEM;
        if (!re->anchored)
                regex_first_runes(re);
        r = regex_dfa_new(re, &re->dfa);
        if (r < 0)
                return r;
        *budget -= re->n;
        *ret = TAKE_PTR(re);
        return 0;
}

/* --- matching --- */

static bool is_word(uint32_t r) {
        return r < 128 && ((r >= '0' && r <= '9') || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || r == '_');
}

static bool assert_holds(RegexAssert a, const Position *at) {
        switch (a) {
        case ASSERT_BEGIN_TEXT:
                return at->prev == RUNE_NONE;
        case ASSERT_END_TEXT:
                return at->next == RUNE_NONE;
        case ASSERT_BEGIN_LINE:
                return at->prev == RUNE_NONE || at->prev == '\n';
        case ASSERT_END_LINE:
                return at->next == RUNE_NONE || at->next == '\n';
        case ASSERT_WORD:
                return is_word(at->prev) != is_word(at->next);
        case ASSERT_NOT_WORD:
                return is_word(at->prev) == is_word(at->next);
        }
        return false;
}

/* Adds pc to l and to the stack of those to follow, unless l has it already. */
static void thread_push(ThreadList *l, uint32_t *stack, size_t *top, uint32_t pc) {
        if (l->sparse[pc] < l->n && l->dense[l->sparse[pc]] == pc)
                return;
        l->sparse[pc] = (uint32_t) l->n;
        l->dense[l->n++] = pc;
        stack[(*top)++] = pc;
}

bool regex_thread_add(FilterRegex *re, ThreadList *l, uint32_t pc, const Position *at) {
        size_t top = 0;

        thread_push(l, re->stack, &top, pc);
        while (top > 0) {
                const Inst *in = re->prog + re->stack[--top];

                re->steps++;
                switch (in->op) {
                case OP_CLASS:
                        break; /* waits for the next rune */
                case OP_MATCH:
                        return true;
                case OP_JMP:
                        thread_push(l, re->stack, &top, in->x);
                        break;
                case OP_SPLIT:
                        thread_push(l, re->stack, &top, in->y);
                        thread_push(l, re->stack, &top, in->x);
                        break;
                case OP_ASSERT:
                        if (assert_holds(in->x, at))
                                thread_push(l, re->stack, &top, (uint32_t) (in - re->prog) + 1);
                        break;
                }
        }
        return false;
}

bool regex_step(FilterRegex *re, const ThreadList *now, ThreadList *next, uint32_t r, const Position *after) {
        next->n = 0;
        for (size_t i = 0; i < now->n; i++) {
                const Inst *in = re->prog + now->dense[i];

                re->steps++;
                if (in->op == OP_CLASS && regex_class_has(re->classes + in->x, r) &&
                    regex_thread_add(re, next, now->dense[i] + 1, after))
                        return true;
        }
        return false;
}

bool filter_regex_search(FilterRegex *re, const char *s, size_t len) {
        const unsigned char *u = (const unsigned char *) s;
        ThreadList *now = &re->lists[0], *next = &re->lists[1], *swap;
        Position at = { .prev = RUNE_NONE, .next = RUNE_NONE };
        size_t pos = 0, width = 0;

        if (re->dfa)
                return regex_dfa_search(re, u, len);
        now->n = 0;
        if (len > 0)
                width = rune_decode(u, len, &at.next);
        for (;;) {
                Position after = { .prev = at.next, .next = RUNE_NONE };
                size_t after_width = 0;

                /* Bytes skipped are ASCII or not a first rune's: the byte before the new
                 * position is what the assertions need to know of the rune before it. */
                if (now->n == 0 && re->skip && pos < len && !regex_first_has(re, u[pos])) {
                        do
                                pos++;
                        while (pos < len && !regex_first_has(re, u[pos]));
                        at.prev = u[pos - 1] < 128 ? u[pos - 1] : RUNE_ERROR;
                        at.next = RUNE_NONE;
                        width = pos < len ? rune_decode(u + pos, len - pos, &at.next) : 0;
                        after.prev = at.next;
                }

                /* An unanchored search: a new thread at every position. */
                if ((pos == 0 || !re->anchored) && regex_thread_add(re, now, 0, &at))
                        return true;
                if (pos == len || (now->n == 0 && re->anchored))
                        return false;
                if (pos + width < len)
                        after_width = rune_decode(u + pos + width, len - pos - width, &after.next);
                if (regex_step(re, now, next, at.next, &after))
                        return true;
                swap = now;
                now = next;
                next = swap;
                pos += width;
                width = after_width;
                at = after;
        }
}

uint64_t filter_regex_steps(const FilterRegex *re) {
        return re->steps;
}

size_t filter_regex_size(const FilterRegex *re) {
        return re->n;
}
