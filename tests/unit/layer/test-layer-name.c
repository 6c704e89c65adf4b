/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Entry names: normalization and whiteout classification. */
#include <limits.h>

#include "layer-fs.h"
#include "layer-name.h"
#include "test-util.h"

static void normalized(const char *in, const char *want) {
        const char *rule = NULL;
        char *out = NULL;

        ASSERT_OK(layer_name_normalize(in, PATH_MAX - 1, &out, &rule));
        ASSERT_STREQ(out, want);
        free(out);
}

static void refused(const char *in, size_t max) {
        const char *rule = NULL;
        char *out = NULL;

        ASSERT_ERR(layer_name_normalize(in, max, &out, &rule), EINVAL);
        ASSERT_TRUE(rule && !out);
}

TEST(normalize) {
        normalized("a/b", "a/b");
        normalized("./a/b/", "a/b");
        normalized("/etc/passwd", "etc/passwd");
        normalized("//./a//./b", "a/b");
        normalized("./", "");
        normalized(".", "");
        normalized("a..b/..c", "a..b/..c");
        refused("../x", PATH_MAX - 1);
        refused("a/../../x", PATH_MAX - 1);
        refused("a/..", PATH_MAX - 1);
        refused("abcdef", 5);
}

static void classified(const char *in, LayerNameKind kind, const char *want) {
        char buf[PATH_MAX];
        const char *rule = NULL;
        LayerNameKind k;

        strcpy(buf, in);
        ASSERT_OK(layer_name_classify(buf, &k, &rule));
        ASSERT_TRUE(k == kind);
        ASSERT_STREQ(buf, want);
}

static void bad_whiteout(const char *in) {
        char buf[PATH_MAX];
        const char *rule = NULL;
        LayerNameKind k;

        strcpy(buf, in);
        ASSERT_ERR(layer_name_classify(buf, &k, &rule), EINVAL);
        ASSERT_TRUE(rule);
}

TEST(classify) {
        classified("a/b", LAYER_NAME_PLAIN, "a/b");
        classified("a/.wh.b", LAYER_NAME_WHITEOUT, "a/b");
        classified(".wh.top", LAYER_NAME_WHITEOUT, "top");
        classified("a/.wh..wh..opq", LAYER_NAME_OPAQUE, "a");
        classified(".wh..wh..opq", LAYER_NAME_OPAQUE, "");
        classified("a/.whx", LAYER_NAME_PLAIN, "a/.whx");
        bad_whiteout(".wh.");
        bad_whiteout("a/.wh..");
        bad_whiteout("a/.wh...");
        bad_whiteout(".wh..wh.plnk");
        bad_whiteout(".wh.dir/file");
}

TEST(xattrs_allowed) {
        ASSERT_TRUE(layer_xattr_allowed("user.foo"));
        ASSERT_TRUE(!layer_xattr_allowed("user.overlay.opaque"));
        ASSERT_TRUE(layer_xattr_allowed("security.capability"));
        ASSERT_TRUE(!layer_xattr_allowed("security.selinux"));
        ASSERT_TRUE(!layer_xattr_allowed("trusted.overlay.opaque"));
        ASSERT_TRUE(layer_xattr_allowed("system.posix_acl_access"));
        ASSERT_TRUE(!layer_xattr_allowed("system.nfs4_acl"));
}

TEST_MAIN(TEST_ENTRY(normalize), TEST_ENTRY(classify), TEST_ENTRY(xattrs_allowed));
