/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "snapshot-types.h"

/* Objects for desktops, with read-only properties:
 *   <snapshotter>/snapshot/<uid>/<key, escaped as sd_bus_path_encode() does>: a snapshot
 *     (org.lamina.snapshot1.Snapshot);
 *   <snapshotter>/image/<uid>/<ID of the top snapshot>: the names uid gives one top snapshot
 *     (org.lamina.snapshot1.Image, bus-objects-image.c);
 *   <snapshotter>/mount/<uid>/<ID of the snapshot>: a mount laminad made by Mount or MountFd
 *     (org.lamina.snapshot1.Mount, bus-objects-mount.c).
 * Only the owner and root find them (anyone else: UnknownObject, also for Introspect).
 * org.freedesktop.DBus.ObjectManager on the manager: GetManagedObjects lists the caller's own
 * namespace, or every one for root (on a worker, like List), and makes the caller a watcher
 * (bus-watch.c), which then gets InterfacesAdded, InterfacesRemoved and PropertiesChanged,
 * unicast. */

#define BUS_SNAPSHOT_INTERFACE "org.lamina.snapshot1.Snapshot"
#define BUS_IMAGE_OBJECT_INTERFACE "org.lamina.snapshot1.Image"
#define BUS_MOUNT_OBJECT_INTERFACE "org.lamina.snapshot1.Mount"

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
/* The snapshot object of ns's key is gone (InterfacesRemoved to the watchers of ns). */
void bus_objects_snapshot_removed(BusSnapshotter *s, uid_t ns, const char *key);

/* Image changes, around a change of ns's image name (CreateImage, TagImage, UntagImage,
 * RemoveImage in bus-image.c): the ID of the top snapshot ns's name names before the
 * change (0: none, or nobody watches), then the signals the change implies (the image objects
 * of the name's old and new top, and the snapshot objects of removed, the keys RemoveImage
 * removed; may be NULL). */
uint64_t bus_objects_image_top(BusSnapshotter *s, uid_t ns, const char *name);
void bus_objects_image_changed(BusSnapshotter *s, uid_t ns, const char *name, uint64_t old_top_id,
                               char *const *removed);
