/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ~= matcher against what Go's regexp (RE2 syntax, MatchString: an unanchored search)
 * answers: a table of patterns and inputs, the patterns Go refuses or we do not support,
 * and the step counter's bound on patterns a backtracking matcher takes exponential time on. */
#include <inttypes.h>

#include "filter-regex.h"
#include "test-util.h"

typedef struct Case {
        const char *pattern, *input;
        bool match;
} Case;

/* The expectations are Go's (regexp.MustCompile(pattern).MatchString(input)). */
static const Case cases[] = {
        /* literals and the empty pattern; a search, not anchored */
        { "abc", "xabcx", true },
        { "abc", "ab", false },
        { "", "", true },
        { "", "anything", true },
        { "b", "abc", true },
        { "日本", "こんにちは日本語", true },
        /* ^ and $ are the text's ends unless (?m); $ is not before a final newline */
        { "^abc$", "abc", true },
        { "^abc$", "abcd", false },
        { "^abc$", "xabc", false },
        { "a$", "a\n", false },
        { "^b$", "a\nb\nc", false },
        { "(?m)^b$", "a\nb\nc", true },
        { "(?m)a$", "a\nb", true },
        { "^$", "", true },
        { "^$", "a", false },
        { "$^", "", true },
        { "\\Aab\\z", "ab", true },
        { "\\Aab\\z", "abb", false },
        { "^*a", "a", true },
        /* . is one rune, not "\n" unless (?s); an invalid byte is one rune, U+FFFD */
        { "a.c", "abc", true },
        { "a.c", "a\nc", false },
        { "(?s)a.c", "a\nc", true },
        { "^.$", "\xc3\xa9", true },
        { "^..$", "\xc3\xa9", false },
        { "^.$", "\xff", true },
        { "^\\x{fffd}$", "\xff", true },
        { "^..$", "\xe6\x97", true }, /* a truncated sequence: two invalid bytes */
        /* classes */
        { "[[:alpha:]]", "123", false },
        { "^[[:alpha:]]+$", "abcXYZ", true },
        { "[[:^digit:]]", "123", false },
        { "[[:^digit:]]", "12a", true },
        { "^[[:word:]]+$", "a_1", true },
        { "^[[:xdigit:]]+$", "09afAF", true },
        { "^[[:xdigit:]]+$", "09afg", false },
        { "^[[:punct:]]+$", "!-/[`{~", true },
        { "\\d\\w\\s", "1a ", true },
        { "^\\D\\W\\S$", "a-b", true },
        { "^\\D\\W\\S$", "1-b", false },
        { "\\s", "\v", false }, /* Go's \s has no \v */
        { "[[:space:]]", "\v", true },
        { "[]a]", "]", true },
        { "[a-]", "-", true },
        { "[\\]]", "]", true },
        { "^[\\d-z]+$", "1-z", true },
        { "^[\\d-z]+$", "y", false },
        { "^[^a]$", "\n", true }, /* negated classes match "\n" */
        { "^[^a]$", "a", false },
        { "[α-ω]", "β", true },
        { "^[^α-ω]$", "β", false },
        /* alternation, groups */
        { "a|b|c", "xxc", true },
        { "ab|", "zzz", true },
        { "^(a|b)+$", "abba", true },
        { "^(a|b)+$", "abca", false },
        { "^(?:ab)*$", "ababab", true },
        { "^(?:ab)*$", "aba", false },
        { "(?P<name>a)b", "ab", true },
        { "(?<x>a)(?:b)", "xab", true },
        /* repetitions, non-greedy ones matching the same */
        { "^a{3}$", "aaa", true },
        { "^a{3}$", "aaaa", false },
        { "^a{2,3}$", "aaaa", false },
        { "^a{2,}$", "aaaaa", true },
        { "^a{2,}$", "a", false },
        { "^a{0}$", "", true },
        { "^a{0}b$", "b", true },
        { "^(ab){1,2}c$", "ababc", true },
        { "^(ab){1,2}c$", "abababc", false },
        { "a{,2}", "a{,2}", true }, /* not a repetition: plain characters */
        { "a{,2}", "aa", false },
        { "x{01}", "x{01}", true }, /* a leading zero: no repetition either */
        { "x{2", "x{2", true },
        { "^a+?b$", "aaab", true },
        { "^a*?$", "aaa", true },
        { "^a??b$", "ab", true },
        { "^a{2,3}?$", "aaa", true },
        { "(?U)^a+$", "aaa", true },
        { "a*", "", true },
        { "(a*)*b", "aaab", true },
        { "(|a)+b", "b", true },
        { "x*y*z*", "", true },
        { "^(a*)+$", "aaa", true },
        /* case folding */
        { "(?i)hello", "HeLLo world", true },
        { "hello", "HELLO", false },
        { "(?i)k", "\xe2\x84\xaa", true }, /* KELVIN SIGN folds to k */
        { "(?i:a)b", "Ab", true },
        { "(?i:a)b", "AB", false },
        { "a(?i)b", "aB", true },
        { "a(?i)b", "AB", false },
        { "(?i)a|b", "B", true }, /* the flag holds to the group's end, across | */
        { "(?i)[a-c]+$", "xABC", true },
        { "(?i)[^k]", "K", false },
        { "\\W", "\xe2\x84\xaa", true },
        { "(?i)\\W", "\xe2\x84\xaa", false }, /* \w is folded first, then negated */
        { "(?i)é", "É", true },
        { "(?i)σ", "ς", true },
        { "(?i)ÿ", "Ÿ", true },
        { "(?i)ж", "Ж", true },
        { "(?i)ё", "Ё", true },
        { "(?i)ά", "Ά", true },
        { "(?i)ŉ", "N", false },
        { "(?i)[ā-ą]", "Ą", true },
        { "(?i)[^ā-ą]", "Ą", false },
        { "(?i)ź", "Ź", true },
        { "(?i-i)a", "A", false },
        { "(?i)[[:upper:]]", "a", true },
        /* \b \B (ASCII word characters) */
        { "\\bfoo\\b", "a foo b", true },
        { "\\bfoo\\b", "afoob", false },
        { "\\Boo\\B", "afoob", true },
        { "\\b", "", false },
        { "\\bb", "\xc3\xa9" "b", true }, /* é is no ASCII word character */
        { "\\Bb", "\xc3\xa9" "b", false },
        { "(?m)^b", "\xc3\xa9\nb", true },
        { "(?m)^b", "\xc3\xa9" "b", false },
        { "\\B", "", true },
        /* escapes */
        { "\\Qa.b\\E", "axb", false },
        { "\\Qa.b\\E", "a.b", true },
        { "\\Qa.b", "xa.b", true },
        { "^\\Qab\\E+$", "abbb", true }, /* the repetition takes the last rune */
        { "^\\Qab\\E+$", "abab", false },
        { "\\x41\\x{42}\\103", "ABC", true },
        { "\\.", "a", false },
        { "\\.", ".", true },
        { "\\t\\n", "\t\n", true },
        { "a\\-b\\#", "a-b#", true },
        { "\\01", "\x01", true },
};

