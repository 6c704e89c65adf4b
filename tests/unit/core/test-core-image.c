/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Images in the core, without a bus: names per namespace, tags, root's images shared, and
 * RemoveImage freeing exactly the layers nothing else uses. */
#include "core-test-util.h"

static char *dir;
static Core *core;
static CoreSnapshotter *ovl;

static bool exists(uid_t ns, const char *key) {
        SnapshotInfo info = {};
        int r = core_stat(ovl, ns, key, &info, NULL);

        snapshot_info_clear(&info);
        return r >= 0;
}

static size_t n_images(uid_t ns) {
        CoreImageList l = {};
        size_t n;

        ASSERT_OK(core_image_list(ovl, ns, &l, NULL));
        n = l.n;
        core_image_list_clear(&l);
        return n;
}

TEST(names_are_validated) {
        Error e = ERROR_NULL;

        core = test_core_setup(&dir, &ovl);
        test_core_commit(ovl, 0, "base", NULL);
        ASSERT_ERR(core_image_create(ovl, 0, "", "base", "", 0, &e), EINVAL);
        ASSERT_ERR(core_image_create(ovl, 0, "bad name", "base", "", 0, &e), EINVAL);
        ASSERT_ERR(core_image_create(ovl, 0, ".hidden", "base", "", 0, &e), EINVAL);
        ASSERT_OK(core_image_create(ovl, 0, "registry.example/a/b:1.0@sha256:00", "base", "", 0, &e));
        ASSERT_ERR(core_image_create(ovl, 0, "x:1", "nope", "", 0, &e), ENOENT);
        test_core_teardown(core, dir);
}

TEST(an_image_names_a_committed_top_with_its_config) {
        CoreImage img = {};
        Error e = ERROR_NULL;

        core = test_core_setup(&dir, &ovl);
        test_core_commit(ovl, 0, "l1", NULL);
        ASSERT_OK(core_prepare(ovl, 0, "active", "l1", NULL, NULL, &e));
        ASSERT_ERR(core_image_create(ovl, 0, "x:1", "active", "{}", 0, &e), EWRONGKIND);
        ASSERT_OK(core_image_create(ovl, 0, "x:1", "l1", "{\"config\":{}}", 0, &e));
        ASSERT_OK(core_image_get(ovl, 0, "x:1", &img, &e));
        ASSERT_STREQ(img.top, "l1");
        ASSERT_STREQ(img.config, "{\"config\":{}}");
        ASSERT_TRUE(img.owner == 0 && img.top_owner == 0 && img.created_usec > 0);
        core_image_clear(&img);
        ASSERT_ERR(core_image_get(ovl, 0, "y:1", &img, &e), ENOENT);
        test_core_teardown(core, dir);
}

TEST(tags_add_names_and_untag_removes_one) {
        CoreImage img = {};
        Error e = ERROR_NULL;

        core = test_core_setup(&dir, &ovl);
        test_core_commit(ovl, 0, "l1", NULL);
        ASSERT_OK(core_image_create(ovl, 0, "x:1", "l1", "cfg", 0, &e));
        ASSERT_OK(core_image_tag(ovl, 0, "x:1", "x:latest", &e));
        ASSERT_OK(core_image_tag(ovl, 0, "x:1", "y:2", &e));
        ASSERT_TRUE(n_images(0) == 3);
        ASSERT_OK(core_image_get(ovl, 0, "y:2", &img, &e));
        ASSERT_STREQ(img.top, "l1");
        ASSERT_STREQ(img.config, "cfg");
        core_image_clear(&img);
        ASSERT_ERR(core_image_tag(ovl, 0, "nope:1", "z:1", &e), ENOENT);
        ASSERT_OK(core_image_untag(ovl, 0, "x:latest", &e));
        ASSERT_ERR(core_image_untag(ovl, 0, "x:latest", &e), ENOENT);
        ASSERT_TRUE(n_images(0) == 2 && exists(0, "l1"));
        test_core_teardown(core, dir);
}

/* Removes image name of ns; the layers that went, joined by spaces ("" for none). */
static const char *remove_image(uid_t ns, const char *name) {
        _cleanup_strv_free_ char **removed = NULL;
        _cleanup_free_ char *joined = NULL;
        static char buf[256];
        Error e = ERROR_NULL;

        ASSERT_OK(core_image_remove(ovl, ns, name, &removed, &e));
        joined = strv_join(removed, " ");
        ASSERT_TRUE(joined);
        snprintf(buf, sizeof buf, "%s", joined);
        return buf;
}

