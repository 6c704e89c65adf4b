/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The timed loops of bench/run that a shell cannot time finely: one long-lived sd-bus
 * client (libbustest's typed calls) and the same work done by the core in-process.
 * Each measuring command prints one line per repetition (numbers separated by spaces);
 * bench/run collects them and computes min / median / max. Times are CLOCK_MONOTONIC. */

#include <fcntl.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus-test.h"
#include "core.h"
#include "log.h"
#include "strutil.h"

static unsigned arg_reps = 5;
static bool arg_mute = false;

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static double ms_since(uint64_t start_ns) {
        return (double) (now_ns() - start_ns) / 1e6;
}

static int parse_size(const char *s, size_t *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || *end || v == 0)
                return log_error_errno(-EINVAL, "%s is not a positive number", s);
        *ret = (size_t) v;
        return 0;
}

static int bus_fail(BusTest *t, const char *what, const char *key, int r) {
        return log_error_errno(r, "%s %s: %s", what, key, bt_error_string(t));
}

static void bt_closep(BusTest *t) {
        if (t->bus)
                bt_close(t);
}

static int bus_mute(BusTest *t) {
        int r = bt_call(t, BT_MANAGER_PATH, "org.lamina.snapshot1.Monitor", "Mute", NULL, NULL);

        return r < 0 ? bus_fail(t, "Monitor.Mute", BT_MANAGER_PATH, r) : 0;
}

/* With --mute the connection calls Monitor.Mute() first: no signals of its own calls. */
static int bus_open(BusTest *t) {
        int r = bt_open(t, "overlayfs");

        if (r < 0)
                return log_error_errno(r, "cannot connect to the system bus: %m");
        return arg_mute ? bus_mute(t) : 0;
}

