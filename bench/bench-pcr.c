/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bus overhead rows: Prepare + Commit + Remove from a long-lived sd-bus client and the
 * same core calls in-process, and the Peer.Ping round trip they are compared with. */

#include <stdio.h>
#include <unistd.h>

#include "bench-commands.h"
#include "bench-util.h"
#include "log.h"

typedef struct PcrOps {
        int (*prepare)(void *ctx, const char *key);
        int (*commit)(void *ctx, const char *name, const char *key);
        int (*remove)(void *ctx, const char *key);
} PcrOps;

/* Prepare+Commit+Remove of the snapshots first..first+n-1 named after tag; nanoseconds in
 * *ns. */
static int pcr_block(const PcrOps *ops, void *ctx, const char *tag, size_t first, size_t n, uint64_t *ns) {
        uint64_t start = now_ns();

        for (size_t i = first; i < first + n; i++) {
                char key[64], name[64];
                int r;

                snprintf(key, sizeof key, "pcr-%d-%s-%zu", (int) getpid(), tag, i);
                snprintf(name, sizeof name, "pcr-%d-%s-%zu-c", (int) getpid(), tag, i);
                r = ops->prepare(ctx, key);
                if (r >= 0)
                        r = ops->commit(ctx, name, key);
                if (r >= 0)
                        r = ops->remove(ctx, name);
                if (r < 0)
                        return r;
        }
        *ns += now_ns() - start;
        return 0;
}

/* One line per repetition: microseconds per snapshot over n Prepare+Commit+Remove. */
static int pcr_run(const PcrOps *ops, void *ctx, size_t n) {
        for (unsigned rep = 0; rep < bench_reps; rep++) {
                char tag[16];
                uint64_t ns = 0;
                int r;

                snprintf(tag, sizeof tag, "%u", rep);
                r = pcr_block(ops, ctx, tag, 0, n, &ns);
                if (r < 0)
                        return r;
                printf("%.1f\n", (double) ns / 1000.0 / (double) n);
                fflush(stdout);
        }
        return 0;
}

static int pcr_bus_prepare(void *ctx, const char *key) {
        _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
        int r = bt_prepare(ctx, key, "", NULL, &mounts);

        return r < 0 ? bus_fail(ctx, "Prepare", key, r) : 0;
}

static int pcr_bus_commit(void *ctx, const char *name, const char *key) {
        int r = bt_commit(ctx, name, key, NULL);

        return r < 0 ? bus_fail(ctx, "Commit", key, r) : 0;
}

static int pcr_bus_remove(void *ctx, const char *key) {
        int r = bt_remove(ctx, key);

        return r < 0 ? bus_fail(ctx, "Remove", key, r) : 0;
}

static const PcrOps pcr_bus_ops = { pcr_bus_prepare, pcr_bus_commit, pcr_bus_remove };

/* The core calls laminad makes on its loop for these (the quick Commit and Remove), so
 * that the bus rows differ from this one by the bus alone. */
static int pcr_core_prepare(void *ctx, const char *key) {
        _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
        Error e = ERROR_NULL;
        int r = core_prepare(ctx, 0, key, NULL, NULL, &mounts, &e);

        return r < 0 ? core_fail(&e, "Prepare", key, r) : 0;
}

static int pcr_core_commit(void *ctx, const char *name, const char *key) {
        Error e = ERROR_NULL;
        int r = core_commit_quick(ctx, 0, name, key, NULL, &e);

        return r < 0 ? core_fail(&e, "Commit", key, r) : 0;
}

static int pcr_core_remove(void *ctx, const char *key) {
        Error e = ERROR_NULL;
        int r = core_remove_quick(ctx, 0, key, &e);

        return r < 0 ? core_fail(&e, "Remove", key, r) : 0;
}

static const PcrOps pcr_core_ops = { pcr_core_prepare, pcr_core_commit, pcr_core_remove };

int cmd_pcr_bus(int argc, char **argv) {
        _cleanup_(bt_closep) BusTest t = {};
        size_t n;
        int r;

        r = parse_size(argv[1], &n);
        if (r >= 0)
                r = bus_open(&t);
        return r < 0 ? r : pcr_run(&pcr_bus_ops, &t, n);
}

int cmd_pcr_core(int argc, char **argv) {
        _cleanup_(core_freep) Core *c = NULL;
        CoreSnapshotter *s = NULL;
        size_t n;
        int r;

        r = parse_size(argv[3], &n);
        if (r >= 0)
                r = core_open(argv[1], argv[2], &c, &s);
        return r < 0 ? r : pcr_run(&pcr_core_ops, s, n);
}

