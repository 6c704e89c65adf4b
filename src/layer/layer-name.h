/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Entry names: tar's conventions turned into safe relative paths, and OCI whiteouts. */

typedef enum LayerNameKind {
        LAYER_NAME_PLAIN,
        LAYER_NAME_WHITEOUT, /* ".wh.NAME": path becomes the whited-out "dir/NAME" */
        LAYER_NAME_OPAQUE,   /* ".wh..wh..opq": path becomes the opaque "dir" */
} LayerNameKind;

/* Turns a tar name into a relative path: leading "/" and "./", "." components, repeated
 * and trailing slashes go; "" is the root. A ".." component, a component longer than
 * NAME_MAX or a result longer than max_len is refused with -EINVAL and *ret_rule set to
 * the rule broken (a sentence fragment for "entry X: <rule>"). */
int layer_name_normalize(const char *name, size_t max_len, char **ret, const char **ret_rule);

/* Classifies a normalized path, rewriting it in place for whiteouts. -EINVAL and
 * *ret_rule for ".wh." used on a directory component, bare ".wh.", ".wh.." and ".wh...",
 * and reserved ".wh..wh.*" names other than the opaque marker. */
int layer_name_classify(char *path, LayerNameKind *ret_kind, const char **ret_rule);
