/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus-error.h"
#include "bus-relay.h"
#include "bus-util.h"
#include "bus-work.h"
#include "strutil.h"

void bus_work_failed(void *data, const sd_bus_error *error) {
        BusRequest *req = data;

        log_request(req, LOG_INFO, ": %s: %s", error->name, error->message);
}

int bus_work_start(sd_bus_message *m, const BusJobOps *ops, BusRequest *req, sd_bus_error *error) {
        return bus_job_start(req->snapshotter->context->jobs, m, req->caller, ops, req, error);
}

int bus_work_start_query(sd_bus_message *m, const BusJobOps *ops, BusRequest *req, sd_bus_error *error) {
        return bus_job_start(req->snapshotter->context->queries, m, req->caller, ops, req, error);
}

/* --- Prepare and View --- */

static int create_run(BusJob *job, void *data, Error *e) {
        BusRequest *req = data;
        CoreSnapshotter *s = req->snapshotter->core;

        if (streq(req->verb, "view"))
                return core_view(s, req->ns, req->key, req->parent, &req->labels, &req->mounts, e);
        if (req->rebase)
                return core_prepare_rebase(s, req->ns, req->key, &req->labels, &req->mounts, e);
        return core_prepare(s, req->ns, req->key, req->parent, &req->labels, &req->mounts, e);
}

static int create_reply(sd_bus_message *m, void *data) {
        BusRequest *req = data;
        int r;

        log_request(req, LOG_DEBUG, " parent %s", LOG_KEY(req->parent));
        r = bus_reply_mounts(m, &req->mounts);
        bus_request_emit(req, m, "Prepared", "sssu", req->key, req->parent,
                         streq(req->verb, "view") ? "view" : "active", (uint32_t) req->ns);
        if (labels_get(&req->labels, CORE_LABEL_TRANSIENT))
                (void) bus_track_transient(req->snapshotter->context->tracks, m, req->caller, req->snapshotter,
                                          req->ns, req->key);
        return r;
}

static const BusJobOps create_ops = { .run = create_run, .reply = create_reply, .failed = bus_work_failed,
                                      .free = bus_request_free_void };

/* Only native copies its parent's tree (as big as the caller made it); the others stack
 * or snapshot it in constant time and answer on the loop. */
static bool create_copies(const BusRequest *req) {
        return !isempty(req->parent) && streq(core_snapshotter_name(req->snapshotter->core), "native");
}

int bus_work_create(sd_bus_message *m, BusRequest *req, SnapshotKind kind, sd_bus_error *error) {
        _cleanup_(bus_request_freep) BusRequest *owned = req;
        Error e = ERROR_NULL;
        int r;

        assert(streq(req->verb, kind == SNAPSHOT_VIEW ? "view" : "prepare"));

        if (create_copies(req))
                return bus_work_start(m, &create_ops, TAKE_PTR(owned), error);

        r = create_run(NULL, req, &e);
        if (r < 0)
                return bus_request_fail(req, r, &e, error);
        return create_reply(m, req);
}

/* --- Usage --- */

static int usage_run(BusJob *job, void *data, Error *e) {
        BusRequest *req = data;

        return core_usage(req->snapshotter->core, req->ns, req->key, &req->size, &req->inodes, e);
}

static int usage_reply(sd_bus_message *m, void *data) {
        BusRequest *req = data;

        return sd_bus_reply_method_return(m, "tt", req->size, req->inodes);
}

static const BusJobOps usage_ops = { .run = usage_run, .reply = usage_reply, .failed = bus_work_failed,
                                     .free = bus_request_free_void };

int bus_method_usage(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusRequest *req = NULL;
        int r;

        r = bus_request_begin(userdata, m, "usage", NULL, bus_read_key, &req, error);
        if (r != 0)
                return r;
        return bus_work_start(m, &usage_ops, req, error);
}

/* --- Commit --- */

static int commit_run(BusJob *job, void *data, Error *e) {
        BusRequest *req = data;

        return core_commit_onto(req->snapshotter->core, req->ns, req->name, req->key, req->parent, &req->labels, e);
}

static int commit_reply(sd_bus_message *m, void *data) {
        BusRequest *req = data;
        int r;

        log_request(req, LOG_DEBUG, " as %s", LOG_KEY(req->name));
        r = sd_bus_reply_method_return(m, NULL);
        bus_request_emit(req, m, "Committed", "ssu", req->name, req->key, (uint32_t) req->ns);
        return r;
}

static const BusJobOps commit_ops = { .run = commit_run, .reply = commit_reply, .failed = bus_work_failed,
                                      .free = bus_request_free_void };