/* --- Prepare + Commit + Remove, over the bus and in-process --- */

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
        for (unsigned rep = 0; rep < arg_reps; rep++) {
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

static int cmd_pcr_bus(int argc, char **argv) {
        static const PcrOps ops = { pcr_bus_prepare, pcr_bus_commit, pcr_bus_remove };
        _cleanup_(bt_closep) BusTest t = {};
        size_t n;
        int r;

        r = parse_size(argv[1], &n);
        if (r >= 0)
                r = bus_open(&t);
        return r < 0 ? r : pcr_run(&ops, &t, n);
}

static int core_fail(const Error *e, const char *what, const char *key, int r) {
        return log_error_errno(r, "%s %s: %s", what, key, e->message[0] ? e->message : "failed");
}

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

static int core_open(const char *state_dir, const char *runtime_dir, Core **ret_core,
                     CoreSnapshotter **ret_s) {
        CoreOptions opts = { .state_dir = state_dir, .runtime_dir = runtime_dir };
        int r;

        r = core_new(&opts, ret_core);
        if (r < 0)
                return log_error_errno(r, "cannot open the core at %s: %m", state_dir);
        *ret_s = core_snapshotter_by_name(*ret_core, "overlayfs");
        if (!*ret_s)
                return log_error_errno(-EOPNOTSUPP, "no overlayfs snapshotter in %s", state_dir);
        return 0;
}

static int cmd_pcr_core(int argc, char **argv) {
        static const PcrOps ops = { pcr_core_prepare, pcr_core_commit, pcr_core_remove };
        _cleanup_(core_freep) Core *c = NULL;
        CoreSnapshotter *s = NULL;
        size_t n;
        int r;

        r = parse_size(argv[3], &n);
        if (r >= 0)
                r = core_open(argv[1], argv[2], &c, &s);
        return r < 0 ? r : pcr_run(&ops, s, n);
}

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

static int cmd_pcr_interleaved(int argc, char **argv) {
        static const PcrOps bus_ops = { pcr_bus_prepare, pcr_bus_commit, pcr_bus_remove };
        static const PcrOps core_ops = { pcr_core_prepare, pcr_core_commit, pcr_core_remove };
        _cleanup_(bt_closep) BusTest bus = {}, muted = {};
        _cleanup_(core_freep) Core *c = NULL;
        CoreSnapshotter *s = NULL;
        size_t n;
        int r;

        r = parse_size(argv[3], &n);
        if (r >= 0 && (n == 0 || n % INTERLEAVE_BLOCK != 0))
                r = log_error_errno(-EINVAL, "N must be a multiple of %u", INTERLEAVE_BLOCK);
        if (r >= 0)
                r = core_open(argv[1], argv[2], &c, &s);
        if (r >= 0)
                r = bus_open(&bus);
        if (r >= 0)
                r = bus_open(&muted);
        if (r >= 0 && !arg_mute)
                r = bus_mute(&muted);
        if (r < 0)
                return r;

        for (unsigned rep = 0; rep < arg_reps; rep++) {
                uint64_t ns[4] = {};

                for (size_t b = 0; b < n / INTERLEAVE_BLOCK; b++) {
                        size_t first = b * INTERLEAVE_BLOCK;
                        char tag[3][32];

                        snprintf(tag[0], sizeof tag[0], "b%u", rep);
                        snprintf(tag[1], sizeof tag[1], "m%u", rep);
                        snprintf(tag[2], sizeof tag[2], "c%u", rep);
                        for (size_t k = 0; k < 4 && r >= 0; k++)
                                switch ((b + k) % 4) {
                                case 0: r = pcr_block(&bus_ops, &bus, tag[0], first, INTERLEAVE_BLOCK, &ns[0]); break;
                                case 1: r = pcr_block(&bus_ops, &muted, tag[1], first, INTERLEAVE_BLOCK, &ns[1]); break;
                                case 2: r = pcr_block(&core_ops, s, tag[2], first, INTERLEAVE_BLOCK, &ns[2]); break;
                                default: r = ping_block(&bus, 3 * INTERLEAVE_BLOCK, &ns[3]); break;
                                }
                        if (r < 0)
                                return r;
                        /* The caller's own signals, queued on the default client, are not read. */
                        while ((r = sd_bus_process(bus.bus, NULL)) > 0)
                                ;
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

/* --- Chains and their mounts --- */

/* Commits PREFIX-1 … PREFIX-N, each the parent of the next. Prints the seconds it took. */
static int cmd_chain_bus(int argc, char **argv) {
        _cleanup_(bt_closep) BusTest t = {};
        const char *prefix = argv[1];
        uint64_t start;
        size_t n;
        int r;

        r = parse_size(argv[2], &n);
        if (r >= 0)
                r = bus_open(&t);
        if (r < 0)
                return r;
        start = now_ns();
        for (size_t i = 1; i <= n; i++) {
                _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
                _cleanup_free_ char *key = strdup_printf("%s-active-%zu", prefix, i);
                _cleanup_free_ char *name = strdup_printf("%s-%zu", prefix, i);
                _cleanup_free_ char *parent = i > 1 ? strdup_printf("%s-%zu", prefix, i - 1) : strdup("");

                if (!key || !name || !parent)
                        return log_error_errno(-ENOMEM, "out of memory");
                r = bt_prepare(&t, key, parent, NULL, &mounts);
                if (r < 0)
                        return bus_fail(&t, "Prepare", key, r);
                r = bt_commit(&t, name, key, NULL);
                if (r < 0)
                        return bus_fail(&t, "Commit", key, r);
        }
        printf("%.3f\n", ms_since(start) / 1000.0);
        return 0;
}

/* Per repetition: milliseconds for Prepare(KEY, PARENT) + Mount(KEY, "") from the reply
 * of the first call to that of the second; then Unmount and Remove, not timed. */
static int cmd_prepare_mount_bus(int argc, char **argv) {
        _cleanup_(bt_closep) BusTest t = {};
        const char *parent = argv[1];
        int r;

        r = bus_open(&t);
        if (r < 0)
                return r;
        for (unsigned rep = 0; rep < arg_reps; rep++) {
                _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
                _cleanup_free_ char *key = strdup_printf("pm-%d-%u", (int) getpid(), rep);
                _cleanup_free_ char *path = NULL;
                uint64_t start;

                if (!key)
                        return log_error_errno(-ENOMEM, "out of memory");
                start = now_ns();
                r = bt_prepare(&t, key, parent, NULL, &mounts);
                if (r < 0)
                        return bus_fail(&t, "Prepare", key, r);
                r = bt_mount(&t, key, "", NULL, &path);
                if (r < 0)
                        return bus_fail(&t, "Mount", key, r);
                printf("%.3f\n", ms_since(start));
                fflush(stdout);
                r = bt_unmount(&t, key);
                if (r < 0)
                        return bus_fail(&t, "Unmount", key, r);
                r = bt_remove(&t, key);
                if (r < 0)
                        return bus_fail(&t, "Remove", key, r);
        }
        return 0;
}

/* --- Apply --- */

static int apply_once(BusTest *t, const char *key, int fd, uint64_t *ret_bytes) {
        sd_bus_message *reply = NULL;
        const char *diff_id;
        uint64_t bytes, entries;
        int r;

        r = bt_call(t, NULL, BT_SNAPSHOTTER_IFACE, "Apply", &reply, "sha{sv}", key, fd, 0);
        if (r < 0)
                return bus_fail(t, "Apply", key, r);
        r = sd_bus_message_read(reply, "stt", &diff_id, &bytes, &entries);
        sd_bus_message_unref(reply);
        if (r < 0)
                return log_error_errno(r, "cannot read the reply of Apply: %m");
        *ret_bytes = bytes;
        return 0;
}

/* Per repetition: seconds of one Apply of FILE into a new active snapshot, the
 * uncompressed bytes and the snapshot's key. The snapshot stays: bench/run removes them
 * once nothing is timed any more, because deleting thousands of files makes the next
 * creations on ext4 slower for a minute (its inode allocator skips recently deleted
 * inodes), which would bill one Apply or tar for the previous one's clean-up. */
static int cmd_apply_bus(int argc, char **argv) {
        _cleanup_(bt_closep) BusTest t = {};
        int r;

        r = bus_open(&t);
        if (r < 0)
                return r;
        for (unsigned rep = 0; rep < arg_reps; rep++) {
                _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
                _cleanup_free_ char *key = strdup_printf("apply-%d-%u", (int) getpid(), rep);
                _cleanup_close_ int fd = -EBADF;
                uint64_t start, bytes = 0;

                if (!key)
                        return log_error_errno(-ENOMEM, "out of memory");
                r = bt_prepare(&t, key, "", NULL, &mounts);
                if (r < 0)
                        return bus_fail(&t, "Prepare", key, r);
                fd = open(argv[1], O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return log_error_errno(-errno, "cannot open %s: %m", argv[1]);
                start = now_ns();
                r = apply_once(&t, key, fd, &bytes);
                if (r < 0)
                        return r;
                printf("%.3f %" PRIu64 " %s\n", ms_since(start) / 1000.0, bytes, key);
                fflush(stdout);
        }
        return 0;
}

/* --- Many snapshots --- */

#define POPULATE_NAME "many-%07zu-%02zu"

/* Commits N snapshots in-process, as chains of DEPTH (image-like), before laminad runs.
 * Prints the seconds it took. */
static int cmd_populate(int argc, char **argv) {
        _cleanup_(core_freep) Core *c = NULL;
        CoreSnapshotter *s = NULL;
        size_t n, depth;
        uint64_t start;
        int r;

        r = parse_size(argv[3], &n);
        if (r >= 0)
                r = parse_size(argv[4], &depth);
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
static int cmd_list_bus(int argc, char **argv) {
        _cleanup_(bt_closep) BusTest t = {};
        int r;

        r = bus_open(&t);
        if (r < 0)
                return r;
        for (unsigned rep = 0; rep < arg_reps; rep++) {
                _cleanup_(info_list_clear) InfoList l = {};
                uint64_t start = now_ns();

                r = bt_list(&t, NULL, &l);
                if (r < 0)
                        return bus_fail(&t, "List", "(all)", r);
                printf("%.3f %zu\n", ms_since(start), l.n);
                fflush(stdout);
        }
        return 0;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

static double percentile(double *sorted, size_t n, double p) {
        size_t i = (size_t) (p * (double) (n - 1) + 0.5);

        return sorted[i < n ? i : n - 1];
}

/* Per repetition: p50 and p99 in microseconds of SAMPLES Stat calls on random snapshots
 * of the N that populate made. */
static int cmd_stat_bus(int argc, char **argv) {
        _cleanup_(bt_closep) BusTest t = {};
        _cleanup_free_ double *lat = NULL;
        size_t n, depth, samples;
        int r;

        r = parse_size(argv[1], &n);
        if (r >= 0)
                r = parse_size(argv[2], &depth);
        if (r >= 0)
                r = parse_size(argv[3], &samples);
        if (r >= 0)
                r = bus_open(&t);
        if (r < 0)
                return r;
        lat = calloc(samples, sizeof *lat);
        if (!lat)
                return log_error_errno(-ENOMEM, "out of memory");
        srandom((unsigned) getpid());
        for (unsigned rep = 0; rep < arg_reps; rep++) {
                for (size_t k = 0; k < samples; k++) {
                        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
                        size_t i = (size_t) random() % n;
                        char name[64];
                        uint64_t start;

                        snprintf(name, sizeof name, POPULATE_NAME, i / depth, i % depth);
                        start = now_ns();
                        r = bt_stat(&t, name, &info);
                        if (r < 0)
                                return bus_fail(&t, "Stat", name, r);
                        lat[k] = ms_since(start) * 1000.0;
                }
                qsort(lat, samples, sizeof *lat, cmp_double);
                printf("%.1f %.1f\n", percentile(lat, samples, 0.50), percentile(lat, samples, 0.99));
                fflush(stdout);
        }
        return 0;
}

/* One line per repetition: microseconds per org.freedesktop.DBus.Peer.Ping round trip to
 * laminad over N calls from one connection: the transport's own cost of one call (what the
 * bus overhead per call is compared with). */
static int cmd_ping_bus(int argc, char **argv) {
        _cleanup_(bt_closep) BusTest t = {};
        size_t n;
        int r;

        r = parse_size(argv[1], &n);
        if (r >= 0)
                r = bus_open(&t);
        if (r < 0)
                return r;
        for (unsigned rep = 0; rep < arg_reps; rep++) {
                uint64_t start = now_ns();

                for (size_t i = 0; i < n; i++) {
                        r = bt_call(&t, BT_MANAGER_PATH, "org.freedesktop.DBus.Peer", "Ping", NULL, NULL);
                        if (r < 0)
                                return bus_fail(&t, "Peer.Ping", BT_MANAGER_PATH, r);
                }
                printf("%.1f\n", ms_since(start) * 1000.0 / (double) n);
                fflush(stdout);
        }
        return 0;
}

/* Milliseconds from sending the first call to a name with no owner (so the bus activates
 * laminad) to its reply. The connection is made before the clock starts. */
static int cmd_activate_bus(int argc, char **argv) {
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

typedef struct Command {
        const char *name;
        const char *args;
        int n_args;
        int (*run)(int argc, char **argv);
} Command;

static const Command commands[] = {
        { "pcr-bus",           "N",                    1, cmd_pcr_bus },
        { "pcr-core",          "STATE_DIR RUN_DIR N",  3, cmd_pcr_core },
        { "pcr-interleaved",   "STATE_DIR RUN_DIR N",  3, cmd_pcr_interleaved },
        { "chain-bus",         "PREFIX N",             2, cmd_chain_bus },
        { "prepare-mount-bus", "PARENT",               1, cmd_prepare_mount_bus },
        { "apply-bus",         "LAYER_FILE",           1, cmd_apply_bus },
        { "populate",          "STATE_DIR RUN_DIR N DEPTH", 4, cmd_populate },
        { "list-bus",          "",                     0, cmd_list_bus },
        { "stat-bus",          "N DEPTH SAMPLES",      3, cmd_stat_bus },
        { "activate-bus",      "",                     0, cmd_activate_bus },
        { "ping-bus",          "N",                    1, cmd_ping_bus },
};

static void usage(void) {
        fprintf(stderr, "usage: %s [--reps R] [--mute] COMMAND ARGS...\n", program_invocation_short_name);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(stderr, "  %s %s\n", commands[i].name, commands[i].args);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "reps", required_argument, NULL, 'r' },
                { "mute", no_argument,       NULL, 'm' },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "+r:m", options, NULL)) >= 0) {
                size_t reps;

                if (c == 'm') {
                        arg_mute = true;
                        continue;
                }
                if (c != 'r' || parse_size(optarg, &reps) < 0) {
                        usage();
                        return 2;
                }
                arg_reps = (unsigned) reps;
        }
        argc -= optind;
        argv += optind;
        for (size_t i = 0; argc > 0 && i < ELEMENTSOF(commands); i++) {
                if (!streq(argv[0], commands[i].name))
                        continue;
                if (argc != commands[i].n_args + 1)
                        break;
                return commands[i].run(argc, argv) < 0 ? 1 : 0;
        }
        usage();
        return 2;
}
