/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "bus-error.h"
#include "bus-job.h"
#include "bus-mount.h"
#include "bus-request.h"
#include "bus-util.h"
#include "bus-work.h"
#include "bus.h"
#include "strutil.h"

/* Mount, MountFd (each also with a user namespace), Unmount and ListMounts of a
 * snapshotter object: options parsed and forced here, the work done by the core on a
 * worker. */

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
        if (!isempty(target)) {
                Error e = ERROR_NULL;

                r = core_validate_mount_target(target, &e);
                if (r < 0)
                        return bus_error_from_core(error, r, &e);
        }
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
        sd_bus_message *message; /* while the caller's groups are asked for */
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
        sd_bus_message_unref(c->message);
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
                log_request(c->req, LOG_DEBUG, " on %s", LOG_KEY(c->path));
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

static int groups_refused(const BusRequest *req, int r, sd_bus_error *error) {
        log_request(req, LOG_WARNING, ": cannot determine the caller's groups: %s", strerror(-r));
        return bus_error_setf(error, EACCES,
                              "cannot determine your groups (%s), with which laminad looks the target up; refusing",
                              strerror(-r));
}

/* The bus daemon told the caller's groups (or failed: denied): the call goes on as a job,
 * or is answered with its error. */
static void mount_call_with_groups(int r, gid_t *gids, size_t n, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        MountCall *c = userdata;

        m = TAKE_PTR(c->message);
        if (r == -ECONNRESET) { /* the bus went unanswered: nobody to tell */
                mount_call_free(c);
                return;
        }
        if (r < 0) {
                r = groups_refused(c->req, r, &error);
                mount_call_free(c);
        } else {
                c->target_gids = gids;
                c->o.target_gids = gids;
                c->o.n_target_gids = n;
                r = bus_job_start(c->req->snapshotter->context->jobs, m, c->req->caller, &mount_call_ops, c, &error);
                if (r >= 0)
                        return;
        }
        r = bus_error_ensure(&error, r);
        if (sd_bus_reply_method_error(m, &error) < 0)
                log_debug("cannot answer a Mount call whose caller's groups were not known: %s", error.message);
}

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
        /* A target of a caller other than root is looked up with its uid and groups, which
         * the bus daemon tells: the call goes on when it has answered. */
        if (req->caller != 0 && !isempty(req->target)) {
                c->message = sd_bus_message_ref(m);
                r = auth_caller_groups_async(sd_bus_message_get_bus(m), sd_bus_message_get_sender(m), req->caller,
                                             mount_call_with_groups, c);
                if (r < 0) {
                        mount_call_free(c);
                        if (r == -EUSERS || r == -EBUSY)
                                return bus_error_setf(error, EUSERS,
                                                      "too many lookups of callers' groups are pending (at most %u per user); try again when your earlier calls are answered",
                                                      AUTH_GROUPS_PENDING_PER_UID);
                        return groups_refused(req, r, error);
                }
                return 1; /* answered once the job ends */
        }
        return bus_job_start(req->snapshotter->context->jobs, m, req->caller, &mount_call_ops, c, error);
}

int bus_method_mount(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return mount_call(m, userdata, "mount", read_mount, error);
}

int bus_method_mount_userns(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return mount_call(m, userdata, "mount", read_mount_userns, error);
}

/* MountFd(s key, as options) -> h: the mount detached, for the caller to attach. */
int bus_method_mount_fd(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return mount_call(m, userdata, "mount-fd", read_mount_fd, error);
}

int bus_method_mount_fd_userns(sd_bus_message *m, void *userdata, sd_bus_error *error) {
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

        log_request(req, LOG_DEBUG, " from %s%s", LOG_KEY(req->path), unmount_force(req) ? " (force)" : "");
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

int bus_method_unmount(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return unmount(m, userdata, false, error);
}

int bus_method_unmount_with_options(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return unmount(m, userdata, true, error);
}

static int append_mount_info_at(sd_bus_message *reply, const void *items, size_t i) {
        const CoreMountInfo *mi = (const CoreMountInfo *) items + i;

        return sd_bus_message_append(reply, "(ssut)", mi->key, mi->path, (uint32_t) mi->owner, mi->mounted_usec);
}

int bus_method_list_mounts(sd_bus_message *m, void *userdata, sd_bus_error *error) {
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
