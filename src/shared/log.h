/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <syslog.h>

#include "macro.h"

/* Logs to stderr as "<N>message" so journald files each line at its priority.
 * log_*_errno() set errno for %m and return the (negative) error passed in. */
void log_set_max_level(int level);
int log_get_max_level(void);
int log_parse_level(const char *s); /* "debug", "info", … or a digit; -EINVAL otherwise */
/* Prefixes every line with "<N>"; off by default so tools print plain lines. */
void log_set_prefix_priority(int enable);

int log_internal(int level, int error, const char *func, const char *fmt, ...) _printf_(4, 5);

/* The arguments are evaluated only when the level is logged: a key quoted for a debug line
 * costs nothing on every call while debug is off. */
#define log_full_errno(level, error, ...)                                                 \
        ({                                                                                \
                int _log_level = (level), _log_error = (error);                          \
                log_get_max_level() >= _log_level                                         \
                        ? log_internal(_log_level, _log_error, __func__, __VA_ARGS__)     \
                        : (_log_error < 0 ? _log_error : -_log_error);                    \
        })
#define log_full(level, ...) (void) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)
