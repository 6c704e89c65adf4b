/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* For tests that count what the code under test calls, by defining a function of libc (or
 * of another library) themselves: REAL(name) is the one their definition wraps. */

#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>

#include "test-util.h"

#define REAL(name) ((__typeof__(&name)) real_symbol(#name))
static inline void *real_symbol(const char *name) {
        void *f = dlsym(RTLD_NEXT, name);

        ASSERT_TRUE(f);
        return f;
}

/* Defines openat(), which calls seen(dirfd, path) before the real one (its mode argument
 * is there only with O_CREAT or O_TMPFILE). */
#define DEFINE_OPENAT_WRAPPER(seen)                                                        \
        int openat(int dirfd, const char *path, int flags, ...) {                          \
                mode_t mode = 0;                                                           \
                va_list ap;                                                                \
                                                                                           \
                if (flags & (O_CREAT | O_TMPFILE)) {                                       \
                        va_start(ap, flags);                                               \
                        mode = va_arg(ap, mode_t);                                         \
                        va_end(ap);                                                        \
                }                                                                          \
                seen(dirfd, path);                                                         \
                return REAL(openat)(dirfd, path, flags, mode);                             \
        }