static int read_commit(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        int r;

        r = bus_read_checked_key(m, "name", false, &req->name, error);
        if (r < 0)
                return r;
        r = bus_read_key(m, req, error);
        if (r < 0)
                return r;
        return bus_read_labels(m, &req->labels, error);
}

static int read_commit_with_options(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        int r;

        r = read_commit(m, req, error);
        if (r < 0)
                return r;
        return bus_read_options(m, "Commit", (const BusOption[]) { { "parent", 's', &req->parent }, {} }, error);
}

/* On the loop when the core can do it in bounded time (a small tree to count, no rebase:
 * core_commit_quick()), else on a worker. Each hand-over to a worker costs wake-ups of
 * two threads, more than the rest of a small Commit. */
static int commit(sd_bus_message *m, void *userdata, bus_read_fn read, sd_bus_error *error) {
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        Error e = ERROR_NULL;
        int r;

        r = bus_request_begin(userdata, m, "commit", BUS_ACTION_MANAGE_OWN, read, &req, error);
        if (r != 0)
                return r;
        if (isempty(req->parent)) {
                r = core_commit_quick(req->snapshotter->core, req->ns, req->name, req->key, &req->labels, &e);
                if (r >= 0)
                        return commit_reply(m, req);
                if (r != -EWOULDBLOCK)
                        return bus_request_fail(req, r, &e, error);
        }
        return bus_work_start(m, &commit_ops, TAKE_PTR(req), error);
}

int bus_method_commit_with_options(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return commit(m, userdata, read_commit_with_options, error);
}

int bus_method_commit(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return commit(m, userdata, read_commit, error);
}

/* --- Cleanup --- */

static int cleanup_run(BusJob *job, void *data, Error *e) {
        BusRequest *req = data;

        return core_cleanup(req->snapshotter->core, req->ns, &req->size, e);
}

static int cleanup_reply(sd_bus_message *m, void *data) {
        BusRequest *req = data;

        log_request(req, LOG_DEBUG, ": reclaimed %" PRIu64 " bytes", req->size);
        return sd_bus_reply_method_return(m, "t", req->size);
}

static const BusJobOps cleanup_ops = { .run = cleanup_run, .reply = cleanup_reply, .failed = bus_work_failed,
                                       .free = bus_request_free_void };

int bus_method_cleanup(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusRequest *req = NULL;
        int r;

        r = bus_request_begin(userdata, m, "cleanup", BUS_ACTION_MANAGE_OWN, NULL, &req, error);
        if (r != 0)
                return r;
        return bus_work_start(m, &cleanup_ops, req, error);
}

/* --- Apply --- */

static void apply_progress_from_core(uint64_t done, uint64_t total, void *userdata) {
        bus_job_progress(userdata, done, total);
}

static int apply_run(BusJob *job, void *data, Error *e) {
        BusRequest *req = data;
        uint64_t stall_usec = req->snapshotter->context->apply_stall_usec;
        CoreApplyOptions o = {
                .expected_diff_id = req->expected_diff_id,
                .media_type = req->media_type,
                .allow_devices = req->caller == 0,
                .progress = apply_progress_from_core,
                .userdata = job,
                .cancel_fd = bus_track_job_cancel_fd(req->track),
        };
        BusRelay *relay = NULL;
        int fd = req->layer_fd, r;

        /* A regular file cannot stall once core_check_layer_fd() refused those of FUSE and
         * network filesystems (asked again here: on the loop it could not look into other
         * mount namespaces); a pipe or socket goes through a relay that notices. */
        r = core_check_layer_fd(req->layer_fd, req->caller, true, e);
        if (r < 0)
                return r;
        if (stall_usec > 0 && r == 0) {
                r = bus_relay_start(req->layer_fd, stall_usec, &relay, &fd);
                if (r < 0)
                        return error_set_errno(e, r, "cannot read the layer of snapshot %s", QUOTE(req->key));
        }

        r = core_apply(req->snapshotter->core, req->ns, req->key, fd, &o, &req->applied, e);

        if (relay) {
                safe_close(fd);
                if (bus_relay_finish(relay) && r < 0) {
                        *e = ERROR_NULL;
                        r = error_setf(e, EDQUOT,
                                       "the layer for snapshot %s sent nothing for %" PRIu64 " s; Apply gave up and "
                                       "left the snapshot as it was (laminad --apply-stall-timeout)",
                                       QUOTE(req->key), stall_usec / 1000000);
                }
        }
        return r;
}

