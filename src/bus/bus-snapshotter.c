/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "bus-error.h"
#include "bus-job.h"
#include "bus-mount.h"
#include "bus-request.h"
#include "bus-util.h"
#include "bus-work.h"
#include "bus.h"
#include "strutil.h"

/* --- Fast calls, answered on the loop thread --- */

static int method_stat(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        Error e = ERROR_NULL;
        int r;

        r = bus_request_begin(userdata, m, "stat", NULL, bus_read_key, &req, error);
        if (r != 0)
                return r;

        r = core_stat(req->snapshotter->core, req->ns, req->key, &info, &e);
        if (r < 0)
                return bus_request_fail(req, r, &e, error);
        return bus_reply_info(m, &info);
}

static int read_update(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        int r;

        r = bus_read_key(m, req, error);
        if (r < 0)
                return r;
        r = bus_read_labels(m, &req->labels, error);
        if (r < 0)
                return r;
        return bus_read_strv(m, "fieldpaths", &req->strv, error);
}

static int method_update(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        Error e = ERROR_NULL;
        int r;

        r = bus_request_begin(userdata, m, "update", BUS_ACTION_MANAGE_OWN, read_update, &req, error);
        if (r != 0)
                return r;

        r = core_update(req->snapshotter->core, req->ns, req->key, &req->labels, req->strv, &info, &e);
        if (r < 0)
                return bus_request_fail(req, r, &e, error);
        log_request(req, LOG_DEBUG, "");
        bus_objects_updated(req->snapshotter, &info);
        return bus_reply_info(m, &info);
}

static int method_mounts(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        Error e = ERROR_NULL;
        int r;

        r = bus_request_begin(userdata, m, "mounts", NULL, bus_read_key, &req, error);
        if (r != 0)
                return r;

        r = core_mounts(req->snapshotter->core, req->ns, req->key, &mounts, &e);
        if (r < 0)
                return bus_request_fail(req, r, &e, error);
        return bus_reply_mounts(m, &mounts);
}

static int read_create(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        int r;

        r = bus_read_key(m, req, error);
        if (r < 0)
                return r;
        r = bus_read_checked_key(m, "parent", true, &req->parent, error);
        if (r < 0)
                return r;
        return bus_read_labels(m, &req->labels, error);
}

static int read_create_with_options(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        int r;

        r = read_create(m, req, error);
        if (r < 0)
                return r;
        r = bus_read_options(m, "Prepare", (const BusOption[]) { { "rebase", 'b', &req->rebase }, {} }, error);
        if (r < 0)
                return r;
        if (req->rebase && !isempty(req->parent))
                return bus_error_setf(error, EINVAL,
                                      "snapshot %s: a snapshot prepared with the rebase option has no parent until Commit; pass \"\" as parent and the parent to CommitWithOptions",
                                      LOG_KEY(req->key));
        return 0;
}

/* Prepare and View differ only in the kind they create. */
static int create_snapshot(sd_bus_message *m, BusSnapshotter *s, SnapshotKind kind, bus_read_fn read,
                           sd_bus_error *error) {
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        int r;

        r = bus_request_begin(s, m, kind == SNAPSHOT_VIEW ? "view" : "prepare", BUS_ACTION_MANAGE_OWN, read,
                              &req, error);
        if (r != 0)
                return r;
        r = bus_track_transient_check(s->context->tracks, m, req->caller, labels_get(&req->labels, CORE_LABEL_TRANSIENT),
                                      error);
        if (r < 0)
                return r;
        return bus_work_create(m, TAKE_PTR(req), kind, error);
}

static int method_prepare(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return create_snapshot(m, userdata, SNAPSHOT_ACTIVE, read_create, error);
}

static int method_prepare_with_options(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return create_snapshot(m, userdata, SNAPSHOT_ACTIVE, read_create_with_options, error);
}

static int method_view(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return create_snapshot(m, userdata, SNAPSHOT_VIEW, read_create, error);
}

static int remove_run(BusJob *job, void *data, Error *e) {
        BusRequest *req = data;

        return core_remove(req->snapshotter->core, req->ns, req->key, e);
}

static int remove_reply(sd_bus_message *m, void *data) {
        BusRequest *req = data;
        int r;

        log_request(req, LOG_DEBUG, "");
        r = sd_bus_reply_method_return(m, NULL);
        bus_request_emit(req, m, "Removed", "su", req->key, (uint32_t) req->ns);
        return r;
}

static const BusJobOps remove_ops = { .run = remove_run, .reply = remove_reply, .failed = bus_work_failed,
                                      .free = bus_request_free_void };

/* On the loop, unless the snapshot has a mount record (core_remove_quick()): then Remove
 * looks for the holders of a force-unmounted mount (up to MOUNT_HOLDERS_MAX_USEC), on a
 * worker. */
static int method_remove(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        Error e = ERROR_NULL;
        int r;

        r = bus_request_begin(userdata, m, "remove", BUS_ACTION_MANAGE_OWN, bus_read_key, &req, error);
        if (r != 0)
                return r;
        r = core_remove_quick(req->snapshotter->core, req->ns, req->key, &e);
        if (r == -EWOULDBLOCK)
                return bus_work_start(m, &remove_ops, TAKE_PTR(req), error);
        if (r < 0)
                return bus_request_fail(req, r, &e, error);
        return remove_reply(m, req);
}

