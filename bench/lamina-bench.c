/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The timed loops of bench/run that a shell cannot time finely: one long-lived sd-bus
 * client (libbustest's typed calls) and the same work done by the core in-process.
 * Each measuring command prints one line per repetition (numbers separated by spaces);
 * bench/run collects them and computes min / median / max. Times are CLOCK_MONOTONIC.
 * The commands live in bench-pcr.c, bench-mount.c and bench-many.c. */

#include <getopt.h>
#include <stdio.h>

#include "bench-commands.h"
#include "bench-util.h"
#include "strutil.h"

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
                        bench_mute = true;
                        continue;
                }
                if (c != 'r' || parse_size(optarg, &reps) < 0) {
                        usage();
                        return 2;
                }
                bench_reps = (unsigned) reps;
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
