/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Review: the transient label is given at Prepare or View only, where the bus layer checks
 * that it names the caller's own connection and counts it against the per-connection and
 * per-uid limits. An Update that added it (or changed its value) would make laminad's next
 * start take the snapshot for a transient one of a connection the caller chose, tracked
 * past those limits (bus_tracks_recover() reads core_list_transient()). */
#include "core-test-util.h"

static bool listed_transient(CoreSnapshotter *s, const char *key) {
        SnapshotInfoList l = {};
        Error e = ERROR_NULL;
        bool found = false;

        ASSERT_OK(core_list_transient(s, &l, &e));
        for (size_t i = 0; i < l.n; i++)
                found = found || streq(l.items[i].name, key);
        snapshot_info_list_clear(&l);
        return found;
}

static void update_labels(CoreSnapshotter *s, uid_t ns, const char *key, const Labels *labels, int expect) {
        SnapshotInfo info = {};
        Error e = ERROR_NULL;
        int r = core_update(s, ns, key, labels, NULL, &info, &e);

        if (expect == 0)
                ASSERT_OK(r);
        else {
                ASSERT_ERR(r, expect);
                ASSERT_TRUE(strstr(e.message, CORE_LABEL_TRANSIENT));
        }
        snapshot_info_clear(&info);
}

TEST(update_neither_adds_nor_changes_the_transient_label) {
        Labels mine = LABELS_NULL, other = LABELS_NULL, plain = LABELS_NULL;
        CoreSnapshotter *ovl;
        Error e = ERROR_NULL;
        char *dir;
        Core *c = test_core_setup(&dir, &ovl);

        ASSERT_OK(labels_set(&mine, CORE_LABEL_TRANSIENT, ":1.7"));
        ASSERT_OK(labels_set(&other, CORE_LABEL_TRANSIENT, ":1.8"));
        ASSERT_OK(labels_set(&plain, "a", "b"));
        ASSERT_OK(core_prepare(ovl, 1000, "plain", NULL, NULL, NULL, &e));
        ASSERT_OK(core_view(ovl, 1000, "plain-view", NULL, NULL, NULL, &e));
        ASSERT_OK(core_prepare(ovl, 1000, "t", NULL, &mine, NULL, &e));

        /* Added to an active snapshot or a view made without it: refused, and the next
         * start does not find it transient. */
        update_labels(ovl, 1000, "plain", &mine, EINVAL);
        update_labels(ovl, 1000, "plain-view", &mine, EINVAL);
        ASSERT_TRUE(!listed_transient(ovl, "plain"));
        ASSERT_TRUE(!listed_transient(ovl, "plain-view"));

        /* Pointed at another connection: refused; kept: fine; dropped: fine. */
        update_labels(ovl, 1000, "t", &other, EINVAL);
        update_labels(ovl, 1000, "t", &mine, 0);
        ASSERT_TRUE(listed_transient(ovl, "t"));
        update_labels(ovl, 1000, "t", &plain, 0);
        ASSERT_TRUE(!listed_transient(ovl, "t"));
        /* Once dropped, it cannot come back either. */
        update_labels(ovl, 1000, "t", &mine, EINVAL);
        ASSERT_TRUE(!listed_transient(ovl, "t"));

        labels_clear(&mine);
        labels_clear(&other);
        labels_clear(&plain);
        test_core_teardown(c, dir);
}

TEST_MAIN(TEST_ENTRY(update_neither_adds_nor_changes_the_transient_label))
