/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "auth.h"
#include "bus-job.h"
#include "bus-objects.h"
#include "bus-track.h"
#include "bus-watch.h"
#include "core.h"
#include "macro.h"

/* The D-Bus face of laminad: the Manager object and one Snapshotter object per
 * available snapshotter (plus its user/<uid> children). This layer only translates:
 * it parses arguments, decides authorization, calls the core and maps errors. */

#define BUS_NAME "org.lamina.snapshot1"
#define BUS_PATH "/org/lamina/snapshot1"
#define BUS_MANAGER_INTERFACE "org.lamina.snapshot1.Manager"
#define BUS_SNAPSHOTTER_INTERFACE "org.lamina.snapshot1.Snapshotter"
#define BUS_DEFAULT_SNAPSHOTTER "overlayfs"
/* The default snapshotter's Snapshotter and Images interfaces also answer here (and at
 * .../default/user/<uid>), so that a client need not ask DefaultSnapshotter first. Its
 * signals still come from the snapshotter's own path. */
#define BUS_DEFAULT_PATH BUS_PATH "/default"
#define BUS_DEFAULT_USER_PATH BUS_DEFAULT_PATH "/user"
/* Slow calls (Usage, Commit, Cleanup, Apply, copying Prepare): 16 workers, 4 per user,
 * 4 kept for root. Lists: 16, 4 per user, 4 for root. */
#define BUS_APPLY_STALL_USEC_DEFAULT (60ULL * 1000 * 1000)
#define BUS_MAX_JOBS 16
#define BUS_JOBS_PER_CALLER 4
#define BUS_JOBS_ROOT_RESERVE 4
#define BUS_MAX_QUERIES 16
#define BUS_QUERIES_PER_CALLER 4
#define BUS_QUERIES_ROOT_RESERVE 4

typedef struct BusContext BusContext;

typedef struct BusSnapshotter {
        BusContext *context;
        CoreSnapshotter *core;
        char *path;      /* /org/lamina/snapshot1/<name> */
        char *user_path; /* /org/lamina/snapshot1/<name>/user */
        sd_bus_slot *object_slot, *user_slot, *enumerator_slot;
        sd_bus_slot *images_slot, *images_user_slot; /* org.lamina.snapshot1.Images (bus-image.c) */
} BusSnapshotter;

struct BusContext {
        Core *core;
        sd_bus *bus;
        BusJobs *jobs;    /* slow calls */
        BusJobs *queries; /* List, ListPage */
        AuthRegistry *auth; /* polkit checks in flight */
        BusWatchers *watchers; /* connections told about changes (bus-watch.c) */
        BusObjects *objects;   /* one object per snapshot, the object manager (bus-objects.c) */
        BusTracks *tracks;     /* callers with Applies or transient snapshots (bus-track.c) */
        sd_bus_slot *manager_slot;
        sd_bus_slot *default_slots[4]; /* BUS_DEFAULT_PATH and its user children */
        BusSnapshotter *snapshotters;
        size_t n_snapshotters;
        /* Manager properties, read straight from here by the vtable. */
        const char *version;
        const char *state_dir;
        const char *default_snapshotter;
        /* Apply from a pipe or socket fails after this long without data (0: never). */
        uint64_t apply_stall_usec;
};

/* Registers the objects on bus (not yet the name). The context borrows core and bus. */
int bus_context_new(Core *core, sd_bus *bus, sd_event *event, BusContext **ret);
BusContext *bus_context_free(BusContext *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(BusContext *, bus_context_free);

/* Calls and jobs still in flight; the daemon only exits on idle when this is false. */
bool bus_context_busy(BusContext *c);

extern const sd_bus_vtable bus_manager_vtable[];
extern const sd_bus_vtable bus_snapshotter_vtable[];

/* Authorization, decided before any state changes. Returns 1 when the caller may go
 * on, 0 when a decision is pending (the handler returns 1 and is called again), or a
 * negative errno with error set. */
int bus_caller_uid(BusContext *c, sd_bus_message *m, uid_t *ret, sd_bus_error *error);
int bus_verify(BusContext *c, sd_bus_message *m, const char *action, const char *const *details,
               sd_bus_error *error);