TEST(remove_frees_only_unused_own_layers) {
        Error e = ERROR_NULL;

        core = test_core_setup(&dir, &ovl);
        /* l1 <- l2 (image a), l1 <- l3 (image b), l2 <- work (a container). */
        test_core_commit(ovl, 0, "l1", NULL);
        test_core_commit(ovl, 0, "l2", "l1");
        test_core_commit(ovl, 0, "l3", "l1");
        ASSERT_OK(core_image_create(ovl, 0, "a:1", "l2", "", 0, &e));
        ASSERT_OK(core_image_tag(ovl, 0, "a:1", "a:2", &e));
        ASSERT_OK(core_image_create(ovl, 0, "b:1", "l3", "", 0, &e));
        ASSERT_OK(core_prepare(ovl, 0, "work", "l2", NULL, NULL, &e));

        ASSERT_STREQ(remove_image(0, "a:1"), ""); /* a:2 still names l2 */
        ASSERT_TRUE(exists(0, "l2"));
        ASSERT_STREQ(remove_image(0, "a:2"), ""); /* work is built on l2 */
        ASSERT_TRUE(exists(0, "l2"));
        ASSERT_STREQ(remove_image(0, "b:1"), "l3"); /* l1 has l2 on it */
        ASSERT_TRUE(!exists(0, "l3") && exists(0, "l1"));
        ASSERT_ERR(core_image_remove(ovl, 0, "b:1", NULL, &e), ENOENT);
        ASSERT_TRUE(n_images(0) == 0);
        test_core_teardown(core, dir);
}

/* A user's RemoveImage looks for other names of its layers in its own namespace only (no
 * other user's image can name them); root's looks in every namespace (users' images name
 * root's layers). */
TEST(remove_looks_for_names_where_they_can_be) {
        Error e = ERROR_NULL;

        core = test_core_setup(&dir, &ovl);
        test_core_commit(ovl, 0, "r1", NULL);
        test_core_commit(ovl, 0, "r2", "r1");
        test_core_commit(ovl, 1000, "u1", "r2");
        test_core_commit(ovl, 1000, "u2", "u1");
        ASSERT_OK(core_image_create(ovl, 0, "r:1", "r2", "", 0, &e));
        ASSERT_OK(core_image_create(ovl, 1001, "other:1", "r2", "", 0, &e)); /* another user names r2 */
        ASSERT_OK(core_image_create(ovl, 1000, "u:1", "u2", "", 0, &e));
        ASSERT_OK(core_image_create(ovl, 1000, "u:2", "u1", "", 0, &e));

        ASSERT_STREQ(remove_image(1000, "u:1"), "u2"); /* u:2 names u1 */
        ASSERT_TRUE(exists(1000, "u1"));
        ASSERT_STREQ(remove_image(1000, "u:2"), "u1"); /* then root's: not the user's */
        ASSERT_TRUE(exists(0, "r2"));
        ASSERT_STREQ(remove_image(0, "r:1"), ""); /* user 1001's image names r2 */
        ASSERT_TRUE(exists(0, "r2") && exists(0, "r1"));
        test_core_teardown(core, dir);
}

TEST(users_see_roots_images_and_change_only_their_own) {
        CoreImage img = {};
        Error e = ERROR_NULL;

        core = test_core_setup(&dir, &ovl);
        test_core_commit(ovl, 0, "base", NULL);
        ASSERT_OK(core_image_create(ovl, 0, "root:1", "base", "", 0, &e));
        ASSERT_TRUE(n_images(1000) == 1 && n_images(1001) == 1);
        ASSERT_OK(core_image_get(ovl, 1000, "root:1", &img, &e));
        ASSERT_TRUE(img.owner == 0);
        core_image_clear(&img);
        e = ERROR_NULL;
        ASSERT_ERR(core_image_untag(ovl, 1000, "root:1", &e), ENOENT);
        ASSERT_TRUE(strstr(e.message, "belongs to root"));
        /* A user's own name for root's layers; removing it frees nothing of root's. */
        ASSERT_OK(core_image_tag(ovl, 1000, "root:1", "mine:1", &e));
        ASSERT_TRUE(n_images(1000) == 2 && n_images(1001) == 1 && n_images(0) == 1);
        test_core_commit(ovl, 1000, "top", "base");
        ASSERT_OK(core_image_create(ovl, 1000, "mine:2", "top", "", 0, &e));
        ASSERT_STREQ(remove_image(1000, "mine:1"), "");
        ASSERT_TRUE(exists(0, "base"));
        ASSERT_STREQ(remove_image(1000, "mine:2"), "top");
        ASSERT_TRUE(!exists(1000, "top") && exists(0, "base"));
        test_core_teardown(core, dir);
}

