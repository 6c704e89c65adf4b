/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "bus-error.h"
#include "bus-job.h"
#include "bus-quota.h"
#include "bus.h"
#include "log.h"

typedef struct UsageRow {
        uid_t uid;
        const char *snapshotter;
        uint64_t used[_QUOTA_KIND_MAX];
} UsageRow;

typedef struct DiskUsage {
        Core *core;
        uid_t caller;
        uid_t *uids; /* ascending */
        size_t n_uids;
        UsageRow *rows;
        size_t n_rows;
} DiskUsage;

static void disk_usage_free(void *data) {
        DiskUsage *d = data;

        if (!d)
                return;
        free(d->uids);
        free(d->rows);
        free(d);
}

/* Adds the uids of us (ascending) to d->uids, keeping it ascending and without duplicates. */
static int merge_uids(DiskUsage *d, const uid_t *us, size_t n) {
        uid_t *out = malloc((d->n_uids + n) * sizeof(uid_t) ?: 1);
        size_t i = 0, j = 0, k = 0;

        if (!out)
                return -ENOMEM;
        while (i < d->n_uids || j < n) {
                uid_t next = j >= n || (i < d->n_uids && d->uids[i] <= us[j]) ? d->uids[i] : us[j];

                if (i < d->n_uids && d->uids[i] == next)
                        i++;
                if (j < n && us[j] == next)
                        j++;
                out[k++] = next;
        }
        free(d->uids);
        d->uids = out;
        d->n_uids = k;
        return 0;
}

static int disk_usage_run(BusJob *job, void *data, Error *e) {
        DiskUsage *d = data;
        size_t n_sn = core_n_snapshotters(d->core);
        int r;

        if (d->caller == 0)
                for (size_t i = 0; i < n_sn; i++) {
                        _cleanup_free_ uid_t *us = NULL;
                        size_t n = 0;

                        r = core_quota_owners(core_snapshotter_by_index(d->core, i), &us, &n, e);
                        if (r < 0)
                                return r;
                        r = merge_uids(d, us, n);
                        if (r < 0)
                                return error_set_errno(e, -r, "cannot list the owners of snapshots");
                }
        else {
                d->uids = malloc(sizeof(uid_t));
                if (!d->uids)
                        return error_set_errno(e, ENOMEM, "cannot compute the disk usage");
                d->uids[0] = d->caller;
                d->n_uids = 1;
        }

        d->rows = calloc(d->n_uids * n_sn ?: 1, sizeof(UsageRow));
        if (!d->rows)
                return error_set_errno(e, ENOMEM, "cannot compute the disk usage");
        for (size_t u = 0; u < d->n_uids; u++)
                for (size_t i = 0; i < n_sn; i++) {
                        CoreSnapshotter *s = core_snapshotter_by_index(d->core, i);
                        UsageRow *row = &d->rows[d->n_rows++];

                        row->uid = d->uids[u];
                        row->snapshotter = core_snapshotter_name(s);
                        r = core_quota_usage(s, row->uid, row->used, e);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int disk_usage_reply(sd_bus_message *m, void *data) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        DiskUsage *d = data;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ustttt)");
        for (size_t i = 0; r >= 0 && i < d->n_rows; i++) {
                const UsageRow *row = &d->rows[i];

                r = sd_bus_message_append(reply, "(ustttt)", (uint32_t) row->uid, row->snapshotter,
                                          row->used[QUOTA_BYTES], row->used[QUOTA_INODES],
                                          row->used[QUOTA_SNAPSHOTS], row->used[QUOTA_LABEL_BYTES]);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(utttt)");
        for (size_t i = 0; r >= 0 && i < d->n_uids; i++) {
                QuotaLimits l;

                core_quota_limits(d->core, d->uids[i], &l);
                r = sd_bus_message_append(reply, "(utttt)", (uint32_t) d->uids[i], l.max[QUOTA_BYTES],
                                          l.max[QUOTA_INODES], l.max[QUOTA_SNAPSHOTS], l.max[QUOTA_LABEL_BYTES]);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0) {
                char buf[512];

                r = sd_bus_message_append(reply, "s", core_quota_enforcement(d->core, buf, sizeof buf));
        }
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        return r;
}

static void disk_usage_failed(void *data, const sd_bus_error *error) {
        DiskUsage *d = data;

        log_info("uid %u: disk usage: %s: %s", (unsigned) d->caller, error->name, error->message);
}

static const BusJobOps disk_usage_ops = { .run = disk_usage_run, .reply = disk_usage_reply,
                                          .failed = disk_usage_failed, .free = disk_usage_free };

int bus_method_get_disk_usage(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusContext *c = userdata;
        DiskUsage *d;
        uid_t caller;
        int r;

        r = bus_caller_uid(c, m, &caller, error);
        if (r < 0)
                return r;
        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->core = c->core;
        d->caller = caller;
        return bus_job_start(c->queries, m, caller, &disk_usage_ops, d, error);
}
