/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "bus-error.h"
#include "bus-job.h"
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

/* On the loop, unless the snapshot has a mount record: then Remove looks for the holders
 * of a force-unmounted mount (up to MOUNT_HOLDERS_MAX_USEC), on a worker. */
static int method_remove(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        Error e = ERROR_NULL;
        int r;

        r = bus_request_begin(userdata, m, "remove", BUS_ACTION_MANAGE_OWN, bus_read_key, &req, error);
        if (r != 0)
                return r;
        if (core_mount_has_record(req->snapshotter->core, req->ns, req->key))
                return bus_work_start(m, &remove_ops, TAKE_PTR(req), error);

        r = remove_run(NULL, req, &e);
        if (r < 0)
                return bus_request_fail(req, r, &e, error);
        return remove_reply(m, req);
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
                else if (streq(*i, "idmap"))
                        o.idmap = true;
                else if (streq(*i, "suid")) {
                        o.nosuid = false;
                        root_only = "suid";
                } else if (streq(*i, "dev")) {
                        o.nodev = false;
                        root_only = "dev";
                } else
                        return bus_error_setf(error, EINVAL,
                                              "unknown mount option %s; use ro, noexec, nosuid, nodev, suid, dev or idmap",
                                              LOG_KEY(*i));
        }
        if (ret)
                *ret = o;
        if (ret_root_only)
                *ret_root_only = root_only;
        return 0;
}

/* The request's options, nosuid,nodev forced for non-root callers (suid, dev refused). */
static int request_mount_options(BusRequest *req, CoreMountOptions *ret, sd_bus_error *error) {
        const char *root_only = NULL;
        Error e = ERROR_NULL;
        int r;

        r = parse_mount_options(req->strv, ret, &root_only, error);
        if (r < 0)
                return r;
        if (req->caller != 0 && root_only) {
                (void) error_setf(&e, EINVAL,
                                  "mount option %s is refused: mounts of non-root callers are always nosuid,nodev; "
                                  "leave it out",
                                  root_only);
                return bus_request_fail(req, -EINVAL, &e, error);
        }
        if (req->caller != 0)
                ret->nosuid = ret->nodev = true;
        ret->target_owner = req->caller;
        return 0;
}

/* Mount(Fd)WithUserNamespace: the namespace, checked by the core (mount_userns_check). */
static int read_userns(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        int fd, r;

        r = sd_bus_message_read(m, "h", &fd);
        if (r < 0)
                return r;
        req->userns_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        return req->userns_fd < 0 ? -errno : 0;
}