/* CORE_IMAGE_NO_REPLACE (laminactl import --no-replace): a name of the caller's that stands for
 * another top or config stays and the call is -EEXIST; the same image again, a new name and a
 * name only root has are made. */
TEST(no_replace_keeps_a_name_that_stands_for_another_image) {
        CoreImage img = {};
        Error e = ERROR_NULL;

        core = test_core_setup(&dir, &ovl);
        test_core_commit(ovl, 0, "base", NULL);
        test_core_commit(ovl, 1000, "l1", "base");
        test_core_commit(ovl, 1000, "l2", "base");
        ASSERT_OK(core_image_create(ovl, 1000, "x:1", "l1", "cfg", CORE_IMAGE_NO_REPLACE, &e));
        ASSERT_OK(core_image_create(ovl, 1000, "x:1", "l1", "cfg", CORE_IMAGE_NO_REPLACE, &e));
        ASSERT_ERR(core_image_create(ovl, 1000, "x:1", "l2", "cfg", CORE_IMAGE_NO_REPLACE, &e), EEXIST);
        ASSERT_TRUE(strstr(e.message, "x:1") && strstr(e.message, "l1"));
        e = ERROR_NULL;
        ASSERT_ERR(core_image_create(ovl, 1000, "x:1", "l1", "other", CORE_IMAGE_NO_REPLACE, &e), EEXIST);
        ASSERT_OK(core_image_get(ovl, 1000, "x:1", &img, &e));
        ASSERT_STREQ(img.top, "l1");
        ASSERT_STREQ(img.config, "cfg");
        core_image_clear(&img);
        /* Root's name is root's: the user's own one is made beside it. */
        ASSERT_OK(core_image_create(ovl, 0, "r:1", "base", "", 0, &e));
        ASSERT_OK(core_image_create(ovl, 1000, "r:1", "l2", "", CORE_IMAGE_NO_REPLACE, &e));
        ASSERT_OK(core_image_get(ovl, 1000, "r:1", &img, &e));
        ASSERT_TRUE(img.owner == 1000);
        ASSERT_STREQ(img.top, "l2");
        core_image_clear(&img);
        /* Without the flag the name moves. */
        ASSERT_OK(core_image_create(ovl, 1000, "x:1", "l2", "cfg", 0, &e));
        ASSERT_OK(core_image_get(ovl, 1000, "x:1", &img, &e));
        ASSERT_STREQ(img.top, "l2");
        core_image_clear(&img);
        test_core_teardown(core, dir);
}

/* A user's image records take at most CORE_IMAGE_BYTES_PER_USER_MAX (each name keeps a copy
 * of its config): past it a new name, by CreateImage or TagImage, is QuotaExceeded naming the
 * limit; replacing a name with a config as big is not held back, nor is another user. */
TEST(image_bytes_per_user_are_capped) {
        _cleanup_free_ char *config = malloc(CORE_IMAGE_CONFIG_MAX + 1);
        char name[32];
        unsigned n = 0;
        Error e = ERROR_NULL;

        ASSERT_TRUE(config);
        memset(config, 'x', CORE_IMAGE_CONFIG_MAX);
        config[CORE_IMAGE_CONFIG_MAX] = 0;
        core = test_core_setup(&dir, &ovl);
        test_core_commit(ovl, 1000, "top", NULL);
        for (;; n++) {
                ASSERT_TRUE(n <= CORE_IMAGE_BYTES_PER_USER_MAX / CORE_IMAGE_CONFIG_MAX);
                snprintf(name, sizeof name, "big:%u", n);
                e = ERROR_NULL;
                if (core_image_create(ovl, 1000, name, "top", config, 0, &e) < 0)
                        break;
        }
        ASSERT_TRUE(e.code == EDQUOT && strstr(e.message, "more than 64 MiB") && strstr(e.message, name));
        ASSERT_TRUE(n + 1 == CORE_IMAGE_BYTES_PER_USER_MAX / CORE_IMAGE_CONFIG_MAX); /* 63 of 1 MiB, and names */
        e = ERROR_NULL;
        ASSERT_ERR(core_image_tag(ovl, 1000, "big:0", "big:tag", &e), EDQUOT);
        ASSERT_OK(core_image_create(ovl, 1000, "big:0", "top", config, 0, &e)); /* replaced */
        test_core_commit(ovl, 1001, "other", NULL);
        ASSERT_OK(core_image_create(ovl, 1001, "other:1", "other", config, 0, &e));
        ASSERT_OK(core_image_untag(ovl, 1000, "big:1", &e));
        ASSERT_OK(core_image_tag(ovl, 1000, "big:0", "big:tag", &e));
        test_core_teardown(core, dir);
}

