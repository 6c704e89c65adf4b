/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containerd's filter syntax (pkg/filters):
 *
 *   filter    := selector ("," selector)*
 *   selector  := fieldpath [op value]          no op: the field is present
 *   fieldpath := field ("." field)*
 *   field     := [A-Za-z0-9_]+ | "quoted"
 *   op        := "==" | "!=" | "~="            ~= is a regex search (Go's syntax, filter-regex.c)
 *   value     := [^,\s]+ | "quoted"            ~= also takes /quoted/ and |quoted|
 *
 * Whitespace between tokens is ignored. "..." takes Go's escapes; in /.../ and |...|
 * only the quote character is escaped, so regexes keep their backslashes. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter-regex.h"
#include "filter.h"
#include "strutil.h"

/* All filter strings of one call together, in bytes. */
#define FILTERS_SIZE_MAX (64u * 1024u)

typedef enum FilterOp {
        OP_PRESENT,
        OP_EQUAL,
        OP_NOT_EQUAL,
        OP_MATCH,
} FilterOp;

typedef enum FilterField {
        FIELD_NAME,
        FIELD_PARENT,
        FIELD_KIND,
        FIELD_OWNER,
        FIELD_LABEL,
} FilterField;

/* What the patterns of one Filter have cost so far. A pattern costs at most two steps per
 * instruction of its program and rune it matches (filter-regex.h), ~2.5 ns each, and one
 * per byte while its DFA cache holds the states the input meets; but an input meeting a
 * new state at every byte ("[ab]*a[ab]{250}c" over a and b) still costs ~1 us per byte for
 * the largest programs, and a page reads 20000 snapshots with labels of 4 KiB, a List all
 * of a user's. So the caller still gives a filter a budget of CPU time
 * (filter_budget_start()), checked each time the patterns have run REGEX_CHARGE_STEPS more
 * steps (~0.2 ms at most). */
#define REGEX_CHARGE_STEPS (1u << 16)

typedef struct FilterCost {
        uint64_t budget;    /* usec of CPU time; 0: no bound */
        uint64_t cpu_start; /* the thread's CPU clock at the first match; 0: none yet */
        uint64_t steps;     /* the patterns' steps since the clock was read */
        bool exhausted;
} FilterCost;

typedef struct Regex {
        FilterRegex *re;
        FilterCost *cost; /* its Filter's */
} Regex;

typedef struct Selector {
        FilterField field;
        char *label; /* FIELD_LABEL: the key */
        FilterOp op;
        char *value;
        Regex *re; /* OP_MATCH */
} Selector;

/* Selectors that must all match. */
typedef struct Clause {
        Selector *items;
        size_t n;
} Clause;

/* Clauses of which one must match. */
struct Filter {
        Clause *clauses;
        size_t n;
        bool all;
        FilterCost cost;
};

static void selector_clear(Selector *s) {
        free(s->label);
        free(s->value);
        if (s->re)
                filter_regex_free(s->re->re);
        free(s->re);
        *s = (Selector) {};
}

static void clause_clear(Clause *c) {
        for (size_t i = 0; i < c->n; i++)
                selector_clear(c->items + i);
        free(c->items);
        *c = (Clause) {};
}

Filter *filter_free(Filter *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n; i++)
                clause_clear(f->clauses + i);
        free(f->clauses);
        free(f);
        return NULL;
}

/* --- parsing --- */

typedef struct Parser {
        const char *input;
        size_t pos;
        size_t *regex_budget; /* instructions the ~= patterns of this call may still take */
        FilterCost *cost;
        Error *e;
} Parser;

static int parse_error(Parser *p, size_t pos, const char *what) {
        return error_setf(p->e, EINVAL, "invalid filter %s: %s at byte %zu; the syntax is field==value[,field2~=regex]",
                          QUOTE(p->input), what, pos);
}

static char peek(Parser *p) {
        return p->input[p->pos];
}

static void skip_space(Parser *p) {
        while (isspace((unsigned char) peek(p)))
                p->pos++;
}

static bool is_field_char(char c) {
        return isalnum((unsigned char) c) || c == '_';
}