static int read_mount(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        const char *target;
        int r;

        r = bus_read_key(m, req, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", &target);
        if (r < 0)
                return r;
        if (strlen(target) >= 4096)
                return bus_error_setf(error, EINVAL, "the mount target is longer than a path may be");
        if (!isempty(target) && target[0] != '/')
                return bus_error_setf(error, EINVAL,
                                      "target %s is not an absolute path; give the full path of an empty directory",
                                      LOG_KEY(target));
        req->target = strdup(target);
        if (!req->target)
                return -ENOMEM;
        r = bus_read_strv(m, "mount options", &req->strv, error);
        if (r < 0)
                return r;
        r = parse_mount_options(req->strv, NULL, NULL, error);
        if (r < 0)
                return r;
        if (!isempty(req->target))
                req->extra_action = BUS_ACTION_MOUNT_ANYWHERE;
        return 0;
}

static int read_mount_userns(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        int r = read_mount(m, req, error);

        return r < 0 ? r : read_userns(m, req, error);
}

static int read_mount_fd(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        int r;

        r = bus_read_key(m, req, error);
        if (r < 0)
                return r;
        r = bus_read_strv(m, "mount options", &req->strv, error);
        if (r < 0)
                return r;
        return parse_mount_options(req->strv, NULL, NULL, error);
}

static int read_mount_fd_userns(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        int r = read_mount_fd(m, req, error);

        return r < 0 ? r : read_userns(m, req, error);
}

/* One Mount or MountFd call (verb "mount" or "mount-fd"), as a job on a worker: the
 * caller's target may lie on a slow filesystem of its own, an idmapped one looks the
 * caller up (NSS), reads the subordinate id files and forks, and a mount stacks up to 500
 * layers. */
typedef struct MountCall {
        BusRequest *req;
        CoreMountOptions o;
        gid_t *target_gids; /* o.target_gids */
        char *path;
        int fd;
} MountCall;

static void mount_call_free(void *data) {
        MountCall *c = data;

        if (!c)
                return;
        bus_request_free(c->req);
        free(c->target_gids);
        free(c->path);
        safe_close(c->fd);
        free(c);
}

static int mount_call_run(BusJob *job, void *data, Error *e) {
        MountCall *c = data;
        BusRequest *req = c->req;

        if (streq(req->verb, "mount-fd"))
                return core_mount_fd(req->snapshotter->core, req->ns, req->key, &c->o, &c->fd, e);
        return core_mount(req->snapshotter->core, req->ns, req->key, isempty(req->target) ? NULL : req->target,
                          &c->o, &c->path, e);
}

static int mount_call_reply(sd_bus_message *m, void *data) {
        MountCall *c = data;
        int r;

        if (c->fd >= 0) {
                log_request(c->req, LOG_DEBUG, " as a mount fd");
                r = sd_bus_reply_method_return(m, "h", c->fd);
        } else {
                log_request(c->req, LOG_DEBUG, " on %s", c->path);
                r = sd_bus_reply_method_return(m, "s", c->path);
        }
        bus_request_emit(c->req, m, "Mounted", "ssu", c->req->key, c->path ?: "", (uint32_t) c->req->ns);
        return r;
}

static void mount_call_failed(void *data, const sd_bus_error *error) {
        MountCall *c = data;

        log_request(c->req, LOG_INFO, ": %s: %s", error->name, error->message);
}

static const BusJobOps mount_call_ops = { .run = mount_call_run, .reply = mount_call_reply,
                                          .failed = mount_call_failed, .free = mount_call_free };

static int mount_call(sd_bus_message *m, void *userdata, const char *verb, bus_read_fn read, sd_bus_error *error) {
        BusRequest *req = NULL;
        MountCall *c;
        int r;

        r = bus_request_begin(userdata, m, verb, BUS_ACTION_MOUNT_OWN, read, &req, error);
        if (r != 0)
                return r;
        c = calloc(1, sizeof *c);
        if (!c) {
                bus_request_free(req);
                return -ENOMEM;
        }
        *c = (MountCall) { .req = req, .fd = -EBADF };
        r = request_mount_options(req, &c->o, error);
        if (r < 0) {
                mount_call_free(c);
                return r;
        }
        c->o.userns = req->userns_fd >= 0;
        c->o.userns_fd = req->userns_fd;
        /* A target of a caller other than root is looked up with its uid and groups. */
        if (req->caller != 0 && !isempty(req->target)) {
                r = auth_caller_groups(m, req->caller, &c->target_gids, &c->o.n_target_gids);
                if (r < 0) {
                        log_request(req, LOG_WARNING, ": cannot determine the caller's groups: %s", strerror(-r));
                        mount_call_free(c);
                        return bus_error_setf(error, EACCES,
                                              "cannot determine your groups (%s), with which laminad looks the "
                                              "target up; refusing",
                                              strerror(-r));
                }
                c->o.target_gids = c->target_gids;
        }
        return bus_job_start(req->snapshotter->context->jobs, m, req->caller, &mount_call_ops, c, error);
}

static int method_mount(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return mount_call(m, userdata, "mount", read_mount, error);
}

static int method_mount_userns(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return mount_call(m, userdata, "mount", read_mount_userns, error);
}

/* MountFd(s key, as options) -> h: the mount detached, for the caller to attach. */
static int method_mount_fd(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return mount_call(m, userdata, "mount-fd", read_mount_fd, error);
}

static int method_mount_fd_userns(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return mount_call(m, userdata, "mount-fd", read_mount_fd_userns, error);
}

static int read_unmount_options(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        int r;

        r = bus_read_key(m, req, error);
        if (r < 0)
                return r;
        r = bus_read_strv(m, "unmount options", &req->strv, error);
        if (r < 0)
                return r;
        for (char **i = req->strv; i && *i; i++) /* NULL: no options */
                if (!streq(*i, "force"))
                        return bus_error_setf(error, EINVAL, "unknown unmount option %s; use force", LOG_KEY(*i));
        return 0;
}

static bool unmount_force(const BusRequest *req) {
        return req->strv && req->strv[0];
}

static int unmount_run(BusJob *job, void *data, Error *e) {
        BusRequest *req = data;

        return core_unmount(req->snapshotter->core, req->ns, req->key, unmount_force(req), &req->path, e);
}

static int unmount_reply(sd_bus_message *m, void *data) {
        BusRequest *req = data;
        int r;

        log_request(req, LOG_DEBUG, " from %s%s", req->path, unmount_force(req) ? " (force)" : "");
        r = sd_bus_reply_method_return(m, NULL);
        bus_request_emit(req, m, "Unmounted", "ssu", req->key, req->path, (uint32_t) req->ns);
        return r;
}

static const BusJobOps unmount_ops = { .run = unmount_run, .reply = unmount_reply, .failed = bus_work_failed,
                                       .free = bus_request_free_void };

/* Unmount(s key) and UnmountWithOptions(s key, as options); "force" detaches a mount
 * that is in use (the snapshot stays busy until it is released). On a worker: a busy or
 * forced unmount looks for the mount's holders and copies. */
static int unmount(sd_bus_message *m, void *userdata, bool with_options, sd_bus_error *error) {
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        int r;

        r = bus_request_begin(userdata, m, "unmount", BUS_ACTION_MOUNT_OWN,
                              with_options ? read_unmount_options : bus_read_key, &req, error);
        if (r != 0)
                return r;
        return bus_work_start(m, &unmount_ops, TAKE_PTR(req), error);
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
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        Error e = ERROR_NULL;
        int r;

        r = bus_request_begin(userdata, m, "list-mounts", NULL, NULL, &req, error);
        if (r != 0)
                return r;

        r = core_list_mounts(req->snapshotter->core, req->ns, &mounts, &e);
        if (r < 0)
                return bus_request_fail(req, r, &e, error);
        return bus_reply_array(m, "(ssut)", mounts.n, append_mount_info_at, mounts.items);
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
BUS_DEFINE_METHOD(safe_mount, method_mount)
BUS_DEFINE_METHOD(safe_mount_fd, method_mount_fd)
BUS_DEFINE_METHOD(safe_mount_userns, method_mount_userns)
BUS_DEFINE_METHOD(safe_mount_fd_userns, method_mount_fd_userns)
BUS_DEFINE_METHOD(safe_unmount, method_unmount)
BUS_DEFINE_METHOD(safe_unmount_with_options, method_unmount_with_options)
BUS_DEFINE_METHOD(safe_list_mounts, method_list_mounts)
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
