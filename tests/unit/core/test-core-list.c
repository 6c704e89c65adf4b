/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Lists of snapshots (core-list.c): ListPage's pages in name-then-owner order after a cursor,
 * List's limit, that both read only about what they return, and that a page whose filter
 * keeps almost nothing stops after max_read snapshots with a cursor to go on from. */
#include "core-test-util.h"

static char *dir;
static Core *core;
static CoreSnapshotter *ovl;
static size_t size_calls;

static void prepare_labelled(uid_t ns, const char *key, const Labels *labels) {
        Error e = ERROR_NULL;
        ASSERT_OK(core_prepare(ovl, ns, key, NULL, labels, NULL, &e));
}

static void prepare(uid_t ns, const char *key) {
        prepare_labelled(ns, key, NULL);
}

/* Every snapshot counts 10 bytes. */
static size_t size_ten(const SnapshotInfo *info) {
        size_calls++;
        return 10;
}

/* What uid 1000 sees, in name-then-owner order: root's committed snapshots and its own;
 * not root's active one, nor uid 1001's. */
static const char *const expected[] = { "0/a", "1000/a", "1000/b", "0/c", "1000/d", "0/e", "1000/f" };

static void populate(void) {
        test_core_commit(ovl, 0, "a", NULL);
        test_core_commit(ovl, 0, "c", NULL);
        test_core_commit(ovl, 0, "e", NULL);
        prepare(0, "b0");
        prepare(1000, "a");
        prepare(1000, "b");
        prepare(1000, "d");
        prepare(1000, "f");
        prepare(1001, "c1");
}

/* Pages through uid 1000's list with limit, from the cursor each page returns; returns the
 * "owner/name"s joined by spaces and the number of pages. Without max_read, every page but
 * an only one holds a snapshot and ends at its last. */
static char *page_all(char *const *filters, const CoreListLimit *limit, size_t *ret_pages) {
        _cleanup_free_ char *cursor_name = NULL;
        uid_t cursor_owner = 0;
        char *all = strdup("");
        size_t pages = 0;

        for (bool more = true; more; pages++) {
                _cleanup_(snapshot_info_list_clear) SnapshotInfoList l = {};
                _cleanup_free_ char *next = NULL;
                Error e = ERROR_NULL;
                uid_t next_owner;

                ASSERT_TRUE(pages < 1000);
                ASSERT_OK(core_list_page(ovl, 1000, filters, cursor_owner, cursor_name, limit, &l, &next, &next_owner,
                                         &e));
                more = next;
                if (limit->max_read == 0) {
                        ASSERT_TRUE(l.n > 0 || (pages == 0 && !more));
                        ASSERT_TRUE(!more || (streq(next, l.items[l.n - 1].name) && next_owner == l.items[l.n - 1].owner));
                }
                for (size_t i = 0; i < l.n; i++) {
                        char *s = strdup_printf("%s%s%u/%s", all, *all ? " " : "", (unsigned) l.items[i].owner,
                                                l.items[i].name);
                        free(all);
                        all = s;
                }
                free(cursor_name);
                cursor_name = TAKE_PTR(next);
                cursor_owner = next_owner;
        }
        *ret_pages = pages;
        return all;
}

static char *expected_joined(void) {
        char *all = strdup("");

        for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
                char *s = strdup_printf("%s%s%s", all, *all ? " " : "", expected[i]);
                free(all);
                all = s;
        }
        return all;
}

/* Every page size gives the same list, each snapshot once, in ListPage's order; the last
 * page says nothing follows (no empty page after it). */
TEST(pages_are_in_name_then_owner_order) {
        _cleanup_free_ char *want = NULL;

        core = test_core_setup(&dir, &ovl);
        populate();
        want = expected_joined();
        for (size_t limit = 1; limit <= ELEMENTSOF(expected) + 1; limit++) {
                const CoreListLimit l = { .max_items = limit, .max_bytes = SIZE_MAX, .size = size_ten };
                _cleanup_free_ char *got = NULL;
                size_t pages;

                got = page_all(NULL, &l, &pages);
                if (!streq(got, want))
                        fprintf(stderr, "limit %zu: got \"%s\", expected \"%s\"\n", limit, got, want);
                ASSERT_STREQ(got, want);
                ASSERT_TRUE(pages == (ELEMENTSOF(expected) + limit - 1) / limit);
        }
        test_core_teardown(core, dir);
}

