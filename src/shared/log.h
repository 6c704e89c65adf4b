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

#define log_full_errno(level, error, ...) log_internal((level), (error), __func__, __VA_ARGS__)
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