static int apply_reply(sd_bus_message *m, void *data) {
        BusRequest *req = data;

        log_request(req, LOG_DEBUG, ": %s, %" PRIu64 " bytes, %" PRIu64 " entries", req->applied.diff_id,
                    req->applied.bytes, req->applied.entries);
        return sd_bus_reply_method_return(m, "stt", req->applied.diff_id, req->applied.bytes,
                                          req->applied.entries);
}

static void apply_progress(sd_bus_message *m, void *data, uint64_t done, uint64_t total) {
        BusRequest *req = data;

        bus_request_emit(req, m, "ApplyProgress", "sttu", req->key, done, total, (uint32_t) req->ns);
}

static const BusJobOps apply_ops = {
        .run = apply_run,
        .reply = apply_reply,
        .progress = apply_progress,
        .failed = bus_work_failed,
        .free = bus_request_free_void,
};

/* The layer fd must be something the caller could read itself: not O_PATH (which
 * would let it name a file it cannot open), a regular file, pipe or socket. */
/* Checked as core_check_layer_fd() says (constant time, asking no filesystem), then ours. */
static int take_layer_fd(BusRequest *req, int fd, sd_bus_error *error) {
        Error e = ERROR_NULL;
        int r;

        r = core_check_layer_fd(fd, req->caller, false, &e);
        if (r < 0)
                return bus_error_from_core(error, r, &e);
        req->layer_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        return req->layer_fd < 0 ? -errno : 0;
}

static int read_apply_options(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        return bus_read_options(m, "Apply",
                                (const BusOption[]) {
                                        { "expected-diff-id", 's', &req->expected_diff_id },
                                        { "media-type", 's', &req->media_type },
                                        {},
                                },
                                error);
}

static int read_apply(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        int fd, r;

        r = bus_read_key(m, req, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "h", &fd);
        if (r < 0)
                return r;
        r = read_apply_options(m, req, error);
        if (r < 0)
                return r;
        return take_layer_fd(req, fd, error);
}

int bus_method_apply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusRequest *req = NULL;
        int r;

        r = bus_request_begin(userdata, m, "apply", BUS_ACTION_MANAGE_OWN, read_apply, &req, error);
        if (r != 0)
                return r;
        r = bus_track_job(req->snapshotter->context->tracks, m, req->caller, &req->track);
        if (r < 0) {
                bus_request_free(req);
                return r;
        }
        return bus_work_start(m, &apply_ops, req, error);
}

/* --- List and ListPage --- */

/* About what an Info takes in a message: alignment, lengths and terminators included. */
static size_t info_wire_size(const SnapshotInfo *info) {
        size_t n = 64 + strlen(info->name) + strlen(info->parent ?: "");

        for (size_t i = 0; i < info->labels.n; i++)
                n += 24 + strlen(info->labels.items[i].key) + strlen(info->labels.items[i].value);
        return n;
}

/* "" or "<owner>/<name>": the position after which a page starts. */
static int parse_cursor(const char *cursor, uid_t *ret_owner, const char **ret_name) {
        uint64_t owner = 0;
        const char *p = cursor;

        if (*p < '0' || *p > '9')
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                owner = owner * 10 + (uint64_t) (*p - '0');
                if (owner >= UINT32_MAX)
                        return -EINVAL;
        }
        if (*p != '/')
                return -EINVAL;
        *ret_owner = (uid_t) owner;
        *ret_name = p + 1;
        return 0;
}

/* A List: no more than one reply holds. */
static const CoreListLimit list_limit = { .max_items = SIZE_MAX, .max_bytes = BUS_LIST_BYTES_MAX,
                                          .size = info_wire_size,
                                          .max_filter_cpu_usec = BUS_LIST_FILTER_CPU_USEC };
/* A List answered on the loop: a short one without filters (which may match patterns);
 * one that is more is read again on a worker. */
static const CoreListLimit list_quick_limit = { .max_items = SIZE_MAX, .max_bytes = 64 * 1024,
                                                .size = info_wire_size, .max_read = 256 };

/* *ret_more when the list is more than limit. */
static int list_read(BusRequest *req, const CoreListLimit *limit, bool *ret_more, Error *e) {
        int r;

        r = core_list_limited(req->snapshotter->core, req->ns, req->strv, limit, &req->infos, ret_more, e);
        if (r < 0)
                return r;
        req->first = 0;
        req->count = req->infos.n;
        return 0;
}

