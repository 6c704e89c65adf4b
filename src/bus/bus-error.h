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
 * becomes the D-Bus message. Returns r (negative). An internal failure (e->internal,
 * or no e at all: then strerror() is the message) is QuotaExceeded for a full disk,
 * LimitsExceeded for exhausted fds or memory, else org.freedesktop.DBus.Error.Failed. */
int bus_error_from_core(sd_bus_error *error, int r, const Error *e);

/* For a method handler's return value: a bare negative errno without error set becomes
 * one of the documented names (as an internal failure), instead of the name sd-bus
 * would make up for it. */
int bus_error_ensure(sd_bus_error *error, int r);
#define BUS_DEFINE_METHOD(name, handler)                                                  \
        static int name(sd_bus_message *m, void *userdata, sd_bus_error *error) {         \
                return bus_error_ensure(error, handler(m, userdata, error));              \
        }

/* For arguments the bus layer itself rejects. Returns -code. */
int bus_error_setf(sd_bus_error *error, int code, const char *fmt, ...) _printf_(3, 4);