static bool is_quote(char c) {
        return c == '"' || c == '/' || c == '|';
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char) tolower((unsigned char) c);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void put_utf8(FILE *f, uint32_t cp) {
        if (cp < 0x80)
                fputc((int) cp, f);
        else if (cp < 0x800) {
                fputc((int) (0xc0 | (cp >> 6)), f);
                fputc((int) (0x80 | (cp & 0x3f)), f);
        } else if (cp < 0x10000) {
                fputc((int) (0xe0 | (cp >> 12)), f);
                fputc((int) (0x80 | ((cp >> 6) & 0x3f)), f);
                fputc((int) (0x80 | (cp & 0x3f)), f);
        } else {
                fputc((int) (0xf0 | (cp >> 18)), f);
                fputc((int) (0x80 | ((cp >> 12) & 0x3f)), f);
                fputc((int) (0x80 | ((cp >> 6) & 0x3f)), f);
                fputc((int) (0x80 | (cp & 0x3f)), f);
        }
}

/* Reads n digits of base at p->pos into *ret. */
static int parse_digits(Parser *p, unsigned base, unsigned n, uint32_t *ret) {
        uint32_t v = 0;

        for (unsigned i = 0; i < n; i++) {
                int d = hex_value(peek(p));
                if (d < 0 || (unsigned) d >= base)
                        return parse_error(p, p->pos, "invalid escape sequence");
                v = v * base + (uint32_t) d;
                p->pos++;
        }
        *ret = v;
        return 0;
}

/* A Go escape after the backslash in "...". */
static int parse_escape(Parser *p, FILE *out) {
        static const char simple[] = "a\ab\bf\fn\nr\rt\tv\v\\\\\"\"";
        size_t start = p->pos - 1;
        char c = peek(p);
        const char *s;
        uint32_t cp = 0;
        int r;

        if (c && (s = strchr(simple, c)) && (s - simple) % 2 == 0) {
                fputc(s[1], out);
                p->pos++;
                return 0;
        }
        if (c >= '0' && c <= '7')
                r = parse_digits(p, 8, 3, &cp);
        else {
                unsigned n = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
                if (n == 0)
                        return parse_error(p, start, "invalid escape sequence");
                p->pos++;
                r = parse_digits(p, 16, n, &cp);
        }
        if (r < 0)
                return r;
        if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000) || (c != 'u' && c != 'U' && cp > 0xff))
                return parse_error(p, start, "escape for a NUL byte or an invalid code point");
        if (c == 'x' || (c >= '0' && c <= '7'))
                fputc((int) cp, out); /* a byte, as in Go */
        else
                put_utf8(out, cp);
        return 0;
}

