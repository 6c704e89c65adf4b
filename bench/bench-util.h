/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every lamina-bench command shares: the clock, the options, argument parsing and
 * the two clients it times (one sd-bus connection to laminad, the core in-process). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus-test.h"
#include "core.h"

extern unsigned bench_reps; /* --reps: lines a measuring command prints */
extern bool bench_mute;     /* --mute: connections call Monitor.Mute() first */

uint64_t now_ns(void);             /* CLOCK_MONOTONIC */
double ms_since(uint64_t start_ns);

/* Parses a positive number; logs and returns -EINVAL otherwise. */
int parse_size(const char *s, size_t *ret);
/* Parses args[0..n-1] into *rets[0..n-1]; stops at the first that is not a number. */
int parse_sizes(char **args, size_t n, size_t *const *rets);

/* Log the failed call with its key and the error's message; return r. */
int bus_fail(BusTest *t, const char *what, const char *key, int r);
int core_fail(const Error *e, const char *what, const char *key, int r);

void bt_closep(BusTest *t);
int bus_mute(BusTest *t);
/* Connects to the system bus as the overlayfs snapshotter's client; muted with --mute. */
int bus_open(BusTest *t);
/* Opens one connection (bus_open()) and calls fn(t, rep, userdata) for each of the --reps
 * repetitions, flushing what it printed after each (bench/run reads lines as they come). */
typedef int (*bus_rep_fn)(BusTest *t, unsigned rep, void *userdata);
int bus_each_rep(bus_rep_fn fn, void *userdata);
/* The key of repetition rep of this process: "<what>-<pid>-<rep>". */
void rep_key(char key[static 64], const char *what, unsigned rep);

/* The core on state_dir/runtime_dir (laminad not running on them) and its overlayfs
 * snapshotter. */
int core_open(const char *state_dir, const char *runtime_dir, Core **ret_core, CoreSnapshotter **ret_s);
