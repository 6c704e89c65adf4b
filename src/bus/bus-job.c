/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>

#include "bus-error.h"
#include "bus-job.h"
#include "log.h"
#include "strutil.h"

#define PROGRESS_INTERVAL_USEC (100 * 1000ULL) /* ten a second */
#define WORKER_IDLE_USEC (10 * 1000 * 1000ULL)

struct BusJob {
        uid_t caller;
        BusJobs *jobs;
        BusJob *next; /* written by the loop thread only */
        sd_bus_message *message;
        BusJob *queued_next; /* under jobs->lock: waiting for a worker */
        const BusJobOps *ops;
        void *data;
        Error error; /* written by the worker until finished is set */

        /* Under jobs->lock. */
        bool finished;
        int result;
        bool progress_pending;
        uint64_t progress_done, progress_total;

        /* Loop thread only. */
        bool progress_due;
        uint64_t due_done, due_total;
        uint64_t progress_sent_usec;
};

struct BusJobs {
        pthread_mutex_t lock;
        BusJob *running;
        size_t n_running;
        size_t max, per_caller, root_reserve;

        /* The worker pool, under lock. Every admitted job has a thread of its own at once
         * (a job that never ends must not hold up another caller's): a job is queued only
         * when a worker not running one will take it, otherwise a new worker is started
         * for it. Workers running a job plus queued jobs are admitted jobs, so there are
         * never more workers than max; one idle for worker_idle_usec exits. */
        pthread_cond_t wake, exited;
        BusJob *queue_head, **queue_tail;
        size_t n_queued, n_busy, n_workers;
        uint64_t worker_idle_usec; /* 0: never */
        bool stopping;  /* bus_jobs_free(): every worker exits */
        bool abandoned; /* bus_jobs_abandon(): no queued job starts */

        int eventfd;
        sd_event_source *source;
        void (*on_finished)(void *userdata);
        void *userdata;
};

static BusJob *bus_job_free(BusJob *job) {
        if (!job)
                return NULL;
        sd_bus_message_unref(job->message);
        if (job->ops->free)
                job->ops->free(job->data);
        free(job);
        return NULL;
}

static void bus_jobs_wake(BusJobs *j) {
        /* Only fails when the counter would overflow, and then a wakeup is pending anyway. */
        (void) eventfd_write(j->eventfd, 1);
}

void bus_job_progress(BusJob *job, uint64_t done, uint64_t total) {
        BusJobs *j = job->jobs;

        pthread_mutex_lock(&j->lock);
        job->progress_pending = true;
        job->progress_done = done;
        job->progress_total = total;
        pthread_mutex_unlock(&j->lock);
        bus_jobs_wake(j);
}

static void bus_job_run(BusJob *job) {
        BusJobs *j = job->jobs;
        int r;

        r = job->ops->run(job, job->data, &job->error);

        pthread_mutex_lock(&j->lock);
        job->result = r;
        job->finished = true;
        /* Free for the next job before the loop learns that this one finished, so that
         * a job the loop admits next goes to this worker, not to a new one. */
        j->n_busy--;
        pthread_mutex_unlock(&j->lock);
        /* From here on the loop thread may free job. */
        bus_jobs_wake(j);
}

/* Under the lock. */
static BusJob *bus_jobs_dequeue(BusJobs *j) {
        BusJob *job = j->queue_head;

        if (!job || j->abandoned)
                return NULL;
        j->queue_head = job->queued_next;
        if (!j->queue_head)
                j->queue_tail = &j->queue_head;
        j->n_queued--;
        return job;
}

static void *bus_worker(void *p) {
        BusJobs *j = p;
        bool timed_out = false;

        pthread_mutex_lock(&j->lock);
        for (;;) {
                BusJob *job = bus_jobs_dequeue(j);
                struct timespec deadline;

                if (job) {
                        j->n_busy++;
                        pthread_mutex_unlock(&j->lock);
                        bus_job_run(job);
                        pthread_mutex_lock(&j->lock);
                        timed_out = false;
                        continue;
                }
                if (j->stopping || timed_out)
                        break;
                if (j->worker_idle_usec == 0)
                        pthread_cond_wait(&j->wake, &j->lock);
                else {
                        deadline = monotonic_deadline(j->worker_idle_usec);
                        timed_out = pthread_cond_timedwait(&j->wake, &j->lock, &deadline) == ETIMEDOUT;
                }
        }
        j->n_workers--;
        if (j->n_workers == 0)
                pthread_cond_signal(&j->exited);
        pthread_mutex_unlock(&j->lock);
        return NULL;
}