static int parse_quoted(Parser *p, bool allow_alt, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t start = p->pos, len;
        char q = peek(p);
        FILE *out;
        int r = 0;

        if (q != '"' && !allow_alt)
                return parse_error(p, start, "only \"...\" quotes are allowed here (/.../ and |...| only after ~=)");

        out = open_memstream(&buf, &len);
        if (!out)
                return -ENOMEM;
        p->pos++;
        for (;;) {
                char c = peek(p);

                if (c == 0 || c == '\n') {
                        r = parse_error(p, start, "unterminated quoted string");
                        break;
                }
                p->pos++;
                if (c == q)
                        break;
                if (c != '\\')
                        fputc(c, out);
                else if (q == '"') {
                        r = parse_escape(p, out);
                        if (r < 0)
                                break;
                } else if (peek(p) == q) {
                        fputc(q, out);
                        p->pos++;
                } else
                        fputc('\\', out);
        }
        if (fclose(out) != 0 && r >= 0)
                return -ENOMEM;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int parse_field(Parser *p, char **ret) {
        size_t start;

        skip_space(p);
        if (is_quote(peek(p)))
                return parse_quoted(p, false, ret);
        start = p->pos;
        while (is_field_char(peek(p)))
                p->pos++;
        if (p->pos == start)
                return parse_error(p, start, "expected a field name or a quoted string");
        *ret = strndup(p->input + start, p->pos - start);
        return *ret ? 0 : -ENOMEM;
}

static int parse_fieldpath(Parser *p, char ***ret) {
        _cleanup_strv_free_ char **parts = NULL;
        int r;

        for (;;) {
                char *part = NULL;

                r = parse_field(p, &part);
                if (r < 0)
                        return r;
                r = strv_push(&parts, part);
                if (r < 0) {
                        free(part);
                        return r;
                }
                skip_space(p);
                if (peek(p) != '.')
                        break;
                p->pos++;
        }
        *ret = TAKE_PTR(parts);
        return 0;
}

/* The fields containerd's snapshot adaptor knows, plus owner; anything else is refused (containerd
 * would match nothing, which hides a typo behind an empty list). */
static int resolve_field(Parser *p, size_t start, char **parts, Selector *s) {
        static const struct {
                const char *name;
                FilterField field;
        } simple[] = {
                { "name", FIELD_NAME },
                { "parent", FIELD_PARENT },
                { "kind", FIELD_KIND },
                { "owner", FIELD_OWNER },
        };

        if (streq(parts[0], "labels")) {
                if (!parts[1])
                        return parse_error(p, start, "labels needs a key (labels.KEY)");
                s->label = strv_join(parts + 1, ".");
                if (!s->label)
                        return -ENOMEM;
                s->field = FIELD_LABEL;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(simple); i++)
                if (streq(parts[0], simple[i].name)) {
                        if (parts[1])
                                return parse_error(p, start, "this field has no sub-fields");
                        s->field = simple[i].field;
                        return 0;
                }
        return parse_error(p, start, "unknown field (the fields are name, parent, kind, owner and labels.KEY)");
}

static int parse_operator(Parser *p, FilterOp *ret) {
        size_t start = p->pos;

        while (peek(p) && strchr("=!~", peek(p)))
                p->pos++;
        if (p->pos == start)
                return parse_error(p, start, "expected an operator (==, != or ~=) or a comma");
        if (p->pos - start == 2 && strncmp(p->input + start, "==", 2) == 0)
                *ret = OP_EQUAL;
        else if (p->pos - start == 2 && strncmp(p->input + start, "!=", 2) == 0)
                *ret = OP_NOT_EQUAL;
        else if (p->pos - start == 2 && strncmp(p->input + start, "~=", 2) == 0)
                *ret = OP_MATCH;
        else
                return parse_error(p, start, "unsupported operator; use ==, != or ~=");
        return 0;
}

static int parse_value(Parser *p, bool allow_alt, char **ret) {
        size_t start;

        skip_space(p);
        if (is_quote(peek(p)))
                return parse_quoted(p, allow_alt, ret);
        start = p->pos;
        while (peek(p) && peek(p) != ',' && !isspace((unsigned char) peek(p)))
                p->pos++;
        if (p->pos == start)
                return parse_error(p, start, "expected a value or a quoted string");
        *ret = strndup(p->input + start, p->pos - start);
        return *ret ? 0 : -ENOMEM;
}

static int parse_selector(Parser *p, Selector *ret) {
        _cleanup_strv_free_ char **parts = NULL;
        _cleanup_(selector_clear) Selector s = {};
        size_t value_pos, field_pos;
        FilterOp op = OP_PRESENT;
        int r;

        skip_space(p);
        field_pos = p->pos;
        r = parse_fieldpath(p, &parts);
        if (r < 0)
                return r;
        r = resolve_field(p, field_pos, parts, &s);
        if (r < 0)
                return r;

        skip_space(p);
        if (peek(p) == ',' || peek(p) == 0) {
                *ret = s;
                s = (Selector) {};
                return 0;
        }
        r = parse_operator(p, &op);
        if (r < 0)
                return r;
        skip_space(p);
        value_pos = p->pos;
        r = parse_value(p, op == OP_MATCH, &s.value);
        if (r < 0)
                return r;
        if (op == OP_MATCH) {
                const char *why;

                s.re = calloc(1, sizeof *s.re);
                if (!s.re)
                        return -ENOMEM;
                s.re->cost = p->cost;
                r = filter_regex_compile(s.value, p->regex_budget, &s.re->re, &why);
                if (r == -EINVAL)
                        return parse_error(p, value_pos, why);
                if (r < 0)
                        return r;
        }
        s.op = op;
        *ret = s;
        s = (Selector) {};
        return 0;
}

static int parse_clause(Parser *p, Clause *ret) {
        _cleanup_(clause_clear) Clause c = {};
        int r;

        for (;;) {
                Selector *a = realloc(c.items, (c.n + 1) * sizeof(Selector));
                if (!a)
                        return -ENOMEM;
                c.items = a;
                r = parse_selector(p, c.items + c.n);
                if (r < 0)
                        return r;
                c.n++;

                skip_space(p);
                if (peek(p) == 0)
                        break;
                if (peek(p) != ',')
                        return parse_error(p, p->pos, "unexpected input; separate selectors with a comma");
                p->pos++;
        }
        *ret = c;
        c = (Clause) {};
        return 0;
}

int filter_parse(char *const *filters, Filter **ret, Error *e) {
        _cleanup_(filter_freep) Filter *f = NULL;
        size_t regex_budget = FILTER_REGEX_SIZE_MAX, total = 0;
        int r;

        assert(ret);

        /* Every selector is matched against every snapshot the caller sees. */
        for (char *const *s = filters; s && *s; s++)
                total += strlen(*s);
        if (total > FILTERS_SIZE_MAX)
                return error_setf(e, EINVAL, "the filters are %zu bytes in all, more than the limit of %u; use fewer",
                                  total, FILTERS_SIZE_MAX);

        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->all = !filters || !filters[0];

        for (char *const *s = filters; s && *s; s++) {
                Parser p = { .input = *s, .regex_budget = &regex_budget, .cost = &f->cost, .e = e };
                Clause *a;

                skip_space(&p);
                if (peek(&p) == 0) {
                        f->all = true; /* an empty filter matches everything */
                        continue;
                }
                a = realloc(f->clauses, (f->n + 1) * sizeof(Clause));
                if (!a)
                        return -ENOMEM;
                f->clauses = a;
                r = parse_clause(&p, f->clauses + f->n);
                if (r < 0)
                        return error_from_errno(e, r, "cannot parse the filters");
                f->n++;
        }
        *ret = TAKE_PTR(f);
        return 0;
}

/* --- matching --- */

/* The field's value, or NULL when it is not present. */
static const char *field_value(const Selector *s, const SnapshotInfo *info, char buf[static 16]) {
        switch (s->field) {
        case FIELD_NAME:
                return isempty(info->name) ? NULL : info->name;
        case FIELD_PARENT: /* always present, as in containerd: parent=="" is a snapshot without one */
                return info->parent ?: "";
        case FIELD_KIND:
                return snapshot_kind_to_string(info->kind);
        case FIELD_OWNER:
                snprintf(buf, 16, "%u", (unsigned) info->owner);
                return buf;
        case FIELD_LABEL:
                return labels_get(&info->labels, s->label);
        }
        return NULL;
}

/* Takes note when the patterns have used up their time; the match under way still completes,
 * so whatever filter_match() answered before filter_exhausted() says so holds. */
static void regex_charge(FilterCost *c) {
        uint64_t now = clock_usec(CLOCK_THREAD_CPUTIME_ID);

        c->steps = 0;
        if (c->cpu_start == 0)
                c->cpu_start = now ?: 1;
        else if (now - c->cpu_start > c->budget)
                c->exhausted = true;
}

static bool regex_match(Regex *r, const char *v) {
        uint64_t before = filter_regex_steps(r->re);
        bool match;

        if (r->cost->budget > 0 && r->cost->cpu_start == 0)
                regex_charge(r->cost);
        match = filter_regex_search(r->re, v, strlen(v));
        r->cost->steps += filter_regex_steps(r->re) - before;
        if (r->cost->budget > 0 && r->cost->steps >= REGEX_CHARGE_STEPS)
                regex_charge(r->cost);
        return match;
}

static bool selector_match(const Selector *s, const SnapshotInfo *info) {
        char buf[16];
        const char *v = field_value(s, info, buf);

        switch (s->op) {
        case OP_PRESENT:
                return v;
        case OP_EQUAL:
                return v && streq(v, s->value);
        case OP_NOT_EQUAL: /* an absent field counts as "" */
                return !streq(v ?: "", s->value);
        case OP_MATCH:
                return regex_match(s->re, v ?: "");
        }
        return false;
}

static bool clause_match(const Clause *c, const SnapshotInfo *info) {
        for (size_t i = 0; i < c->n; i++)
                if (!selector_match(c->items + i, info))
                        return false;
        return true;
}

bool filter_match(const Filter *f, const SnapshotInfo *info) {
        if (!f || f->all)
                return true;
        if (f->cost.exhausted)
                return false;
        for (size_t i = 0; i < f->n; i++)
                if (clause_match(f->clauses + i, info))
                        return true;
        return false;
}

bool filter_exhausted(const Filter *f) {
        return f && f->cost.exhausted;
}

void filter_budget_start(Filter *f, uint64_t cpu_usec) {
        if (f)
                f->cost = (FilterCost) { .budget = cpu_usec };
}