/* The walk stops at the first snapshot past the limit: no List holds more than one reply. */
static int list_run(BusJob *job, void *data, Error *e) {
        BusRequest *req = data;
        bool more;
        int r;

        r = list_read(req, &list_limit, &more, e);
        if (r < 0)
                return r;
        if (more)
                return error_setf(e, EUSERS,
                                  "the snapshots listed would take more than %u MiB (the first %zu of them fit), "
                                  "more than one message may carry; page with ListPage(filters, cursor, limit) or "
                                  "narrow the list with filters",
                                  BUS_LIST_BYTES_MAX / 1024u / 1024u, req->infos.n);
        return 0;
}

/* Only the page is read (twice at most: root's snapshots and the caller's), and no more
 * than BUS_PAGE_READ_MAX snapshots of each however few the filters keep. */
static int list_page_run(BusJob *job, void *data, Error *e) {
        BusRequest *req = data;
        SnapshotInfoList *l = &req->infos;
        const CoreListLimit limit = {
                .max_items = req->limit == 0 || req->limit > BUS_PAGE_ITEMS_MAX ? BUS_PAGE_ITEMS_MAX : req->limit,
                .max_bytes = BUS_PAGE_BYTES_MAX,
                .size = info_wire_size,
                .max_read = BUS_PAGE_READ_MAX,
                .max_filter_cpu_usec = BUS_PAGE_FILTER_CPU_USEC,
        };
        _cleanup_free_ char *next_name = NULL;
        const char *name = NULL;
        uid_t owner = 0, next_owner = 0;
        int r;

        if (!isempty(req->cursor)) {
                r = parse_cursor(req->cursor, &owner, &name);
                assert(r >= 0); /* read_list_page() checked it */
        }
        r = core_list_page(req->snapshotter->core, req->ns, req->strv, owner, name, &limit, l, &next_name,
                           &next_owner, e);
        if (r < 0)
                return r;
        req->first = 0;
        req->count = l->n;
        if (next_name) {
                req->next_cursor = strdup_printf("%u/%s", (unsigned) next_owner, next_name);
                if (!req->next_cursor)
                        return error_set_errno(e, ENOMEM, "cannot page the list");
        }
        return 0;
}

static int append_info_at(sd_bus_message *reply, const void *items, size_t i) {
        return bus_append_info(reply, (const SnapshotInfo *) items + i);
}

static int list_reply(sd_bus_message *m, void *data) {
        BusRequest *req = data;

        return bus_reply_array(m, "(sssa{ss}ttu)", req->count, append_info_at, req->infos.items + req->first);
}

static int list_page_reply(sd_bus_message *m, void *data) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        BusRequest *req = data;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = bus_append_array(reply, "(sssa{ss}ttu)", req->count, append_info_at, req->infos.items + req->first);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "s", req->next_cursor ?: "");
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static const BusJobOps list_ops = { .run = list_run, .reply = list_reply, .failed = bus_work_failed,
                                    .free = bus_request_free_void };
static const BusJobOps list_page_ops = { .run = list_page_run, .reply = list_page_reply, .failed = bus_work_failed,
                                         .free = bus_request_free_void };

static int read_filters(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        return bus_read_strv(m, "filters", &req->strv, error);
}

static int read_list_page(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        const char *cursor, *name;
        uid_t owner;
        int r;

        r = read_filters(m, req, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "su", &cursor, &req->limit);
        if (r < 0)
                return r;
        if (!isempty(cursor) && (strlen(cursor) > 4096 + 16 || parse_cursor(cursor, &owner, &name) < 0))
                return bus_error_setf(error, EINVAL,
                                      "invalid cursor %s; pass \"\" for the first page, then the cursor the "
                                      "previous page returned",
                                      LOG_KEY(cursor));
        req->cursor = strdup(cursor);
        if (!req->cursor)
                return -ENOMEM;
        return 0;
}

int bus_method_list(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        Error e = ERROR_NULL;
        bool more;
        int r;

        r = bus_request_begin(userdata, m, "list", NULL, read_filters, &req, error);
        if (r != 0)
                return r;
        if (!req->strv) {
                r = list_read(req, &list_quick_limit, &more, &e);
                if (r < 0)
                        return bus_request_fail(req, r, &e, error);
                if (!more)
                        return list_reply(m, req);
                snapshot_info_list_clear(&req->infos);
        }
        return bus_work_start_query(m, &list_ops, TAKE_PTR(req), error);
}

int bus_method_list_page(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusRequest *req = NULL;
        int r;

        r = bus_request_begin(userdata, m, "list", NULL, read_list_page, &req, error);
        if (r != 0)
                return r;
        return bus_work_start_query(m, &list_page_ops, req, error);
}
