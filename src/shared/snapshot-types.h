/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "labels.h"

/* containerd's numbering, so kinds sort and compare the same way. */
typedef enum SnapshotKind {
        SNAPSHOT_VIEW = 1,
        SNAPSHOT_ACTIVE = 2,
        SNAPSHOT_COMMITTED = 3,
} SnapshotKind;

const char *snapshot_kind_to_string(SnapshotKind k); /* "view", "active", "committed" */
int snapshot_kind_from_string(const char *s);        /* case-insensitive; -EINVAL */

/* What Stat and List report. Snapshots are identified by (owner, name). */
typedef struct SnapshotInfo {
        uint64_t id;
        uid_t owner;
        char *name;
        SnapshotKind kind;
        uid_t parent_owner; /* meaningful only when parent is set */
        char *parent;       /* NULL: no parent */
        Labels labels;
        uint64_t created_usec, updated_usec;
        uint64_t size, inodes; /* stored at commit; 0 for active and view */
} SnapshotInfo;

void snapshot_info_clear(SnapshotInfo *i);

/* What a backend needs to act on a snapshot: its ID and its parents' IDs, nearest first. */
typedef struct Snapshot {
        uint64_t id;
        SnapshotKind kind;
        uint64_t *parent_ids;
        size_t n_parents;
} Snapshot;

void snapshot_clear(Snapshot *s);

/* One mount as mount(8) takes it: mount -t type source TARGET -o options. */
typedef struct MountSpec {
        char *type;
        char *source;
        char **options; /* NULL-terminated */
} MountSpec;

typedef struct MountSpecList {
        MountSpec *items;
        size_t n;
} MountSpecList;

void mount_spec_list_clear(MountSpecList *l);
int mount_spec_list_add(MountSpecList *l, const char *type, const char *source, char **options /* taken */);
