/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <archive_entry.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "layer-name.h"
#include "layer-proto.h"

/* Turns one tar header into an ENTRY message after checking every rule a layer must
 * follow (names, whiteouts, types, devices, ids, xattrs). */

typedef struct LayerEntryRules {
        size_t max_name_len;
        bool allow_devices;
} LayerEntryRules;

typedef struct LayerEntryPlan {
        LayerEntryKind kind;
        LayerNameKind name_kind;
        char *path; /* normalized; the whited-out path for whiteouts, the dir for opaque */
} LayerEntryPlan;
void layer_entry_plan_done(LayerEntryPlan *p);

/* The entry's name for messages, as it appears in the archive. */
const char *layer_entry_name(struct archive_entry *ae);

/* Fills *plan and packs the message into b; -EINVAL with e naming the entry and the rule;
 * 1 (nothing packed) for an entry the layer's applier may not make and that is skipped: a
 * device node when rules->allow_devices is false. */
int layer_entry_plan(struct archive_entry *ae, const LayerEntryRules *rules, LayerEntryPlan *plan,
                     LayerMsgBuf *b, Error *e);
