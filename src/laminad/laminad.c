/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "config.h"
#include "core.h"
#include "layer.h"
#include "log.h"
#include "state-lock.h"

#define USEC_PER_SEC 1000000ULL
#define DEFAULT_IDLE_TIMEOUT_SEC 30ULL
/* How long a second laminad waits for the first to finish with the state directory. */
#define STATE_LOCK_TIMEOUT_USEC (120 * USEC_PER_SEC)
/* After SIGTERM, running jobs get this long; then they are answered with an error and the
 * process exits (the state is crash-safe: recovery at the next start cleans up). */
#define STOP_GRACE_USEC (500 * 1000ULL)
/* While a store lacks its totals per user (its filesystem was full at start): how often
 * building them is tried again, beside each write. */

typedef struct Arguments {
        const char *config;
        const char *state_dir;
        const char *runtime_dir;
        uint64_t idle_usec; /* 0: never exit on idle */
        int log_level;
        uint64_t apply_max_entries, apply_max_bytes, apply_max_name_len; /* 0: default */
        uint64_t apply_stall_usec; /* 0: never */
        uint64_t apply_max_memory, apply_max_cpu, apply_timeout;          /* 0: default */
} Arguments;

typedef struct Daemon {
        sd_event *event;
        sd_bus *bus;
        BusContext *context;
        sd_event_source *idle_timer;
        sd_event_source *stop_timer; /* after a signal: the end of the grace period */
        uint64_t idle_usec;
        bool stopping;      /* no longer taking work: the name is being released */
        bool name_released; /* the bus routes nothing new to us */
} Daemon;

static void help(void) {
        printf("Usage: %s [OPTIONS...]\n\n"
               "The lamina snapshotter daemon: serves org.lamina.snapshot1 on the system bus.\n\n"
               "  -h --help                  Show this help and exit\n"
               "     --version               Show the version and exit\n"
               "     --config=FILE           Configuration (per-uid quotas), with drop-ins in\n"
               "                             FILE.d/*.conf (default: %s)\n"
               "     --state-dir=DIR         Snapshots and metadata (default: %s)\n"
               "     --runtime-dir=DIR       Mount points and runtime state (default: %s)\n"
               "     --idle-timeout=SECONDS  Exit after this long without calls; 0 never (default: %llu)\n"
               "     --log-level=LEVEL       err, warning, notice, info or debug (default: info)\n"
               "     --apply-max-entries=N   Entries one Apply may have, with the directories made\n"
               "                             for missing parents (default: 1048576)\n"
               "     --apply-max-bytes=N     Bytes of one uncompressed layer, and of all its files\n"
               "                             and directories (a block each) together\n"
               "                             (default: 68719476736, 64 GiB)\n"
               "     --apply-max-name-length=N\n"
               "                             Bytes of a layer entry's path (default and at most: %d)\n"
               "     --apply-max-memory=N    Bytes of address space of an Apply's unpack helper\n"
               "                             (default: %llu, 1 GiB)\n"
               "     --apply-max-cpu=SECONDS CPU time of an Apply's layer parser (default: %llu)\n"
               "     --apply-timeout=SECONDS Wall-clock time of one Apply (default: %llu)\n"
               "     --apply-stall-timeout=SECONDS\n"
               "                             Fail an Apply whose pipe or socket sends nothing for\n"
               "                             this long; 0 never (default: %llu)\n",
               program_invocation_short_name, LAMINA_CONFIG_FILE, LAMINA_STATE_DIR, LAMINA_RUNTIME_DIR,
               (unsigned long long) DEFAULT_IDLE_TIMEOUT_SEC, PATH_MAX - 1,
               (unsigned long long) LAYER_DEFAULT_MAX_MEMORY, (unsigned long long) LAYER_DEFAULT_MAX_CPU_SEC,
               (unsigned long long) LAYER_DEFAULT_MAX_WALL_SEC,
               (unsigned long long) (BUS_APPLY_STALL_USEC_DEFAULT / USEC_PER_SEC));
}

