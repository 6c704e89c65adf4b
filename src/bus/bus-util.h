/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "labels.h"
#include "snapshot-types.h"

/* Message helpers shared by the objects. */

/* Info (sssa{ss}ttu). */
int bus_append_info(sd_bus_message *m, const SnapshotInfo *info);
/* Replies to m with one Info. */
int bus_reply_info(sd_bus_message *m, const SnapshotInfo *info);
/* Replies to m with an array of n items of signature contents; append adds item i of items. */
typedef int (*bus_append_item_fn)(sd_bus_message *reply, const void *items, size_t i);
/* Appends the array (of n items of signature contents) to m. */
int bus_append_array(sd_bus_message *m, const char *contents, size_t n, bus_append_item_fn append,
                     const void *items);
int bus_reply_array(sd_bus_message *m, const char *contents, size_t n, bus_append_item_fn append,
                    const void *items);
/* Replies to m with a(ssas). */
int bus_reply_mounts(sd_bus_message *m, const MountSpecList *mounts);

/* "<prefix>/<uid>" with a canonical decimal uid → 0, else -EINVAL. */
int bus_parse_user_path(const char *prefix, const char *path, uid_t *ret);

/* A caller-supplied string made safe for one log line: quoted (whole up to ERROR_QUOTE_MAX bytes), control
 * characters replaced. NULL gives "". */
const char *bus_log_key(const char *s, char buf[static ERROR_QUOTE_SIZE]);
#define LOG_KEY(s) bus_log_key((s), (char[ERROR_QUOTE_SIZE]) {})
