/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Many snapshots (committed in-process, then List and Stat over the bus) and the first
 * call to a stopped daemon. */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench-commands.h"
#include "bench-util.h"
#include "log.h"

#define POPULATE_NAME "many-%07zu-%02zu"

/* Commits N snapshots in-process, as chains of DEPTH (image-like), before laminad runs.
 * Prints the seconds it took. */
int cmd_populate(int argc, char **argv) {
        _cleanup_(core_freep) Core *c = NULL;
        CoreSnapshotter *s = NULL;
        size_t n, depth;
        uint64_t start;
        int r;

        r = parse_sizes(argv + 3, 2, (size_t *const[]) { &n, &depth });
        if (r >= 0)
                r = core_open(argv[1], argv[2], &c, &s);
        if (r < 0)
                return r;
        start = now_ns();
        for (size_t i = 0; i < n; i++) {
                _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
                Error e = ERROR_NULL;
                char key[64], name[64], parent[64] = "";

                snprintf(key, sizeof key, POPULATE_NAME "-active", i / depth, i % depth);
                snprintf(name, sizeof name, POPULATE_NAME, i / depth, i % depth);
                if (i % depth > 0)
                        snprintf(parent, sizeof parent, POPULATE_NAME, i / depth, i % depth - 1);
                r = core_prepare(s, 0, key, parent[0] ? parent : NULL, NULL, &mounts, &e);
                if (r < 0)
                        return core_fail(&e, "Prepare", key, r);
                r = core_commit(s, 0, name, key, NULL, &e);
                if (r < 0)
                        return core_fail(&e, "Commit", key, r);
        }
        printf("%.3f\n", ms_since(start) / 1000.0);
        return 0;
}

/* Per repetition: milliseconds for List of everything, and how many it returned. */
static int list_all(BusTest *t, unsigned rep, void *userdata) {
        _cleanup_(info_list_clear) InfoList l = {};
        uint64_t start = now_ns();
        int r;

        r = bt_list(t, NULL, &l);
        if (r < 0)
                return bus_fail(t, "List", "(all)", r);
        printf("%.3f %zu\n", ms_since(start), l.n);
        return 0;
}

int cmd_list_bus(int argc, char **argv) {
        return bus_each_rep(list_all, NULL);
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

static double percentile(double *sorted, size_t n, double p) {
        size_t i = (size_t) (p * (double) (n - 1) + 0.5);

        return sorted[i < n ? i : n - 1];
}

typedef struct StatSamples {
        size_t n, depth, samples;
        double *lat; /* samples of them */
} StatSamples;

/* Per repetition: p50 and p99 in microseconds of SAMPLES Stat calls on random snapshots
 * of the N that populate made. */
static int stat_samples(BusTest *t, unsigned rep, void *userdata) {
        StatSamples *x = userdata;

        for (size_t k = 0; k < x->samples; k++) {
                _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
                size_t i = (size_t) random() % x->n;
                char name[64];
                uint64_t start;
                int r;

                snprintf(name, sizeof name, POPULATE_NAME, i / x->depth, i % x->depth);
                start = now_ns();
                r = bt_stat(t, name, &info);
                if (r < 0)
                        return bus_fail(t, "Stat", name, r);
                x->lat[k] = ms_since(start) * 1000.0;
        }
        qsort(x->lat, x->samples, sizeof *x->lat, cmp_double);
        printf("%.1f %.1f\n", percentile(x->lat, x->samples, 0.50), percentile(x->lat, x->samples, 0.99));
        return 0;
}

int cmd_stat_bus(int argc, char **argv) {
        _cleanup_free_ double *lat = NULL;
        StatSamples x = {};
        int r;

        r = parse_sizes(argv + 1, 3, (size_t *const[]) { &x.n, &x.depth, &x.samples });
        if (r < 0)
                return r;
        x.lat = lat = calloc(x.samples, sizeof *lat);
        if (!lat)
                return log_error_errno(-ENOMEM, "out of memory");
        srandom((unsigned) getpid());
        return bus_each_rep(stat_samples, &x);
}

/* Milliseconds from sending the first call to a name with no owner (so the bus activates
 * laminad) to its reply. The connection is made before the clock starts. */
int cmd_activate_bus(int argc, char **argv) {
        _cleanup_(bt_closep) BusTest t = {};
        sd_bus_message *reply = NULL;
        uint64_t start;
        int r;

        r = bus_open(&t);
        if (r < 0)
                return r;
        r = sd_bus_call_method(t.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "GetId", NULL, &reply, NULL);
        sd_bus_message_unref(reply);
        if (r < 0)
                return log_error_errno(r, "the bus does not answer: %m");
        start = now_ns();
        r = bt_call(&t, BT_MANAGER_PATH, BT_MANAGER_IFACE, "ListSnapshotters", NULL, NULL);
        if (r < 0)
                return bus_fail(&t, "ListSnapshotters", "(activation)", r);
        printf("%.3f\n", ms_since(start));
        return 0;
}
