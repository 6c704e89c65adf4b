/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "error.h"
#include "macro.h"

/* Slow calls (Usage, Cleanup, Apply, a Commit of more than a small tree) run on worker
 * threads, at most `max` at a time, each job on a thread of its own from the moment it is
 * admitted. The threads are a pool: a worker that finished waits for the next job and
 * exits after 10 s without one, so a burst of calls creates no thread per call and an
 * idle daemon keeps none. Workers never touch sd-bus: they hand results and progress to
 * the event loop through an eventfd, and the loop thread sends the reply and the progress
 * signals. */

typedef struct BusJobs BusJobs;
typedef struct BusJob BusJob;

typedef struct BusJobOps {
        /* Worker thread. Returns 0 or a negative errno with e filled. */
        int (*run)(BusJob *job, void *data, Error *e);
        /* Loop thread, after run succeeded: sends the method reply to m. */
        int (*reply)(sd_bus_message *m, void *data);
        /* Loop thread, optional: run failed and the error reply is being sent. */
        void (*failed)(void *data, const sd_bus_error *error);
        /* Loop thread, optional: progress that run reported with bus_job_progress(). */
        void (*progress)(sd_bus_message *m, void *data, uint64_t done, uint64_t total);
        void (*free)(void *data);
} BusJobOps;

/* At most max jobs; one non-root caller at most per_caller, and non-root callers together
 * leave root_reserve for root. */
int bus_jobs_new(sd_event *event, size_t max, size_t per_caller, size_t root_reserve, BusJobs **ret);
/* Only when none are running (see bus_jobs_running()); waits for the idle workers to exit. */
BusJobs *bus_jobs_free(BusJobs *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(BusJobs *, bus_jobs_free);
size_t bus_jobs_running(BusJobs *j);
/* Worker threads alive, running a job or waiting for one. */
size_t bus_jobs_workers(BusJobs *j);
/* How long a worker waits for a job before it exits (default 10 s; 0: until bus_jobs_free()). */
void bus_jobs_set_worker_idle(BusJobs *j, uint64_t usec);
/* Called on the loop thread whenever a job has finished and replied. */
void bus_jobs_set_on_finished(BusJobs *j, void (*cb)(void *userdata), void *userdata);

/* Starts a job answering m for caller; data is handed over (freed with ops->free even on
 * failure). Fails with LimitsExceeded when max jobs are running, when a non-root caller
 * has per_caller running, or when non-root callers would take the slots kept for root. */
int bus_job_start(BusJobs *j, sd_bus_message *m, uid_t caller, const BusJobOps *ops, void *data,
                  sd_bus_error *error);

/* Loop thread, when the daemon must exit now: answers every job still running with
 * error (its thread goes on until the process exits; nothing may be freed after this). */
void bus_jobs_abandon(BusJobs *j, const sd_bus_error *error);

/* Worker thread: records progress; the loop emits at most ten updates a second. */
void bus_job_progress(BusJob *job, uint64_t done, uint64_t total);