static void check_case(const Case *c, size_t *failed) {
        _cleanup_(filter_regex_freep) FilterRegex *re = NULL;
        size_t budget = FILTER_REGEX_SIZE_MAX;
        const char *why = NULL;
        int r = filter_regex_compile(c->pattern, &budget, &re, &why);

        if (r < 0) {
                fprintf(stderr, "/%s/: refused: %s\n", c->pattern, why ?: strerror(-r));
                (*failed)++;
                return;
        }
        if (filter_regex_search(re, c->input, strlen(c->input)) != c->match) {
                fprintf(stderr, "/%s/ on \"%s\": wanted %s\n", c->pattern, c->input, c->match ? "a match" : "none");
                (*failed)++;
        }
}

TEST(matches_as_go_does) {
        size_t failed = 0;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                check_case(cases + i, &failed);
        ASSERT_TRUE(failed == 0);
}

/* Refused with a reason containing why: what Go refuses, and what we do not support. */
static void assert_refused(const char *pattern, const char *why) {
        _cleanup_(filter_regex_freep) FilterRegex *re = NULL;
        size_t budget = FILTER_REGEX_SIZE_MAX;
        const char *got = NULL;

        ASSERT_ERR(filter_regex_compile(pattern, &budget, &re, &got), EINVAL);
        ASSERT_TRUE(!re && got && budget == FILTER_REGEX_SIZE_MAX);
        if (!strstr(got, why))
                fprintf(stderr, "/%s/: wanted \"%s\" in: %s\n", pattern, why, got);
        ASSERT_TRUE(strstr(got, why));
}

