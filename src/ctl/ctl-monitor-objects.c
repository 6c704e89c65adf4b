/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* laminactl monitor: the object manager's signals (InterfacesAdded, InterfacesRemoved,
 * PropertiesChanged) of laminad's snapshot, image and mount objects, which watchers get
 * beside the Snapshotter signals. Text: one line per signal,
 *   added|changed PATH INTERFACE Name=value ...      removed PATH INTERFACE...
 * JSON: {"event", "path", "interface", "properties": {...}} or {"event", "path", "interfaces"}. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl-escape.h"
#include "ctl-monitor.h"
#include "ctl-output.h"
#include "ctl.h"
#include "strutil.h"

/* One property value (the variant entered) as JSON: s, o, u, t, b, as, a{ss}; *ret NULL (null)
 * for others, which are skipped. */
static int read_value(sd_bus_message *m, json_object **ret) {
        _cleanup_json_ json_object *v = NULL;
        const char *contents, *s, *k;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        if (type == 's' || type == 'o') {
                r = sd_bus_message_read_basic(m, type, &s);
                v = r >= 0 ? json_string(s) : NULL;
        } else if (type == 'u' || type == 't' || type == 'b') {
                uint64_t t = 0;
                uint32_t u = 0;
                int b = 0;

                r = sd_bus_message_read_basic(m, type, type == 't' ? (void *) &t : type == 'u' ? (void *) &u : (void *) &b);
                v = r < 0 ? NULL : type == 'b' ? json_object_new_boolean(b) : json_object_new_uint64(type == 't' ? t : u);
        } else if (type == 'a' && streq(contents, "s")) {
                _cleanup_strv_free_ char **l = NULL;

                r = sd_bus_message_read_strv(m, &l);
                v = r >= 0 ? json_strv(l) : NULL;
        } else if (type == 'a' && streq(contents, "{ss}")) {
                v = json_object_new_object();
                r = sd_bus_message_enter_container(m, 'a', "{ss}");
                while (r >= 0 && (r = sd_bus_message_read(m, "{ss}", &k, &s)) > 0)
                        json_add_string(&v, k, s);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        } else {
                *ret = NULL;
                return sd_bus_message_skip(m, NULL);
        }
        if (r < 0)
                return r;
        if (!v)
                return -ENOMEM;
        *ret = TAKE_PTR(v);
        return 0;
}

/* a{sv} as a JSON object */
static int read_properties(sd_bus_message *m, json_object **ret) {
        _cleanup_json_ json_object *props = json_object_new_object();
        const char *name, *contents;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                json_object *v = NULL;

                r = sd_bus_message_read_basic(m, 's', &name);
                if (r >= 0)
                        r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r >= 0)
                        r = sd_bus_message_enter_container(m, 'v', contents);
                if (r >= 0)
                        r = read_value(m, &v);
                if (r >= 0 && v)
                        json_add(&props, name, v);
                else if (r >= 0)
                        json_add_null(&props, name);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        if (!props)
                return -ENOMEM;
        *ret = TAKE_PTR(props);
        return 0;
}

/* A property value as text: strings as they are, booleans yes/no, lists joined by ",", maps
 * as k=v joined by ",", nothing for null. */
static void print_text_value(json_object *v) {
        const char *sep = "";

        switch (json_object_get_type(v)) {
        case json_type_string:
                ctl_print_escaped(json_object_get_string(v));
                break;
        case json_type_boolean:
                fputs(json_object_get_boolean(v) ? "yes" : "no", stdout);
                break;
        case json_type_int:
                printf("%" PRIu64, json_object_get_uint64(v));
                break;
        case json_type_array:
                for (size_t i = 0; i < json_object_array_length(v); i++, sep = ",") {
                        fputs(sep, stdout);
                        print_text_value(json_object_array_get_idx(v, i));
                }
                break;
        case json_type_object:
                json_object_object_foreach(v, key, value) {
                        fputs(sep, stdout);
                        ctl_print_escaped(key);
                        putchar('=');
                        print_text_value(value);
                        sep = ",";
                }
                break;
        default:
                break;
        }
}

static json_object *event_new(const char *event, const char *path) {
        json_object *o = json_object_new_object();

        json_add_string(&o, "event", event);
        json_add_string(&o, "path", path);
        return o;
}

/* One interface of an object and its properties (the a{sv} next in m): the line
 * "WORD PATH INTERFACE Name=value ..." or the JSON document of the signal EVENT. */
static int print_interface(sd_bus_message *m, const char *event, const char *word, const char *path,
                           const char *iface) {
        _cleanup_json_ json_object *props = NULL;
        json_object *o;
        int r;

        r = read_properties(m, &props);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF) {
                o = event_new(event, path);
                json_add_string(&o, "interface", iface);
                json_add(&o, "properties", TAKE_PTR(props));
                return json_print(o, arg_json);
        }
        printf("%s ", word);
        ctl_print_escaped(path);
        putchar(' ');
        ctl_print_escaped(iface);
        json_object_object_foreach(props, name, value) {
                putchar(' ');
                ctl_print_escaped(name);
                putchar('=');
                print_text_value(value);
        }
        putchar('\n');
        return 0;
}

/* One line (or JSON document) per interface of an object. */
static int print_added(sd_bus_message *m) {
        const char *path, *iface;
        int r;

        r = sd_bus_message_read_basic(m, 'o', &path);
        if (r >= 0)
                r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                r = sd_bus_message_read_basic(m, 's', &iface);
                if (r >= 0)
                        r = print_interface(m, "InterfacesAdded", "added", path, iface);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int print_removed(sd_bus_message *m) {
        _cleanup_strv_free_ char **ifaces = NULL;
        const char *path;
        json_object *o;
        int r;

        r = sd_bus_message_read_basic(m, 'o', &path);
        if (r >= 0)
                r = sd_bus_message_read_strv(m, &ifaces);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF) {
                o = event_new("InterfacesRemoved", path);
                json_add(&o, "interfaces", json_strv(ifaces));
                return json_print(o, arg_json);
        }
        printf("removed %s", path);
        for (char **i = ifaces; i && *i; i++)
                printf(" %s", *i);
        putchar('\n');
        return 0;
}

static int print_changed(sd_bus_message *m) {
        const char *iface, *path = sd_bus_message_get_path(m);
        int r;

        r = sd_bus_message_read_basic(m, 's', &iface);
        if (r < 0 || !path)
                return r < 0 ? r : -EBADMSG;
        return print_interface(m, "PropertiesChanged", "changed", path, iface);
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
