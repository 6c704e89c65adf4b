/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The worker pool behind slow calls: every admitted job runs at once on a thread of its
 * own (one that never ends holds up nobody else's), the caps refuse what is over them,
 * threads are kept for the next jobs instead of one per job, and idle ones go away. */
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "bus-error.h"
#include "bus-job.h"
#include "test-util.h"

typedef struct Gate {
        pthread_mutex_t lock;
        pthread_cond_t changed;
        size_t started;
        bool open;
        pid_t tids[64];
        size_t n_tids;
        size_t replied, failed;
} Gate;

static Gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };

static void gate_reset(bool open) {
        pthread_mutex_lock(&gate.lock);
        gate.started = 0;
        gate.open = open;
        gate.replied = gate.failed = 0;
        pthread_mutex_unlock(&gate.lock);
}

static void gate_open(void) {
        pthread_mutex_lock(&gate.lock);
        gate.open = true;
        pthread_cond_broadcast(&gate.changed);
        pthread_mutex_unlock(&gate.lock);
}

/* Waits until n jobs are inside run at the same time (hangs, and meson's timeout fails
 * the test, if the pool made one wait for another). */
static void gate_wait_started(size_t n) {
        pthread_mutex_lock(&gate.lock);
        while (gate.started < n)
                pthread_cond_wait(&gate.changed, &gate.lock);
        pthread_mutex_unlock(&gate.lock);
}

static void gate_note_tid(pid_t tid) {
        for (size_t i = 0; i < gate.n_tids; i++)
                if (gate.tids[i] == tid)
                        return;
        ASSERT_TRUE(gate.n_tids < ELEMENTSOF(gate.tids));
        gate.tids[gate.n_tids++] = tid;
}

static int run_gated(BusJob *job, void *data, Error *e) {
        pthread_mutex_lock(&gate.lock);
        gate_note_tid((pid_t) syscall(SYS_gettid));
        gate.started++;
        pthread_cond_broadcast(&gate.changed);
        while (!gate.open)
                pthread_cond_wait(&gate.changed, &gate.lock);
        pthread_mutex_unlock(&gate.lock);
        return 0;
}

static int reply_counted(sd_bus_message *m, void *data) {
        pthread_mutex_lock(&gate.lock);
        gate.replied++;
        pthread_mutex_unlock(&gate.lock);
        return 0;
}

static const BusJobOps gated_ops = { .run = run_gated, .reply = reply_counted };

typedef struct Pool {
        sd_event *event;
        sd_bus *bus;
        sd_bus_message *m;
        BusJobs *jobs;
} Pool;

/* max 4 jobs, 2 per non-root caller, 1 kept for root. Messages need a started bus; one
 * end of a socketpair is enough (nothing is sent). */
static void pool_open_sized(Pool *p, size_t max, size_t per_caller, size_t root_reserve) {
        int fds[2];

        ASSERT_OK(sd_event_new(&p->event));
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds));
        ASSERT_OK(sd_bus_new(&p->bus));
        ASSERT_OK(sd_bus_set_fd(p->bus, fds[0], fds[0]));
        ASSERT_OK(sd_bus_start(p->bus));
        ASSERT_TRUE(close(fds[1]) == 0);
        ASSERT_OK(sd_bus_message_new_method_call(p->bus, &p->m, "org.lamina.snapshot1", "/org/lamina/snapshot1",
                                                 "org.lamina.snapshot1.Snapshotter", "Commit"));
        ASSERT_OK(bus_jobs_new(p->event, max, per_caller, root_reserve, &p->jobs));
}

static void pool_open(Pool *p) {
        pool_open_sized(p, 4, 2, 1);
}

static void pool_close(Pool *p) {
        bus_jobs_free(p->jobs);
        sd_bus_message_unref(p->m);
        sd_bus_close_unref(p->bus);
        sd_event_unref(p->event);
}

static void pool_start(Pool *p, uid_t caller) {
        sd_bus_error error = SD_BUS_ERROR_NULL;

        ASSERT_TRUE(bus_job_start(p->jobs, p->m, caller, &gated_ops, NULL, &error) == 1);
        ASSERT_TRUE(!sd_bus_error_is_set(&error));
}

static void pool_refused(Pool *p, uid_t caller) {
        sd_bus_error error = SD_BUS_ERROR_NULL;

        ASSERT_ERR(bus_job_start(p->jobs, p->m, caller, &gated_ops, NULL, &error), EUSERS);
        ASSERT_STREQ(error.name, SD_BUS_ERROR_LIMITS_EXCEEDED);
        sd_bus_error_free(&error);
}

