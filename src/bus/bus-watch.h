/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "macro.h"

/* Watchers: connections that called Monitor.Watch to hear about changes made by other
 * connections. Every change signal of a namespace (Prepared, Committed, Removed, Mounted,
 * Unmounted, ApplyProgress) goes unicast to the caller that made it (bus_request_emit)
 * and to each watcher of the namespace's uid and each root watcher: never broadcast,
 * so no one learns the keys of a namespace not theirs. A watcher is forgotten when its
 * connection leaves the bus or it calls Unwatch. A connection may also mute the signals
 * its own calls cause (Mute: a long-lived client that learns every outcome from the replies
 * saves one message through the bus per change); watchers still get their copies. Muted
 * connections take watcher slots: users together leave
 * BUS_WATCHERS_ROOT_RESERVE of BUS_WATCHERS_MAX to root and share the others fairly
 * (fair_share_admit, like pending polkit checks): one uid holds at most BUS_WATCHERS_PER_UID,
 * and the last quarter of the users' slots is kept for uids that watch with none yet. */

#define BUS_MONITOR_INTERFACE "org.lamina.snapshot1.Monitor"
#define BUS_WATCHERS_MAX 256u
#define BUS_WATCHERS_PER_UID 16u
#define BUS_WATCHERS_ROOT_RESERVE 16u

typedef struct BusContext BusContext;
typedef struct BusSnapshotter BusSnapshotter;
typedef struct BusWatchers BusWatchers;

/* Sets up c->watchers and the Monitor interface on the manager object. */
int bus_watchers_register(BusContext *c);
BusWatchers *bus_watchers_free(BusWatchers *w);
/* Whether anyone watches. */
bool bus_watchers_any(const BusWatchers *w);
/* Whether anyone watches or muted: laminad does not exit on idle then (a watcher would miss
 * changes, a muted connection would get its signals again from the next laminad). */
bool bus_watchers_hold(const BusWatchers *w);
/* Whether the connection named name muted the signals of its own calls. */
bool bus_watchers_muted(const BusWatchers *w, const char *name);

/* Whether uid, with mine of the taken watcher slots, gets one more: 0, -EUSERS (over its
 * share) or -EBUSY (none left for it). */
int bus_watchers_admit(uid_t uid, size_t mine, size_t taken);

/* GetManagedObjects: only a call that is answered with the objects makes its caller a
 * watcher, but from the listing on it must miss no change. begin: the caller of m (uid) gets
 * the signals while the call runs, and takes a slot as Watch does (LimitsExceeded beyond
 * the limits above); end, once per begin, with whether the call was answered with the objects: it
 * stays a watcher if so, else it gets no more signals (unless it watches otherwise). */
int bus_watchers_begin_pending(BusWatchers *w, sd_bus_message *m, uid_t uid, sd_bus_error *error);
void bus_watchers_end_pending(BusWatchers *w, const char *name, bool answered);

/* Appends a signal's arguments. */
typedef int (*bus_signal_fill_fn)(sd_bus_message *signal, void *userdata);
/* Sends member (of interface, from path), its arguments appended by fill, to every watcher
 * that may see namespace ns, except the connection named except (may be NULL). */
void bus_watchers_send(BusWatchers *w, uid_t ns, const char *except, const char *path, const char *interface,
                       const char *member, bus_signal_fill_fn fill, void *userdata);

/* A Snapshotter signal (member, with the arguments in ap) that the caller named except was
 * sent already: a copy to each other watcher, and the object signals it implies
 * (bus-objects.c) to every watcher. */
void bus_watchers_emitv(BusWatchers *w, BusSnapshotter *s, const char *member, uid_t ns, const char *except,
                        const char *types, va_list ap);
