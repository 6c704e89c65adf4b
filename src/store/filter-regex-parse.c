/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Go's regexp syntax (RE2's, as containerd compiles ~= patterns: Perl flags, ^ and $ at the
 * ends of the text, negated classes matching "\n") into a RegexTree. Refused as Go refuses
 * them: backreferences, lookaround, \C, unknown escapes, stacked repetitions ("a**"),
 * counts above 1000; and, where Go would accept them, Unicode classes (\pL) and groups
 * nested deeper than REGEX_DEPTH_MAX. Each of the parser's steps consumes input, and it
 * recurses only into groups. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "filter-regex-internal.h"
#include "macro.h"

enum {
        FLAG_FOLD = 1 << 0,      /* (?i) */
        FLAG_MULTILINE = 1 << 1, /* (?m): ^ and $ at lines */
        FLAG_DOTNL = 1 << 2,     /* (?s): . matches "\n" */
};

typedef struct Parser {
        const char *s;
        size_t pos;
        RegexTree *t;
        const char **why;
        bool no_posix_end; /* no ":]" after p->pos: "[:" is no [:class:] (nor searched again) */
} Parser;

static int refuse(Parser *p, const char *why) {
        *p->why = why;
        return -EINVAL;
}

static char peek(const Parser *p) {
        return p->s[p->pos];
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_alnum(char c) {
        return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int hex_digit(char c) {
        if (is_digit(c))
                return c - '0';
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
                return (c | 0x20) - 'a' + 10;
        return -1;
}

void regex_tree_clear(RegexTree *t) {
        for (size_t i = 0; i < t->n_classes; i++)
                rune_set_clear(t->classes + i);
        free(t->classes);
        free(t->nodes);
        *t = (RegexTree) {};
}

/* Node 0 stands for "none": the first real node is 1. */
static int node_new(Parser *p, RegexNodeType type, size_t *ret) {
        RegexTree *t = p->t;

        if (GREEDY_REALLOC(t->nodes, t->allocated_nodes, t->n_nodes + (t->n_nodes == 0) + 1, 16) < 0)
                return -ENOMEM;
        if (t->n_nodes == 0)
                t->nodes[t->n_nodes++] = (RegexNode) {};
        t->nodes[t->n_nodes] = (RegexNode) { .type = type };
        *ret = t->n_nodes++;
        return 0;
}

/* A node matching one rune of set (which it takes), or of all others when negate. */
static int node_class(Parser *p, RuneSet *set, bool negate, size_t *ret) {
        RegexTree *t = p->t;
        int r = 0;

        if (negate)
                r = rune_set_negate(set);
        if (r >= 0)
                r = GREEDY_REALLOC(t->classes, t->allocated_classes, t->n_classes + 1, 8);
        if (r >= 0)
                r = node_new(p, NODE_CLASS, ret);
        if (r < 0) {
                rune_set_clear(set);
                return r;
        }
        rune_set_normalize(set);
        t->nodes[*ret].class = t->n_classes;
        t->classes[t->n_classes++] = *set;
        *set = (RuneSet) {};
        return 0;
}

static int node_rune(Parser *p, uint32_t rune, unsigned flags, size_t *ret) {
        RuneSet set = {};
        int r = rune_set_add(&set, rune, rune);

        if (r >= 0 && (flags & FLAG_FOLD))
                r = rune_set_fold(&set);
        if (r < 0) {
                rune_set_clear(&set);
                return r;
        }
        return node_class(p, &set, false, ret);
}

static int node_assert(Parser *p, RegexAssert a, size_t *ret) {
        int r = node_new(p, NODE_ASSERT, ret);

        if (r >= 0)
                p->t->nodes[*ret].assert = a;
        return r;
}

/* Go's rune escapes after the backslash at p->pos: \a \f \n \r \t \v, octal \0, \012,
 * \x7f, \x{10ffff}, and any ASCII punctuation for itself. */
static int parse_escape(Parser *p, uint32_t *ret) {
        char c = p->s[p->pos + 1];
        uint32_t v = 0;
        int d;

        p->pos += 2;
        switch (c) {
        case '0' ... '9':
                /* \0 and \012 are octal; \1 to \9 alone would be backreferences. */
                if (c != '0' && (c > '7' || peek(p) < '0' || peek(p) > '7'))
                        return refuse(p, "backreferences (\\1 to \\9) are not supported in regular expressions");
                v = (uint32_t) (c - '0');
                for (int i = 0; i < 2 && peek(p) >= '0' && peek(p) <= '7'; i++)
                        v = v * 8 + (uint32_t) (p->s[p->pos++] - '0');
                break;
        case 'x':
                if (peek(p) == '{') {
                        size_t start = ++p->pos;

                        while ((d = hex_digit(peek(p))) >= 0 && v <= RUNE_MAX) {
                                v = v * 16 + (uint32_t) d;
                                p->pos++;
                        }
                        if (p->pos == start || peek(p) != '}' || v > RUNE_MAX)
                                return refuse(p, "invalid escape sequence (\\x{...})");
                        p->pos++;
                        break;
                }
                for (int i = 0; i < 2; i++) {
                        d = hex_digit(peek(p));
                        if (d < 0)
                                return refuse(p, "invalid escape sequence (\\x needs two hex digits)");
                        v = v * 16 + (uint32_t) d;
                        p->pos++;
                }
                break;
        case 'a':
                v = '\a';
                break;
        case 'f':
                v = '\f';
                break;
        case 'n':
                v = '\n';
                break;
        case 'r':
                v = '\r';
                break;
        case 't':
                v = '\t';
                break;
        case 'v':
                v = '\v';
                break;
        default:
                if (c == 0)
                        return refuse(p, "trailing backslash at the end of the regular expression");
                if ((unsigned char) c >= 0x80 || is_alnum(c))
                        return refuse(p, "invalid or unsupported escape sequence in regular expression");
                v = (unsigned char) c;
        }
        *ret = v;
        return 0;
}

/* A character of a class or of the pattern: an escape or a UTF-8 rune (checked already). */
static int parse_rune(Parser *p, uint32_t *ret) {
        if (peek(p) == '\\')
                return parse_escape(p, ret);
        p->pos += rune_decode((const unsigned char *) p->s + p->pos, strnlen(p->s + p->pos, 4), ret);
        return 0;
}

/* [...] at p->pos. Its characters and ranges are folded together under (?i), its
 * classes ([:alpha:], \d) each folded and then negated when they are, as Go does. */
static int parse_class(Parser *p, unsigned flags, size_t *ret) {
        bool fold = flags & FLAG_FOLD, negate;
        RuneSet set = {}, chars = {};
        int r = 0;

        p->pos++;
        negate = peek(p) == '^';
        if (negate)
                p->pos++;
        for (bool first = true; r >= 0; first = false) {
                const char *end;
                uint32_t lo, hi;
                char c = peek(p), n;

                if (c == 0) {
                        r = refuse(p, "missing closing ] in regular expression");
                        break;
                }
                n = p->s[p->pos + 1];
                if (c == ']' && !first) {
                        p->pos++;
                        break;
                }
                end = c == '[' && n == ':' && !p->no_posix_end ? strstr(p->s + p->pos + 2, ":]") : NULL;
                p->no_posix_end = p->no_posix_end || (c == '[' && n == ':' && !end);
                if (end) {
                        r = rune_set_posix(&set, p->s + p->pos + 2, (size_t) (end - p->s) - p->pos - 2, fold);
                        if (r == -EINVAL)
                                r = refuse(p, "unknown [:class:] in regular expression");
                        p->pos = (size_t) (end - p->s) + 2;
                        continue;
                }
                if (c == '\\' && (n == 'p' || n == 'P')) {
                        r = refuse(p, "Unicode classes (\\p, \\P) are not supported in regular expressions");
                        break;
                }
                if (c == '\\') {
                        r = rune_set_perl(&set, n, fold);
                        if (r != -ENOENT) {
                                p->pos += 2;
                                continue;
                        }
                }
                r = parse_rune(p, &lo);
                hi = lo;
                if (r >= 0 && peek(p) == '-' && p->s[p->pos + 1] && p->s[p->pos + 1] != ']') {
                        p->pos++;
                        r = parse_rune(p, &hi);
                        if (r >= 0 && hi < lo)
                                r = refuse(p, "invalid character class range in regular expression");
                }
                if (r >= 0)
                        r = rune_set_add(&chars, lo, hi);
        }
        if (r >= 0 && fold)
                r = rune_set_fold(&chars);
        if (r >= 0)
                r = rune_set_add_set(&set, &chars);
        rune_set_clear(&chars);
        if (r < 0) {
                rune_set_clear(&set);
                return r;
        }
        return node_class(p, &set, negate, ret);
}

/* A decimal count as Go reads it (no leading zeros), at most 10^8. */
static bool parse_count(Parser *p, size_t *pos, int *ret) {
        const char *s = p->s;
        long v = 0;

        if (!is_digit(s[*pos]) || (s[*pos] == '0' && is_digit(s[*pos + 1])))
                return false;
        for (; is_digit(s[*pos]); (*pos)++)
                v = v < 100000000 ? v * 10 + (s[*pos] - '0') : 100000000;
        *ret = (int) v;
        return true;
}

/* A repetition operator at p->pos: *, +, ?, {n}, {n,} or {n,m} (a '{' of another form is a
 * plain character). Consumes it when ret_min is given. */
static bool parse_repeat(Parser *p, int *ret_min, int *ret_max) {
        size_t pos = p->pos + 1;
        int min = 0, max = -1;

        switch (peek(p)) {
        case '*':
                break;
        case '+':
                min = 1;
                break;
        case '?':
                max = 1;
                break;
        case '{':
                if (!parse_count(p, &pos, &min))
                        return false;
                if (p->s[pos] != ',')
                        max = min;
                else if (p->s[++pos] != '}' && !parse_count(p, &pos, &max))
                        return false;
                if (p->s[pos++] != '}')
                        return false;
                break;
        default:
                return false;
        }
        if (ret_min) {
                p->pos = pos;
                *ret_min = min;
                *ret_max = max;
        }
        return true;
}

static int parse_alternation(Parser *p, unsigned flags, unsigned depth, size_t *ret);

/* (?flags), (?flags:re) or (?P<name>re) after the "(?" at p->pos; *ret 0 for (?flags). */
static int parse_perl_group(Parser *p, unsigned *flags, unsigned depth, size_t *ret) {
        const char *s = p->s + p->pos + 2;
        unsigned set = *flags;
        bool negative = false, saw = false;

        if (strncmp(s, "=", 1) == 0 || strncmp(s, "!", 1) == 0 || strncmp(s, "<=", 2) == 0 || strncmp(s, "<!", 2) == 0)
                return refuse(p, "lookahead and lookbehind are not supported in regular expressions");
        if (strncmp(s, "P=", 2) == 0 || strncmp(s, "P>", 2) == 0)
                return refuse(p, "backreferences are not supported in regular expressions");
        if (strncmp(s, "P<", 2) == 0 || s[0] == '<') {
                size_t n = 0;

                s += s[0] == 'P' ? 2 : 1;
                while (is_alnum(s[n]) || s[n] == '_')
                        n++;
                if (n == 0 || s[n] != '>')
                        return refuse(p, "invalid named group in regular expression");
                p->pos = (size_t) (s + n + 1 - p->s);
                return parse_alternation(p, *flags, depth, ret);
        }
        for (;; s++) {
                unsigned bit = 0;

                switch (*s) {
                case 'i':
                        bit = FLAG_FOLD;
                        break;
                case 'm':
                        bit = FLAG_MULTILINE;
                        break;
                case 's':
                        bit = FLAG_DOTNL;
                        break;
                case 'U': /* ungreedy: the same strings match */
                        break;
                case '-':
                        if (negative)
                                return refuse(p, "invalid or unsupported Perl syntax in regular expression");
                        negative = true;
                        saw = false;
                        continue;
                case ':':
                case ')':
                        if (negative && !saw)
                                return refuse(p, "invalid or unsupported Perl syntax in regular expression");
                        p->pos = (size_t) (s + 1 - p->s);
                        if (*s == ':')
                                return parse_alternation(p, set, depth, ret);
                        *flags = set;
                        *ret = 0;
                        return 0;
                default:
                        return refuse(p, "invalid or unsupported Perl syntax in regular expression");
                }
                saw = true;
                set = negative ? set & ~bit : set | bit;
        }
}

/* An atom at p->pos; *ret 0 when it was (?flags) alone. */
static int parse_atom(Parser *p, unsigned *flags, unsigned depth, size_t *ret) {
        char c = peek(p), n = p->s[p->pos + 1];
        RuneSet set = {};
        uint32_t rune;
        int r;

        switch (c) {
        case '(':
                if (depth >= REGEX_DEPTH_MAX)
                        return refuse(p, "regular expression nests groups too deeply");
                if (n == '?')
                        r = parse_perl_group(p, flags, depth + 1, ret);
                else {
                        p->pos++;
                        r = parse_alternation(p, *flags, depth + 1, ret);
                }
                if (r < 0 || *ret == 0)
                        return r;
                if (peek(p) != ')')
                        return refuse(p, "missing closing ) in regular expression");
                p->pos++;
                return 0;
        case '[':
                return parse_class(p, *flags, ret);
        case '.':
                p->pos++;
                if (!(*flags & FLAG_DOTNL))
                        return rune_set_add(&set, '\n', '\n') ?: node_class(p, &set, true, ret);
                return rune_set_add(&set, 0, RUNE_MAX) ?: node_class(p, &set, false, ret);
        case '^':
                p->pos++;
                return node_assert(p, *flags & FLAG_MULTILINE ? ASSERT_BEGIN_LINE : ASSERT_BEGIN_TEXT, ret);
        case '$':
                p->pos++;
                return node_assert(p, *flags & FLAG_MULTILINE ? ASSERT_END_LINE : ASSERT_END_TEXT, ret);
        case '\\':
                switch (n) {
                case 'A':
                case 'z':
                case 'b':
                case 'B':
                        p->pos += 2;
                        return node_assert(p, n == 'A' ? ASSERT_BEGIN_TEXT : n == 'z' ? ASSERT_END_TEXT :
                                                          n == 'b' ? ASSERT_WORD : ASSERT_NOT_WORD, ret);
                case 'p':
                case 'P':
                        return refuse(p, "Unicode classes (\\p, \\P) are not supported in regular expressions");
                case 'C':
                        return refuse(p, "\\C (any byte) is not supported in regular expressions");
                }
                r = rune_set_perl(&set, n, *flags & FLAG_FOLD);
                if (r != -ENOENT) {
                        p->pos += 2;
                        if (r < 0) {
                                rune_set_clear(&set);
                                return r;
                        }
                        return node_class(p, &set, false, ret);
                }
                r = parse_escape(p, &rune);
                return r < 0 ? r : node_rune(p, rune, *flags, ret);
        }
        if (strchr("*+?", c) || parse_repeat(p, NULL, NULL))
                return refuse(p, "missing argument to repetition operator in regular expression");
        p->pos += rune_decode((const unsigned char *) p->s + p->pos, strnlen(p->s + p->pos, 4), &rune);
        return node_rune(p, rune, *flags, ret);
}

/* Appends node to the children of parent (made of type on the second child). */
static int node_append(Parser *p, RegexNodeType type, size_t *parent, size_t *last, size_t node) {
        RegexNode *n;
        size_t list;
        int r;

        if (*parent == 0) {
                *parent = *last = node;
                return 0;
        }
        if (*parent == *last) {
                r = node_new(p, type, &list);
                if (r < 0)
                        return r;
                p->t->nodes[list].child = *parent;
                *parent = list;
        }
        n = p->t->nodes;
        n[*last].next = node;
        *last = node;
        return 0;
}

/* \Q...\E at p->pos: its runes one after another, all but the last appended to the
 * concatenation; *ret the last (which a repetition after \E repeats), 0 when none. */
static int parse_quoted(Parser *p, unsigned flags, size_t *concat, size_t *last, size_t *ret) {
        const char *end = strstr(p->s + p->pos + 2, "\\E");
        size_t stop = end ? (size_t) (end - p->s) : strlen(p->s);
        int r = 0;

        *ret = 0;
        p->pos += 2;
        while (p->pos < stop && r >= 0) {
                uint32_t rune;

                if (*ret != 0)
                        r = node_append(p, NODE_CONCAT, concat, last, *ret);
                p->pos += rune_decode((const unsigned char *) p->s + p->pos, stop - p->pos, &rune);
                if (r >= 0)
                        r = node_rune(p, rune, flags, ret);
        }
        p->pos = end ? stop + 2 : stop;
        return r;
}

static int parse_concatenation(Parser *p, unsigned *flags, unsigned depth, size_t *ret) {
        size_t concat = 0, last = 0;
        int r;

        while (peek(p) && peek(p) != '|' && peek(p) != ')') {
                size_t atom, rep;
                int min, max;

                if (strncmp(p->s + p->pos, "\\Q", 2) == 0)
                        r = parse_quoted(p, *flags, &concat, &last, &atom);
                else
                        r = parse_atom(p, flags, depth, &atom);
                if (r < 0)
                        return r;
                if (atom == 0) { /* (?flags), or \Q\E */
                        if (parse_repeat(p, NULL, NULL))
                                return refuse(p, "missing argument to repetition operator in regular expression");
                        continue;
                }
                if (parse_repeat(p, &min, &max)) {
                        if (min > REGEX_REPEAT_MAX || max > REGEX_REPEAT_MAX || (max >= 0 && min > max))
                                return refuse(p, "invalid repeat count in regular expression (at most 1000)");
                        if (peek(p) == '?') /* non-greedy: the same strings match */
                                p->pos++;
                        if (parse_repeat(p, NULL, NULL))
                                return refuse(p, "invalid nested repetition operator in regular expression");
                        r = node_new(p, NODE_REPEAT, &rep);
                        if (r < 0)
                                return r;
                        p->t->nodes[rep].child = atom;
                        p->t->nodes[rep].min = min;
                        p->t->nodes[rep].max = max;
                        atom = rep;
                }
                r = node_append(p, NODE_CONCAT, &concat, &last, atom);
                if (r < 0)
                        return r;
        }
        if (concat == 0)
                return node_new(p, NODE_EMPTY, ret);
        *ret = concat;
        return 0;
}

static int parse_alternation(Parser *p, unsigned flags, unsigned depth, size_t *ret) {
        size_t alt = 0, last = 0;

        for (;;) {
                size_t concat;
                int r;

                r = parse_concatenation(p, &flags, depth, &concat);
                if (r < 0)
                        return r;
                r = node_append(p, NODE_ALT, &alt, &last, concat);
                if (r < 0)
                        return r;
                if (peek(p) != '|')
                        break;
                p->pos++;
        }
        *ret = alt;
        return 0;
}

int regex_parse(const char *pattern, RegexTree *t, const char **ret_why) {
        Parser p = { .s = pattern, .t = t, .why = ret_why };
        size_t len = strlen(pattern);
        int r;

        for (size_t i = 0; i < len;) {
                uint32_t rune;
                size_t w = rune_decode((const unsigned char *) pattern + i, len - i, &rune);

                if (rune == RUNE_ERROR && w == 1)
                        return refuse(&p, "invalid UTF-8 in regular expression");
                i += w;
        }
        *t = (RegexTree) {};
        r = parse_alternation(&p, 0, 0, &t->root);
        if (r >= 0 && peek(&p) == ')')
                r = refuse(&p, "unexpected ) in regular expression");
        return r;
}
