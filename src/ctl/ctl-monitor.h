/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

/* Prints an InterfacesAdded, InterfacesRemoved or PropertiesChanged signal of laminad's
 * objects (ctl-monitor-objects.c); other messages: nothing. */
int monitor_print_object_signal(sd_bus_message *m);
