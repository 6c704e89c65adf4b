/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include <strings.h>

#include "snapshot-types.h"
#include "strutil.h"

static const char *const kind_names[] = {
        [SNAPSHOT_VIEW] = "view",
        [SNAPSHOT_ACTIVE] = "active",
        [SNAPSHOT_COMMITTED] = "committed",
};

const char *snapshot_kind_to_string(SnapshotKind k) {
        if ((size_t) k >= ELEMENTSOF(kind_names) || !kind_names[k])
                return "unknown";
        return kind_names[k];
}

int snapshot_kind_from_string(const char *s) {
        for (size_t k = 0; k < ELEMENTSOF(kind_names); k++)
                if (kind_names[k] && strcasecmp(s, kind_names[k]) == 0)
                        return (int) k;
        return -EINVAL;
}

void snapshot_info_clear(SnapshotInfo *i) {
        free(i->name);
        free(i->parent);
        labels_clear(&i->labels);
        *i = (SnapshotInfo) {};
}

void snapshot_clear(Snapshot *s) {
        free(s->parent_ids);
        *s = (Snapshot) {};
}

void mount_spec_list_clear(MountSpecList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].type);
                free(l->items[i].source);
                strv_free(l->items[i].options);
        }
        free(l->items);
        *l = (MountSpecList) {};
}

int mount_spec_list_add(MountSpecList *l, const char *type, const char *source, char **options) {
        _cleanup_strv_free_ char **opts = options;
        _cleanup_free_ char *t = strdup(type), *s = strdup(source);
        MountSpec *items;

        if (!t || !s)
                return -ENOMEM;
        items = realloc(l->items, (l->n + 1) * sizeof(MountSpec));
        if (!items)
                return -ENOMEM;
        l->items = items;
        l->items[l->n++] = (MountSpec) { .type = TAKE_PTR(t), .source = TAKE_PTR(s), .options = TAKE_PTR(opts) };
        return 0;
}