static void bus_job_send_reply(BusJob *job) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = job->result;

        if (r >= 0) {
                r = job->ops->reply(job->message, job->data);
                if (r >= 0)
                        return;
                job->error = ERROR_NULL;
                (void) error_set_errno(&job->error, r, "failed to send the reply");
        }
        (void) bus_error_from_core(&error, r, &job->error);
        if (job->ops->failed)
                job->ops->failed(job->data, &error);
        r = sd_bus_reply_method_error(job->message, &error);
        if (r < 0)
                log_warning_errno(r, "failed to send an error reply to %s: %m",
                                  sd_bus_message_get_member(job->message));
}

/* Under the lock: moves finished jobs to a private list, latches pending progress. */
static BusJob *bus_jobs_collect(BusJobs *j) {
        BusJob *done = NULL;

        pthread_mutex_lock(&j->lock);
        for (BusJob **p = &j->running; *p;) {
                BusJob *job = *p;

                if (job->finished) {
                        *p = job->next;
                        job->next = done;
                        done = job;
                        continue;
                }
                if (job->progress_pending) {
                        job->progress_pending = false;
                        job->progress_due = true;
                        job->due_done = job->progress_done;
                        job->due_total = job->progress_total;
                }
                p = &job->next;
        }
        pthread_mutex_unlock(&j->lock);
        return done;
}

static void bus_jobs_emit_progress(BusJobs *j) {
        uint64_t now = clock_usec(CLOCK_MONOTONIC);

        for (BusJob *job = j->running; job; job = job->next) {
                if (!job->progress_due || !job->ops->progress)
                        continue;
                job->progress_due = false;
                /* Updates inside the interval are dropped: the reply reports the end. */
                if (job->progress_sent_usec != 0 && now - job->progress_sent_usec < PROGRESS_INTERVAL_USEC)
                        continue;
                job->progress_sent_usec = now;
                job->ops->progress(job->message, job->data, job->due_done, job->due_total);
        }
}

static int bus_jobs_on_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        BusJobs *j = userdata;
        BusJob *done;
        eventfd_t v;

        (void) eventfd_read(j->eventfd, &v); /* EAGAIN: a wakeup already consumed */

        done = bus_jobs_collect(j);
        bus_jobs_emit_progress(j);

        while (done) {
                BusJob *job = done;

                done = job->next;
                bus_job_send_reply(job);
                bus_job_free(job);
                j->n_running--;
        }
        if (j->on_finished)
                j->on_finished(j->userdata);
        return 0;
}

void bus_jobs_abandon(BusJobs *j, const sd_bus_error *error) {
        pthread_mutex_lock(&j->lock);
        j->abandoned = true;
        for (BusJob *job = j->running; job; job = job->next) {
                int r = sd_bus_reply_method_error(job->message, error);
                if (r < 0)
                        log_warning_errno(r, "failed to answer %s before exiting: %m",
                                          sd_bus_message_get_member(job->message));
        }
        pthread_mutex_unlock(&j->lock);
}

int bus_jobs_new(sd_event *event, size_t max, size_t per_caller, size_t root_reserve, BusJobs **ret) {
        _cleanup_(bus_jobs_freep) BusJobs *j = NULL;
        int r;

        assert(event);
        assert(max > root_reserve);
        assert(per_caller > 0);

        j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        j->eventfd = -EBADF;
        j->queue_tail = &j->queue_head;
        j->worker_idle_usec = WORKER_IDLE_USEC;
        r = pthread_mutex_init(&j->lock, NULL);
        if (r != 0)
                return -r;
        r = cond_init_monotonic(&j->wake);
        if (r >= 0)
                r = cond_init_monotonic(&j->exited);
        if (r < 0)
                return r;
        j->max = max;
        j->per_caller = per_caller;
        j->root_reserve = root_reserve;

        j->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (j->eventfd < 0)
                return -errno;
        r = sd_event_add_io(event, &j->source, j->eventfd, EPOLLIN, bus_jobs_on_wake, j);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(j->source, "bus-jobs");

        *ret = TAKE_PTR(j);
        return 0;
}

BusJobs *bus_jobs_free(BusJobs *j) {
        if (!j)
                return NULL;
        assert(j->n_running == 0);

        /* Idle workers exit now; the last one signals. */
        pthread_mutex_lock(&j->lock);
        j->stopping = true;
        pthread_cond_broadcast(&j->wake);
        while (j->n_workers > 0)
                pthread_cond_wait(&j->exited, &j->lock);
        pthread_mutex_unlock(&j->lock);

        sd_event_source_disable_unref(j->source);
        safe_close(j->eventfd);
        pthread_cond_destroy(&j->wake);
        pthread_cond_destroy(&j->exited);
        pthread_mutex_destroy(&j->lock);
        free(j);
        return NULL;
}

