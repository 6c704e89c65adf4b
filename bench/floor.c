/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The floors of a one-shot command (bench/run, section cli), linked like a minimal sd-bus
 * client (libsystemd and libc, nothing else):
 *   lamina-floor        returns at once: what starting a process costs on this machine;
 *   lamina-floor ping   connects to the system bus and calls org.freedesktop.DBus.Peer.Ping on
 *                       laminad once, sent right behind Hello as laminactl sends its call
 *                       (AUTH, then Hello and the call in one round trip): the least any
 *                       one-shot laminactl command must do. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-bus.h>

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        int *result = userdata;

        *result = sd_bus_message_is_method_error(m, NULL) ? -sd_bus_message_get_errno(m) : 1;
        if (*result == 0)
                *result = -EIO;
        return 0;
}

int main(int argc, char **argv) {
        sd_bus *bus = NULL;
        int r, result = 0;

        if (argc < 2)
                return 0;
        if (argc != 2 || strcmp(argv[1], "ping") != 0) {
                fprintf(stderr, "usage: %s [ping]\n", argv[0]);
                return 2;
        }
        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_call_method_async(bus, NULL, "org.lamina.snapshot1", "/org/lamina/snapshot1",
                                             "org.freedesktop.DBus.Peer", "Ping", on_reply, &result, NULL);
        while (r >= 0 && result == 0) {
                r = sd_bus_process(bus, NULL);
                if (r == 0)
                        r = sd_bus_wait(bus, UINT64_MAX);
        }
        if (r >= 0 && result < 0)
                r = result;
        if (r < 0)
                fprintf(stderr, "Peer.Ping: %s\n", strerror(-r));
        sd_bus_flush_close_unref(bus);
        return r < 0;
}