TEST(invalid_patterns_are_refused_as_go_refuses_them) {
        assert_refused("(", "missing closing )");
        assert_refused("(a|b", "missing closing )");
        assert_refused(")", "unexpected )");
        assert_refused("a)b", "unexpected )");
        assert_refused("[a", "missing closing ]");
        assert_refused("[]", "missing closing ]");
        assert_refused("[[:alpha:]", "missing closing ]");
        assert_refused("a**", "nested repetition");
        assert_refused("a++", "nested repetition");
        assert_refused("a*?+", "nested repetition");
        assert_refused("x{2}{3}", "nested repetition");
        assert_refused("*a", "missing argument");
        assert_refused("a|*", "missing argument");
        assert_refused("(*)", "missing argument");
        assert_refused("{2}", "missing argument");
        assert_refused("(?i)*", "missing argument");
        assert_refused("a{1001}", "repeat count");
        assert_refused("a{2,1}", "repeat count");
        assert_refused("a{1,100000000000}", "repeat count");
        assert_refused("\\q", "escape");
        assert_refused("\\", "trailing backslash");
        assert_refused("\\xZZ", "escape");
        assert_refused("\\x{110000}", "escape");
        assert_refused("\\x{}", "escape");
        assert_refused("[z-a]", "range");
        assert_refused("[[:foo:]]", "class");
        assert_refused("(?z)", "Perl syntax");
        assert_refused("(?-)", "Perl syntax");
        assert_refused("(?i-)", "Perl syntax");
        assert_refused("(?i--s)", "Perl syntax");
        assert_refused("(?>a)", "Perl syntax");
        assert_refused("(?P<>a)", "named group");
        assert_refused("(?P<a-b>a)", "named group");
        assert_refused("a\xff", "UTF-8");
}

TEST(backreferences_lookaround_and_unicode_classes_are_refused) {
        assert_refused("(a)\\1", "backreferences");
        assert_refused("(|)(\\1\\1)*", "backreferences");
        assert_refused("\\9", "backreferences");
        assert_refused("[\\1]", "backreferences");
        assert_refused("(?P<n>a)(?P=n)", "backreferences");
        assert_refused("(?=a)", "lookahead");
        assert_refused("(?!a)", "lookahead");
        assert_refused("(?<=a)b", "lookbehind");
        assert_refused("(?<!a)b", "lookbehind");
        assert_refused("\\pL", "Unicode classes");
        assert_refused("\\p{Greek}", "Unicode classes");
        assert_refused("[\\PL]", "Unicode classes");
        assert_refused("\\C", "\\C");
}

/* The patterns' size: instructions, shared by the patterns of a call, and refused before
 * anything is matched; a pattern of any length compiles in time linear in it. */
