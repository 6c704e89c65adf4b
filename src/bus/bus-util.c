/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdint.h>
#include <string.h>

#include "bus-util.h"
#include "error.h"

int bus_append_info(sd_bus_message *m, const SnapshotInfo *info) {
        int r;

        r = sd_bus_message_open_container(m, 'r', "sssa{ss}ttu");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "sss", info->name, info->parent ?: "",
                                  snapshot_kind_to_string(info->kind));
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < info->labels.n; i++) {
                r = sd_bus_message_append(m, "{ss}", info->labels.items[i].key, info->labels.items[i].value);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ttu", info->created_usec, info->updated_usec, (uint32_t) info->owner);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

int bus_reply_info(sd_bus_message *m, const SnapshotInfo *info) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = bus_append_info(reply, info);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

int bus_append_array(sd_bus_message *m, const char *contents, size_t n, bus_append_item_fn append,
                     const void *items) {
        int r;

        r = sd_bus_message_open_container(m, 'a', contents);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = append(m, items, i);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

int bus_reply_array(sd_bus_message *m, const char *contents, size_t n, bus_append_item_fn append,
                    const void *items) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = bus_append_array(reply, contents, n, append, items);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int append_mount_spec(sd_bus_message *reply, const void *items, size_t i) {
        const MountSpec *ms = (const MountSpec *) items + i;
        int r;

        r = sd_bus_message_open_container(reply, 'r', "ssas");
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "ss", ms->type, ms->source);
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(reply, ms->options);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

int bus_reply_mounts(sd_bus_message *m, const MountSpecList *mounts) {
        return bus_reply_array(m, "(ssas)", mounts->n, append_mount_spec, mounts->items);
}

int bus_parse_user_path(const char *prefix, const char *path, uid_t *ret) {
        size_t n = strlen(prefix);
        const char *p;
        uint64_t uid = 0;

        if (strncmp(path, prefix, n) != 0 || path[n] != '/')
                return -EINVAL;
        p = path + n + 1;
        /* Canonical only: digits, no leading zero, so each uid has one object path. */
        if (p[0] < '0' || p[0] > '9' || (p[0] == '0' && p[1] != 0))
                return -EINVAL;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                uid = uid * 10 + (uint64_t) (*p - '0');
                if (uid >= UINT32_MAX) /* (uid_t) -1 is no user */
                        return -EINVAL;
        }
        *ret = (uid_t) uid;
        return 0;
}

const char *bus_log_key(const char *s, char buf[static ERROR_QUOTE_SIZE]) {
        if (!s) {
                buf[0] = 0;
                return buf;
        }
        error_quote(s, buf);
        for (char *c = buf; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        *c = '?';
        return buf;
}
