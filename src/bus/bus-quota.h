/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

/* Manager.GetDiskUsage: per uid and snapshotter what is held, against the uid's quota.
 * Root gets every uid that has snapshots, anyone else only itself; no authorization
 * beyond that (like List). It walks the data of active snapshots and views, so it runs as
 * a query job. userdata: the BusContext. */
int bus_method_get_disk_usage(sd_bus_message *m, void *userdata, sd_bus_error *error);
