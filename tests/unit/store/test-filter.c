/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* containerd's filter syntax plus the owner field, on hand-made infos. */
#include "filter.h"
#include "strutil.h"
#include "test-util.h"

static SnapshotInfo info_new(const char *name, const char *parent, SnapshotKind kind, uid_t owner) {
        SnapshotInfo i = { .kind = kind, .owner = owner };

        i.name = strdup(name);
        i.parent = parent ? strdup(parent) : NULL;
        ASSERT_TRUE(i.name && (!parent || i.parent));
        return i;
}

static bool matches(const char *filter, const SnapshotInfo *info) {
        _cleanup_(filter_freep) Filter *f = NULL;
        char *filters[] = { (char *) filter, NULL };
        Error e = ERROR_NULL;
        int r = filter_parse(filters, &f, &e);

        if (r < 0)
                fprintf(stderr, "%s\n", e.message);
        ASSERT_OK(r);
        return filter_match(f, info);
}

/* Parsing fails with EINVAL, and the message names the filter and the byte. */
static void assert_parse_error(const char *filter, size_t pos) {
        _cleanup_(filter_freep) Filter *f = NULL;
        char *filters[] = { (char *) "name==ok", (char *) filter, NULL };
        char at[32];
        Error e = ERROR_NULL;

        ASSERT_ERR(filter_parse(filters, &f, &e), EINVAL);
        ASSERT_TRUE(!f && e.code == EINVAL);
        snprintf(at, sizeof at, "at byte %zu", pos);
        if (!strstr(e.message, at))
                fprintf(stderr, "%s: wanted \"%s\" in: %s\n", filter, at, e.message);
        ASSERT_TRUE(strstr(e.message, at));
        ASSERT_TRUE(strstr(e.message, "invalid filter"));
}

TEST(empty_matches_all) {
        _cleanup_(filter_freep) Filter *f = NULL, *g = NULL;
        _cleanup_(snapshot_info_clear) SnapshotInfo i = info_new("a", NULL, SNAPSHOT_ACTIVE, 0);
        char *empty[] = { (char *) "", (char *) "name==zzz", NULL };

        ASSERT_OK(filter_parse(NULL, &f, NULL));
        ASSERT_TRUE(filter_match(f, &i));
        ASSERT_OK(filter_parse(empty, &g, NULL));
        ASSERT_TRUE(filter_match(g, &i));
        ASSERT_TRUE(matches("   ", &i));
}

TEST(fields_and_operators) {
        _cleanup_(snapshot_info_clear) SnapshotInfo i = info_new("a-wl", "p-wl", SNAPSHOT_ACTIVE, 1000);
        _cleanup_(snapshot_info_clear) SnapshotInfo np = info_new("a-np", NULL, SNAPSHOT_VIEW, 0);

        ASSERT_OK(labels_set(&i.labels, "l", "2"));
        ASSERT_OK(labels_set(&i.labels, "containerd.io/gc.root", "check-walk"));
        ASSERT_OK(labels_set(&i.labels, "a.b.c", "dots"));

        ASSERT_TRUE(matches("name==a-wl", &i));
        ASSERT_TRUE(!matches("name==a", &i));
        ASSERT_TRUE(matches("name!=a", &i));
        ASSERT_TRUE(matches("name~=^a-", &i));
        ASSERT_TRUE(matches("name~=wl", &i)); /* a search, not anchored */
        ASSERT_TRUE(!matches("name~=^wl", &i));
        ASSERT_TRUE(matches("kind==active", &i) && matches("kind==view", &np));
        ASSERT_TRUE(!matches("kind==committed", &i));
        ASSERT_TRUE(matches("owner==1000", &i) && matches("owner==0", &np) && !matches("owner==0", &i));
        ASSERT_TRUE(matches("parent==p-wl", &i));

        /* parent is always present, as in containerd: "" when there is none. */
        ASSERT_TRUE(matches("parent", &i) && matches("parent", &np));
        ASSERT_TRUE(matches("parent!=\"\"", &i) && !matches("parent!=\"\"", &np));
        ASSERT_TRUE(matches("parent!=x", &np));
        ASSERT_TRUE(matches("parent==\"\"", &np) && !matches("parent==\"\"", &i));
        ASSERT_TRUE(matches("parent~=^$", &np));
        /* Labels are present only when set; != and ~= see an absent one as "". */
        ASSERT_TRUE(matches("labels.nosuch!=x", &i) && !matches("labels.nosuch==\"\"", &i));

        /* Labels: quoted keys, unquoted dotted keys re-joined. */
        ASSERT_TRUE(matches("labels.l", &i) && !matches("labels.l", &np));
        ASSERT_TRUE(matches("labels.l==2", &i) && !matches("labels.l==3", &i));
        ASSERT_TRUE(matches("labels.\"containerd.io/gc.root\"==check-walk", &i));
        ASSERT_TRUE(matches("labels.a.b.c==dots", &i));
        ASSERT_TRUE(matches("labels.\"a.b.c\"==\"dots\"", &i));

        /* AND within a string, OR across strings, whitespace ignored. */
        ASSERT_TRUE(matches("name==a-wl,labels.l==2", &i));
        ASSERT_TRUE(!matches("name==a-wl,labels.l==3", &i));
        ASSERT_TRUE(matches(" name == a-wl , kind == active ", &i));
        {
                _cleanup_(filter_freep) Filter *f = NULL;
                char *any[] = { (char *) "name==zzz", (char *) "kind==view", NULL };
                ASSERT_OK(filter_parse(any, &f, NULL));
                ASSERT_TRUE(!filter_match(f, &i) && filter_match(f, &np));
        }
}