/* A user holds at most CORE_IMAGES_PER_USER_MAX names (QuotaExceeded naming the limit); moving
 * one of its names, other users and root are not held back. */
TEST(names_per_user_are_capped) {
        char name[32];
        Error e = ERROR_NULL;

        core = test_core_setup(&dir, &ovl);
        test_core_commit(ovl, 0, "base", NULL);
        ASSERT_OK(core_image_create(ovl, 0, "root:1", "base", "", 0, &e));
        for (unsigned i = 0; i < CORE_IMAGES_PER_USER_MAX; i++) {
                snprintf(name, sizeof name, "mine:%u", i);
                ASSERT_OK(core_image_tag(ovl, 1000, "root:1", name, &e));
        }
        ASSERT_ERR(core_image_tag(ovl, 1000, "root:1", "one:more", &e), EDQUOT);
        ASSERT_TRUE(strstr(e.message, "one:more") && strstr(e.message, "1024 images"));
        e = ERROR_NULL;
        ASSERT_ERR(core_image_create(ovl, 1000, "one:more", "base", "", 0, &e), EDQUOT);
        e = ERROR_NULL;
        ASSERT_OK(core_image_create(ovl, 1000, "mine:7", "base", "{}", 0, &e));
        ASSERT_OK(core_image_untag(ovl, 1000, "mine:0", &e));
        ASSERT_OK(core_image_tag(ovl, 1000, "root:1", "one:more", &e));
        ASSERT_OK(core_image_tag(ovl, 1001, "root:1", "other:1", &e));
        for (unsigned i = 0; i < CORE_IMAGES_PER_USER_MAX; i++) {
                snprintf(name, sizeof name, "root:x%u", i);
                ASSERT_OK(core_image_tag(ovl, 0, "root:1", name, &e));
        }
        ASSERT_TRUE(n_images(1000) == 2 * CORE_IMAGES_PER_USER_MAX + 1);
        ASSERT_TRUE(n_images(1001) == CORE_IMAGES_PER_USER_MAX + 2);
        test_core_teardown(core, dir);
}

/* ListImages reads no config (GetImage has it) and only the caller's and root's names. */
TEST(list_reads_no_config_nor_other_users) {
        CoreImageList l = {};
        CoreImage img = {};
        Error e = ERROR_NULL;

        core = test_core_setup(&dir, &ovl);
        test_core_commit(ovl, 0, "base", NULL);
        ASSERT_OK(core_image_create(ovl, 0, "root:1", "base", "{\"root\":1}", 0, &e));
        ASSERT_OK(core_image_create(ovl, 1000, "a:1", "base", "{\"a\":1}", 0, &e));
        ASSERT_OK(core_image_create(ovl, 1001, "b:1", "base", "{\"b\":1}", 0, &e));
        ASSERT_OK(core_image_create(ovl, 2000000, "c:1", "base", "{\"c\":1}", 0, &e));
        ASSERT_OK(core_image_list(ovl, 1001, &l, &e));
        ASSERT_TRUE(l.n == 2);
        ASSERT_STREQ(l.items[0].name, "root:1");
        ASSERT_TRUE(l.items[0].owner == 0 && l.items[0].config == NULL);
        ASSERT_STREQ(l.items[1].name, "b:1");
        ASSERT_TRUE(l.items[1].owner == 1001 && l.items[1].config == NULL);
        core_image_list_clear(&l);
        ASSERT_TRUE(n_images(0) == 1 && n_images(1000) == 2 && n_images(2000000) == 2);
        ASSERT_OK(core_image_get(ovl, 1001, "b:1", &img, &e));
        ASSERT_STREQ(img.config, "{\"b\":1}");
        core_image_clear(&img);
        test_core_teardown(core, dir);
}