/* A decimal number from 0 to max. */
static int parse_number(const char *s, uint64_t max, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (!s[0] || s[0] < '0' || s[0] > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != 0 || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_seconds(const char *s, uint64_t *ret) {
        int r = parse_number(s, UINT64_MAX / USEC_PER_SEC, ret);

        if (r >= 0)
                *ret *= USEC_PER_SEC;
        return r;
}

/* An Apply limit: 1 to max. */
static int parse_limit(const char *option, const char *s, uint64_t max, uint64_t *ret) {
        if (parse_number(s, max, ret) < 0 || *ret == 0) {
                log_error("invalid --%s %s; give a number from 1 to %llu", option, s, (unsigned long long) max);
                return -EINVAL;
        }
        return 0;
}

/* Returns 1 to run, 0 to exit successfully (--help, --version), or a negative errno. */
static int parse_argv(int argc, char *argv[], Arguments *a) {
        enum {
                ARG_VERSION = 0x100, ARG_CONFIG, ARG_STATE_DIR, ARG_RUNTIME_DIR, ARG_IDLE_TIMEOUT, ARG_LOG_LEVEL,
                ARG_APPLY_MAX_ENTRIES, ARG_APPLY_MAX_BYTES, ARG_APPLY_MAX_NAME_LENGTH,
                ARG_APPLY_MAX_MEMORY, ARG_APPLY_MAX_CPU, ARG_APPLY_TIMEOUT, ARG_APPLY_STALL_TIMEOUT,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "idle-timeout", required_argument, NULL, ARG_IDLE_TIMEOUT },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "apply-max-entries", required_argument, NULL, ARG_APPLY_MAX_ENTRIES },
                { "apply-max-bytes", required_argument, NULL, ARG_APPLY_MAX_BYTES },
                { "apply-max-name-length", required_argument, NULL, ARG_APPLY_MAX_NAME_LENGTH },
                { "apply-stall-timeout", required_argument, NULL, ARG_APPLY_STALL_TIMEOUT },
                { "apply-max-memory", required_argument, NULL, ARG_APPLY_MAX_MEMORY },
                { "apply-max-cpu", required_argument, NULL, ARG_APPLY_MAX_CPU },
                { "apply-timeout", required_argument, NULL, ARG_APPLY_TIMEOUT },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("laminad %s\n", LAMINA_VERSION);
                        return 0;
                case ARG_CONFIG:
                        a->config = optarg;
                        break;
                case ARG_STATE_DIR:
                        a->state_dir = optarg;
                        break;
                case ARG_RUNTIME_DIR:
                        a->runtime_dir = optarg;
                        break;
                case ARG_IDLE_TIMEOUT:
                        if (parse_seconds(optarg, &a->idle_usec) < 0) {
                                log_error("invalid --idle-timeout %s; give a number of seconds", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_LOG_LEVEL:
                        a->log_level = log_parse_level(optarg);
                        if (a->log_level < 0) {
                                log_error("invalid --log-level %s; use err, warning, notice, info or debug", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_APPLY_MAX_ENTRIES:
                        if (parse_limit("apply-max-entries", optarg, UINT64_MAX, &a->apply_max_entries) < 0)
                                return -EINVAL;
                        break;
                case ARG_APPLY_MAX_BYTES:
                        if (parse_limit("apply-max-bytes", optarg, UINT64_MAX, &a->apply_max_bytes) < 0)
                                return -EINVAL;
                        break;
                case ARG_APPLY_MAX_NAME_LENGTH:
                        if (parse_limit("apply-max-name-length", optarg, PATH_MAX - 1, &a->apply_max_name_len) < 0)
                                return -EINVAL;
                        break;
                case ARG_APPLY_MAX_MEMORY:
                        if (parse_limit("apply-max-memory", optarg, UINT64_MAX, &a->apply_max_memory) < 0)
                                return -EINVAL;
                        break;
                case ARG_APPLY_MAX_CPU:
                        if (parse_limit("apply-max-cpu", optarg, UINT32_MAX, &a->apply_max_cpu) < 0)
                                return -EINVAL;
                        break;
                case ARG_APPLY_TIMEOUT:
                        if (parse_limit("apply-timeout", optarg, UINT32_MAX, &a->apply_timeout) < 0)
                                return -EINVAL;
                        break;
                case ARG_APPLY_STALL_TIMEOUT:
                        if (parse_seconds(optarg, &a->apply_stall_usec) < 0) {
                                log_error("invalid --apply-stall-timeout %s; give a number of seconds", optarg);
                                return -EINVAL;
                        }
                        break;
                case '?':
                        return -EINVAL;
                default:
                        assert(!"unhandled option");
                }

        if (optind < argc) {
                log_error("%s takes no positional arguments", program_invocation_short_name);
                return -EINVAL;
        }
        return 1;
}

static void daemon_maybe_exit(Daemon *d) {
        if (d->name_released && !bus_context_busy(d->context))
                (void) sd_event_exit(d->event, 0);
}

#define TRIM_FREE_BYTES_MIN (1024u * 1024u)

static void on_job_finished(void *userdata) {
        Daemon *d = userdata;

        /* Workers' malloc arenas keep what a big List used; give it back once no job
         * runs, so memory returns to its baseline after a burst. Only when there is
         * something to give back: after an ordinary Commit, trimming released the top of
         * the heap that the next call grew again (two brk per call). */
        if (bus_jobs_running(d->context->jobs) + bus_jobs_running(d->context->queries) == 0 &&
            mallinfo2().fordblks > TRIM_FREE_BYTES_MIN)
                (void) malloc_trim(0);
        daemon_maybe_exit(d);
}

static int on_name_released(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;

        /* Calls routed to us before the release were queued ahead of this reply and
         * have been dispatched; what remains are the jobs they started. */
        if (sd_bus_message_is_method_error(m, NULL))
                log_warning("failed to release %s: %s", BUS_NAME, sd_bus_message_get_error(m)->message);
        d->name_released = true;
        daemon_maybe_exit(d);
        return 0;
}

/* Stops taking work: releases the name, then exits once running jobs are done. */
static void daemon_stop(Daemon *d, const char *why) {
        int r;

        if (d->stopping)
                return;
        d->stopping = true;
        log_info("%s; releasing %s and finishing %zu running operations", why, BUS_NAME,
                 bus_jobs_running(d->context->jobs));

        r = sd_bus_release_name_async(d->bus, NULL, BUS_NAME, on_name_released, d);
        if (r < 0) {
                log_warning_errno(r, "failed to release %s: %m", BUS_NAME);
                d->name_released = true;
                daemon_maybe_exit(d);
        }
}

static void daemon_rearm_idle(Daemon *d) {
        if (!d->idle_timer)
                return;
        (void) sd_event_source_set_time_relative(d->idle_timer, d->idle_usec);
        (void) sd_event_source_set_enabled(d->idle_timer, SD_EVENT_ONESHOT);
}

static int on_idle(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        /* Not while a connection holds transient snapshots: they go when it goes. Nor with
         * frees pending: they would be left for the next start. Nor while a killed lookup
         * of a mount target still waits on a caller's filesystem. Nor while an overlay it
         * handed out or force-unmounted is still in use: only this laminad knows when its
         * filesystem goes. */
        if (bus_context_busy(d->context) || bus_watchers_hold(d->context->watchers) ||
            bus_tracks_any(d->context->tracks) || core_reclaim_pending(d->context->core) ||
            core_mount_lookups_pending() || core_mount_filesystems_watched(d->context->core))
                daemon_rearm_idle(d);
        else
                daemon_stop(d, "idle");
        return 0;
}

/* Sees every incoming message before dispatch: calls re-arm the idle timer, and a
 * lost bus connection stops the daemon (after its jobs finish). Any connection may send
 * laminad a signal: a NameOwnerChanged counts only from the bus itself (sd-bus's own matches
 * do not check the sender of one sent to laminad alone, and the tracks of callers would take
 * a forged one for a caller gone: its Applies cancelled, its transient snapshots removed,
 * its watches ended). Returning 1 drops the message. (The bus refuses to pass on a
 * message of org.freedesktop.DBus.Local: a Disconnected is sd-bus's own.) */
static int on_message(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        const char *sender = sd_bus_message_get_sender(m);

        if (sd_bus_message_is_signal(m, "org.freedesktop.DBus", "NameOwnerChanged") &&
            (!sender || !streq(sender, "org.freedesktop.DBus")))
                return 1;
        if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.Local", "Disconnected")) {
                d->stopping = d->name_released = true;
                log_warning("lost the bus connection; exiting after %zu running operations",
                            bus_jobs_running(d->context->jobs));
                daemon_maybe_exit(d);
                return 0;
        }
        if (sd_bus_message_is_method_call(m, NULL, NULL))
                daemon_rearm_idle(d);
        return 0;
}

/* Jobs run in threads that cannot be stopped from outside: answer their callers and exit
 * without tearing anything down under them. */
static _noreturn_ void daemon_exit_now(Daemon *d) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        (void) sd_bus_error_set(&error, SD_BUS_ERROR_FAILED,
                                "laminad was stopped while this ran; the call may be partly done: check the "
                                "snapshot and call again");
        log_warning("stopping now, abandoning %zu running operations",
                    bus_jobs_running(d->context->jobs) + bus_jobs_running(d->context->queries));
        bus_jobs_abandon(d->context->jobs, &error);
        bus_jobs_abandon(d->context->queries, &error);
        (void) sd_bus_flush(d->bus);
        _exit(EXIT_SUCCESS);
}

static int on_stop_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        if (bus_context_busy(d->context))
                daemon_exit_now(d);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        int r;

        if (d->stop_timer) /* a second signal: no more grace */
                daemon_exit_now(d);
        daemon_stop(d, strsignal((int) si->ssi_signo));
        r = sd_event_add_time_relative(d->event, &d->stop_timer, CLOCK_MONOTONIC, STOP_GRACE_USEC, 1000,
                                       on_stop_timer, d);
        if (r < 0)
                daemon_exit_now(d);
        return 0;
}

static void stop_signals(sigset_t *ret) {
        sigemptyset(ret);
        sigaddset(ret, SIGTERM);
        sigaddset(ret, SIGINT);
}

static int daemon_setup_event(Daemon *d) {
        sigset_t mask;
        int r;

        r = sd_event_default(&d->event);
        if (r < 0)
                return log_error_errno(r, "failed to allocate the event loop: %m");

        /* Blocked before any worker thread exists, so they inherit the mask. */
        stop_signals(&mask);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "failed to block signals: %m");
        r = sd_event_add_signal(d->event, NULL, SIGTERM, on_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGINT, on_signal, d);
        if (r < 0)
                return log_error_errno(r, "failed to watch signals: %m");

        if (d->idle_usec > 0) {
                r = sd_event_add_time_relative(d->event, &d->idle_timer, CLOCK_MONOTONIC, d->idle_usec, 0,
                                               on_idle, d);
                if (r < 0)
                        return log_error_errno(r, "failed to set up the idle timer: %m");
        }
        return 0;
}

