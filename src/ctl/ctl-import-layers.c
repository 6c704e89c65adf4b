/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl-import.h"
#include "ctl-output.h"
#include "strutil.h"

/* The layers of an image into laminad. On overlayfs a layer's data is its own changes
 * whatever lies below, so up to import_jobs() layers are applied at once, each into a
 * snapshot prepared without a parent for a rebase (org.lamina.snapshot1(5),
 * PrepareWithOptions), and committed onto its parent in chain order (CommitWithOptions):
 * the writer creating files, the critical path of an import, runs on every core. Native
 * and btrfs hold whole trees: there, and with one job, one layer after the other on its
 * committed parent. Either way every working snapshot is transient (laminad removes it if
 * laminactl goes) and an interruption takes back what this import made. */

#define JOBS_MAX 3 /* of a user's 4 slow calls at a time (laminad's BUS_JOBS_PER_CALLER): one for Commit */
#define LIMITED_RETRIES 600
#define LIMITED_WAIT_NSEC (50 * 1000 * 1000)
#define ERROR_LIMITS "org.freedesktop.DBus.Error.LimitsExceeded"

/* Layers applied at once: the cores, at most JOBS_MAX; $LAMINA_IMPORT_JOBS (1 to JOBS_MAX)
 * overrides (1: one after the other). */
static unsigned import_jobs(void) {
        const char *e = getenv("LAMINA_IMPORT_JOBS");
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        if (e && e[0] >= '1' && e[0] <= '0' + JOBS_MAX && e[1] == 0)
                return (unsigned) (e[0] - '0');
        return n < 1 ? 1 : n > JOBS_MAX ? JOBS_MAX : (unsigned) n;
}

static char *layer_key(const Layer *l) {
        return strdup_printf("import-%d-%.19s", (int) getpid(), l->chain_id + 7);
}

/* Streams the layer into Apply. A broken archive fails the Apply too; its own error says more. */
static int apply_layer(Ctl *c, ImageSource *src, const Layer *l, const char *key, const char *label) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_close_ int fd = -EBADF;
        ImageStream *stream = NULL;
        uint64_t size = 0, bytes, entries;
        int r, k;

        r = image_source_stream(src, l->path, &stream, &fd, &size);
        if (r == -ENOENT)
                return ctl_fail(r, "the image's layer %s is missing; is the image complete?", l->path);
        if (r < 0)
                return r;
        r = ctl_apply(c, &(ApplyArgs) { .key = key, .fd = fd, .expected_diff_id = l->diff_id, .label = label,
                                        .size = size, .ret_error = &error },
                      NULL, &bytes, &entries);
        fd = safe_close(fd);
        k = image_stream_end(stream);
        if (ctl_interrupted())
                return -EINTR;
        if (k < 0)
                return k;
        if (r < 0 && sd_bus_error_is_set(&error))
                return ctl_bus_error(c, &error, r);
        return r;
}

static int commit_message(Ctl *c, const char *chain_id, const char *key, const char *parent, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = ctl_new_call(c, parent ? "CommitWithOptions" : "Commit", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ssa{ss}", chain_id, key, 0);
        if (r >= 0 && parent)
                r = sd_bus_message_append(m, "a{sv}", 1, "parent", "s", parent);
        if (r < 0)
                return ctl_bus_append_error(r);
        *ret = TAKE_PTR(m);
        return 0;
}

/* 1 when chain_id is a committed snapshot; 0 when it does not exist (and may_be_missing); a
 * snapshot of another kind is an error. */
static int layer_committed(Ctl *c, const char *chain_id, bool may_be_missing) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(ctl_info_clear) CtlInfo info = {};
        int r;

        r = ctl_stat(c, chain_id, may_be_missing, &reply, &info);
        if (r == -ENOENT && may_be_missing)
                return 0;
        if (r < 0)
                return r;
        if (!streq(info.kind, "committed"))
                return ctl_fail(-EEXIST, "snapshot %s exists but is %s; remove it (laminactl rm) and import again",
                                chain_id, info.kind);
        return 1;
}

/* After a Commit as chain_id answered AlreadyExists: 1 when another import committed it. */
static int committed_by_another(Ctl *c, const char *chain_id) {
        return layer_committed(c, chain_id, false);
}

#define ERROR_EXISTS "org.lamina.snapshot1.Error.AlreadyExists"

/* ctl_commit_layer() onto parent (NULL: none; a snapshot prepared with the rebase option);
 * the daemon's other errors are returned in error, not printed. */
