/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Per-uid quotas (laminad.conf(5) in laminad(8)): what every non-root uid may hold across
 * all snapshotters, root holding no quota. Set in the [Quota] section (every non-root uid)
 * and in [Quota:UID] sections (one uid; keys it does not set come from [Quota]). */

typedef enum QuotaKind {
        QUOTA_BYTES,       /* of the snapshots' data */
        QUOTA_INODES,      /* of the snapshots' data */
        QUOTA_SNAPSHOTS,   /* of every kind */
        QUOTA_LABEL_BYTES, /* keys and values of the labels of all snapshots */
        _QUOTA_KIND_MAX,
} QuotaKind;

#define QUOTA_NONE UINT64_MAX

/* The defaults of a non-root uid the configuration does not change. */
#define QUOTA_DEFAULT_BYTES_PERCENT 25u
#define QUOTA_DEFAULT_INODES_PERCENT 25u
#define QUOTA_DEFAULT_SNAPSHOTS 4096u
#define QUOTA_DEFAULT_LABEL_BYTES (64u * 1024u * 1024u)
/* [Quota:UID] sections one configuration may have. */
#define QUOTA_USERS_MAX 65536u

typedef struct QuotaSetting {
        uint64_t value; /* QUOTA_NONE: unlimited */
        bool percent;   /* value is a percentage of the state filesystem (bytes, inodes) */
        bool set;
} QuotaSetting;

typedef struct QuotaUser {
        uid_t uid;
        QuotaSetting s[_QUOTA_KIND_MAX];
} QuotaUser;

typedef struct QuotaConfig {
        QuotaSetting defaults[_QUOTA_KIND_MAX];
        QuotaUser *users; /* sorted by uid after quota_config_load() */
        size_t n_users;
} QuotaConfig;

typedef struct QuotaLimits {
        uint64_t max[_QUOTA_KIND_MAX]; /* QUOTA_NONE: unlimited */
} QuotaLimits;

/* The filesystem's group of a uid's data (core-internal.h): the btrfs qgroup 1/(2^32 + uid),
 * the project 2^31 + uid (0 for a uid past 2^31 - 2: no project). None for root. Snapshot
 * directories of older versions have projects below 2^31 (their IDs). */
static inline uint64_t quota_user_qgroup(uid_t uid) {
        return uid == 0 ? 0 : UINT64_C(1) << 48 | UINT64_C(1) << 32 | uid;
}
static inline uint32_t quota_user_project(uid_t uid) {
        return uid == 0 || uid >= UINT32_C(0x7fffffff) ? 0 : UINT32_C(0x80000000) + uid;
}

const char *quota_kind_to_string(QuotaKind k); /* the key: "Bytes", "Inodes", … */
/* A limit as the configuration writes it: decimal, or "infinity". */
const char *quota_value_to_string(uint64_t v, char buf[static 32]);

/* The built-in defaults, without reading anything. */
void quota_config_init(QuotaConfig *c);
void quota_config_clear(QuotaConfig *c);
/* quota_config_init(), then path and its drop-ins "<path>.d/NAME.conf" (conf-file.h); a
 * missing file keeps the defaults. EINVAL naming file and line for a bad line. */
int quota_config_load(const char *path, QuotaConfig *c, Error *e);
/* The limits of uid, percentages taken of a filesystem of fs_bytes and fs_inodes (0: no
 * fixed number, as btrfs's inodes, so a percentage is no limit); root: none. */
void quota_config_limits(const QuotaConfig *c, uid_t uid, uint64_t fs_bytes, uint64_t fs_inodes,
                         QuotaLimits *ret);