/* The bus's image objects: one per (namespace, top), with all the namespace's names for it. */
TEST(image_objects_group_names_by_top) {
        CoreImageObjectList l = {};
        SnapshotInfo l1 = {};
        Error e = ERROR_NULL;

        core = test_core_setup(&dir, &ovl);
        test_core_commit(ovl, 0, "base", NULL);
        test_core_commit(ovl, 1000, "l1", NULL);
        test_core_commit(ovl, 1000, "l2", NULL);
        ASSERT_OK(core_image_create(ovl, 0, "root:1", "base", "{}", 0, &e));
        ASSERT_OK(core_image_create(ovl, 1000, "a:1", "l1", "cfg1", 0, &e));
        ASSERT_OK(core_image_tag(ovl, 1000, "a:1", "a:0", &e));
        ASSERT_OK(core_image_create(ovl, 1000, "b:1", "l2", "", 0, &e));
        ASSERT_OK(core_image_tag(ovl, 1000, "root:1", "c:1", &e)); /* a user's name for root's top */
        ASSERT_OK(core_stat(ovl, 1000, "l1", &l1, &e));

        ASSERT_OK(core_image_objects(ovl, 1000, 0, &l, &e));
        ASSERT_TRUE(l.n == 3); /* not root's own */
        ASSERT_TRUE(l.items[0].owner == 1000 && l.items[0].top_owner == 0);
        ASSERT_STREQ(l.items[0].top, "base");
        ASSERT_STREQ(l.items[0].names[0], "c:1");
        ASSERT_STREQ(l.items[1].top, "l1");
        ASSERT_TRUE(l.items[1].top_id == l1.id && strv_length(l.items[1].names) == 2);
        ASSERT_STREQ(l.items[1].names[0], "a:0");
        ASSERT_STREQ(l.items[1].names[1], "a:1");
        ASSERT_STREQ(l.items[1].config_digest, "sha256:991e5b930fd9f8bfd9904b057b8860e4a9c3ba6d63c93f5fb3770bf0ab592f77");
        ASSERT_TRUE(l.items[1].config_size == 4);
        ASSERT_TRUE(l.items[1].created_usec <= l.items[1].updated_usec);
        ASSERT_STREQ(l.items[2].top, "l2");
        ASSERT_STREQ(l.items[2].config_digest, "");
        core_image_object_list_clear(&l);

        /* one top alone; an ID no image of the namespace names: none */
        ASSERT_OK(core_image_objects(ovl, 1000, l1.id, &l, &e));
        ASSERT_TRUE(l.n == 1 && l.items[0].top_id == l1.id);
        core_image_object_list_clear(&l);
        ASSERT_OK(core_image_objects(ovl, 1001, l1.id, &l, &e));
        ASSERT_TRUE(l.n == 0);
        core_image_object_list_clear(&l);
        ASSERT_OK(core_image_objects(ovl, CORE_NS_ALL, 0, &l, &e));
        ASSERT_TRUE(l.n == 4);
        core_image_object_list_clear(&l);

        /* the last name gone: no object */
        ASSERT_OK(core_image_untag(ovl, 1000, "a:0", &e));
        ASSERT_OK(core_image_untag(ovl, 1000, "a:1", &e));
        ASSERT_OK(core_image_objects(ovl, 1000, l1.id, &l, &e));
        ASSERT_TRUE(l.n == 0);
        core_image_object_list_clear(&l);
        snapshot_info_clear(&l1);
        test_core_teardown(core, dir);
}

TEST_MAIN(TEST_ENTRY(names_are_validated), TEST_ENTRY(an_image_names_a_committed_top_with_its_config),
          TEST_ENTRY(tags_add_names_and_untag_removes_one), TEST_ENTRY(remove_frees_only_unused_own_layers),
          TEST_ENTRY(remove_looks_for_names_where_they_can_be),
          TEST_ENTRY(users_see_roots_images_and_change_only_their_own),
          TEST_ENTRY(no_replace_keeps_a_name_that_stands_for_another_image), TEST_ENTRY(names_per_user_are_capped),
          TEST_ENTRY(image_bytes_per_user_are_capped),
          TEST_ENTRY(list_reads_no_config_nor_other_users),
          TEST_ENTRY(image_objects_group_names_by_top))
