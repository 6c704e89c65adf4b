/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* laminactl df: per user and snapshotter what is held against the user's quota
 * (Manager.GetDiskUsage; root sees every user, a user itself). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "ctl-output.h"
#include "ctl.h"
#include "strutil.h"

enum { DF_BYTES, DF_INODES, DF_SNAPSHOTS, DF_LABEL_BYTES, _DF_MAX };
static const char *const df_keys[_DF_MAX] = { "bytes", "inodes", "snapshots", "label_bytes" };

typedef struct DfRow {
        uint32_t uid;
        const char *snapshotter; /* points into the reply */
        uint64_t v[_DF_MAX];
} DfRow;

typedef struct DfQuota {
        uint32_t uid;
        uint64_t max[_DF_MAX]; /* UINT64_MAX: none */
} DfQuota;

/* Reads one element of an array; > 0 when it did, 0 at the array's end. */
typedef int (*ReadElement)(sd_bus_message *m, void *element);

/* The array a(contents) as elements of size bytes each, read by read_element. */
static int read_array(sd_bus_message *reply, const char *contents, size_t size, ReadElement read_element,
                      void **ret, size_t *ret_n) {
        _cleanup_free_ char *items = NULL;
        size_t n = 0, allocated = 0;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', contents);
        while (r >= 0) {
                if (greedy_realloc((void **) &items, &allocated, n + 1, size, 8) < 0)
                        return -ENOMEM;
                r = read_element(reply, items + n * size);
                if (r <= 0)
                        break;
                n++;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(items);
        *ret_n = n;
        return 0;
}

static int read_row(sd_bus_message *m, void *element) {
        DfRow *row = element;

        return sd_bus_message_read(m, "(ustttt)", &row->uid, &row->snapshotter, &row->v[DF_BYTES], &row->v[DF_INODES],
                                   &row->v[DF_SNAPSHOTS], &row->v[DF_LABEL_BYTES]);
}

static int read_quota(sd_bus_message *m, void *element) {
        DfQuota *q = element;

        return sd_bus_message_read(m, "(utttt)", &q->uid, &q->max[DF_BYTES], &q->max[DF_INODES], &q->max[DF_SNAPSHOTS],
                                   &q->max[DF_LABEL_BYTES]);
}

/* A size or count for the table; bytes as "4.0M" unless -b. */
static const char *format_value(char buf[static 32], int k, uint64_t v) {
        if (v == UINT64_MAX)
                return "-";
        if ((k == DF_BYTES || k == DF_LABEL_BYTES) && !arg_bytes)
                return format_bytes(buf, v);
        snprintf(buf, 32, "%" PRIu64, v);
        return buf;
}

/* {"bytes", "inodes", "snapshots", "label_bytes"}; null where there is no quota */
static json_object *json_values(const uint64_t v[static _DF_MAX]) {
        json_object *o = json_object_new_object();

        for (int k = 0; k < _DF_MAX; k++)
                if (v[k] == UINT64_MAX)
                        json_add_null(&o, df_keys[k]);
                else
                        json_add_uint(&o, df_keys[k], v[k]);
        return o;
}

static int add_user(Listing *out, const DfQuota *q, const DfRow *rows, size_t n_rows, const char *enforcement) {
        uint64_t total[_DF_MAX] = {};

        for (size_t i = 0; i < n_rows; i++)
                if (rows[i].uid == q->uid)
                        for (int k = 0; k < _DF_MAX; k++)
                                total[k] += rows[i].v[k];

        if (listing_is_json()) {
                json_object *o = json_object_new_object(), *snapshotters = json_object_new_object();

                for (size_t i = 0; i < n_rows; i++)
                        if (rows[i].uid == q->uid)
                                json_add(&snapshotters, rows[i].snapshotter, json_values(rows[i].v));
                json_add_uint(&o, "uid", q->uid);
                json_add_string(&o, "user", FORMAT_OWNER(q->uid));
                json_add(&o, "snapshotters", snapshotters);
                json_add(&o, "total", json_values(total));
                json_add(&o, "quota", json_values(q->max));
                json_add_string(&o, "enforcement", enforcement);
                return json_stream_add(&out->json, o);
        }

        for (size_t i = 0; i < n_rows; i++) {
                char b[_DF_MAX][32];

                if (rows[i].uid != q->uid)
                        continue;
                if (table_add_row(&out->table, FORMAT_OWNER(q->uid), rows[i].snapshotter,
                                  format_value(b[0], DF_BYTES, rows[i].v[DF_BYTES]),
                                  format_value(b[1], DF_INODES, rows[i].v[DF_INODES]),
                                  format_value(b[2], DF_SNAPSHOTS, rows[i].v[DF_SNAPSHOTS]),
                                  format_value(b[3], DF_LABEL_BYTES, rows[i].v[DF_LABEL_BYTES])) < 0)
                        return -ENOMEM;
        }
        {
                char used[_DF_MAX][32], max[_DF_MAX][32], cell[_DF_MAX][72];

                for (int k = 0; k < _DF_MAX; k++)
                        snprintf(cell[k], sizeof cell[k], "%s/%s", format_value(used[k], k, total[k]),
                                 format_value(max[k], k, q->max[k]));
                if (table_add_row(&out->table, FORMAT_OWNER(q->uid), "total/quota", cell[0], cell[1], cell[2],
                                  cell[3]) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int verb_df(Ctl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(listing_done) Listing out = {};
        _cleanup_free_ void *rows = NULL, *quotas = NULL;
        size_t n_rows = 0, n_quotas = 0;
        const char *enforcement;
        int r;

        r = ctl_call_manager(c, "GetDiskUsage", &reply, NULL);
        if (r < 0)
                return r;
        r = read_array(reply, "(ustttt)", sizeof(DfRow), read_row, &rows, &n_rows);
        if (r >= 0)
                r = read_array(reply, "(utttt)", sizeof(DfQuota), read_quota, &quotas, &n_quotas);
        if (r >= 0)
                r = sd_bus_message_read(reply, "s", &enforcement);
        if (r < 0)
                return ctl_bus_parse_error(r);

        r = listing_begin(&out, 6, "USER", "SNAPSHOTTER", "SIZE", "INODES", "SNAPSHOTS", "LABELS");
        if (r < 0)
                return ctl_fail(r, "out of memory");
        for (size_t i = 0; i < n_quotas; i++) {
                r = add_user(&out, (const DfQuota *) quotas + i, rows, n_rows, enforcement);
                if (r < 0)
                        return ctl_fail(r, "out of memory");
        }
        if (listing_is_json()) {
                listing_end(&out, NULL, NULL);
                return 0;
        }
        /* A footer of users, not of rows. */
        if (table_rows(&out.table) > 0)
                table_print(&out.table);
        print_footer(n_quotas, "user", "users");
        if (arg_legend)
                printf("Quotas are enforced by %s.\nWhere laminad alone enforces them, writes through mounts are not "
                       "limited, only the next Apply.\n", enforcement);
        return 0;
}