static int ctl_commit_layer_onto(Ctl *c, const char *chain_id, const char *key, const char *parent,
                                 sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = commit_message(c, chain_id, key, parent, &m);
        if (r < 0)
                return r;
        r = sd_bus_call(c->bus, m, CALL_TIMEOUT_LONG, error, NULL);
        if (r >= 0)
                return 0;
        if (!sd_bus_error_has_name(error, ERROR_EXISTS))
                return r;
        sd_bus_error_free(error);
        return committed_by_another(c, chain_id);
}

int ctl_commit_layer(Ctl *c, const char *chain_id, const char *key) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = ctl_commit_layer_onto(c, chain_id, key, NULL, &error);

        return r < 0 && sd_bus_error_is_set(&error) ? ctl_bus_error(c, &error, r) : r;
}

/* Prepare on parent, Apply the layer, Commit as the chain ID; the active key never outlives a
 * failure or an interruption. Returns 0 when it made the layer, 1 when another import did. */
static int import_layer(Ctl *c, ImageSource *src, const Layer *l, const char *parent, const char *label) {
        _cleanup_free_ char *key = layer_key(l);
        int r;

        if (!key)
                return -ENOMEM;
        r = ctl_prepare_import(c, key, parent);
        if (r < 0)
                return r;
        r = ctl_interrupted() ? -EINTR : apply_layer(c, src, l, key, label);
        if (r >= 0 && ctl_interrupted())
                r = -EINTR;
        if (r >= 0)
                r = ctl_commit_layer(c, l->chain_id, key);
        if (r < 0 || r == 1)
                (void) ctl_remove(c, key);
        return r;
}

/* Takes back the layers this import made, top first, after an interruption. One that another
 * import builds on by now stays (Remove refuses a parent). */
static void remove_created(Ctl *c, const Image *img, const bool *created) {
        for (size_t i = img->n; i > 0; i--) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                if (created[i - 1])
                        (void) sd_bus_call_method(c->bus, LAMINA_BUS_NAME, c->path, LAMINA_SNAPSHOTTER_IFACE,
                                                  "Remove", &error, NULL, "s", img->layers[i - 1].chain_id);
        }
}

static void report_layer(const Image *img, size_t i, bool made) {
        if (!arg_quiet && arg_json == JSON_OFF)
                log_info("layer %zu/%zu %s: %s", i + 1, img->n, img->layers[i].chain_id,
                         made ? "imported" : "already present");
}

/* 1 when chain_id is committed, 0 when it does not exist. */
static int layer_present(Ctl *c, const char *chain_id) {
        return ctl_interrupted() ? -EINTR : layer_committed(c, chain_id, true);
}

/* One layer after the other from layer `from` on, each on its committed parent. */
static int import_sequential(Ctl *c, ImageSource *src, const Image *img, size_t from, bool *created) {
        for (size_t i = from; i < img->n; i++) {
                _cleanup_free_ char *label = strdup_printf("layer %zu/%zu", i + 1, img->n);
                const Layer *l = img->layers + i;
                int r;

                if (!label)
                        return -ENOMEM;
                r = layer_present(c, l->chain_id);
                if (r == 0)
                        r = import_layer(c, src, l, i > 0 ? l[-1].chain_id : NULL, label);
                else if (r > 0)
                        r = 1;
                if (r < 0)
                        return r;
                created[i] = r == 0;
                report_layer(img, i, r == 0);
        }
        return 0;
}

typedef enum Step {
        STEP_PENDING,    /* to apply (its working snapshot may be prepared already) */
        STEP_APPLYING,   /* its Apply runs */
        STEP_APPLIED,    /* to commit onto its parent */
        STEP_COMMITTING, /* its Commit runs */
        STEP_PRESENT,    /* committed: by this import (created) or another */
} Step;

typedef struct Job {
        Step step;
        char *key;         /* the working snapshot, while it exists */
        sd_bus_slot *call; /* the Apply or Commit in flight */
        sd_bus_message *reply;
        ImageStream *stream;
} Job;

typedef struct Parallel {
        Ctl *c;
        ImageSource *src;
        const Image *img;
        Job *jobs;
        bool *created;
        size_t running, max; /* Applies */
        size_t committed;    /* the layers below this one are committed */
        size_t rebased;      /* layers this import committed onto their parent at Commit */
        unsigned limited;    /* LimitsExceeded answers in a row */
} Parallel;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;

        j->reply = sd_bus_message_ref(m);
        return 0;
}

/* Starts the Apply of layer i into its rebase snapshot (prepared first if needed).
 * -EOPNOTSUPP: the snapshotter cannot rebase (nothing was made). */