TEST(programs_are_counted_and_bounded) {
        _cleanup_(filter_regex_freep) FilterRegex *a = NULL, *b = NULL, *c = NULL;
        _cleanup_free_ char *big = malloc(64 * 1024 + 1);
        size_t budget = FILTER_REGEX_SIZE_MAX;
        const char *why;

        ASSERT_OK(filter_regex_compile("^sha256:[0-9a-f]{64}$", &budget, &a, &why));
        ASSERT_TRUE(filter_regex_size(a) == 1 + 7 + 64 + 1 + 1); /* ^ sha256: [0-9a-f]{64} $ match */
        ASSERT_TRUE(budget == FILTER_REGEX_SIZE_MAX - filter_regex_size(a));
        ASSERT_OK(filter_regex_compile("^(a|bc)*d?e{2,}$", &budget, &b, &why));
        /* ^, x* 2 + (split a jmp b c), d? 2, e e split, $, match */
        ASSERT_TRUE(filter_regex_size(b) == 1 + 7 + 2 + 3 + 1 + 1);
        ASSERT_ERR(filter_regex_compile("[ab]{200}", &budget, &c, &why), EINVAL);
        ASSERT_TRUE(!c && strstr(why, "too large"));

        budget = FILTER_REGEX_SIZE_MAX;
        ASSERT_OK(filter_regex_compile("[ab]{255}", &budget, &c, &why));
        ASSERT_TRUE(budget == 0);
        c = filter_regex_free(c);
        budget = FILTER_REGEX_SIZE_MAX;
        ASSERT_ERR(filter_regex_compile("[ab]{256}", &budget, &c, &why), EINVAL);
        ASSERT_ERR(filter_regex_compile("((a{1,1000}){1,1000}){1,1000}", &budget, &c, &why), EINVAL);
        ASSERT_ERR(filter_regex_compile("(((((a*)*)*)*)*){1000}", &budget, &c, &why), EINVAL);
        ASSERT_TRUE(budget == FILTER_REGEX_SIZE_MAX);

        /* What compiles to nothing is copied for nothing; only the match remains. */
        ASSERT_OK(filter_regex_compile("(()){1000}((){1000}){0}", &budget, &c, &why));
        ASSERT_TRUE(filter_regex_size(c) == 1);
        c = filter_regex_free(c);

        /* 64 KiB of characters: refused once the program is full. */
        ASSERT_TRUE(big);
        memset(big, 'a', 64 * 1024);
        big[64 * 1024] = 0;
        budget = FILTER_REGEX_SIZE_MAX;
        ASSERT_ERR(filter_regex_compile(big, &budget, &c, &why), EINVAL);
        /* 100 groups deep is fine, 101 is not. */
        strcpy(big, "");
        for (size_t i = 0; i < 101; i++)
                strcat(big, "(");
        strcat(big, "a");
        for (size_t i = 0; i < 101; i++)
                strcat(big, ")");
        ASSERT_ERR(filter_regex_compile(big, &budget, &c, &why), EINVAL);
        ASSERT_TRUE(strstr(why, "deeply"));
        big[strlen(big) - 1] = 0;
        ASSERT_OK(filter_regex_compile(big + 1, &budget, &c, &why));
        ASSERT_TRUE(filter_regex_search(c, "xa", 2));
}

/* Patterns of 64 KiB (all of a call's filters) of shapes that a parser scanning ahead from
 * each character takes quadratic time on (3x this case's CPU time at 64 KiB, when it
 * measured the rest of the pattern for each rune or looked for ":]" after each "[:"):
 * refused or compiled, and what compiles to nothing keeps nothing. */
TEST(long_patterns_are_read_once) {
        static const struct {
                const char *unit;
                bool valid;
        } shapes[] = {
                { "[:", false },    /* inside one "[": no ":]" ahead, each time */
                { "(a){0}", true }, /* compiles to nothing: its classes are not kept */
                { "\xc3\xa9", false }, /* two-byte runes: too large */
                { "\\Qab", false },
                { "(?i)", true },
        };
        _cleanup_free_ char *big = malloc(64 * 1024 + 1);

        ASSERT_TRUE(big);
        for (size_t i = 0; i < ELEMENTSOF(shapes); i++) {
                _cleanup_(filter_regex_freep) FilterRegex *re = NULL;
                size_t budget = FILTER_REGEX_SIZE_MAX, n = strlen(shapes[i].unit), len = 0;
                const char *why;

                if (i == 0)
                        big[len++] = '[';
                for (; len + n <= 64 * 1024; len += n)
                        memcpy(big + len, shapes[i].unit, n);
                big[len] = 0;
                if (shapes[i].valid) {
                        ASSERT_OK(filter_regex_compile(big, &budget, &re, &why));
                        ASSERT_TRUE(filter_regex_size(re) == 1 && filter_regex_search(re, "", 0));
                } else
                        ASSERT_ERR(filter_regex_compile(big, &budget, &re, &why), EINVAL);
        }
}