/* Every call waiting for polkit keeps its message and the fds it carries (up to 16 on a
 * stock system bus): raise the soft fd limit to the hard one, and let no more checks wait
 * than half of it can hold. */
#define FDS_PER_MESSAGE_MAX 16u

static size_t raise_fd_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
                log_warning_errno(errno, "cannot read the fd limit: %m");
                return 1024;
        }
        if (rl.rlim_cur < rl.rlim_max) {
                struct rlimit raised = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };

                /* The unit sets LimitNOFILE= and filters setrlimit(); that is fine. */
                if (setrlimit(RLIMIT_NOFILE, &raised) < 0)
                        log_debug_errno(errno, "cannot raise the fd limit to %llu: %m",
                                        (unsigned long long) rl.rlim_max);
                else
                        rl = raised;
        }
        return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > SIZE_MAX ? SIZE_MAX : (size_t) rl.rlim_cur;
}

static int daemon_setup_bus(Daemon *d, Core *core, size_t fd_limit, uint64_t apply_stall_usec) {
        int r;

        r = sd_bus_open_system(&d->bus);
        if (r < 0)
                return log_error_errno(r, "failed to connect to the system bus: %m");
        r = sd_bus_attach_event(d->bus, d->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "failed to attach the bus to the event loop: %m");
        r = sd_bus_add_filter(d->bus, NULL, on_message, d);
        if (r < 0)
                return log_error_errno(r, "failed to add the bus filter: %m");

        r = bus_context_new(core, d->bus, d->event, &d->context);
        if (r < 0)
                return r;
        bus_jobs_set_on_finished(d->context->jobs, on_job_finished, d);
        bus_jobs_set_on_finished(d->context->queries, on_job_finished, d);
        auth_registry_set_on_idle(d->context->auth, on_job_finished, d);
        auth_registry_set_max(d->context->auth, fd_limit / 2 / (FDS_PER_MESSAGE_MAX + 1));
        d->context->apply_stall_usec = apply_stall_usec;

        /* Last, so no call arrives before the objects exist. */
        r = sd_bus_request_name(d->bus, BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "failed to acquire %s: %m", BUS_NAME);
        return 0;
}