static int apply_start(Parallel *p, size_t i) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        const Layer *l = p->img->layers + i;
        Job *j = p->jobs + i;
        _cleanup_close_ int fd = -EBADF;
        uint64_t size;
        int r;

        if (!j->key) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_free_ char *key = layer_key(l);

                if (!key)
                        return -ENOMEM;
                r = ctl_prepare_import_rebase(p->c, key, &error);
                if (r < 0 && (sd_bus_error_has_name(&error, SD_BUS_ERROR_NOT_SUPPORTED) ||
                              sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD)))
                        return -EOPNOTSUPP;
                if (r < 0)
                        return ctl_bus_error(p->c, &error, r);
                j->key = TAKE_PTR(key);
        }
        r = image_source_stream(p->src, l->path, &j->stream, &fd, &size);
        if (r == -ENOENT)
                return ctl_fail(r, "the image's layer %s is missing; is the image complete?", l->path);
        if (r < 0)
                return r;
        r = ctl_apply_message(p->c, j->key, fd, l->diff_id, &m);
        if (r >= 0)
                r = sd_bus_call_async(p->c->bus, &j->call, m, on_reply, j, CALL_TIMEOUT_LONG);
        fd = safe_close(fd); /* the message has its own copy; the feeder sees EPIPE if it is gone */
        if (r < 0) {
                (void) image_stream_end(TAKE_PTR(j->stream));
                return ctl_fail(r, "cannot send Apply: %s", strerror(-r));
        }
        j->step = STEP_APPLYING;
        p->running++;
        return 0;
}

/* Starts the Commit of layer i onto the layer below it (committed by now). */
static int commit_start(Parallel *p, size_t i) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        Job *j = p->jobs + i;
        int r;

        r = commit_message(p->c, p->img->layers[i].chain_id, j->key, i > 0 ? p->img->layers[i - 1].chain_id : NULL,
                           &m);
        if (r < 0)
                return r;
        r = sd_bus_call_async(p->c->bus, &j->call, m, on_reply, j, CALL_TIMEOUT_LONG);
        if (r < 0)
                return ctl_fail(r, "cannot send Commit: %s", strerror(-r));
        j->step = STEP_COMMITTING;
        return 0;
}

static bool any_in_flight(const Parallel *p) {
        for (size_t i = 0; i < p->img->n; i++)
                if (p->jobs[i].call)
                        return true;
        return false;
}

