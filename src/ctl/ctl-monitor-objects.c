/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* laminactl monitor: the object manager's signals (InterfacesAdded, InterfacesRemoved,
 * PropertiesChanged) of laminad's snapshot, image and mount objects, which watchers get
 * beside the Snapshotter signals. Text: one line per signal,
 *   added|changed PATH INTERFACE Name=value ...      removed PATH INTERFACE...
 * JSON: {"event", "path", "interface", "properties": {...}} or {"event", "path", "interfaces"}. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl-monitor.h"
#include "ctl-output.h"
#include "ctl.h"
#include "strutil.h"

/* One property value (the variant entered): s, o, u, t, b, as, a{ss}; others skipped. */
static int print_value(sd_bus_message *m, JsonWriter *j) {
        const char *contents, *s, *k;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        if (type == 's' || type == 'o') {
                r = sd_bus_message_read_basic(m, type, &s);
                if (r >= 0 && j)
                        jw_string(j, s);
                else if (r >= 0)
                        printf("%s", s);
        } else if (type == 'u' || type == 't' || type == 'b') {
                uint64_t v = 0;
                uint32_t u = 0;
                int b = 0;

                r = sd_bus_message_read_basic(m, type, type == 't' ? (void *) &v : type == 'u' ? (void *) &u : (void *) &b);
                v = type == 't' ? v : type == 'u' ? u : (uint64_t) !!b;
                if (r >= 0 && j && type == 'b')
                        jw_bool(j, b);
                else if (r >= 0 && j)
                        jw_uint(j, v);
                else if (r >= 0 && type == 'b')
                        printf("%s", b ? "yes" : "no");
                else if (r >= 0)
                        printf("%llu", (unsigned long long) v);
        } else if (type == 'a' && streq(contents, "s")) {
                const char *sep = "";

                r = sd_bus_message_enter_container(m, 'a', "s");
                if (r >= 0 && j)
                        jw_begin_array(j);
                while (r >= 0 && (r = sd_bus_message_read_basic(m, 's', &s)) > 0) {
                        if (j)
                                jw_string(j, s);
                        else
                                printf("%s%s", sep, s);
                        sep = ",";
                }
                if (r >= 0 && j)
                        jw_end_array(j);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        } else if (type == 'a' && streq(contents, "{ss}")) {
                const char *sep = "";

                r = sd_bus_message_enter_container(m, 'a', "{ss}");
                if (r >= 0 && j)
                        jw_begin_object(j);
                while (r >= 0 && (r = sd_bus_message_read(m, "{ss}", &k, &s)) > 0) {
                        if (j) {
                                jw_key(j, k);
                                jw_string(j, s);
                        } else
                                printf("%s%s=%s", sep, k, s);
                        sep = ",";
                }
                if (r >= 0 && j)
                        jw_end_object(j);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        } else {
                r = sd_bus_message_skip(m, NULL);
                if (r >= 0 && j)
                        jw_null(j);
        }
        return r;
}

/* a{sv} */
static int print_properties(sd_bus_message *m, JsonWriter *j) {
        const char *name, *contents;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r >= 0 && j) {
                jw_key(j, "properties");
                jw_begin_object(j);
        }
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = sd_bus_message_read_basic(m, 's', &name);
                if (r >= 0)
                        r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r >= 0)
                        r = sd_bus_message_enter_container(m, 'v', contents);
                if (r >= 0 && j)
                        jw_key(j, name);
                else if (r >= 0)
                        printf(" %s=", name);
                if (r >= 0)
                        r = print_value(m, j);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r >= 0 && j)
                jw_end_object(j);
        return r < 0 ? r : sd_bus_message_exit_container(m);
}

static void begin(JsonWriter *j, const char *event, const char *path) {
        jw_init(j, stdout, arg_json);
        jw_begin_object(j);
        jw_key(j, "event");
        jw_string(j, event);
        jw_key(j, "path");
        jw_string(j, path);
}

/* One line (or JSON document) per interface of an object. */
static int print_added(sd_bus_message *m) {
        const char *path, *iface;
        int r;

        r = sd_bus_message_read_basic(m, 'o', &path);
        if (r >= 0)
                r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                JsonWriter j;

                r = sd_bus_message_read_basic(m, 's', &iface);
                if (r < 0)
                        break;
                if (arg_json != JSON_OFF) {
                        begin(&j, "InterfacesAdded", path);
                        jw_key(&j, "interface");
                        jw_string(&j, iface);
                } else
                        printf("added %s %s", path, iface);
                r = print_properties(m, arg_json != JSON_OFF ? &j : NULL);
                if (arg_json != JSON_OFF) {
                        jw_end_object(&j);
                        jw_finish(&j);
                } else
                        putchar('\n');
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int print_removed(sd_bus_message *m) {
        _cleanup_strv_free_ char **ifaces = NULL;
        const char *path;
        JsonWriter j;
        int r;

        r = sd_bus_message_read_basic(m, 'o', &path);
        if (r >= 0)
                r = sd_bus_message_read_strv(m, &ifaces);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF) {
                begin(&j, "InterfacesRemoved", path);
                jw_key(&j, "interfaces");
                jw_begin_array(&j);
                for (char **i = ifaces; i && *i; i++)
                        jw_string(&j, *i);
                jw_end_array(&j);
                jw_end_object(&j);
                jw_finish(&j);
        } else {
                printf("removed %s", path);
                for (char **i = ifaces; i && *i; i++)
                        printf(" %s", *i);
                putchar('\n');
        }
        return 0;
}

static int print_changed(sd_bus_message *m) {
        const char *iface, *path = sd_bus_message_get_path(m);
        JsonWriter j;
        int r;

        r = sd_bus_message_read_basic(m, 's', &iface);
        if (r < 0 || !path)
                return r < 0 ? r : -EBADMSG;
        if (arg_json != JSON_OFF) {
                begin(&j, "PropertiesChanged", path);
                jw_key(&j, "interface");
                jw_string(&j, iface);
        } else
                printf("changed %s %s", path, iface);
        r = print_properties(m, arg_json != JSON_OFF ? &j : NULL);
        if (arg_json != JSON_OFF) {
                jw_end_object(&j);
                jw_finish(&j);
        } else
                putchar('\n');
        return r;
}

int monitor_print_object_signal(sd_bus_message *m) {
        int r = 0;

        if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.ObjectManager", "InterfacesAdded"))
                r = print_added(m);
        else if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved"))
                r = print_removed(m);
        else if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.Properties", "PropertiesChanged"))
                r = print_changed(m);
        if (r < 0)
                log_debug("ignoring a malformed %s signal", sd_bus_message_get_member(m));
        fflush(stdout);
        return r;
}
