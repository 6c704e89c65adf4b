/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* laminactl monitor: asks laminad to be told about changes (Monitor.Watch) and prints each
 * change signal as it comes: those of the caller's own namespace, or every namespace for
 * root; the Snapshotter signals here, the objects' (snapshots, images, mounts: InterfacesAdded,
 * InterfacesRemoved, PropertiesChanged) in ctl-monitor-objects.c. Only signals from the connection that owns org.lamina.snapshot1 count (anyone may
 * send a unicast signal to anyone). laminad stays while someone watches; when it leaves all
 * the same (stopped, restarted by a package upgrade), monitor watches its successor, which
 * that call starts. Ends on SIGINT/SIGTERM. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl-escape.h"
#include "ctl-monitor.h"
#include "ctl-output.h"
#include "ctl.h"

#define LAMINA_MONITOR_IFACE "org.lamina.snapshot1.Monitor"

/* The Snapshotter signals and the names of their arguments. */
static const struct {
        const char *member, *types;
        const char *fields[4];
} events[] = {
        { "Prepared",      "sssu", { "key", "parent", "kind", "owner" } },
        { "Committed",     "ssu",  { "name", "key", "owner" } },
        { "Removed",       "su",   { "key", "owner" } },
        { "Mounted",       "ssu",  { "key", "path", "owner" } },
        { "Unmounted",     "ssu",  { "key", "path", "owner" } },
        { "ApplyProgress", "sttu", { "key", "bytes_done", "bytes_total", "owner" } },
};

typedef struct Monitor {
        const char *daemon; /* unique name of laminad */
        bool gone;
} Monitor;

typedef struct Arg {
        char type;
        const char *s;
        uint64_t u;
} Arg;

static int read_args(sd_bus_message *m, const char *types, Arg args[static 4]) {
        int r = 0;

        for (size_t i = 0; types[i] && r >= 0; i++) {
                uint32_t u32;

                args[i].type = types[i];
                switch (types[i]) {
                case 's':
                        r = sd_bus_message_read_basic(m, 's', &args[i].s);
                        break;
                case 't':
                        r = sd_bus_message_read_basic(m, 't', &args[i].u);
                        break;
                default:
                        r = sd_bus_message_read_basic(m, 'u', &u32);
                        args[i].u = u32;
                        break;
                }
        }
        return r;
}

static void print_event(const char *member, const char *snapshotter, const char *const *fields, const Arg *args,
                        size_t n) {
        if (arg_json != JSON_OFF) {
                json_object *o = json_object_new_object();

                json_add_string(&o, "event", member);
                json_add_string(&o, "snapshotter", snapshotter);
                for (size_t i = 0; i < n; i++)
                        if (args[i].type == 's')
                                json_add_string(&o, fields[i], args[i].s);
                        else
                                json_add_uint(&o, fields[i], args[i].u);
                (void) json_print(o, arg_json);
        } else {
                printf("%s %s", snapshotter, member);
                for (size_t i = 0; i < n; i++)
                        if (args[i].type == 's') {
                                printf(" %s=\"", fields[i]);
                                ctl_print_escaped(args[i].s);
                                putchar('"');
                        } else if (streq(fields[i], "owner"))
                                printf(" owner=%s", FORMAT_OWNER((uint32_t) args[i].u));
                        else
                                printf(" %s=%llu", fields[i], (unsigned long long) args[i].u);
                putchar('\n');
        }
        fflush(stdout);
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Monitor *mon = userdata;
        const char *member = sd_bus_message_get_member(m), *path = sd_bus_message_get_path(m);
        const char *sender = sd_bus_message_get_sender(m), *snapshotter;
        Arg args[4] = {};

        if (!sender || !mon->daemon || !streq(sender, mon->daemon) || !member || !path)
                return 0;
        if (!streq(sd_bus_message_get_interface(m) ?: "", LAMINA_SNAPSHOTTER_IFACE)) {
                (void) monitor_print_object_signal(m);
                return 0;
        }
        if (strncmp(path, LAMINA_MANAGER_PATH "/", strlen(LAMINA_MANAGER_PATH "/")) != 0)
                return 0;
        snapshotter = path + strlen(LAMINA_MANAGER_PATH "/");
        for (size_t i = 0; i < ELEMENTSOF(events); i++) {
                if (!streq(events[i].member, member))
                        continue;
                if (read_args(m, events[i].types, args) < 0) {
                        log_debug("ignoring a %s signal whose arguments are not %s", member, events[i].types);
                        return 0;
                }
                print_event(member, snapshotter, events[i].fields, args, strlen(events[i].types));
                return 0;
        }
        return 0;
}