/* A search costs at most 2 * size steps per rune and one more position, whatever the
 * pattern: those a backtracking matcher takes exponential time on finish in that bound. */
static void assert_linear(const char *pattern, const char *input, bool match) {
        _cleanup_(filter_regex_freep) FilterRegex *re = NULL;
        size_t budget = FILTER_REGEX_SIZE_MAX, len = strlen(input);
        const char *why;
        uint64_t steps, bound;

        ASSERT_OK(filter_regex_compile(pattern, &budget, &re, &why));
        ASSERT_TRUE(filter_regex_steps(re) == 0);
        ASSERT_TRUE(filter_regex_search(re, input, len) == match);
        steps = filter_regex_steps(re);
        bound = 2 * filter_regex_size(re) * (len + 1);
        if (steps > bound || steps < len)
                fprintf(stderr, "/%s/ on %zu bytes: %" PRIu64 " steps, bound %" PRIu64 "\n", pattern, len, steps, bound);
        ASSERT_TRUE(steps <= bound);
        ASSERT_TRUE(match || steps >= len); /* it did read the whole input */
}

TEST(pathological_patterns_take_linear_steps) {
        _cleanup_free_ char *a = malloc(4097), *x = malloc(4097), *ab = malloc(4097), *multi = malloc(4097);
        uint32_t seed = 1;

        ASSERT_TRUE(a && x && ab && multi);
        memset(a, 'a', 4096);
        a[4096] = 0;
        memset(x, 'x', 4096);
        x[4096] = 0;
        for (size_t i = 0; i < 4096; i++) {
                seed = seed * 1103515245u + 12345u;
                ab[i] = (seed >> 16) & 1 ? 'a' : 'b';
        }
        ab[4096] = 0;
        for (size_t i = 0; i < 4096; i += 2)
                memcpy(multi + i, "\xc3\xa9", 2); /* 2048 runes of two bytes */
        multi[4096] = 0;

        assert_linear("(a*)*b", a, false);
        assert_linear("(a|aa)*c", a, false);
        assert_linear("(x+x+)+y", x, false);
        assert_linear("^(a|a?)+$", a, true);
        assert_linear("(a*)*b|(a|aa)*c|(.*){10}z", a, false);
        assert_linear("(a|b)*a(a|b){20}$", ab, ab[4096 - 21] == 'a');
        assert_linear("[ab]{254}c", ab, false);
        assert_linear("(?i)(é|ÉÉ)*x", multi, false);
        assert_linear("^(.*)*$", multi, true);
}

/* Programs whose assertions are only those of the text's ends run through the DFA cache:
 * an input that stays among few states costs one step per byte, not the VM's hundreds. */
