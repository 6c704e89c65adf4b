/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A desktop-style watcher for the tests: GetManagedObjects on laminad's manager (which also
 * makes this connection a watcher), one line per object, "ready", then one line per
 * InterfacesAdded, InterfacesRemoved and PropertiesChanged that laminad sends, until killed:
 *   object|added PATH key=KEY owner=UID mount=PATH
 *   removed PATH
 *   changed PATH MountPath=PATH
 *   changed PATH Labels=K=V,...
 * Signals from anyone but laminad's unique name are ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "macro.h"

static const char *daemon_name;

/* a{sv} of a Snapshot object → the line's fields. */
static int print_properties(sd_bus_message *m, const char *what, const char *path) {
        const char *key = "", *mount = "", *name;
        uint32_t owner = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = sd_bus_message_read(m, "s", &name);
                if (r >= 0 && strcmp(name, "Key") == 0)
                        r = sd_bus_message_read(m, "v", "s", &key);
                else if (r >= 0 && strcmp(name, "MountPath") == 0)
                        r = sd_bus_message_read(m, "v", "s", &mount);
                else if (r >= 0 && strcmp(name, "Owner") == 0)
                        r = sd_bus_message_read(m, "v", "u", &owner);
                else if (r >= 0)
                        r = sd_bus_message_skip(m, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        printf("%s %s key=%s owner=%u mount=%s\n", what, path, key, owner, mount);
        return 0;
}

/* v of a{ss} → "changed PATH Labels=k=v,k=v". */
static int print_labels(sd_bus_message *m, const char *path) {
        const char *k, *v, *sep = "";
        int r;

        printf("changed %s Labels=", path);
        r = sd_bus_message_enter_container(m, 'v', "a{ss}");
        if (r >= 0)
                r = sd_bus_message_enter_container(m, 'a', "{ss}");
        while (r >= 0 && (r = sd_bus_message_read(m, "{ss}", &k, &v)) > 0) {
                printf("%s%s=%s", sep, k, v);
                sep = ",";
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        putchar('\n');
        return r;
}

/* o a{sa{sv}} */
static int print_object(sd_bus_message *m, const char *what) {
        const char *path, *iface;
        int r;

        r = sd_bus_message_read(m, "o", &path);
        if (r >= 0)
                r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                r = sd_bus_message_read(m, "s", &iface);
                if (r >= 0 && strcmp(iface, "org.lamina.snapshot1.Snapshot") == 0)
                        r = print_properties(m, what, path);
                else if (r >= 0)
                        r = sd_bus_message_skip(m, "a{sv}");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *sender = sd_bus_message_get_sender(m), *path, *iface, *name, *value = NULL;
        int r = 0;

        if (!sender || strcmp(sender, daemon_name) != 0)
                return 0;
        if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.ObjectManager", "InterfacesAdded"))
                r = print_object(m, "added");
        else if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved")) {
                r = sd_bus_message_read(m, "o", &path);
                if (r >= 0)
                        printf("removed %s\n", path);
        } else if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.Properties", "PropertiesChanged")) {
                r = sd_bus_message_read(m, "s", &iface);
                if (r >= 0)
                        r = sd_bus_message_enter_container(m, 'a', "{sv}");
                while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                        r = sd_bus_message_read(m, "s", &name);
                        if (r >= 0 && strcmp(name, "MountPath") == 0) {
                                r = sd_bus_message_read(m, "v", "s", &value);
                                if (r >= 0)
                                        printf("changed %s MountPath=%s\n", sd_bus_message_get_path(m), value);
                        } else if (r >= 0 && strcmp(name, "Labels") == 0)
                                r = print_labels(m, sd_bus_message_get_path(m));
                        else if (r >= 0)
                                r = sd_bus_message_skip(m, "v");
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                }
        }
        if (r < 0)
                fprintf(stderr, "watch-objects: bad signal %s: %s\n", sd_bus_message_get_member(m), strerror(-r));
        fflush(stdout);
        return 0;
}

int main(void) {
        /* Freed on every way out (LeakSanitizer runs at exit in a sanitizer build). */
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "watch-objects: no system bus: %s\n", strerror(-r));
                return 1;
        }
        r = sd_bus_call_method(bus, "org.lamina.snapshot1", "/org/lamina/snapshot1",
                               "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", &error, &reply, NULL);
        if (r < 0) {
                fprintf(stderr, "watch-objects: GetManagedObjects: %s: %s\n", error.name, error.message);
                return 1;
        }
        r = sd_bus_get_name_creds(bus, "org.lamina.snapshot1", SD_BUS_CREDS_UNIQUE_NAME, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_unique_name(creds, &daemon_name);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, NULL, NULL, "org.freedesktop.DBus.ObjectManager", NULL, on_signal,
                                        NULL);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, NULL, NULL, "org.freedesktop.DBus.Properties",
                                        "PropertiesChanged", on_signal, NULL);
        if (r >= 0)
                r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                r = print_object(reply, "object");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        if (r < 0) {
                fprintf(stderr, "watch-objects: %s\n", strerror(-r));
                return 1;
        }
        printf("ready\n");
        fflush(stdout);

        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0) {
                        fprintf(stderr, "watch-objects: %s\n", strerror(-r));
                        return 1;
                }
                if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
                        return 1;
        }
}