/* A store opened without its totals per user: serve what works without them (the core
 * counts them in the background once there is space). */
static void daemon_warn_derived(Daemon *d) {
        if (core_derived_missing(d->context->core))
                log_warning("the filesystem holding the snapshot metadata is too full to count what each user "
                            "holds: reads, Remove and Cleanup work, calls that check a user's quota are refused "
                            "until it is counted (in the background, once there is space)");
}

/* Returns r. */
static int daemon_free(Daemon *d, int r) {
        bus_context_free(d->context);
        sd_bus_flush_close_unref(d->bus);
        sd_event_source_unref(d->idle_timer);
        sd_event_source_unref(d->stop_timer);
        sd_event_unref(d->event);
        return r;
}

static int run(int argc, char *argv[]) {
        Arguments a = {
                .config = LAMINA_CONFIG_FILE,
                .state_dir = LAMINA_STATE_DIR,
                .runtime_dir = LAMINA_RUNTIME_DIR,
                .idle_usec = DEFAULT_IDLE_TIMEOUT_SEC * USEC_PER_SEC,
                .log_level = LOG_INFO,
                .apply_stall_usec = BUS_APPLY_STALL_USEC_DEFAULT,
        };
        _cleanup_close_ int lock_fd = -EBADF; /* released last, after the core is closed */
        _cleanup_(core_freep) Core *core = NULL;
        _cleanup_(quota_config_clear) QuotaConfig quota = {};
        Error error = ERROR_NULL;
        sigset_t stop;
        size_t fd_limit;
        Daemon d = {};
        int r;

        log_set_prefix_priority(1);
        r = parse_argv(argc, argv, &a);
        if (r <= 0)
                return r;
        log_set_max_level(a.log_level);
        r = quota_config_load(a.config, &quota, &error);
        if (r < 0)
                return log_error_errno(r, "invalid configuration: %s", error.message);
        d.idle_usec = a.idle_usec;
        fd_limit = raise_fd_limit();
        /* A fixed threshold: blocks of 128 KiB and more (a caller's big message, a List) go
         * back to the kernel when freed, instead of glibc raising the threshold after the
         * first such free and keeping later ones in the heap. */
        (void) mallopt(M_MMAP_THRESHOLD, 128 * 1024);

        /* Signals are blocked from here on: the lock wait and the loop both watch them. */
        r = daemon_setup_event(&d);
        if (r < 0)
                return daemon_free(&d, r);
        stop_signals(&stop);
        lock_fd = state_lock_acquire(a.state_dir, &stop, STATE_LOCK_TIMEOUT_USEC);
        if (lock_fd == -EINTR)
                return daemon_free(&d, 0);
        if (lock_fd < 0)
                return daemon_free(&d, lock_fd);

        r = core_new(&(CoreOptions) {
                        .state_dir = a.state_dir,
                        .runtime_dir = a.runtime_dir,
                        .apply_max_entries = a.apply_max_entries,
                        .apply_max_bytes = a.apply_max_bytes,
                        .apply_max_name_len = (size_t) a.apply_max_name_len,
                        .apply_max_memory = a.apply_max_memory,
                        .apply_max_cpu_sec = a.apply_max_cpu,
                        .apply_max_wall_sec = a.apply_timeout,
                        .quota = &quota,
                }, &core);
        if (r < 0) {
                log_error_errno(r, "failed to open the state in %s: %m", a.state_dir);
                return daemon_free(&d, r);
        }
        {
                char buf[512];

                /* Where laminad alone enforces them, writes through mounts are not limited. */
                log_notice("per-user quotas enforced by %s", core_quota_enforcement(core, buf, sizeof buf));
        }
        r = core_reconcile_mounts(core);
        if (r < 0)
                log_warning_errno(r, "failed to reconcile the mount records; going on: %m");

        r = daemon_setup_bus(&d, core, fd_limit, a.apply_stall_usec);
        if (r >= 0) {
                daemon_warn_derived(&d);
                log_info("laminad %s serving %s (state %s, runtime %s)", LAMINA_VERSION, BUS_NAME, a.state_dir,
                         a.runtime_dir);
                r = sd_event_loop(d.event);
                if (r < 0)
                        log_error_errno(r, "event loop failed: %m");
        }

        /* The loop only ends with no job running (see daemon_maybe_exit()). */
        return daemon_free(&d, r);
}

int main(int argc, char *argv[]) {
        return run(argc, argv) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