/* n Peer.Ping round trips to laminad; nanoseconds added to *ns. */
static int ping_block(BusTest *t, size_t n, uint64_t *ns) {
        uint64_t start = now_ns();

        for (size_t i = 0; i < n; i++) {
                int r = bt_call(t, BT_MANAGER_PATH, "org.freedesktop.DBus.Peer", "Ping", NULL, NULL);
                if (r < 0)
                        return bus_fail(t, "Peer.Ping", BT_MANAGER_PATH, r);
        }
        *ns += now_ns() - start;
        return 0;
}

/* The rows of the bus overhead, interleaved finely so that a changing load hits each alike
 * (on a shared machine it changes within seconds): per repetition, n snapshots in blocks of
 * 10, each block done by the bus client, by a second client that muted its own signals
 * (Monitor.Mute), in-process by the core (state in STATE_DIR) and as 30 Peer.Pings from the
 * first client, the order rotating from block to block. One line per repetition: µs per
 * snapshot of bus, muted and core, and µs per Ping. */
#define INTERLEAVE_BLOCK 10u

typedef struct Interleaved {
        BusTest *bus, *muted;
        CoreSnapshotter *core;
} Interleaved;

/* Block b of repetition rep, its four parts in the order b selects; nanoseconds of each
 * part added to ns[]. */
static int interleaved_block(Interleaved *x, unsigned rep, size_t b, uint64_t ns[static 4]) {
        size_t first = b * INTERLEAVE_BLOCK;
        char tag[3][32];
        int r = 0;

        snprintf(tag[0], sizeof tag[0], "b%u", rep);
        snprintf(tag[1], sizeof tag[1], "m%u", rep);
        snprintf(tag[2], sizeof tag[2], "c%u", rep);
        for (size_t k = 0; k < 4 && r >= 0; k++)
                switch ((b + k) % 4) {
                case 0: r = pcr_block(&pcr_bus_ops, x->bus, tag[0], first, INTERLEAVE_BLOCK, &ns[0]); break;
                case 1: r = pcr_block(&pcr_bus_ops, x->muted, tag[1], first, INTERLEAVE_BLOCK, &ns[1]); break;
                case 2: r = pcr_block(&pcr_core_ops, x->core, tag[2], first, INTERLEAVE_BLOCK, &ns[2]); break;
                default: r = ping_block(x->bus, 3 * INTERLEAVE_BLOCK, &ns[3]); break;
                }
        if (r < 0)
                return r;
        /* The caller's own signals, queued on the default client, are not read. */
        while ((r = sd_bus_process(x->bus->bus, NULL)) > 0)
                ;
        return r;
}

int cmd_pcr_interleaved(int argc, char **argv) {
        _cleanup_(bt_closep) BusTest bus = {}, muted = {};
        _cleanup_(core_freep) Core *c = NULL;
        Interleaved x = { .bus = &bus, .muted = &muted };
        size_t n;
        int r;

        r = parse_size(argv[3], &n);
        if (r >= 0 && (n == 0 || n % INTERLEAVE_BLOCK != 0))
                r = log_error_errno(-EINVAL, "N must be a multiple of %u", INTERLEAVE_BLOCK);
        if (r >= 0)
                r = core_open(argv[1], argv[2], &c, &x.core);
        if (r >= 0)
                r = bus_open(&bus);
        if (r >= 0)
                r = bus_open(&muted);
        if (r >= 0 && !bench_mute)
                r = bus_mute(&muted);
        if (r < 0)
                return r;

        for (unsigned rep = 0; rep < bench_reps; rep++) {
                uint64_t ns[4] = {};

                for (size_t b = 0; b < n / INTERLEAVE_BLOCK; b++) {
                        r = interleaved_block(&x, rep, b, ns);
                        if (r < 0)
                                return r;
                }
                printf("%.1f %.1f %.1f %.1f\n", (double) ns[0] / 1000.0 / (double) n,
                       (double) ns[1] / 1000.0 / (double) n, (double) ns[2] / 1000.0 / (double) n,
                       (double) ns[3] / 1000.0 / (double) (3 * n));
                fflush(stdout);
        }
        return 0;
}

/* One line per repetition: microseconds per org.freedesktop.DBus.Peer.Ping round trip to
 * laminad over N calls from one connection: the transport's own cost of one call (what the
 * bus overhead per call is compared with). */
static int ping_rep(BusTest *t, unsigned rep, void *userdata) {
        size_t n = *(size_t *) userdata;
        uint64_t ns = 0;
        int r;

        r = ping_block(t, n, &ns);
        if (r < 0)
                return r;
        printf("%.1f\n", (double) ns / 1000.0 / (double) n);
        return 0;
}

int cmd_ping_bus(int argc, char **argv) {
        size_t n;
        int r;

        r = parse_size(argv[1], &n);
        return r < 0 ? r : bus_each_rep(ping_rep, &n);
}
