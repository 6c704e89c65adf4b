/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "bus.h"
#include "core.h"
#include "labels.h"
#include "log.h"

/* One call on a Snapshotter object: its arguments, read once from the message and
 * validated in time linear in their size, with limits checked while reading, before
 * anyone is asked about authorization. While polkit decides, the request waits attached
 * to the check (auth_set_data()) and the re-dispatched call picks it up again instead of
 * reading the message a second time. Slow calls hand it to their job, which adds the
 * results. */

/* The polkit actions a request may need: on the caller's own snapshots, mounts of them
 * (MOUNT_ANYWHERE for a target the caller names), and MANAGE for another uid's. */
#define BUS_ACTION_MANAGE_OWN "org.lamina.snapshot1.manage-own"
#define BUS_ACTION_MOUNT_OWN "org.lamina.snapshot1.mount-own"
#define BUS_ACTION_MOUNT_ANYWHERE "org.lamina.snapshot1.mount-anywhere"
#define BUS_ACTION_MANAGE "org.lamina.snapshot1.manage"

/* Filters, fieldpaths and mount options: at most this many strings, of this many bytes
 * in all (the filter language's own limit is 64 KiB). */
#define BUS_STRV_MAX 256u
#define BUS_STRV_BYTES_MAX (64u * 1024u)

typedef struct BusRequest BusRequest;
/* Reads the arguments of one method into req (after key, for methods that take one). */
typedef int (*bus_read_fn)(sd_bus_message *m, BusRequest *req, sd_bus_error *error);

struct BusRequest {
        BusSnapshotter *snapshotter;
        const char *verb;
        uid_t caller;
        uid_t ns;
        const char *extra_action; /* asked about after the namespace's action (mount-anywhere) */

        char *key;    /* validated, or NULL for calls without one */
        char *parent; /* "" or validated; CommitWithOptions: its parent option (NULL: none) */
        bool rebase;  /* PrepareWithOptions */
        char *name;   /* Commit; TagImage: the new name */
        char *target; /* Mount: "" or the caller's path */
        Labels labels;
        char **strv;  /* fieldpaths, filters or mount options */
        int layer_fd; /* Apply: our own copy */
        int userns_fd; /* Mount(Fd)WithUserNamespace: our own copy */
        BusTrackJob *track; /* Apply: cancelled when the caller leaves (bus-track.h) */
        char *expected_diff_id, *media_type;
        char *cursor; /* ListPage: "" or "<owner>/<name>" of the last item of the previous page */
        char *config; /* CreateImage (bus-image.c) */
        bool replace; /* CreateImage: true; WithOptions: false keeps a name that stands for another image */
        uint32_t limit;

        /* Results of jobs. */
        uint64_t size, inodes;
        CoreApplyResult applied;
        MountSpecList mounts;
        SnapshotInfoList infos;
        size_t first, count; /* the part of infos to send */
        char *next_cursor;
        char *path; /* Unmount: where it was */
        CoreImageList images; /* ListImages */
        uint64_t image_top;   /* RemoveImage: the image's top snapshot before (its object) */
        char **removed;       /* RemoveImage: the layers removed with it */
};

BusRequest *bus_request_free(BusRequest *req);
DEFINE_TRIVIAL_CLEANUP_FUNC(BusRequest *, bus_request_free);
void bus_request_free_void(void *req);

/* Starts a call: the caller and namespace first, then read (may be NULL) for the
 * arguments, then authorization for own_action (or manage on another namespace; NULL:
 * none for reads in the own namespace) and req->extra_action. Returns 0 with *ret set to
 * go on, or what the handler returns right away: a negative errno with error set, or 1
 * while polkit decides (the request waits with the check; the handler runs again). */
int bus_request_begin(BusSnapshotter *s, sd_bus_message *m, const char *verb, const char *own_action,
                      bus_read_fn read, BusRequest **ret, sd_bus_error *error);

/* Argument readers. A key (or name, or non-empty parent) is validated as the core does. */
int bus_read_key(sd_bus_message *m, BusRequest *req, sd_bus_error *error);
int bus_read_checked_key(sd_bus_message *m, const char *what, bool may_be_empty, char **ret, sd_bus_error *error);
/* a{ss}: pair and total limits checked while reading, then sorted once (labels_build()). */
int bus_read_labels(sd_bus_message *m, Labels *ret, sd_bus_error *error);
/* a{sv} of a method's options: each name one of options (ended by an entry with name NULL),
 * its value of that entry's type, 's' (a string of at most BUS_OPTION_MAX bytes, stored as
 * a new char * in *slot) or 'b' (a bool *). Anything else: InvalidArgument naming it. */
#define BUS_OPTION_MAX 1024u
typedef struct BusOption {
        const char *name;
        char type;
        void *slot;
} BusOption;
int bus_read_options(sd_bus_message *m, const char *method, const BusOption *options, sd_bus_error *error);
/* as, at most BUS_STRV_MAX strings of BUS_STRV_BYTES_MAX bytes in all; *ret is NULL for an
 * empty array. */
int bus_read_strv(sd_bus_message *m, const char *what, char ***ret, sd_bus_error *error);

/* Logs about the request: "<snapshotter>: uid U ns N: <verb> "<key>"<fmt>". */
#define log_request(req, level, fmt, ...)                                                         \
        log_full((level), "%s: uid %u ns %u: %s%s%s" fmt,                                         \
                 core_snapshotter_name((req)->snapshotter->core), (unsigned) (req)->caller,       \
                 (unsigned) (req)->ns, (req)->verb, (req)->key ? " " : "", LOG_KEY((req)->key),   \
                 ##__VA_ARGS__)

/* Logs a failed call and turns it into the D-Bus error. Returns r. */
int bus_request_fail(const BusRequest *req, int r, const Error *e, sd_bus_error *error);

/* Sends a signal about req's namespace to the caller of m only (never broadcast). */
void bus_request_emit(const BusRequest *req, sd_bus_message *m, const char *member, const char *types, ...);
