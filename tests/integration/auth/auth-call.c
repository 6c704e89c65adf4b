/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A tiny busctl for the authorization tests: makes one Snapshotter call and prints the
 * outcome as "ok" or the D-Bus error NAME (busctl prints only the message), so the test
 * can compare outcomes exactly. Run it as the test user (setpriv).
 *
 *   auth-call [--interactive] [--leave-after MS] OBJECT METHOD [KEY [ARG2 [ARG3]]]
 *
 * Arguments by method: Prepare/View KEY PARENT; Commit NAME KEY; Update KEY (sets label
 * auth-test=1); Mount KEY TARGET OPTIONS(comma-separated); Apply KEY LAYER-FILE;
 * Stat/Usage/Mounts/Remove/Unmount KEY; List, ListMounts, Cleanup none.
 * --leave-after MS sends the call, waits MS milliseconds and exits without reading the
 * reply (a caller that goes away while its check is pending). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "macro.h"

#define SERVICE "org.lamina.snapshot1"
#define IFACE "org.lamina.snapshot1.Snapshotter"

static const char *arg(char **argv, int argc, int i) {
        return i < argc ? argv[i] : "";
}

static int append_options(sd_bus_message *m, const char *csv) {
        char buf[256], *save = NULL;
        int r;

        r = sd_bus_message_open_container(m, 'a', "s");
        if (r < 0)
                return r;
        snprintf(buf, sizeof(buf), "%s", csv);
        for (char *o = strtok_r(buf, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
                r = sd_bus_message_append(m, "s", o);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

static int append_args(sd_bus_message *m, const char *method, int argc, char **argv) {
        const char *a1 = arg(argv, argc, 0), *a2 = arg(argv, argc, 1), *a3 = arg(argv, argc, 2);

        if (!strcmp(method, "Prepare") || !strcmp(method, "View") || !strcmp(method, "Commit"))
                return sd_bus_message_append(m, "ssa{ss}", a1, a2, 0);
        if (!strcmp(method, "Update"))
                return sd_bus_message_append(m, "sa{ss}as", a1, 1, "auth-test", "1", 1, "labels.auth-test");
        if (!strcmp(method, "Mount")) {
                int r = sd_bus_message_append(m, "ss", a1, a2);
                return r < 0 ? r : append_options(m, a3);
        }
        if (!strcmp(method, "Apply")) {
                int fd = open(a2, O_RDONLY | O_CLOEXEC), r;

                if (fd < 0)
                        return -errno;
                r = sd_bus_message_append(m, "sha{sv}", a1, fd, 0);
                close(fd);
                return r;
        }
        if (!strcmp(method, "List"))
                return sd_bus_message_append(m, "as", 0);
        if (!strcmp(method, "ListMounts") || !strcmp(method, "Cleanup"))
                return 0;
        return sd_bus_message_append(m, "s", a1);
}

int main(int argc, char **argv) {
        /* Freed on every way out (LeakSanitizer runs at exit in the sanitizer build). */
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        bool interactive = false;
        int leave_after_ms = -1;
        int r;

        for (; argc > 1 && argv[1][0] == '-'; argc--, argv++) {
                if (!strcmp(argv[1], "--interactive"))
                        interactive = true;
                else if (!strcmp(argv[1], "--leave-after") && argc > 2) {
                        leave_after_ms = atoi(argv[2]);
                        argc--, argv++;
                }
                else {
                        fprintf(stderr, "unknown option %s\n", argv[1]);
                        return 2;
                }
        }
        if (argc < 3) {
                fprintf(stderr, "usage: auth-call [--interactive] [--leave-after MS] OBJECT METHOD [ARGS...]\n");
                return 2;
        }

        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_message_new_method_call(bus, &m, SERVICE, argv[1], IFACE, argv[2]);
        if (r >= 0)
                r = sd_bus_message_set_allow_interactive_authorization(m, interactive);
        if (r >= 0)
                r = append_args(m, argv[2], argc - 3, argv + 3);
        if (r < 0) {
                fprintf(stderr, "cannot build the call: %s\n", strerror(-r));
                return 2;
        }
        if (leave_after_ms >= 0) {
                /* Exits with the call pending: the connection closes. */
                r = sd_bus_send(bus, m, NULL);
                if (r >= 0)
                        r = sd_bus_flush(bus);
                if (r >= 0)
                        usleep(leave_after_ms * 1000);
                printf("%s\n", r < 0 ? "send-failed" : "left");
                return r < 0 ? 2 : 0;
        }

        r = sd_bus_call(bus, m, 120 * 1000 * 1000ull, &error, &reply);
        if (r < 0) {
                printf("%s\n", error.name ?: "local-failure");
                fprintf(stderr, "%s: %s\n", argv[2], error.message ?: strerror(-r));
        } else
                printf("ok\n");
        return 0;
}