/* Every error a caller gets is a documented name (bus_error_ensure()). */
BUS_DEFINE_METHOD(safe_stat, method_stat)
BUS_DEFINE_METHOD(safe_update, method_update)
BUS_DEFINE_METHOD(safe_usage, bus_method_usage)
BUS_DEFINE_METHOD(safe_mounts, method_mounts)
BUS_DEFINE_METHOD(safe_prepare, method_prepare)
BUS_DEFINE_METHOD(safe_prepare_with_options, method_prepare_with_options)
BUS_DEFINE_METHOD(safe_view, method_view)
BUS_DEFINE_METHOD(safe_commit, bus_method_commit)
BUS_DEFINE_METHOD(safe_commit_with_options, bus_method_commit_with_options)
BUS_DEFINE_METHOD(safe_remove, method_remove)
BUS_DEFINE_METHOD(safe_list, bus_method_list)
BUS_DEFINE_METHOD(safe_list_page, bus_method_list_page)
BUS_DEFINE_METHOD(safe_cleanup, bus_method_cleanup)
BUS_DEFINE_METHOD(safe_mount, bus_method_mount)
BUS_DEFINE_METHOD(safe_mount_fd, bus_method_mount_fd)
BUS_DEFINE_METHOD(safe_mount_userns, bus_method_mount_userns)
BUS_DEFINE_METHOD(safe_mount_fd_userns, bus_method_mount_fd_userns)
BUS_DEFINE_METHOD(safe_unmount, bus_method_unmount)
BUS_DEFINE_METHOD(safe_unmount_with_options, bus_method_unmount_with_options)
BUS_DEFINE_METHOD(safe_list_mounts, bus_method_list_mounts)
BUS_DEFINE_METHOD(safe_apply, bus_method_apply)

const sd_bus_vtable bus_snapshotter_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Stat",
                                SD_BUS_ARGS("s", key),
                                SD_BUS_RESULT("(sssa{ss}ttu)", info),
                                safe_stat, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Update",
                                SD_BUS_ARGS("s", key, "a{ss}", labels, "as", fieldpaths),
                                SD_BUS_RESULT("(sssa{ss}ttu)", info),
                                safe_update, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Usage",
                                SD_BUS_ARGS("s", key),
                                SD_BUS_RESULT("t", size, "t", inodes),
                                safe_usage, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Mounts",
                                SD_BUS_ARGS("s", key),
                                SD_BUS_RESULT("a(ssas)", mounts),
                                safe_mounts, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Prepare",
                                SD_BUS_ARGS("s", key, "s", parent, "a{ss}", labels),
                                SD_BUS_RESULT("a(ssas)", mounts),
                                safe_prepare, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PrepareWithOptions",
                                SD_BUS_ARGS("s", key, "s", parent, "a{ss}", labels, "a{sv}", options),
                                SD_BUS_RESULT("a(ssas)", mounts),
                                safe_prepare_with_options, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("View",
                                SD_BUS_ARGS("s", key, "s", parent, "a{ss}", labels),
                                SD_BUS_RESULT("a(ssas)", mounts),
                                safe_view, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Commit",
                                SD_BUS_ARGS("s", name, "s", key, "a{ss}", labels),
                                SD_BUS_NO_RESULT,
                                safe_commit, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CommitWithOptions",
                                SD_BUS_ARGS("s", name, "s", key, "a{ss}", labels, "a{sv}", options),
                                SD_BUS_NO_RESULT,
                                safe_commit_with_options, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Remove",
                                SD_BUS_ARGS("s", key),
                                SD_BUS_NO_RESULT,
                                safe_remove, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("List",
                                SD_BUS_ARGS("as", filters),
                                SD_BUS_RESULT("a(sssa{ss}ttu)", infos),
                                safe_list, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListPage",
                                SD_BUS_ARGS("as", filters, "s", cursor, "u", limit),
                                SD_BUS_RESULT("a(sssa{ss}ttu)", infos, "s", next_cursor),
                                safe_list_page, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Cleanup",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("t", reclaimed_bytes),
                                safe_cleanup, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Mount",
                                SD_BUS_ARGS("s", key, "s", target, "as", options),
                                SD_BUS_RESULT("s", path),
                                safe_mount, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("MountFd",
                                SD_BUS_ARGS("s", key, "as", options),
                                SD_BUS_RESULT("h", mount_fd),
                                safe_mount_fd, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("MountWithUserNamespace",
                                SD_BUS_ARGS("s", key, "s", target, "as", options, "h", userns),
                                SD_BUS_RESULT("s", path),
                                safe_mount_userns, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("MountFdWithUserNamespace",
                                SD_BUS_ARGS("s", key, "as", options, "h", userns),
                                SD_BUS_RESULT("h", mount_fd),
                                safe_mount_fd_userns, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Unmount",
                                SD_BUS_ARGS("s", key),
                                SD_BUS_NO_RESULT,
                                safe_unmount, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("UnmountWithOptions",
                                SD_BUS_ARGS("s", key, "as", options),
                                SD_BUS_NO_RESULT,
                                safe_unmount_with_options, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListMounts",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ssut)", mounts),
                                safe_list_mounts, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Apply",
                                SD_BUS_ARGS("s", key, "h", layer, "a{sv}", options),
                                SD_BUS_RESULT("s", diff_id, "t", bytes, "t", entries),
                                safe_apply, SD_BUS_VTABLE_UNPRIVILEGED),
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
