/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bus-objects-internal.h"
#include "bus-util.h"
#include "bus-watch.h"
#include "bus.h"
#include "strutil.h"

/* What the object kinds share (bus-objects.c, bus-objects-image.c, bus-objects-mount.c):
 * properties from a table, paths by ID, who may see an object, the object manager's signals. */

int bus_object_append_property(sd_bus_message *m, const BusObjectKind *k, const char *name, const void *o) {
        for (size_t i = 0; i < k->n_properties; i++)
                if (streq(k->properties[i].name, name))
                        return k->properties[i].append(m, o);
        return -EINVAL;
}

static bool strv_has(char *const *l, const char *s) {
        for (; l && *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

/* a{sv} of o's properties: every one (only NULL), or those named in only. */
static int bus_object_append_properties(sd_bus_message *m, const BusObjectKind *k, const void *o, char *const *only) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && i < k->n_properties; i++) {
                if (only && !strv_has(only, k->properties[i].name))
                        continue;
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append_basic(m, 's', k->properties[i].name);
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', k->properties[i].signature);
                if (r >= 0)
                        r = k->properties[i].append(m, o);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        return r < 0 ? r : sd_bus_message_close_container(m);
}

int bus_object_append(sd_bus_message *m, const BusObjectKind *k, const char *path, const void *o) {
        int r;

        r = sd_bus_message_append_basic(m, 'o', path);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sa{sv}}");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'e', "sa{sv}");
        if (r >= 0)
                r = sd_bus_message_append_basic(m, 's', k->interface);
        if (r >= 0)
                r = bus_object_append_properties(m, k, o, NULL);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r < 0 ? r : sd_bus_message_close_container(m);
}

char *bus_object_id_path(BusSnapshotter *s, const char *what, uid_t uid, uint64_t id) {
        return strdup_printf("%s/%s/%u/%" PRIu64, s->path, what, (unsigned) uid, id);
}

int bus_object_path_split(BusSnapshotter *s, const char *what, const char *path, uid_t *ret_uid, char **ret_head) {
        _cleanup_free_ char *prefix = strdup_printf("%s/%s", s->path, what), *head = NULL;
        const char *slash = strrchr(path, '/');
        int r;

        if (!prefix)
                return -ENOMEM;
        head = slash ? strndup(path, (size_t) (slash - path)) : NULL;
        if (!head)
                return -EINVAL;
        r = bus_parse_user_path(prefix, head, ret_uid); /* canonical, never (uid_t) -1 */
        if (r < 0)
                return r;
        *ret_head = TAKE_PTR(head);
        return 0;
}

int bus_object_id_path_parse(BusSnapshotter *s, const char *what, const char *path, uid_t *ret_uid, uint64_t *ret_id) {
        _cleanup_free_ char *head = NULL;
        const char *p;
        uint64_t id = 0;
        int r;

        r = bus_object_path_split(s, what, path, ret_uid, &head);
        if (r < 0)
                return r;
        /* Canonical only: digits without a leading zero, not 0, no overflow. */
        p = path + strlen(head) + 1;
        if (p[0] < '1' || p[0] > '9')
                return -EINVAL;
        for (; *p; p++) {
                if (*p < '0' || *p > '9' || id > (UINT64_MAX - 9) / 10)
                        return -EINVAL;
                id = id * 10 + (uint64_t) (*p - '0');
        }
        *ret_id = id;
        return 0;
}

bool bus_object_caller_may_see(BusSnapshotter *s, sd_bus *bus, uid_t uid) {
        sd_bus_message *m = sd_bus_get_current_message(bus);
        uid_t caller;

        return m && bus_caller_uid(s->context, m, &caller, NULL) >= 0 && (caller == 0 || caller == uid);
}

/* --- Signals, unicast to the watchers of a namespace (bus-watch.c) --- */

typedef struct AddedArgs {
        const BusObjectKind *kind;
        const char *path;
        const void *object;
} AddedArgs;

static int fill_added(sd_bus_message *signal, void *userdata) {
        const AddedArgs *a = userdata;

        return bus_object_append(signal, a->kind, a->path, a->object);
}

void bus_object_send_added(BusSnapshotter *s, uid_t ns, const BusObjectKind *k, const char *path, const void *o) {
        bus_watchers_send(s->context->watchers, ns, NULL, BUS_PATH, OBJECT_MANAGER_INTERFACE, "InterfacesAdded",
                          fill_added, &(AddedArgs) { k, path, o });
}

typedef struct RemovedArgs {
        const char *path, *interface;
} RemovedArgs;

static int fill_removed(sd_bus_message *signal, void *userdata) {
        const RemovedArgs *a = userdata;

        return sd_bus_message_append(signal, "oas", a->path, 1, a->interface);
}

void bus_object_send_removed(BusSnapshotter *s, uid_t ns, const BusObjectKind *k, const char *path) {
        bus_watchers_send(s->context->watchers, ns, NULL, BUS_PATH, OBJECT_MANAGER_INTERFACE, "InterfacesRemoved",
                          fill_removed, &(RemovedArgs) { path, k->interface });
}

typedef struct ChangedArgs {
        const BusObjectKind *kind;
        const void *object;
        char *const *names;
} ChangedArgs;

static int fill_changed(sd_bus_message *signal, void *userdata) {
        const ChangedArgs *a = userdata;
        int r;

        r = sd_bus_message_append(signal, "s", a->kind->interface);
        if (r >= 0)
                r = bus_object_append_properties(signal, a->kind, a->object, a->names);
        return r < 0 ? r : sd_bus_message_append(signal, "as", 0);
}

void bus_object_send_changed(BusSnapshotter *s, uid_t ns, const BusObjectKind *k, const char *path, const void *o,
                             char *const *names) {
        bus_watchers_send(s->context->watchers, ns, NULL, path, PROPERTIES_INTERFACE, "PropertiesChanged",
                          fill_changed, &(ChangedArgs) { k, o, names });
}