/* Bytes cut a page too, but a page always holds one snapshot; filters apply before. */
TEST(pages_end_at_their_bytes_and_filters_apply) {
        const CoreListLimit two = { .max_items = 100, .max_bytes = 25, .size = size_ten },
                            one = { .max_items = 100, .max_bytes = 5, .size = size_ten };
        char *active[] = { (char *) "kind==active", NULL };
        _cleanup_free_ char *want = NULL, *got = NULL, *got_one = NULL, *got_active = NULL;
        size_t pages;

        core = test_core_setup(&dir, &ovl);
        populate();
        want = expected_joined();
        got = page_all(NULL, &two, &pages);
        ASSERT_STREQ(got, want);
        ASSERT_TRUE(pages == 4);
        got_one = page_all(NULL, &one, &pages);
        ASSERT_STREQ(got_one, want);
        ASSERT_TRUE(pages == ELEMENTSOF(expected));
        got_active = page_all(active, &two, &pages);
        ASSERT_STREQ(got_active, "1000/a 1000/b 1000/d 1000/f");
        ASSERT_TRUE(pages == 2);
        test_core_teardown(core, dir);
}

#define N_OWN 300

/* A page of 10 from 300 of the caller's snapshots and root's weighs about 10 of them per
 * namespace, not the whole list; List stops at its limit the same way. */
TEST(a_page_reads_about_a_page) {
        const CoreListLimit ten = { .max_items = 10, .max_bytes = SIZE_MAX, .size = size_ten },
                            bytes = { .max_items = SIZE_MAX, .max_bytes = 95, .size = size_ten };
        _cleanup_(snapshot_info_list_clear) SnapshotInfoList page = {}, all = {}, cut = {};
        _cleanup_free_ char *next = NULL;
        Error e = ERROR_NULL;
        uid_t next_owner;
        bool more;

        core = test_core_setup(&dir, &ovl);
        populate();
        for (unsigned i = 0; i < N_OWN; i++) {
                _cleanup_free_ char *key = strdup_printf("k%04u", i);
                prepare(1000, key);
        }

        size_calls = 0;
        ASSERT_OK(core_list_page(ovl, 1000, NULL, 1000, "k0100", &ten, &page, &next, &next_owner, &e));
        ASSERT_TRUE(next && page.n == 10);
        ASSERT_STREQ(next, "k0110");
        ASSERT_STREQ(page.items[0].name, "k0101");
        ASSERT_STREQ(page.items[9].name, "k0110");
        /* 11 of the caller's (the 11th shows the page is full), 0 of root's (all after "k"
         * are none), then the merge: no more than twice a page. */
        ASSERT_TRUE(size_calls <= 2 * 11 + 10);

        ASSERT_OK(core_list_limited(ovl, 1000, NULL, NULL, &all, &more, &e));
        ASSERT_TRUE(!more && all.n == ELEMENTSOF(expected) + N_OWN);

        size_calls = 0;
        ASSERT_OK(core_list_limited(ovl, 1000, NULL, &bytes, &cut, &more, &e));
        ASSERT_TRUE(more && cut.n == 9);
        ASSERT_TRUE(size_calls == 10);
        test_core_teardown(core, dir);
}

/* Whatever a page may read, paging gives the whole list once, in order: pages stop at
 * their reading bound (some hold nothing) and go on from where they stopped. */
TEST(pages_that_stop_reading_give_the_same_list) {
        _cleanup_free_ char *want = NULL;

        core = test_core_setup(&dir, &ovl);
        populate();
        want = expected_joined();
        for (size_t max_read = 1; max_read <= 4; max_read++)
                for (size_t limit = 1; limit <= ELEMENTSOF(expected) + 1; limit++) {
                        const CoreListLimit l = { .max_items = limit, .max_bytes = SIZE_MAX, .size = size_ten,
                                                  .max_read = max_read };
                        _cleanup_free_ char *got = NULL;
                        size_t pages;

                        got = page_all(NULL, &l, &pages);
                        if (!streq(got, want))
                                fprintf(stderr, "max_read %zu, limit %zu: got \"%s\", expected \"%s\"\n", max_read,
                                        limit, got, want);
                        ASSERT_STREQ(got, want);
                }
        test_core_teardown(core, dir);
}

/* A filter that keeps one snapshot of 300: each page reads at most max_read snapshots per
 * namespace (the caller's 304 take 7 pages of 50), most pages are empty, and the one
 * snapshot is listed once. */
TEST(a_filter_that_keeps_little_reads_a_bounded_page) {
        const CoreListLimit l = { .max_items = 10, .max_bytes = SIZE_MAX, .size = size_ten, .max_read = 50 };
        char *filters[] = { (char *) "labels.pick==yes", NULL };
        _cleanup_free_ char *got = NULL;
        Labels pick = LABELS_NULL;
        size_t pages;

        core = test_core_setup(&dir, &ovl);
        populate();
        ASSERT_OK(labels_set(&pick, "pick", "yes"));
        for (unsigned i = 0; i < N_OWN; i++) {
                _cleanup_free_ char *key = strdup_printf("k%04u", i);
                prepare_labelled(1000, key, i == 250 ? &pick : NULL);
        }
        size_calls = 0;
        got = page_all(filters, &l, &pages);
        ASSERT_STREQ(got, "1000/k0250");
        ASSERT_TRUE(pages == (4 + N_OWN + 49) / 50);
        ASSERT_TRUE(size_calls == 2); /* only what the filter kept is weighed: as kept, as merged */
        labels_clear(&pick);
        test_core_teardown(core, dir);
}

