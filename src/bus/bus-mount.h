/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

/* The mount methods of a snapshotter object (bus-mount.c); userdata: its BusSnapshotter. */
int bus_method_mount(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_mount_userns(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_mount_fd(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_mount_fd_userns(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_unmount(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_unmount_with_options(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_list_mounts(sd_bus_message *m, void *userdata, sd_bus_error *error);
