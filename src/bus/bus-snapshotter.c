/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bus-error.h"
#include "bus-util.h"
#include "bus.h"
#include "log.h"
#include "strutil.h"

#define ACTION_MANAGE_OWN "org.lamina.snapshot1.manage-own"
#define ACTION_MOUNT_OWN "org.lamina.snapshot1.mount-own"
#define ACTION_MOUNT_ANYWHERE "org.lamina.snapshot1.mount-anywhere"
#define ACTION_MANAGE "org.lamina.snapshot1.manage"

/* One call on a Snapshotter object: who asks, and which namespace it acts on. */
typedef struct BusCall {
        BusSnapshotter *snapshotter;
        const char *verb;
        uid_t caller;
        uid_t ns;
} BusCall;

#define log_call(call, level, key, fmt, ...)                                                    \
        log_full((level), "%s: uid %u ns %u: %s%s%s" fmt,                                       \
                 core_snapshotter_name((call)->snapshotter->core), (unsigned) (call)->caller,   \
                 (unsigned) (call)->ns, (call)->verb, (key) ? " " : "", LOG_KEY(key), ##__VA_ARGS__)

static int object_namespace(BusSnapshotter *s, sd_bus_message *m, uid_t caller, uid_t *ret) {
        const char *path = sd_bus_message_get_path(m);

        if (streq(path, s->path)) {
                *ret = caller;
                return 0;
        }
        /* The find callback let only <user_path>/<uid> through. */
        return bus_parse_user_path(s->user_path, path, ret);
}

/* Asks whether the caller holds action for this call (details: snapshotter, verb, key).
 * Returns 1 to go on, 0 when a decision is pending, or a negative errno. */
static int bus_call_verify(const BusCall *call, sd_bus_message *m, const char *action, const char *key,
                           sd_bus_error *error) {
        const char *details[] = {
                "snapshotter", core_snapshotter_name(call->snapshotter->core),
                "verb", call->verb,
                key ? "key" : NULL, key,
                NULL
        };
        int r;

        r = bus_verify(call->snapshotter->context, m, action, details, error);
        if (r < 0)
                log_call(call, LOG_NOTICE, key, ": %s denied", action);
        return r;
}

/* Resolves the namespace and checks authorization, before anything changes. Reads in
 * the own namespace need no action; any call on another namespace needs manage instead of
 * own_action; extra_action (mount-anywhere), when given, is asked about after that.
 * Returns 0 to go on, or what the handler returns right away: a negative errno, or 1
 * while polkit decides (the call is dispatched again when it has). */
static int bus_call_begin(BusSnapshotter *s, sd_bus_message *m, const char *verb, const char *own_action,
                          const char *extra_action, const char *key, BusCall *ret, sd_bus_error *error) {
        BusCall call = { .snapshotter = s, .verb = verb };
        const char *actions[2];
        int r;

        r = bus_caller_uid(s->context, m, &call.caller, error);
        if (r < 0)
                return r;
        r = object_namespace(s, m, call.caller, &call.ns);
        if (r < 0)
                return bus_error_setf(error, EINVAL, "invalid object path %s", sd_bus_message_get_path(m));

        actions[0] = call.ns != call.caller ? ACTION_MANAGE : own_action;
        actions[1] = extra_action;
        for (size_t i = 0; i < ELEMENTSOF(actions); i++) {
                if (!actions[i])
                        continue;
                r = bus_call_verify(&call, m, actions[i], key, error);
                if (r <= 0)
                        return r < 0 ? r : 1;
        }

        *ret = call;
        return 0;
}

/* For calls whose first argument is the key: reads it, then bus_call_begin(). */
static int bus_call_begin_key(sd_bus_message *m, void *userdata, const char *verb, const char *own_action,
                              const char **ret_key, BusCall *ret, sd_bus_error *error) {
        int r;

        r = sd_bus_message_read(m, "s", ret_key);
        if (r < 0)
                return r;
        return bus_call_begin(userdata, m, verb, own_action, NULL, *ret_key, ret, error);
}

/* Logs a failed call and turns it into the D-Bus error. Returns r. */
static int bus_call_fail(const BusCall *call, const char *key, int r, const Error *e, sd_bus_error *error) {
        r = bus_error_from_core(error, r, e);
        log_call(call, LOG_INFO, key, ": %s: %s", error->name, error->message);
        return r;
}

/* Sends a signal about call's namespace to the caller of m only. Never broadcast: a
 * broadcast on the system bus reaches every connection, and the keys, names and paths of
 * one user's namespace are nobody else's business (and root's active snapshots are not
 * visible to users either). The caller is the one authorized for the namespace. */
static void bus_call_emit(const BusCall *call, sd_bus_message *m, const char *member, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *signal = NULL;
        sd_bus *bus = call->snapshotter->context->bus;
        const char *sender = sd_bus_message_get_sender(m);
        va_list ap;
        int r;

        r = sd_bus_message_new_signal(bus, &signal, call->snapshotter->path, BUS_SNAPSHOTTER_INTERFACE, member);
        if (r >= 0 && sender) /* no sender: a direct connection, whose peer is the caller */
                r = sd_bus_message_set_destination(signal, sender);
        if (r >= 0) {
                va_start(ap, types);
                r = sd_bus_message_appendv(signal, types, ap);
                va_end(ap);
        }
        if (r >= 0)
                r = sd_bus_send(bus, signal, NULL);
        if (r < 0)
                log_warning_errno(r, "%s: failed to send %s: %m", core_snapshotter_name(call->snapshotter->core),
                                  member);
}

/* --- Fast calls, answered on the loop thread --- */

static int method_stat(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        Error e = ERROR_NULL;
        const char *key;
        BusCall call;
        int r;

        r = bus_call_begin_key(m, userdata, "stat", NULL, &key, &call, error);
        if (r != 0)
                return r;

        r = core_stat(call.snapshotter->core, call.ns, key, &info, &e);
        if (r < 0)
                return bus_call_fail(&call, key, r, &e, error);
        return bus_reply_info(m, &info);
}

static int method_update(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_strv_free_ char **fieldpaths = NULL;
        _cleanup_(labels_clear) Labels labels = LABELS_NULL;
        Error e = ERROR_NULL;
        const char *key;
        BusCall call;
        int r;

        r = sd_bus_message_read(m, "s", &key);
        if (r < 0)
                return r;
        r = bus_read_labels(m, &labels);
        if (r < 0)
                return r;
        r = sd_bus_message_read_strv(m, &fieldpaths);
        if (r < 0)
                return r;
        r = bus_call_begin(userdata, m, "update", ACTION_MANAGE_OWN, NULL, key, &call, error);
        if (r != 0)
                return r;

        r = core_update(call.snapshotter->core, call.ns, key, &labels, fieldpaths, &info, &e);
        if (r < 0)
                return bus_call_fail(&call, key, r, &e, error);
        log_call(&call, LOG_INFO, key, "");
        return bus_reply_info(m, &info);
}

static int method_mounts(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
        Error e = ERROR_NULL;
        const char *key;
        BusCall call;
        int r;

        r = bus_call_begin_key(m, userdata, "mounts", NULL, &key, &call, error);
        if (r != 0)
                return r;

        r = core_mounts(call.snapshotter->core, call.ns, key, &mounts, &e);
        if (r < 0)
                return bus_call_fail(&call, key, r, &e, error);
        return bus_reply_mounts(m, &mounts);
}

/* Prepare and View differ only in the kind they create. */
static int create_snapshot(sd_bus_message *m, BusSnapshotter *s, SnapshotKind kind, sd_bus_error *error) {
        _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
        _cleanup_(labels_clear) Labels labels = LABELS_NULL;
        const char *kind_name = snapshot_kind_to_string(kind);
        const char *key, *parent;
        Error e = ERROR_NULL;
        BusCall call;
        int r;

        r = sd_bus_message_read(m, "ss", &key, &parent);
        if (r < 0)
                return r;
        r = bus_read_labels(m, &labels);
        if (r < 0)
                return r;
        r = bus_call_begin(s, m, kind == SNAPSHOT_VIEW ? "view" : "prepare", ACTION_MANAGE_OWN, NULL, key, &call,
                           error);
        if (r != 0)
                return r;

        if (kind == SNAPSHOT_VIEW)
                r = core_view(s->core, call.ns, key, parent, &labels, &mounts, &e);
        else
                r = core_prepare(s->core, call.ns, key, parent, &labels, &mounts, &e);
        if (r < 0)
                return bus_call_fail(&call, key, r, &e, error);
        log_call(&call, LOG_INFO, key, " parent %s", LOG_KEY(parent));

        r = bus_reply_mounts(m, &mounts);
        bus_call_emit(&call, m, "Prepared", "sssu", key, parent, kind_name, (uint32_t) call.ns);
        return r;
}

static int method_prepare(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return create_snapshot(m, userdata, SNAPSHOT_ACTIVE, error);
}

static int method_view(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return create_snapshot(m, userdata, SNAPSHOT_VIEW, error);
}

static int method_remove(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Error e = ERROR_NULL;
        const char *key;
        BusCall call;
        int r;

        r = bus_call_begin_key(m, userdata, "remove", ACTION_MANAGE_OWN, &key, &call, error);
        if (r != 0)
                return r;

        r = core_remove(call.snapshotter->core, call.ns, key, &e);
        if (r < 0)
                return bus_call_fail(&call, key, r, &e, error);
        log_call(&call, LOG_INFO, key, "");

        r = sd_bus_reply_method_return(m, NULL);
        bus_call_emit(&call, m, "Removed", "su", key, (uint32_t) call.ns);
        return r;
}

static int append_info_at(sd_bus_message *reply, const void *items, size_t i) {
        return bus_append_info(reply, (const SnapshotInfo *) items + i);
}

static int method_list(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(snapshot_info_list_clear) SnapshotInfoList infos = {};
        _cleanup_strv_free_ char **filters = NULL;
        Error e = ERROR_NULL;
        BusCall call;
        int r;

        r = sd_bus_message_read_strv(m, &filters);
        if (r < 0)
                return r;
        r = bus_call_begin(userdata, m, "list", NULL, NULL, NULL, &call, error);
        if (r != 0)
                return r;

        r = core_list(call.snapshotter->core, call.ns, filters, &infos, &e);
        if (r < 0)
                return bus_call_fail(&call, NULL, r, &e, error);
        return bus_reply_array(m, "(sssa{ss}ttu)", infos.n, append_info_at, infos.items);
}

/* Mount options; suid and dev are root's only (every non-root mount is nosuid,nodev). */
static int parse_mount_options(char **options, CoreMountOptions *ret, const char **ret_root_only,
                               sd_bus_error *error) {
        CoreMountOptions o = {};
        const char *root_only = NULL;

        for (char **i = options; i && *i; i++) {
                if (streq(*i, "ro"))
                        o.read_only = true;
                else if (streq(*i, "noexec"))
                        o.noexec = true;
                else if (streq(*i, "nosuid"))
                        o.nosuid = true;
                else if (streq(*i, "nodev"))
                        o.nodev = true;
                else if (streq(*i, "suid")) {
                        o.nosuid = false;
                        root_only = "suid";
                } else if (streq(*i, "dev")) {
                        o.nodev = false;
                        root_only = "dev";
                } else
                        return bus_error_setf(error, EINVAL,
                                              "unknown mount option %s; use ro, noexec, nosuid, nodev, suid or dev",
                                              LOG_KEY(*i));
        }
        *ret = o;
        *ret_root_only = root_only;
        return 0;
}

static int method_mount(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_strv_free_ char **options = NULL;
        _cleanup_free_ char *path = NULL;
        const char *key, *target;
        Error e = ERROR_NULL;
        const char *root_only = NULL;
        CoreMountOptions o;
        BusCall call;
        int r;

        r = sd_bus_message_read(m, "ss", &key, &target);
        if (r < 0)
                return r;
        r = sd_bus_message_read_strv(m, &options);
        if (r < 0)
                return r;
        r = parse_mount_options(options, &o, &root_only, error);
        if (r < 0)
                return r;
        r = bus_call_begin(userdata, m, "mount", ACTION_MOUNT_OWN, !isempty(target) ? ACTION_MOUNT_ANYWHERE : NULL,
                           key, &call, error);
        if (r != 0)
                return r;
        if (call.caller != 0 && root_only) {
                Error e = ERROR_NULL;
                (void) error_setf(&e, EINVAL,
                                  "mount option %s is refused: mounts of non-root callers are always nosuid,nodev; leave it out",
                                  root_only);
                return bus_call_fail(&call, key, -EINVAL, &e, error);
        }
        if (call.caller != 0)
                o.nosuid = o.nodev = true;

        r = core_mount(call.snapshotter->core, call.ns, key, isempty(target) ? NULL : target, &o, &path, &e);
        if (r < 0)
                return bus_call_fail(&call, key, r, &e, error);
        log_call(&call, LOG_INFO, key, " on %s", path);

        r = sd_bus_reply_method_return(m, "s", path);
        bus_call_emit(&call, m, "Mounted", "ssu", key, path, (uint32_t) call.ns);
        return r;
}

/* Unmount(s key) and UnmountWithOptions(s key, as options); "force" detaches a mount
 * that is in use (the snapshot stays busy until it is released). */
static int unmount(sd_bus_message *m, void *userdata, bool with_options, sd_bus_error *error) {
        _cleanup_strv_free_ char **options = NULL;
        _cleanup_free_ char *path = NULL;
        Error e = ERROR_NULL;
        bool force = false;
        const char *key;
        BusCall call;
        int r;

        r = bus_call_begin_key(m, userdata, "unmount", ACTION_MOUNT_OWN, &key, &call, error);
        if (r != 0)
                return r;
        if (with_options) {
                r = sd_bus_message_read_strv(m, &options);
                if (r < 0)
                        return r;
        }
        for (char **i = options; i && *i; i++) {
                if (!streq(*i, "force"))
                        return bus_error_setf(error, EINVAL, "unknown unmount option %s; use force", LOG_KEY(*i));
                force = true;
        }

        r = core_unmount(call.snapshotter->core, call.ns, key, force, &path, &e);
        if (r < 0)
                return bus_call_fail(&call, key, r, &e, error);
        log_call(&call, LOG_INFO, key, " from %s%s", path, force ? " (force)" : "");

        r = sd_bus_reply_method_return(m, NULL);
        bus_call_emit(&call, m, "Unmounted", "ssu", key, path, (uint32_t) call.ns);
        return r;
}

static int method_unmount(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return unmount(m, userdata, false, error);
}

static int method_unmount_with_options(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return unmount(m, userdata, true, error);
}

static int append_mount_info_at(sd_bus_message *reply, const void *items, size_t i) {
        const CoreMountInfo *mi = (const CoreMountInfo *) items + i;

        return sd_bus_message_append(reply, "(ssut)", mi->key, mi->path, (uint32_t) mi->owner, mi->mounted_usec);
}

static int method_list_mounts(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(core_mount_info_list_clear) CoreMountInfoList mounts = {};
        Error e = ERROR_NULL;
        BusCall call;
        int r;

        r = bus_call_begin(userdata, m, "list-mounts", NULL, NULL, NULL, &call, error);
        if (r != 0)
                return r;

        r = core_list_mounts(call.snapshotter->core, call.ns, &mounts, &e);
        if (r < 0)
                return bus_call_fail(&call, NULL, r, &e, error);
        return bus_reply_array(m, "(ssut)", mounts.n, append_mount_info_at, mounts.items);
}

/* --- Slow calls, run as jobs on worker threads --- */

/* What a job needs from its call, copied (the message's strings stay valid while the
 * job holds a reference, but copies keep the worker independent of it). */
typedef struct Work {
        BusCall call;
        char *key;
        char *name;
        Labels labels;
        int layer_fd;
        char *expected_diff_id;
        char *media_type;
        /* Results. */
        uint64_t size, inodes;
        CoreApplyResult applied;
} Work;

static void work_free(void *p) {
        Work *w = p;

        if (!w)
                return;
        free(w->key);
        free(w->name);
        labels_clear(&w->labels);
        safe_close(w->layer_fd);
        free(w->expected_diff_id);
        free(w->media_type);
        free(w);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Work *, work_free);

static int work_new(const BusCall *call, const char *key, Work **ret) {
        _cleanup_(work_freep) Work *w = calloc(1, sizeof *w);

        if (!w)
                return -ENOMEM;
        w->layer_fd = -EBADF;
        w->call = *call;
        if (key) {
                w->key = strdup(key);
                if (!w->key)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(w);
        return 0;
}

static void work_failed(void *data, const sd_bus_error *error) {
        Work *w = data;

        log_call(&w->call, LOG_INFO, w->key, ": %s: %s", error->name, error->message);
}

static int work_start(sd_bus_message *m, const BusJobOps *ops, Work *w, sd_bus_error *error) {
        return bus_job_start(w->call.snapshotter->context->jobs, m, w->call.caller, ops, w, error);
}

static int usage_run(BusJob *job, void *data, Error *e) {
        Work *w = data;

        return core_usage(w->call.snapshotter->core, w->call.ns, w->key, &w->size, &w->inodes, e);
}

static int usage_reply(sd_bus_message *m, void *data) {
        Work *w = data;

        return sd_bus_reply_method_return(m, "tt", w->size, w->inodes);
}

static const BusJobOps usage_ops = { .run = usage_run, .reply = usage_reply, .failed = work_failed,
                                       .free = work_free };

static int method_usage(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *key;
        BusCall call;
        Work *w;
        int r;

        r = bus_call_begin_key(m, userdata, "usage", NULL, &key, &call, error);
        if (r != 0)
                return r;

        r = work_new(&call, key, &w);
        if (r < 0)
                return r;
        return work_start(m, &usage_ops, w, error);
}

static int commit_run(BusJob *job, void *data, Error *e) {
        Work *w = data;

        return core_commit(w->call.snapshotter->core, w->call.ns, w->name, w->key, &w->labels, e);
}

static int commit_reply(sd_bus_message *m, void *data) {
        Work *w = data;
        int r;

        log_call(&w->call, LOG_INFO, w->key, " as %s", LOG_KEY(w->name));
        r = sd_bus_reply_method_return(m, NULL);
        bus_call_emit(&w->call, m, "Committed", "ssu", w->name, w->key, (uint32_t) w->call.ns);
        return r;
}

static const BusJobOps commit_ops = { .run = commit_run, .reply = commit_reply, .failed = work_failed,
                                       .free = work_free };

static int method_commit(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(work_freep) Work *w = NULL;
        _cleanup_(labels_clear) Labels labels = LABELS_NULL;
        const char *name, *key;
        BusCall call;
        int r;

        r = sd_bus_message_read(m, "ss", &name, &key);
        if (r < 0)
                return r;
        r = bus_read_labels(m, &labels);
        if (r < 0)
                return r;
        r = bus_call_begin(userdata, m, "commit", ACTION_MANAGE_OWN, NULL, key, &call, error);
        if (r != 0)
                return r;

        r = work_new(&call, key, &w);
        if (r < 0)
                return r;
        w->name = strdup(name);
        if (!w->name)
                return -ENOMEM;
        w->labels = labels;
        labels = LABELS_NULL;
        return work_start(m, &commit_ops, TAKE_PTR(w), error);
}

static int cleanup_run(BusJob *job, void *data, Error *e) {
        Work *w = data;

        return core_cleanup(w->call.snapshotter->core, &w->size, e);
}

static int cleanup_reply(sd_bus_message *m, void *data) {
        Work *w = data;

        log_call(&w->call, LOG_INFO, NULL, ": reclaimed %llu bytes", (unsigned long long) w->size);
        return sd_bus_reply_method_return(m, "t", w->size);
}

static const BusJobOps cleanup_ops = { .run = cleanup_run, .reply = cleanup_reply, .failed = work_failed,
                                       .free = work_free };

static int method_cleanup(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusCall call;
        Work *w;
        int r;

        r = bus_call_begin(userdata, m, "cleanup", ACTION_MANAGE, NULL, NULL, &call, error);
        if (r != 0)
                return r;

        r = work_new(&call, NULL, &w);
        if (r < 0)
                return r;
        return work_start(m, &cleanup_ops, w, error);
}

static void apply_progress_from_core(uint64_t done, uint64_t total, void *userdata) {
        bus_job_progress(userdata, done, total);
}

static int apply_run(BusJob *job, void *data, Error *e) {
        Work *w = data;
        CoreApplyOptions o = {
                .expected_diff_id = w->expected_diff_id,
                .media_type = w->media_type,
                .allow_devices = w->call.caller == 0,
                .progress = apply_progress_from_core,
                .userdata = job,
        };

        return core_apply(w->call.snapshotter->core, w->call.ns, w->key, w->layer_fd, &o, &w->applied, e);
}

static int apply_reply(sd_bus_message *m, void *data) {
        Work *w = data;

        log_call(&w->call, LOG_INFO, w->key, ": %s, %llu bytes, %llu entries", w->applied.diff_id,
                 (unsigned long long) w->applied.bytes, (unsigned long long) w->applied.entries);
        return sd_bus_reply_method_return(m, "stt", w->applied.diff_id, w->applied.bytes, w->applied.entries);
}

static void apply_progress(sd_bus_message *m, void *data, uint64_t done, uint64_t total) {
        Work *w = data;

        bus_call_emit(&w->call, m, "ApplyProgress", "sttu", w->key, done, total, (uint32_t) w->call.ns);
}

static const BusJobOps apply_ops = {
        .run = apply_run,
        .reply = apply_reply,
        .progress = apply_progress,
        .failed = work_failed,
        .free = work_free,
};

/* The layer fd must be something the caller could read itself: not O_PATH (which
 * would let it name a file it cannot open), a regular file, pipe or socket. */
static int take_layer_fd(int fd, int *ret, sd_bus_error *error) {
        struct stat st;
        int flags, copy;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if (flags & O_PATH)
                return bus_error_setf(error, EINVAL, "the layer is an O_PATH descriptor; pass one opened for reading");
        if ((flags & O_ACCMODE) == O_WRONLY)
                return bus_error_setf(error, EINVAL, "the layer descriptor is write-only; pass one opened for reading");
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
                return bus_error_setf(error, EINVAL, "the layer must be a regular file, pipe or socket");

        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return -errno;
        *ret = copy;
        return 0;
}

static int read_apply_options(sd_bus_message *m, Work *w, sd_bus_error *error) {
        const char *name;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                char **slot;
                const char *value;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                if (streq(name, "expected-diff-id"))
                        slot = &w->expected_diff_id;
                else if (streq(name, "media-type"))
                        slot = &w->media_type;
                else
                        return bus_error_setf(error, EINVAL,
                                              "unknown Apply option %s; use expected-diff-id or media-type",
                                              LOG_KEY(name));

                r = sd_bus_message_read(m, "v", "s", &value);
                if (r == -ENXIO)
                        return bus_error_setf(error, EINVAL, "Apply option %s must be a string (s)", name);
                if (r < 0)
                        return r;
                free(*slot);
                *slot = strdup(value);
                if (!*slot)
                        return -ENOMEM;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int method_apply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(work_freep) Work *w = NULL;
        const char *key;
        BusCall call;
        int fd, r;

        r = sd_bus_message_read(m, "sh", &key, &fd);
        if (r < 0)
                return r;
        r = bus_call_begin(userdata, m, "apply", ACTION_MANAGE_OWN, NULL, key, &call, error);
        if (r != 0)
                return r;

        r = work_new(&call, key, &w);
        if (r < 0)
                return r;
        r = read_apply_options(m, w, error);
        if (r < 0)
                return r;
        r = take_layer_fd(fd, &w->layer_fd, error);
        if (r < 0)
                return r;
        return work_start(m, &apply_ops, TAKE_PTR(w), error);
}

const sd_bus_vtable bus_snapshotter_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Stat",
                                SD_BUS_ARGS("s", key),
                                SD_BUS_RESULT("(sssa{ss}ttu)", info),
                                method_stat, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Update",
                                SD_BUS_ARGS("s", key, "a{ss}", labels, "as", fieldpaths),
                                SD_BUS_RESULT("(sssa{ss}ttu)", info),
                                method_update, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Usage",
                                SD_BUS_ARGS("s", key),
                                SD_BUS_RESULT("t", size, "t", inodes),
                                method_usage, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Mounts",
                                SD_BUS_ARGS("s", key),
                                SD_BUS_RESULT("a(ssas)", mounts),
                                method_mounts, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Prepare",
                                SD_BUS_ARGS("s", key, "s", parent, "a{ss}", labels),
                                SD_BUS_RESULT("a(ssas)", mounts),
                                method_prepare, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("View",
                                SD_BUS_ARGS("s", key, "s", parent, "a{ss}", labels),
                                SD_BUS_RESULT("a(ssas)", mounts),
                                method_view, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Commit",
                                SD_BUS_ARGS("s", name, "s", key, "a{ss}", labels),
                                SD_BUS_NO_RESULT,
                                method_commit, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Remove",
                                SD_BUS_ARGS("s", key),
                                SD_BUS_NO_RESULT,
                                method_remove, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("List",
                                SD_BUS_ARGS("as", filters),
                                SD_BUS_RESULT("a(sssa{ss}ttu)", infos),
                                method_list, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Cleanup",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("t", reclaimed_bytes),
                                method_cleanup, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Mount",
                                SD_BUS_ARGS("s", key, "s", target, "as", options),
                                SD_BUS_RESULT("s", path),
                                method_mount, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Unmount",
                                SD_BUS_ARGS("s", key),
                                SD_BUS_NO_RESULT,
                                method_unmount, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("UnmountWithOptions",
                                SD_BUS_ARGS("s", key, "as", options),
                                SD_BUS_NO_RESULT,
                                method_unmount_with_options, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListMounts",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ssut)", mounts),
                                method_list_mounts, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Apply",
                                SD_BUS_ARGS("s", key, "h", layer, "a{sv}", options),
                                SD_BUS_RESULT("s", diff_id, "t", bytes, "t", entries),
                                method_apply, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("Prepared",
                                SD_BUS_ARGS("s", key, "s", parent, "s", kind, "u", owner), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Committed",
                                SD_BUS_ARGS("s", name, "s", key, "u", owner), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Removed",
                                SD_BUS_ARGS("s", key, "u", owner), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Mounted",
                                SD_BUS_ARGS("s", key, "s", path, "u", owner), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Unmounted",
                                SD_BUS_ARGS("s", key, "s", path, "u", owner), 0),
        SD_BUS_SIGNAL_WITH_ARGS("ApplyProgress",
                                SD_BUS_ARGS("s", key, "t", bytes_done, "t", bytes_total, "u", owner), 0),
        SD_BUS_VTABLE_END
};