/* A List bounded in what it reads (the bus answers a short one on its loop): it reads root's
 * four, then uid 1000's four, and says it stopped early when the bound is reached, even at
 * the last snapshot (the caller then reads without the bound). */
TEST(a_list_stops_after_max_read) {
        Error e = ERROR_NULL;
        bool more;

        core = test_core_setup(&dir, &ovl);
        populate();
        for (size_t max_read = 1; max_read <= 10; max_read++) {
                const CoreListLimit l = { .max_items = SIZE_MAX, .max_bytes = SIZE_MAX, .size = size_ten,
                                          .max_read = max_read };
                _cleanup_(snapshot_info_list_clear) SnapshotInfoList got = {};

                ASSERT_OK(core_list_limited(ovl, 1000, NULL, &l, &got, &more, &e));
                ASSERT_TRUE(more == (max_read <= 8));
                if (max_read > 8)
                        ASSERT_TRUE(got.n == ELEMENTSOF(expected));
                if (max_read == 4) /* root's: a, b0 (active: not shown), c, e */
                        ASSERT_TRUE(got.n == 3 && got.items[0].owner == 0 && got.items[2].owner == 0);
        }
        test_core_teardown(core, dir);
}

/* A pattern that keeps ~40 threads of the matcher alive at each byte of a and b, a new set
 * at nearly every byte (~0.3 us per byte; its 12 labels take ~14 ms against a budget of
 * 1 ms): a List whose patterns take
 * more than their CPU time is refused (EUSERS, LimitsExceeded on the bus); pages end early
 * instead, each after the snapshot it matched last, and together list what an unbounded List
 * does, each snapshot once. */
TEST(patterns_that_take_their_cpu_time_end_the_list_or_the_page) {
        const CoreListLimit list = { .max_items = SIZE_MAX, .max_bytes = SIZE_MAX, .size = size_ten,
                                     .max_filter_cpu_usec = 1000 },
                            page = { .max_items = 1000, .max_bytes = SIZE_MAX, .size = size_ten, .max_read = 1000,
                                     .max_filter_cpu_usec = 1000 };
        char *filters[] = { (char *) "labels.ab~=/^(a|b)*a(a|b){20}$/", NULL };
        _cleanup_(snapshot_info_list_clear) SnapshotInfoList all = {}, refused = {};
        _cleanup_free_ char *want = strdup(""), *got = NULL;
        char value[4000];
        uint32_t seed = 1;
        Error e = ERROR_NULL;
        size_t pages;

        core = test_core_setup(&dir, &ovl);
        populate();
        for (unsigned i = 0; i < 24; i++) {
                _cleanup_free_ char *key = strdup_printf("r%02u", i);
                Labels ab = LABELS_NULL;

                for (size_t j = 0; j < sizeof value - 1; j++) {
                        seed = seed * 1103515245u + 12345u;
                        value[j] = (seed >> 16) & 1 ? 'a' : 'b';
                }
                value[sizeof value - 1] = 0;
                ASSERT_OK(labels_set(&ab, "ab", value));
                prepare_labelled(1000, key, i % 2 ? &ab : NULL);
                labels_clear(&ab);
        }

        ASSERT_OK(core_list(ovl, 1000, filters, &all, &e));
        ASSERT_TRUE(all.n > 0 && all.n < 12); /* labels whose 21st byte from the end is an a */
        for (size_t i = 0; i < all.n; i++) {
                char *w = strdup_printf("%s%s%u/%s", want, *want ? " " : "", (unsigned) all.items[i].owner,
                                        all.items[i].name);
                free(want);
                want = w;
        }

        ASSERT_ERR(core_list_limited(ovl, 1000, filters, &list, &refused, NULL, &e), EUSERS);
        ASSERT_TRUE(strstr(e.message, "regular expressions took more than"));

        got = page_all(filters, &page, &pages);
        ASSERT_STREQ(got, want);
        ASSERT_TRUE(pages > 1);
        test_core_teardown(core, dir);
}

TEST_MAIN(TEST_ENTRY(pages_are_in_name_then_owner_order), TEST_ENTRY(pages_end_at_their_bytes_and_filters_apply),
          TEST_ENTRY(a_page_reads_about_a_page), TEST_ENTRY(pages_that_stop_reading_give_the_same_list),
          TEST_ENTRY(a_filter_that_keeps_little_reads_a_bounded_page), TEST_ENTRY(a_list_stops_after_max_read),
          TEST_ENTRY(patterns_that_take_their_cpu_time_end_the_list_or_the_page))
