/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-file.h"
#include "core-quota.h"
#include "strutil.h"

static const char *const quota_keys[_QUOTA_KIND_MAX] = {
        [QUOTA_BYTES] = "Bytes",
        [QUOTA_INODES] = "Inodes",
        [QUOTA_SNAPSHOTS] = "Snapshots",
        [QUOTA_LABEL_BYTES] = "LabelBytes",
};

const char *quota_kind_to_string(QuotaKind k) {
        return k >= 0 && k < _QUOTA_KIND_MAX ? quota_keys[k] : NULL;
}

const char *quota_value_to_string(uint64_t v, char buf[static 32]) {
        if (v == QUOTA_NONE)
                return "infinity";
        snprintf(buf, 32, "%" PRIu64, v);
        return buf;
}

void quota_config_init(QuotaConfig *c) {
        *c = (QuotaConfig) {
                .defaults = {
                        [QUOTA_BYTES] = { QUOTA_DEFAULT_BYTES_PERCENT, true, true },
                        [QUOTA_INODES] = { QUOTA_DEFAULT_INODES_PERCENT, true, true },
                        [QUOTA_SNAPSHOTS] = { QUOTA_DEFAULT_SNAPSHOTS, false, true },
                        [QUOTA_LABEL_BYTES] = { QUOTA_DEFAULT_LABEL_BYTES, false, true },
                },
        };
}

void quota_config_clear(QuotaConfig *c) {
        free(c->users);
        *c = (QuotaConfig) {};
}

/* "[Quota:UID]": a decimal uid other than root's and (uid_t) -1. */
static int parse_user_section(const char *section, uid_t *ret, Error *e) {
        const char *s = section + strlen("Quota:");
        unsigned long long v;
        char *end;

        if (s[0] < '0' || s[0] > '9')
                return error_setf(e, EINVAL, "[%s]: give a numeric uid, as in [Quota:1000]", section);
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end || v >= (uid_t) -1)
                return error_setf(e, EINVAL, "[%s]: give a numeric uid, as in [Quota:1000]", section);
        if (v == 0)
                return error_setf(e, EINVAL, "[%s]: root has no quota", section);
        *ret = (uid_t) v;
        return 0;
}

static int user_settings(QuotaConfig *c, uid_t uid, QuotaSetting **ret, Error *e) {
        QuotaUser *u;

        for (size_t i = 0; i < c->n_users; i++)
                if (c->users[i].uid == uid) {
                        *ret = c->users[i].s;
                        return 0;
                }
        if (c->n_users >= QUOTA_USERS_MAX)
                return error_setf(e, EINVAL, "more than %u [Quota:UID] sections", QUOTA_USERS_MAX);
        u = realloc(c->users, (c->n_users + 1) * sizeof(QuotaUser));
        if (!u)
                return error_set_errno(e, ENOMEM, "cannot read the quota of uid %u", (unsigned) uid);
        c->users = u;
        c->users[c->n_users] = (QuotaUser) { .uid = uid };
        *ret = c->users[c->n_users++].s;
        return 0;
}

static int parse_setting(QuotaKind k, const char *value, QuotaSetting *ret, Error *e) {
        size_t n = strlen(value);
        uint64_t v;

        if ((k == QUOTA_BYTES || k == QUOTA_INODES) && n > 1 && value[n - 1] == '%') {
                _cleanup_free_ char *digits = strndup(value, n - 1);

                if (!digits)
                        return error_set_errno(e, ENOMEM, "%s=", quota_keys[k]);
                if (conf_parse_size(digits, &v) < 0 || v == QUOTA_NONE || strpbrk(digits, "KMGTPE") || v > 100)
                        return error_setf(e, EINVAL, "%s=%s: a percentage is 0%% to 100%%", quota_keys[k], value);
                *ret = (QuotaSetting) { v, true, true };
                return 0;
        }
        if (conf_parse_size(value, &v) < 0)
                return error_setf(e, EINVAL,
                                  "%s=%s: give a number with an optional K, M, G, T, P or E suffix%s, or infinity",
                                  quota_keys[k], value, k == QUOTA_BYTES || k == QUOTA_INODES ? ", a percentage" : "");
        *ret = (QuotaSetting) { v, false, true };
        return 0;
}

static int quota_item(const char *section, const char *key, const char *value, void *userdata, Error *e) {
        QuotaConfig *c = userdata;
        QuotaSetting *settings = NULL;
        int r;

        if (streq(section, "Quota"))
                settings = c->defaults;
        else if (strncmp(section, "Quota:", strlen("Quota:")) == 0) {
                uid_t uid = 0;

                r = parse_user_section(section, &uid, e);
                if (r < 0)
                        return r;
                r = user_settings(c, uid, &settings, e);
                if (r < 0)
                        return r;
        } else
                return error_setf(e, EINVAL, "unknown section [%s]; laminad knows [Quota] and [Quota:UID]", section);

        for (QuotaKind k = 0; k < _QUOTA_KIND_MAX; k++)
                if (streq(key, quota_keys[k]))
                        return parse_setting(k, value, &settings[k], e);
        return error_setf(e, EINVAL, "unknown key %s= in [%s]; known: Bytes=, Inodes=, Snapshots=, LabelBytes=", key,
                          section);
}

static int compare_users(const void *a, const void *b) {
        const QuotaUser *x = a, *y = b;

        return x->uid < y->uid ? -1 : x->uid > y->uid;
}

int quota_config_load(const char *path, QuotaConfig *c, Error *e) {
        int r;

        quota_config_init(c);
        r = conf_parse_with_dropins(path, quota_item, c, e);
        if (r < 0) {
                quota_config_clear(c);
                return r;
        }
        if (c->n_users > 1)
                qsort(c->users, c->n_users, sizeof(QuotaUser), compare_users);
        return 0;
}

static uint64_t resolve(const QuotaSetting *s, uint64_t fs_total) {
        if (!s->percent || s->value == QUOTA_NONE)
                return s->value;
        /* btrfs has no fixed number of inodes (f_files is 0): a share of it is no limit. */
        if (fs_total == 0)
                return QUOTA_NONE;
        /* fs_total / 100 * p rounds down a little; fine for a limit. */
        return fs_total / 100 * s->value + fs_total % 100 * s->value / 100;
}

void quota_config_limits(const QuotaConfig *c, uid_t uid, uint64_t fs_bytes, uint64_t fs_inodes,
                         QuotaLimits *ret) {
        const QuotaUser *u = NULL;

        if (uid == 0) {
                for (QuotaKind k = 0; k < _QUOTA_KIND_MAX; k++)
                        ret->max[k] = QUOTA_NONE;
                return;
        }
        if (c->n_users > 0)
                u = bsearch(&(QuotaUser) { .uid = uid }, c->users, c->n_users, sizeof(QuotaUser), compare_users);
        for (QuotaKind k = 0; k < _QUOTA_KIND_MAX; k++) {
                const QuotaSetting *s = u && u->s[k].set ? &u->s[k] : &c->defaults[k];

                ret->max[k] = resolve(s, k == QUOTA_INODES ? fs_inodes : fs_bytes);
        }
}