TEST(quoting) {
        _cleanup_(snapshot_info_clear) SnapshotInfo i = info_new("/work/some dir/x,y", NULL, SNAPSHOT_ACTIVE, 0);
        _cleanup_(snapshot_info_clear) SnapshotInfo q = info_new("say \"hi\"\t\xc3\xa9", NULL, SNAPSHOT_ACTIVE, 0);

        ASSERT_TRUE(matches("name==\"/work/some dir/x,y\"", &i));
        ASSERT_TRUE(matches("name~=/^\\/work\\/some dir/", &i)); /* /.../ with an escaped slash */
        ASSERT_TRUE(matches("name~=|x,y$|", &i));
        ASSERT_TRUE(matches("name~=\"x,y$\"", &i));
        ASSERT_TRUE(matches("name==\"say \\\"hi\\\"\\t\\u00e9\"", &q));
        ASSERT_TRUE(matches("name==\"say \\x22hi\\042\\t\\xc3\\xa9\"", &q));
        ASSERT_TRUE(matches("\"name\"==\"say \\\"hi\\\"\\t\\U000000e9\"", &q));
}

TEST(parse_errors_name_the_byte) {
        assert_parse_error("name==", 6);                /* no value */
        assert_parse_error("name=x", 4);                /* single = */
        assert_parse_error("name===x", 4);
        assert_parse_error("name<x", 4);
        assert_parse_error("name==a b", 8);             /* two values */
        assert_parse_error("name==a,", 8);              /* nothing after the comma */
        assert_parse_error(",name==a", 0);
        assert_parse_error("name==\"abc", 6);           /* unterminated */
        assert_parse_error("name==\"a\\qb\"", 8);       /* unknown escape */
        assert_parse_error("name==\"a\\000\"", 8);      /* NUL */
        assert_parse_error("name==/x/", 6);             /* /.../ only after ~= */
        assert_parse_error("labels.==x", 7);
        assert_parse_error("labels.-x==1", 7);
        assert_parse_error("name~=\"(\"", 6);           /* bad regex */
        assert_parse_error("  kind  ==  ", 12);
        assert_parse_error("knd==committed", 0);        /* unknown fields are refused */
        assert_parse_error(" nosuchfield", 1);
        assert_parse_error("kind==active,nosuch!=x", 13);
        assert_parse_error("name.sub", 0);              /* name has no sub-fields */
        assert_parse_error("labels", 0);                /* labels needs a key */
}

TEST(message_names_the_filter) {
        _cleanup_(filter_freep) Filter *f = NULL;
        char *filters[] = { (char *) "kind=active", NULL };
        Error e = ERROR_NULL;

        ASSERT_ERR(filter_parse(filters, &f, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "\"kind=active\""));
}

/* Patterns that made glibc's regcomp() take seconds or crash the daemon (stack overflow)
 * are refused at once with InvalidArgument, naming the filter and the pattern's byte; the
 * matcher itself is tested in test-filter-regex.c. */
