/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "layer-name.h"
#include "macro.h"

#define WHITEOUT_PREFIX ".wh."
#define OPAQUE_MARKER ".wh..wh..opq"

int layer_name_normalize(const char *name, size_t max_len, char **ret, const char **ret_rule) {
        _cleanup_free_ char *out = NULL;
        size_t n = 0;

        if (strlen(name) > max_len) {
                *ret_rule = "the name is longer than the limit";
                return -EINVAL;
        }
        out = malloc(strlen(name) + 1);
        if (!out)
                return -ENOMEM;

        for (const char *p = name; *p;) {
                size_t len = strcspn(p, "/");

                if (len == 2 && strncmp(p, "..", 2) == 0) {
                        *ret_rule = "the name has a \"..\" component";
                        return -EINVAL;
                }
                if (len > NAME_MAX) {
                        *ret_rule = "a component of the name is longer than NAME_MAX";
                        return -EINVAL;
                }
                if (len > 0 && !(len == 1 && p[0] == '.')) {
                        if (n > 0)
                                out[n++] = '/';
                        memcpy(out + n, p, len);
                        n += len;
                }
                p += len;
                p += strspn(p, "/");
        }
        out[n] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

static bool has_prefix(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

int layer_name_classify(char *path, LayerNameKind *ret_kind, const char **ret_rule) {
        char *base = strrchr(path, '/');
        const char *target;

        base = base ? base + 1 : path;
        for (const char *p = path; p < base; p += strcspn(p, "/") + 1)
                if (has_prefix(p, WHITEOUT_PREFIX)) {
                        *ret_rule = "a whiteout (\".wh.\") name is used as a directory";
                        return -EINVAL;
                }

        if (!has_prefix(base, WHITEOUT_PREFIX)) {
                *ret_kind = LAYER_NAME_PLAIN;
                return 0;
        }
        if (streq(base, OPAQUE_MARKER)) {
                /* "dir/.wh..wh..opq" -> "dir"; ".wh..wh..opq" -> "" (the root). */
                base[base == path ? 0 : -1] = 0;
                *ret_kind = LAYER_NAME_OPAQUE;
                return 0;
        }
        if (has_prefix(base, WHITEOUT_PREFIX WHITEOUT_PREFIX)) {
                *ret_rule = "\".wh..wh.\" names other than \".wh..wh..opq\" are reserved";
                return -EINVAL;
        }
        target = base + strlen(WHITEOUT_PREFIX);
        if (isempty(target) || streq(target, ".") || streq(target, "..")) {
                *ret_rule = "the whiteout does not name a file";
                return -EINVAL;
        }
        memmove(base, target, strlen(target) + 1);
        *ret_kind = LAYER_NAME_WHITEOUT;
        return 0;
}
