/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int max_level = LOG_INFO;
static int prefix_priority = 0;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_set_prefix_priority(int enable) {
        prefix_priority = enable;
}

int log_parse_level(const char *s) {
        static const char *const names[] = { "emerg", "alert", "crit", "err",
                                             "warning", "notice", "info", "debug" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(s, names[i]))
                        return (int) i;
        if (streq(s, "error"))
                return LOG_ERR;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0)
                return s[0] - '0';
        return -EINVAL;
}

int log_internal(int level, int error, const char *func, const char *fmt, ...) {
        int saved = errno;
        char buf[2048];
        va_list ap;

        error = error < 0 ? -error : error;
        if (level > max_level)
                return -error;

        if (error != 0)
                errno = error;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);

        if (prefix_priority)
                fprintf(stderr, "<%d>%s\n", level, buf);
        else if (max_level >= LOG_DEBUG)
                fprintf(stderr, "%s: %s\n", func, buf);
        else
                fprintf(stderr, "%s\n", buf);

        errno = saved;
        return -error;
}
