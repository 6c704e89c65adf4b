/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "bus-objects.h"
#include "core.h"

/* Shared by the object kinds of bus-objects.c (snapshots, the object manager),
 * bus-objects-image.c and bus-objects-mount.c; what they share is in bus-objects-kind.c. */

#define OBJECT_MANAGER_INTERFACE "org.freedesktop.DBus.ObjectManager"
#define PROPERTIES_INTERFACE "org.freedesktop.DBus.Properties"

#define STRV_MAKE(...) ((char *const[]) { __VA_ARGS__, NULL })

/* A read-only property: how to append its value (of signature) from an object of its kind. */
typedef struct BusObjectProperty {
        const char *name, *signature;
        int (*append)(sd_bus_message *m, const void *object);
} BusObjectProperty;

typedef struct BusObjectKind {
        const char *interface;
        const BusObjectProperty *properties;
        size_t n_properties;
} BusObjectKind;

/* What the getters of each kind read. */
typedef struct SnapshotObject {
        BusSnapshotter *s;
        const char *path;
        const SnapshotInfo *info;
        const char *mount_path; /* "" when laminad has not mounted it */
} SnapshotObject;

typedef struct ImageObject {
        BusSnapshotter *s;
        const CoreImageObject *image;
} ImageObject;

typedef struct MountObject {
        BusSnapshotter *s;
        const CoreMountInfo *mount;
        const char *snapshot_path;
} MountObject;

struct BusObjects {
        sd_bus_slot *manager_slot, *filter_slot;
        sd_bus_slot **slots; /* three fallback vtables per snapshotter: snapshot, image, mount */
        size_t n_slots;
        /* What the find functions found for the message being dispatched; its property
         * getters run right after, before the next message. */
        SnapshotInfo current_info;
        char *current_mount_path;
        CoreImageObjectList current_images;
        CoreMountInfo current_mount;
        char *current_snapshot_path;
        union {
                SnapshotObject snapshot;
                ImageObject image;
                MountObject mount;
        } current;
};

/* The value of property name of o (a vtable getter's reply). */
int bus_object_append_property(sd_bus_message *m, const BusObjectKind *k, const char *name, const void *o);
/* o a{sa{sv}}: path with its one interface, as GetManagedObjects and InterfacesAdded carry it. */
int bus_object_append(sd_bus_message *m, const BusObjectKind *k, const char *path, const void *o);

/* InterfacesAdded, InterfacesRemoved and PropertiesChanged (of the properties named in
 * names) of an object of namespace ns, to the watchers that may see ns. */
void bus_object_send_added(BusSnapshotter *s, uid_t ns, const BusObjectKind *k, const char *path, const void *o);
void bus_object_send_removed(BusSnapshotter *s, uid_t ns, const BusObjectKind *k, const char *path);
void bus_object_send_changed(BusSnapshotter *s, uid_t ns, const BusObjectKind *k, const char *path, const void *o,
                             char *const *names);

/* <snapshotter>/<what>/<uid>/<last>: the uid (canonical) and, in *ret_head, all before the
 * last '/' (the last component starts strlen(*ret_head) + 1 into path). */
int bus_object_path_split(BusSnapshotter *s, const char *what, const char *path, uid_t *ret_uid, char **ret_head);
/* <snapshotter>/<what>/<uid>/<id>, for objects known by a number that says nothing of a
 * name (snapshot IDs are never reused). */
char *bus_object_id_path(BusSnapshotter *s, const char *what, uid_t uid, uint64_t id);
int bus_object_id_path_parse(BusSnapshotter *s, const char *what, const char *path, uid_t *ret_uid, uint64_t *ret_id);
/* The snapshot object's path. */
char *bus_object_snapshot_path(BusSnapshotter *s, uid_t uid, const char *key);
/* Whether the caller of the message being dispatched may see objects of namespace uid: it
 * is uid or root. */
bool bus_object_caller_may_see(BusSnapshotter *s, sd_bus *bus, uid_t uid);

/* Images (bus-objects-image.c) */
extern const sd_bus_vtable bus_image_object_vtable[];
int bus_image_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                          sd_bus_error *error);
int bus_image_objects_append(sd_bus_message *m, BusSnapshotter *s, const CoreImageObjectList *l);
size_t bus_image_objects_size(const CoreImageObjectList *l);

/* Mounts (bus-objects-mount.c) */
extern const sd_bus_vtable bus_mount_object_vtable[];
int bus_mount_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                          sd_bus_error *error);
int bus_mount_objects_append(sd_bus_message *m, BusSnapshotter *s, const CoreMountInfoList *l);
void bus_mount_object_added(BusSnapshotter *s, uid_t ns, const char *key);
void bus_mount_object_removed(BusSnapshotter *s, uid_t ns, const char *key);
