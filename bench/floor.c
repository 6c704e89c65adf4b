/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The floors of a one-shot command (bench/run, section cli), linked like a minimal sd-bus
 * client (libsystemd and libc, nothing else):
 *   lamina-floor        returns at once: what starting a process costs on this machine;
 *   lamina-floor ping   connects to the system bus and calls org.freedesktop.DBus.Peer.Ping on
 *                       laminad once: the least any one-shot laminactl command must do. */

#include <stdio.h>
#include <string.h>

#include <systemd/sd-bus.h>

int main(int argc, char **argv) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        sd_bus *bus = NULL;
        int r;

        if (argc < 2)
                return 0;
        if (argc != 2 || strcmp(argv[1], "ping") != 0) {
                fprintf(stderr, "usage: %s [ping]\n", argv[0]);
                return 2;
        }
        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_call_method(bus, "org.lamina.snapshot1", "/org/lamina/snapshot1",
                                       "org.freedesktop.DBus.Peer", "Ping", &error, &reply, NULL);
        if (r < 0)
                fprintf(stderr, "Peer.Ping: %s\n", error.message ?: strerror(-r));
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        sd_bus_flush_close_unref(bus);
        return r < 0;
}