TEST(the_dfa_cache_makes_long_runs_cheap) {
        _cleanup_free_ char *x = malloc(4097), *ab = malloc(4097);
        const char *patterns[] = { "[ab]{254}c", "^x*[ab]{250}$", "(x|xx){40}y" };
        uint32_t seed = 7;

        ASSERT_TRUE(x && ab);
        memset(x, 'x', 4096);
        x[4096] = 0;
        for (size_t i = 0; i < 4096; i++) {
                seed = seed * 1103515245u + 12345u;
                ab[i] = (seed >> 16) & 1 ? 'a' : 'b';
        }
        ab[4096] = 0;
        for (size_t i = 0; i < ELEMENTSOF(patterns); i++) {
                _cleanup_(filter_regex_freep) FilterRegex *re = NULL;
                size_t budget = FILTER_REGEX_SIZE_MAX;
                const char *why;

                ASSERT_OK(filter_regex_compile(patterns[i], &budget, &re, &why));
                ASSERT_TRUE(!filter_regex_search(re, ab, 4096) && !filter_regex_search(re, x, 4096));
                /* The states after each count of a, b or x, then one per byte. */
                if (filter_regex_steps(re) > 2 * 4096 + 4 * filter_regex_size(re) * filter_regex_size(re))
                        fprintf(stderr, "/%s/: %" PRIu64 " steps\n", patterns[i], filter_regex_steps(re));
                ASSERT_TRUE(filter_regex_steps(re) <= 2 * 4096 + 4 * filter_regex_size(re) * filter_regex_size(re));
        }
}

/* "(?:\\b|\\B)" always holds but keeps a program off the DFA cache: random patterns answer the
 * same with it and without, over inputs long enough to empty the cache many times. */
TEST(the_dfa_cache_answers_as_the_vm) {
        static const char *const atoms[] = { "a", "b", "é", ".", "[ab]", "[^a]", "(", ")", "|", "*", "+",
                                             "?", "{1,3}", "{2}", "^", "$", "(?:", "(?i)", "A", "\\d", "[é-ë]" };
        static const char *const runes[] = { "a", "b", "A", "é", "É", "1", "\n", "\xff" };
        char pattern[256], forced[300], input[400];
        uint32_t seed = 42;
        size_t compared = 0, matched = 0;

        for (size_t round = 0; round < 3000; round++) {
                _cleanup_(filter_regex_freep) FilterRegex *re = NULL, *vm = NULL;
                size_t budget = FILTER_REGEX_SIZE_MAX, budget_vm = FILTER_REGEX_SIZE_MAX, n;
                const char *why;
                bool a, b;

                pattern[0] = input[0] = 0;
                seed = seed * 1103515245u + 12345u;
                n = (seed >> 16) % 10;
                for (size_t i = 0; i < n; i++) {
                        seed = seed * 1103515245u + 12345u;
                        strcat(pattern, atoms[(seed >> 16) % ELEMENTSOF(atoms)]);
                }
                seed = seed * 1103515245u + 12345u;
                n = (seed >> 16) % 300;
                for (size_t i = 0; i < n; i++) {
                        seed = seed * 1103515245u + 12345u;
                        strcat(input, runes[(seed >> 16) % ELEMENTSOF(runes)]);
                }
                snprintf(forced, sizeof forced, "(?:\\b|\\B)(?:%s)", pattern);
                if (filter_regex_compile(pattern, &budget, &re, &why) < 0)
                        continue;
                ASSERT_OK(filter_regex_compile(forced, &budget_vm, &vm, &why));
                for (size_t k = 0; k < 3; k++) { /* again, with the cache warm */
                        a = filter_regex_search(re, input, strlen(input));
                        b = filter_regex_search(vm, input, strlen(input));
                        if (a != b)
                                fprintf(stderr, "/%s/ on \"%s\": %d, the VM %d\n", pattern, input, a, b);
                        ASSERT_TRUE(a == b);
                }
                compared++;
                matched += a;
        }
        ASSERT_TRUE(compared > 1000 && matched > 100 && compared - matched > 100);
}

TEST_MAIN(TEST_ENTRY(matches_as_go_does), TEST_ENTRY(invalid_patterns_are_refused_as_go_refuses_them),
          TEST_ENTRY(backreferences_lookaround_and_unicode_classes_are_refused),
          TEST_ENTRY(programs_are_counted_and_bounded), TEST_ENTRY(long_patterns_are_read_once),
          TEST_ENTRY(pathological_patterns_take_linear_steps),
          TEST_ENTRY(the_dfa_cache_makes_long_runs_cheap), TEST_ENTRY(the_dfa_cache_answers_as_the_vm))
