/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A page of a walk that starts inside a group of long names (names sharing their first
 * NAME_PREFIX_MAX bytes, which the index orders by hash) decodes the labels of the
 * snapshots it calls back for, not of the whole group: a user's 4096 snapshots can be one
 * group, each with 16 KiB of labels, and every page (ListPage) read them all. Linked with
 * --wrap=strndup to count the strings the store copies out of its records. */

#include <inttypes.h>

#include "filter.h"
#include "store-test-util.h"

static uint64_t n_strndup;

char *__real_strndup(const char *s, size_t n);

char *__wrap_strndup(const char *s, size_t n) {
        n_strndup++;
        return __real_strndup(s, n);
}

#define GROUP 600
#define LABELS 8

static char *group_name(unsigned i) {
        char tail[16];

        snprintf(tail, sizeof tail, "-%05u", i);
        return long_name(NAME_PREFIX_MAX + 8, 'p', tail);
}

static void make_group(Store *s) {
        Error e = ERROR_NULL;

        for (unsigned i = 0; i < GROUP; i++) {
                _cleanup_free_ char *name = group_name(i);
                Labels l = LABELS_NULL;

                for (unsigned j = 0; j < LABELS; j++) {
                        char k[8];

                        snprintf(k, sizeof k, "k%u", j);
                        ASSERT_OK(labels_set(&l, k, "value"));
                }
                ASSERT_OK(labels_set(&l, "even", i % 2 ? "0" : "1"));
                ASSERT_TRUE(t_create_as(s, SNAPSHOT_ACTIVE, 0, name, 0, NULL, &l, &e) > 0);
                labels_clear(&l);
        }
}

typedef struct Page {
        char *names[GROUP];
        size_t n, max;
} Page;

static int page_add(const SnapshotInfo *info, void *userdata) {
        Page *p = userdata;

        ASSERT_TRUE(info->labels.n == LABELS + 1);
        ASSERT_TRUE(p->names[p->n++] = strdup(info->name));
        return p->n == p->max;
}

static void page_clear(Page *p) {
        for (size_t i = 0; i < p->n; i++)
                free(p->names[i]);
        p->n = 0;
}

static void walk_page(Store *s, const char *from, const Filter *f, Page *p) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        Error e = ERROR_NULL;

        ASSERT_OK(store_read_begin(s, &t));
        ASSERT_OK(store_walk_owner_from(t, 0, from, f, page_add, p, &e));
}

TEST(page_in_a_group_decodes_only_its_own) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_free_ char *from = group_name(300);
        Page p = { .max = 10 };

        make_group(s);
        n_strndup = 0;
        walk_page(s, from, NULL, &p);
        fprintf(stderr, "a page of 10 from the middle of a group of %d: %" PRIu64 " strings copied\n", GROUP,
                n_strndup);
        /* Its names (once each) and what the page holds: before, every label of the group. */
        ASSERT_TRUE(n_strndup < 2 * GROUP);
        ASSERT_TRUE(p.n == 10);
        for (unsigned i = 0; i < p.n; i++) {
                _cleanup_free_ char *want = group_name(300 + i);
                ASSERT_STREQ(p.names[i], want);
        }
        page_clear(&p);
        test_store_done(&ts);
}

/* The filter is matched on the group's snapshots as they are called back: pages through
 * the group give what one walk gives. */
TEST(filtered_pages_through_a_group) {
        TestStore ts;
        Store *s = test_store_new(&ts, 0);
        _cleanup_(filter_freep) Filter *f = NULL;
        char *filters[] = { (char *) "labels.even==1", NULL };
        Error e = ERROR_NULL;
        Page all = { .max = GROUP }, page = { .max = 7 };
        size_t seen = 0;

        make_group(s);
        ASSERT_OK(filter_parse(filters, &f, &e));
        walk_page(s, NULL, f, &all);
        ASSERT_TRUE(all.n == GROUP / 2);
        for (;;) {
                _cleanup_free_ char *from = NULL;

                if (seen > 0)
                        ASSERT_TRUE(from = strdup(all.names[seen - 1]));
                walk_page(s, from, f, &page);
                /* from itself comes again first (the walk starts at it). */
                for (size_t i = seen > 0; i < page.n; i++)
                        ASSERT_STREQ(page.names[i], all.names[seen++]);
                if (page.n < page.max) {
                        page_clear(&page);
                        break;
                }
                page_clear(&page);
        }
        ASSERT_TRUE(seen == GROUP / 2);
        page_clear(&all);
        test_store_done(&ts);
}

TEST_MAIN(TEST_ENTRY(page_in_a_group_decodes_only_its_own), TEST_ENTRY(filtered_pages_through_a_group))
