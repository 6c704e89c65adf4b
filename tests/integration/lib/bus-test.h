/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Calls to org.lamina.snapshot1 for integration tests, one function per method of API.md.
 * Each returns 0 or a negative errno and keeps the D-Bus error of the last call in
 * t->error, so tests can assert error NAMES (BT_ASSERT_ERROR) and print them on failure. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>

#include "labels.h"
#include "snapshot-types.h"

#define BT_SERVICE "org.lamina.snapshot1"
#define BT_MANAGER_PATH "/org/lamina/snapshot1"
#define BT_MANAGER_IFACE "org.lamina.snapshot1.Manager"
#define BT_SNAPSHOTTER_IFACE "org.lamina.snapshot1.Snapshotter"
#define BT_ERROR_PREFIX "org.lamina.snapshot1.Error."
#define BT_GC_ROOT_LABEL "containerd.io/gc.root"

#ifndef STRV_MAKE
#define STRV_MAKE(...) ((char *const[]) { __VA_ARGS__, NULL })
#endif

typedef struct BusTest {
        sd_bus *bus;
        char *path; /* the snapshotter object */
        sd_bus_error error;
} BusTest;

typedef struct InfoList {
        SnapshotInfo *items;
        size_t n;
} InfoList;

void info_list_clear(InfoList *l);
const SnapshotInfo *info_list_find(const InfoList *l, const char *name);

/* Connects to the system bus ($DBUS_SYSTEM_BUS_ADDRESS) and uses object
 * /org/lamina/snapshot1/<snapshotter>. */
int bt_open(BusTest *t, const char *snapshotter);
void bt_close(BusTest *t);
/* Switches to another object path (e.g. .../overlayfs/user/1000). */
int bt_set_path(BusTest *t, const char *path);

int bt_stat(BusTest *t, const char *key, SnapshotInfo *ret);
int bt_update(BusTest *t, const char *key, const Labels *labels, char *const *fieldpaths,
              SnapshotInfo *ret);
int bt_usage(BusTest *t, const char *key, uint64_t *ret_size, uint64_t *ret_inodes);
int bt_mounts(BusTest *t, const char *key, MountSpecList *ret);
int bt_prepare(BusTest *t, const char *key, const char *parent, const Labels *labels,
               MountSpecList *ret);
int bt_view(BusTest *t, const char *key, const char *parent, const Labels *labels,
            MountSpecList *ret);
int bt_commit(BusTest *t, const char *name, const char *key, const Labels *labels);
int bt_remove(BusTest *t, const char *key);
int bt_list(BusTest *t, char *const *filters, InfoList *ret);
int bt_cleanup(BusTest *t, uint64_t *ret_reclaimed);
int bt_mount(BusTest *t, const char *key, const char *target, char *const *options,
             char **ret_path);
int bt_unmount(BusTest *t, const char *key);

/* Any method with no arguments and no reply, or with arguments given as for
 * sd_bus_call_method(); for calls the typed wrappers above cannot make. */
int bt_call(BusTest *t, const char *path, const char *iface, const char *member,
            sd_bus_message **ret_reply, const char *types, ...);

/* Builds labels from NULL-terminated key, value pairs. */
int labels_from_pairs(Labels *ret, ...);
/* containerd.io/gc.root=<now, RFC 3339>, as containerd's suite labels its snapshots. */
int labels_gc_root(Labels *ret);

/* True if the last call failed with this name; short names get BT_ERROR_PREFIX. */
int bt_error_is(const BusTest *t, const char *name);
const char *bt_error_string(const BusTest *t); /* "Name: message" of the last call */

/* Whether the case name runs: PROGRAM SNAPSHOTTER [CASE...] runs the cases named, or all. */
bool bt_case_selected(const char *name, int argc, char **argv);

#define BT_ASSERT_OK(t, expr)                                                              \
        do {                                                                               \
                int _r = (expr);                                                           \
                if (_r < 0) {                                                              \
                        fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__,      \
                                #expr, bt_error_string(t));                                \
                        abort();                                                           \
                }                                                                          \
        } while (0)

/* expr must fail with D-Bus error `name` ("NotFound" or a full name). */
#define BT_ASSERT_ERROR(t, expr, name)                                                     \
        do {                                                                               \
                int _r = (expr);                                                           \
                if (_r >= 0 || !bt_error_is((t), (name))) {                                \
                        fprintf(stderr, "%s:%d: %s: expected error %s, got %s\n",         \
                                __FILE__, __LINE__, #expr, (name),                         \
                                _r >= 0 ? "success" : bt_error_string(t));                 \
                        abort();                                                           \
                }                                                                          \
        } while (0)