/* Runs the loop until every job has replied. */
static void pool_drain(Pool *p, size_t replies) {
        for (;;) {
                size_t n;

                pthread_mutex_lock(&gate.lock);
                n = gate.replied;
                pthread_mutex_unlock(&gate.lock);
                if (n >= replies && bus_jobs_running(p->jobs) == 0)
                        return;
                ASSERT_OK(sd_event_run(p->event, UINT64_MAX));
        }
}

/* A worker counted gone may still be on its way out of the kernel: wait for that. */
static void wait_for_only_this_thread(void) {
        while (test_count_entries("/proc/self/task") > 1)
                ASSERT_OK(usleep(10 * 1000) < 0 ? -errno : 0);
}

TEST(every_admitted_job_runs_at_once_on_a_worker_of_its_own) {
        Pool p = {};

        pool_open(&p);
        gate_reset(false);
        gate.n_tids = 0;
        for (size_t i = 0; i < 4; i++)
                pool_start(&p, 0);
        gate_wait_started(4);
        ASSERT_TRUE(gate.n_tids == 4);
        ASSERT_TRUE(bus_jobs_workers(p.jobs) == 4);
        pool_refused(&p, 0);
        gate_open();
        pool_drain(&p, 4);
        pool_close(&p);
}

TEST(per_caller_caps_and_the_root_reserve_hold) {
        Pool p = {};

        pool_open(&p);
        gate_reset(false);
        pool_start(&p, 1000);
        pool_start(&p, 1000);
        pool_refused(&p, 1000); /* per caller */
        pool_start(&p, 1001);
        pool_refused(&p, 1002); /* the last slot is root's */
        pool_start(&p, 0);
        gate_wait_started(4);
        gate_open();
        pool_drain(&p, 4);
        pool_close(&p);
}

/* laminad's sizes: 16 slots, 4 per caller, 4 for root. Two users holding all theirs and a
 * third holding one leave the last quarter of the users' 12 to users with none running. */
TEST(the_last_quarter_of_users_slots_is_for_users_with_none) {
        Pool p = {};

        pool_open_sized(&p, 16, 4, 4);
        gate_reset(false);
        for (size_t i = 0; i < 4; i++) {
                pool_start(&p, 1000);
                pool_start(&p, 1001);
        }
        pool_start(&p, 1002);
        pool_refused(&p, 1002); /* holds one, and 9 of 12 are taken */
        pool_start(&p, 1003);
        pool_start(&p, 1004);
        pool_start(&p, 1005);
        pool_refused(&p, 1006); /* all 12 taken */
        pool_start(&p, 0);
        gate_wait_started(13);
        gate_open();
        pool_drain(&p, 13);
        pool_close(&p);
}

TEST(workers_are_kept_for_the_next_jobs) {
        Pool p = {};

        pool_open(&p);
        bus_jobs_set_worker_idle(p.jobs, 0); /* never exit while this test looks */
        gate_reset(false);
        gate.n_tids = 0;
        for (size_t i = 0; i < 4; i++)
                pool_start(&p, 0);
        gate_wait_started(4);
        gate_open();
        pool_drain(&p, 4);

        /* A second burst and then one job after another: no new thread. */
        gate_reset(true);
        for (size_t i = 0; i < 4; i++)
                pool_start(&p, 0);
        pool_drain(&p, 4);
        for (size_t i = 0; i < 20; i++) {
                gate_reset(true);
                pool_start(&p, 0);
                pool_drain(&p, 1);
        }
        ASSERT_TRUE(gate.n_tids == 4);
        ASSERT_TRUE(bus_jobs_workers(p.jobs) == 4);

        /* Freeing waits for the idle workers to exit. */
        pool_close(&p);
        wait_for_only_this_thread();
}

TEST(idle_workers_exit) {
        Pool p = {};

        pool_open(&p);
        gate_reset(true);
        for (size_t i = 0; i < 3; i++)
                pool_start(&p, 0);
        pool_drain(&p, 3);
        bus_jobs_set_worker_idle(p.jobs, 1000);
        /* A wait for the condition, as long as it takes: no timing is asserted. */
        while (bus_jobs_workers(p.jobs) > 0)
                ASSERT_OK(usleep(10 * 1000) < 0 ? -errno : 0);
        wait_for_only_this_thread();

        /* And the pool starts workers again afterwards. */
        gate_reset(true);
        pool_start(&p, 0);
        pool_drain(&p, 1);
        pool_close(&p);
}

TEST_MAIN(TEST_ENTRY(every_admitted_job_runs_at_once_on_a_worker_of_its_own),
          TEST_ENTRY(per_caller_caps_and_the_root_reserve_hold),
          TEST_ENTRY(the_last_quarter_of_users_slots_is_for_users_with_none),
          TEST_ENTRY(workers_are_kept_for_the_next_jobs),
          TEST_ENTRY(idle_workers_exit))
