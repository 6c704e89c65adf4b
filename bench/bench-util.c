/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "log.h"

unsigned bench_reps = 5;
bool bench_mute = false;

uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

double ms_since(uint64_t start_ns) {
        return (double) (now_ns() - start_ns) / 1e6;
}

int parse_size(const char *s, size_t *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || *end || v == 0)
                return log_error_errno(-EINVAL, "%s is not a positive number", s);
        *ret = (size_t) v;
        return 0;
}

int parse_sizes(char **args, size_t n, size_t *const *rets) {
        for (size_t i = 0; i < n; i++) {
                int r = parse_size(args[i], rets[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int bus_fail(BusTest *t, const char *what, const char *key, int r) {
        return log_error_errno(r, "%s %s: %s", what, key, bt_error_string(t));
}

int core_fail(const Error *e, const char *what, const char *key, int r) {
        return log_error_errno(r, "%s %s: %s", what, key, e->message[0] ? e->message : "failed");
}

void bt_closep(BusTest *t) {
        if (t->bus)
                bt_close(t);
}

int bus_mute(BusTest *t) {
        int r = bt_call(t, BT_MANAGER_PATH, "org.lamina.snapshot1.Monitor", "Mute", NULL, NULL);

        return r < 0 ? bus_fail(t, "Monitor.Mute", BT_MANAGER_PATH, r) : 0;
}

int bus_open(BusTest *t) {
        int r = bt_open(t, "overlayfs");

        if (r < 0)
                return log_error_errno(r, "cannot connect to the system bus: %m");
        return bench_mute ? bus_mute(t) : 0;
}

int bus_each_rep(bus_rep_fn fn, void *userdata) {
        _cleanup_(bt_closep) BusTest t = {};
        int r;

        r = bus_open(&t);
        for (unsigned rep = 0; r >= 0 && rep < bench_reps; rep++) {
                r = fn(&t, rep, userdata);
                fflush(stdout);
        }
        return r < 0 ? r : 0;
}

void rep_key(char key[static 64], const char *what, unsigned rep) {
        snprintf(key, 64, "%s-%d-%u", what, (int) getpid(), rep);
}

int core_open(const char *state_dir, const char *runtime_dir, Core **ret_core, CoreSnapshotter **ret_s) {
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
