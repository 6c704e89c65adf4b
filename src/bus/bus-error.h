/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "error.h"

/* The API's error names, in one table (bus-error.c). */
#define BUS_ERROR_NOT_FOUND "org.lamina.snapshot1.Error.NotFound"
#define BUS_ERROR_ALREADY_EXISTS "org.lamina.snapshot1.Error.AlreadyExists"
#define BUS_ERROR_FAILED_PRECONDITION "org.lamina.snapshot1.Error.FailedPrecondition"
#define BUS_ERROR_INVALID_ARGUMENT "org.lamina.snapshot1.Error.InvalidArgument"
#define BUS_ERROR_BUSY "org.lamina.snapshot1.Error.Busy"
#define BUS_ERROR_QUOTA_EXCEEDED "org.lamina.snapshot1.Error.QuotaExceeded"

extern const sd_bus_error_map bus_lamina_errors[];

/* Fills error from a core failure: the kind picks the name, the core's message
 * becomes the D-Bus message. Returns r (negative). Without a kind in e, the errno
 * of r picks the name and strerror() is the message. */
int bus_error_from_core(sd_bus_error *error, int r, const Error *e);

/* For arguments the bus layer itself rejects. Returns -code. */
int bus_error_setf(sd_bus_error *error, int code, const char *fmt, ...) _printf_(3, 4);