/* Runs the connection until a call in flight replies. */
static int wait_reply(Parallel *p) {
        for (;;) {
                int r;

                for (size_t i = 0; i < p->img->n; i++)
                        if (p->jobs[i].reply)
                                return 0;
                r = sd_bus_process(p->c->bus, NULL);
                if (r < 0)
                        return ctl_fail(r, "lost the connection to laminad: %s", strerror(-r));
                if (r > 0)
                        continue;
                r = sd_bus_wait(p->c->bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        return ctl_fail(r, "lost the connection to laminad: %s", strerror(-r));
        }
}

/* LimitsExceeded: this user's other calls hold laminad's slots for long calls. With none of
 * this import's own in flight to wait for, a pause. */
static bool limited(Parallel *p, sd_bus_message *reply) {
        if (!sd_bus_message_is_method_error(reply, ERROR_LIMITS) || p->limited >= LIMITED_RETRIES || ctl_interrupted())
                return false;
        p->limited++;
        if (!any_in_flight(p))
                (void) nanosleep(&(struct timespec) { .tv_nsec = LIMITED_WAIT_NSEC }, NULL);
        return true;
}

static int reply_error(Parallel *p, sd_bus_message *reply) {
        if (ctl_interrupted())
                return -EINTR;
        return ctl_bus_error(p->c, sd_bus_message_get_error(reply), -sd_bus_message_get_errno(reply));
}

/* An Apply ended: the layer is applied, or (limited) to apply again, with one job fewer. */
static int apply_done(Parallel *p, Job *j, sd_bus_message *reply) {
        int k;

        p->running--;
        k = image_stream_end(TAKE_PTR(j->stream));
        j->step = STEP_APPLIED;
        if (!sd_bus_message_is_method_error(reply, NULL)) {
                p->limited = 0;
                return k;
        }
        if (limited(p, reply)) {
                j->step = STEP_PENDING;
                p->max = p->running > 0 ? p->running : 1;
                return 0;
        }
        return k < 0 && !ctl_interrupted() ? k : reply_error(p, reply);
}

/* A Commit ended: the layer is committed (by this import, or another first), or (limited) to
 * commit again. */
static int commit_done(Parallel *p, size_t i, sd_bus_message *reply) {
        Job *j = p->jobs + i;
        int r = 0;

        j->step = STEP_APPLIED;
        if (sd_bus_message_is_method_error(reply, ERROR_EXISTS))
                r = committed_by_another(p->c, p->img->layers[i].chain_id);
        else if (limited(p, reply))
                return 0;
        else if (sd_bus_message_is_method_error(reply, NULL))
                return reply_error(p, reply);
        if (r < 0)
                return r;
        p->limited = 0;
        if (r == 1)
                (void) ctl_remove(p->c, j->key);
        free(TAKE_PTR(j->key));
        j->step = STEP_PRESENT;
        p->created[i] = r == 0;
        p->rebased += r == 0;
        return 0;
}

/* The replies that came. */
static int collect(Parallel *p) {
        int ret = 0;

        for (size_t i = 0; i < p->img->n; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                Job *j = p->jobs + i;
                int r;

                if (!j->reply)
                        continue;
                reply = TAKE_PTR(j->reply);
                j->call = sd_bus_slot_unref(j->call);
                r = j->step == STEP_COMMITTING ? commit_done(p, i, reply) : apply_done(p, j, reply);
                if (r < 0 && ret >= 0)
                        ret = r;
        }
        return ret;
}

/* Ends what runs and removes the working snapshots left, after a failure. */
static void parallel_stop(Parallel *p) {
        while (any_in_flight(p)) {
                if (wait_reply(p) < 0)
                        break; /* the connection is gone: laminad removes them */
                (void) collect(p);
        }
        for (size_t i = 0; i < p->img->n; i++) {
                if (p->jobs[i].key)
                        (void) ctl_remove(p->c, p->jobs[i].key);
                free(p->jobs[i].key);
        }
}

/* Starts what may start: Applies of the pending layers, up to max at once, and the Commit of
 * the lowest layer not committed once it is applied (one at a time, in chain order). */
static int parallel_step(Parallel *p, bool *started) {
        int r;

        for (size_t i = p->committed; i < p->img->n && p->running < p->max; i++)
                if (p->jobs[i].step == STEP_PENDING) {
                        r = ctl_interrupted() ? -EINTR : apply_start(p, i);
                        if (r == -EOPNOTSUPP && *started)
                                r = ctl_fail(r, "laminad refused a rebase after accepting one");
                        *started = true;
                        if (r < 0)
                                return r;
                }
        for (; p->committed < p->img->n; p->committed++) {
                Job *j = p->jobs + p->committed;

                if (j->step == STEP_APPLIED)
                        return ctl_interrupted() ? -EINTR : commit_start(p, p->committed);
                if (j->step != STEP_PRESENT)
                        return 0;
                report_layer(p->img, p->committed, p->created[p->committed]);
        }
        return 0;
}

/* -EOPNOTSUPP before it made anything: the snapshotter cannot rebase. */
static int import_parallel(Parallel *p) {
        bool started = false;
        int r;

        for (size_t i = 0; i < p->img->n; i++) {
                r = layer_present(p->c, p->img->layers[i].chain_id);
                if (r < 0)
                        return r;
                p->jobs[i].step = r > 0 ? STEP_PRESENT : STEP_PENDING;
        }
        for (;;) {
                r = parallel_step(p, &started);
                if (r < 0 || p->committed == p->img->n)
                        break;
                /* a pause after LimitsExceeded left nothing in flight: try again */
                if (!any_in_flight(p))
                        continue;
                r = wait_reply(p);
                if (r >= 0)
                        r = collect(p);
                if (r < 0)
                        break;
        }
        if (r < 0)
                parallel_stop(p);
        return r;
}

int import_layers(Ctl *c, ImageSource *src, const Image *img, size_t *ret_new, size_t *ret_rebased) {
        _cleanup_free_ bool *created = calloc(img->n, sizeof(bool));
        _cleanup_free_ Job *jobs = calloc(img->n, sizeof(Job));
        Parallel p = { .c = c, .src = src, .img = img, .jobs = jobs, .created = created, .max = import_jobs() };
        size_t n = 0;
        int r = -EOPNOTSUPP;

        if (!created || !jobs)
                return -ENOMEM;
        if (p.max > 1 && img->n > 1)
                r = import_parallel(&p);
        if (r == -EOPNOTSUPP)
                r = import_sequential(c, src, img, 0, created);
        if (r < 0) {
                if (ctl_interrupted())
                        remove_created(c, img, created);
                return r;
        }
        for (size_t i = 0; i < img->n; i++)
                n += created[i];
        *ret_new = n;
        *ret_rebased = p.rebased;
        return 0;
}
