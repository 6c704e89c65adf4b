/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>

#include "macro.h"

/* An error kind plus a message for the user, built where the facts are known.
 * The kind is a positive errno; the bus layer maps it to an API error name:
 *   ENOENT NotFound, EEXIST AlreadyExists, EINVAL InvalidArgument, EBUSY Busy,
 *   EDQUOT QuotaExceeded, EACCES/EPERM AccessDenied, EOPNOTSUPP NotSupported,
 *   EUSERS LimitsExceeded, and both ENOTEMPTY (has children) and EMEDIUMTYPE
 *   (wrong kind / not active) FailedPrecondition. Anything else is an internal
 *   failure reported with its strerror. An internal failure (error_set_errno(),
 *   error_from_errno()) is marked as such: its errno is never taken for a kind (a
 *   missing data directory is not NotFound). */
#define ERROR_MESSAGE_MAX 1024

/* Wrong kind: containerd's FailedPrecondition for "not active", "is committed". */
#define EWRONGKIND EMEDIUMTYPE

typedef struct Error {
        int code;
        bool internal; /* code is what a system call said, not a kind */
        char message[ERROR_MESSAGE_MAX];
} Error;

#define ERROR_NULL ((Error) { .code = 0 })

/* Sets e (may be NULL) and returns -code, for `return error_setf(e, EEXIST, "...")`.
 * Does not overwrite an error that is already set. */
int error_setf(Error *e, int code, const char *fmt, ...) _printf_(3, 4);
/* Like error_setf() for an internal failure: appends strerror(code). */
int error_set_errno(Error *e, int code, const char *fmt, ...) _printf_(3, 4);
/* Fills e from a bare negative errno if nothing set it yet; returns r. */
int error_from_errno(Error *e, int r, const char *what);

/* Quoted form of a user-supplied key for messages, whole up to ERROR_QUOTE_MAX bytes (every
 * chain ID and any key a person types), else cut: "abc…". */
#define ERROR_QUOTE_MAX 256
#define ERROR_QUOTE_SIZE (ERROR_QUOTE_MAX + 2 + sizeof("…"))
const char *error_quote(const char *s, char buf[static ERROR_QUOTE_SIZE]);
#define QUOTE(s) error_quote((s), (char[ERROR_QUOTE_SIZE]) {})
