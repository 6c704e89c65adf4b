/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#define BUS_IMAGES_INTERFACE "org.lamina.snapshot1.Images"

/* org.lamina.snapshot1.Images, registered beside the Snapshotter interface (bus-manager.c). */
extern const sd_bus_vtable bus_images_vtable[];
