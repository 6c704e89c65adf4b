/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the daemon and the unpack helper both check before any byte of a layer is read. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "layer.h"
#include "strutil.h"

static const char *const media_type_names[] = {
        [LAYER_MEDIA_TAR] = "tar",
        [LAYER_MEDIA_TAR_GZIP] = "tar+gzip",
        [LAYER_MEDIA_TAR_ZSTD] = "tar+zstd",
};

int layer_media_type_from_string(const char *s) {
        for (int t = LAYER_MEDIA_TAR; t <= LAYER_MEDIA_TAR_ZSTD; t++)
                if (streq(s, media_type_names[t]))
                        return t;
        return -EINVAL;
}

const char *layer_media_type_to_string(LayerMediaType t) {
        return t >= LAYER_MEDIA_TAR && t <= LAYER_MEDIA_TAR_ZSTD ? media_type_names[t] : NULL;
}

LayerLimits layer_limits_resolve(const LayerLimits *l) {
        return (LayerLimits) {
                .max_entries = l->max_entries ?: LAYER_DEFAULT_MAX_ENTRIES,
                .max_bytes = l->max_bytes ?: LAYER_DEFAULT_MAX_BYTES,
                .max_name_len = l->max_name_len > 0 && l->max_name_len < LAYER_DEFAULT_MAX_NAME_LEN ?
                                        l->max_name_len : LAYER_DEFAULT_MAX_NAME_LEN,
                .max_memory = l->max_memory ?: LAYER_DEFAULT_MAX_MEMORY,
                .max_cpu_sec = l->max_cpu_sec ?: LAYER_DEFAULT_MAX_CPU_SEC,
                .max_wall_sec = l->max_wall_sec ?: LAYER_DEFAULT_MAX_WALL_SEC,
        };
}

static int check_layer_fd(int fd, Error *e) {
        struct stat st;
        int flags;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return error_set_errno(e, errno, "cannot use the layer fd");
        if (flags & O_PATH)
                return error_setf(e, EINVAL, "the layer fd is an O_PATH fd; pass a readable file, pipe or socket");
        if ((flags & O_ACCMODE) == O_WRONLY)
                return error_setf(e, EINVAL, "the layer fd is open for writing only; pass a readable file, pipe or socket");
        if (fstat(fd, &st) < 0)
                return error_set_errno(e, errno, "cannot use the layer fd");
        if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
                return error_setf(e, EINVAL, "the layer fd is not a regular file, pipe or socket");
        return 0;
}

bool layer_diff_id_is_valid(const char *s) {
        return s && strncmp(s, "sha256:", 7) == 0 && strlen(s) == 7 + 64 && strspn(s + 7, "0123456789abcdef") == 64;
}

static int check_diff_id(const char *s, Error *e) {
        if (!s)
                return 0;
        if (!layer_diff_id_is_valid(s))
                return error_setf(e, EINVAL, "expected-diff-id %s is not \"sha256:\" and 64 lowercase hex digits",
                                  QUOTE(s));
        return 0;
}

int layer_check_args(int layer_fd, const LayerApplyOptions *o, Error *e) {
        int r;

        r = check_layer_fd(layer_fd, e);
        if (r < 0)
                return r;
        r = check_diff_id(o->expected_diff_id, e);
        if (r < 0)
                return r;
        if (o->staging_name && !layer_staging_name_is_valid(o->staging_name))
                return error_setf(e, EINVAL, "staging name %s is not \"%s\" and 16 hex digits", QUOTE(o->staging_name),
                                  LAYER_STAGING_PREFIX);
        return 0;
}