/* Only the bus says that laminad left: sd-bus cannot check the sender of a match's signal
 * sent to us alone, and anyone may send one. */
static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Monitor *mon = userdata;
        const char *name, *old_owner, *new_owner, *sender = sd_bus_message_get_sender(m);

        if (sender && streq(sender, "org.freedesktop.DBus") &&
            sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) >= 0 && mon->daemon &&
            streq(old_owner, mon->daemon))
                mon->gone = true;
        return 0;
}

/* Monitor.Watch (which starts laminad if it does not run), then laminad's unique name. */
static int monitor_watch(Ctl *c, Monitor *mon, sd_bus_creds **creds) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(c->bus, LAMINA_BUS_NAME, LAMINA_MANAGER_PATH, LAMINA_MONITOR_IFACE, "Watch", &error,
                               NULL, NULL);
        if (r < 0)
                return ctl_bus_error(c, &error, r);
        mon->daemon = NULL;
        *creds = sd_bus_creds_unref(*creds);
        r = sd_bus_get_name_creds(c->bus, LAMINA_BUS_NAME, SD_BUS_CREDS_UNIQUE_NAME, creds);
        if (r >= 0)
                r = sd_bus_creds_get_unique_name(*creds, &mon->daemon);
        if (r < 0)
                return ctl_fail(r, "cannot find laminad on the bus: %m");
        mon->gone = false;
        return 0;
}

int verb_monitor(Ctl *c, int argc, char **argv) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *signals = NULL, *owner = NULL, *objects = NULL, *properties = NULL;
        Monitor mon = {};
        int r;

        r = ctl_interrupt_catch();
        if (r < 0)
                return ctl_fail(r, "cannot catch signals: %m");
        r = monitor_watch(c, &mon, &creds);
        if (r < 0)
                return r;
        r = sd_bus_match_signal(c->bus, &signals, NULL, NULL, LAMINA_SNAPSHOTTER_IFACE, NULL, on_signal, &mon);
        /* The objects' signals (ctl-monitor-objects.c). */
        if (r >= 0)
                r = sd_bus_match_signal(c->bus, &objects, NULL, LAMINA_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                                        NULL, on_signal, &mon);
        if (r >= 0)
                r = sd_bus_match_signal(c->bus, &properties, NULL, NULL, "org.freedesktop.DBus.Properties",
                                        "PropertiesChanged", on_signal, &mon);
        if (r >= 0)
                r = sd_bus_match_signal(c->bus, &owner, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "NameOwnerChanged", on_owner_changed, &mon);
        if (r < 0)
                return ctl_fail(r, "cannot subscribe to signals: %m");
        if (!arg_quiet)
                fprintf(stderr, "Watching laminad's changes; Ctrl-C ends.\n");

        while (!ctl_interrupted()) {
                if (mon.gone) {
                        r = monitor_watch(c, &mon, &creds);
                        if (r < 0)
                                return r;
                        /* Said once it is true: a change made after it reaches us. */
                        if (!arg_quiet)
                                fprintf(stderr, "laminad left the bus; watching its successor.\n");
                }
                r = sd_bus_process(c->bus, NULL);
                if (r < 0)
                        return ctl_fail(r, "lost the bus connection: %m");
                if (r > 0)
                        continue;
                r = sd_bus_wait(c->bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        return ctl_fail(r, "lost the bus connection: %m");
        }
        return 0;
}
