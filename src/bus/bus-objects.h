/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "snapshot-types.h"

/* One object per snapshot, for desktops: <snapshotter>/snapshot/<uid>/<key, escaped as
 * sd_bus_path_encode() does>, with the read-only properties of org.lamina.snapshot1.Snapshot.
 * Only the owner and root find it (anyone else: UnknownObject, also for Introspect).
 * org.freedesktop.DBus.ObjectManager on the manager: GetManagedObjects lists the caller's own
 * namespace, or every one for root (on a worker, like List), and makes the caller a watcher (bus-watch.c), which
 * then gets InterfacesAdded, InterfacesRemoved and PropertiesChanged (MountPath), unicast. */

#define BUS_SNAPSHOT_INTERFACE "org.lamina.snapshot1.Snapshot"

typedef struct BusContext BusContext;
typedef struct BusSnapshotter BusSnapshotter;
typedef struct BusObjects BusObjects;

/* After the snapshotters are registered: the object vtables, the object manager. */
int bus_objects_register(BusContext *c);
BusObjects *bus_objects_free(BusObjects *o);

/* The object signals a Snapshotter signal (member, its arguments in ap) implies, to the
 * watchers of namespace ns. */
void bus_objects_changed(BusSnapshotter *s, const char *member, uid_t ns, const char *types, va_list ap);
/* PropertiesChanged of Labels and Updated after an Update, to the watchers of its namespace. */
void bus_objects_updated(BusSnapshotter *s, const SnapshotInfo *info);