size_t bus_jobs_running(BusJobs *j) {
        return j->n_running;
}

size_t bus_jobs_workers(BusJobs *j) {
        size_t n;

        pthread_mutex_lock(&j->lock);
        n = j->n_workers;
        pthread_mutex_unlock(&j->lock);
        return n;
}

void bus_jobs_set_worker_idle(BusJobs *j, uint64_t usec) {
        pthread_mutex_lock(&j->lock);
        j->worker_idle_usec = usec;
        pthread_cond_broadcast(&j->wake); /* waiting workers take the new time */
        pthread_mutex_unlock(&j->lock);
}

void bus_jobs_set_on_finished(BusJobs *j, void (*cb)(void *userdata), void *userdata) {
        j->on_finished = cb;
        j->userdata = userdata;
}

/* Under the lock. */
static int bus_jobs_add_worker(BusJobs *j) {
        pthread_attr_t attr;
        pthread_t thread;
        int r;

        r = pthread_attr_init(&attr);
        if (r != 0)
                return -r;
        r = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (r == 0)
                r = pthread_create(&thread, &attr, bus_worker, j);
        pthread_attr_destroy(&attr);
        if (r != 0)
                return -r;
        j->n_workers++;
        return 0;
}

/* Under the lock: hands job to a worker running none (it takes queued jobs before it
 * waits), or to a new one. Returns 1 when a waiting worker is to be woken (after the
 * unlock, so that it does not wake only to wait for the lock). */
static int bus_jobs_dispatch(BusJobs *j, BusJob *job) {
        bool wake = false;
        int r;

        if (j->n_queued >= j->n_workers - j->n_busy) {
                r = bus_jobs_add_worker(j);
                if (r < 0)
                        return r;
        } else
                wake = true;
        *j->queue_tail = job;
        j->queue_tail = &job->queued_next;
        j->n_queued++;
        return wake;
}

/* Loop thread. Root may use every slot; other callers together leave root_reserve free
 * for root, one caller takes at most per_caller, and the last quarter of the users' slots
 * is kept for callers with none running (as fair_share_admit does), so that a few users
 * with layers that never arrive cannot block the others' Mounts and Commits. */
static int bus_jobs_check_room(BusJobs *j, uid_t caller, sd_bus_error *error) {
        size_t mine = 0, unprivileged = 0, users;

        if (j->n_running >= j->max)
                return bus_error_setf(error, EUSERS,
                                      "too many operations running (%zu); try again when one has finished",
                                      j->max);
        if (caller == 0)
                return 0;
        for (BusJob *job = j->running; job; job = job->next) {
                mine += job->caller == caller;
                unprivileged += job->caller != 0;
        }
        if (mine >= j->per_caller)
                return bus_error_setf(error, EUSERS,
                                      "you have %zu operations running already; try again when one has finished",
                                      mine);
        users = j->max - j->root_reserve;
        if (unprivileged >= users || (mine > 0 && unprivileged >= users - users / 4))
                return bus_error_setf(error, EUSERS,
                                      "too many operations of users running (%zu); try again when one has finished",
                                      unprivileged);
        return 0;
}

int bus_job_start(BusJobs *j, sd_bus_message *m, uid_t caller, const BusJobOps *ops, void *data,
                  sd_bus_error *error) {
        BusJob *job;
        int r;

        assert(j);
        assert(m);
        assert(ops && ops->run && ops->reply);

        r = bus_jobs_check_room(j, caller, error);
        if (r < 0) {
                if (ops->free)
                        ops->free(data);
                return r;
        }

        job = calloc(1, sizeof *job);
        if (!job) {
                if (ops->free)
                        ops->free(data);
                return -ENOMEM;
        }
        *job = (BusJob) {
                .jobs = j,
                .caller = caller,
                .message = sd_bus_message_ref(m),
                .ops = ops,
                .data = data,
        };

        pthread_mutex_lock(&j->lock);
        r = bus_jobs_dispatch(j, job);
        if (r >= 0) {
                job->next = j->running;
                j->running = job;
        }
        pthread_mutex_unlock(&j->lock);
        if (r < 0) {
                bus_job_free(job);
                return log_error_errno(r, "failed to start a worker thread: %m");
        }
        if (r > 0)
                pthread_cond_signal(&j->wake);
        j->n_running++;
        return 1;
}