TEST(regex_bombs_are_refused) {
        _cleanup_free_ char *deep = malloc(2 * 5000 + 16), *alts = malloc(2 * 3000 + 16);
        _cleanup_(filter_freep) Filter *f = NULL;
        char *filters[3] = {};
        Error e = ERROR_NULL;

        ASSERT_TRUE(deep && alts);
        assert_parse_error("name~=/(|)(\\1\\1)*/", 6);                /* backreference */
        assert_parse_error("name~=/(a)\\1/", 6);
        assert_parse_error("name~=\"((a{1,100}){1,100}){1,100}\"", 6); /* nested repetitions */
        assert_parse_error("name~=\"a{1,1001}\"", 6);                  /* containerd's (Go's) limit */
        assert_parse_error("name~=\"a{1001,}\"", 6);
        assert_parse_error("name~=\"x(ab|cd|ef|gh){1,1000}\"", 6);
        assert_parse_error("name~=\"[ab]{256}\"", 6);                   /* with its match: 257 */
        assert_parse_error("name~=\"(ab+){1000}\"", 6);
        assert_parse_error("name~=\"(){1000}{1000}\"", 6);            /* stacked repetitions, as in Go */
        assert_parse_error("name~=\"(|){300}\"", 6);

        strcpy(deep, "name~=");
        for (size_t i = 0; i < 5000; i++)
                strcat(deep, "(");
        strcat(deep, "a");
        for (size_t i = 0; i < 5000; i++)
                strcat(deep, ")");
        assert_parse_error(deep, 6);                                      /* deep nesting */

        strcpy(deep, "name~=a");                                          /* "**" is refused, as in Go */
        memset(deep + 7, '*', 1000);
        deep[7 + 1000] = 0;
        assert_parse_error(deep, 6);

        strcpy(alts, "name~=");
        for (size_t i = 0; i < 3000; i++)
                strcat(alts, "a|");
        strcat(alts, "b");
        assert_parse_error(alts, 6);                                      /* too many alternatives */

        /* The budget is shared by all patterns of one call. */
        filters[0] = (char *) "name~=\"a{1,100}\"";
        filters[1] = (char *) "labels.x~=\"b{1,100}c\"";
        ASSERT_ERR(filter_parse(filters, &f, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "too large"));
}

TEST(regex_limits_leave_real_patterns_alone) {
        _cleanup_(snapshot_info_clear) SnapshotInfo i = info_new(
                "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL,
                SNAPSHOT_COMMITTED, 0);

        ASSERT_TRUE(matches("name~=^sha256:[0-9a-f]{64}$", &i));
        ASSERT_TRUE(matches("name~=\"^sha256:([0-9a-f]{8}){8}$\"", &i));
        ASSERT_TRUE(matches("name~=^(sha256|sha512):[[:xdigit:]]+$", &i));
        ASSERT_TRUE(matches("name~=/[\\\\1]|sha/", &i));      /* \\ and 1 in a bracket */
        ASSERT_TRUE(!matches("name~=/[]a]{0}sha\\{/", &i));
        ASSERT_TRUE(matches("name~=\"x{1,126}|sh\"", &i));      /* 256 instructions: exactly the limit */
        assert_parse_error("name~=\"x{1,126}|sha\"", 6);
        ASSERT_TRUE(matches("name~=\"^sha(256)?:a*[0-9a-f]+$\"", &i));
        ASSERT_TRUE(matches("name~=\"sha{1}256\"", &i));
        ASSERT_TRUE(matches("name~=\"(()){1000}\"", &i));       /* an empty group compiles to nothing */
}

TEST(huge_filters_are_refused) {
        _cleanup_(filter_freep) Filter *f = NULL;
        _cleanup_free_ char *big = malloc(64 * 1024 + 16);
        char *filters[] = { big, NULL };
        Error e = ERROR_NULL;

        ASSERT_TRUE(big);
        strcpy(big, "name==");
        memset(big + 6, 'x', 64 * 1024);
        big[6 + 64 * 1024] = 0;
        ASSERT_ERR(filter_parse(filters, &f, &e), EINVAL);
        ASSERT_TRUE(!f && strstr(e.message, "limit"));

        big[64 * 1024] = 0; /* exactly 64 KiB is fine */
        ASSERT_OK(filter_parse(filters, &f, NULL));
}

TEST_MAIN(TEST_ENTRY(empty_matches_all), TEST_ENTRY(fields_and_operators), TEST_ENTRY(quoting),
          TEST_ENTRY(parse_errors_name_the_byte), TEST_ENTRY(message_names_the_filter),
          TEST_ENTRY(regex_bombs_are_refused), TEST_ENTRY(regex_limits_leave_real_patterns_alone),
          TEST_ENTRY(huge_filters_are_refused))
