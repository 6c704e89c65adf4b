/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hands ownership of a pointer or fd to the caller; the local becomes empty. */
#define TAKE_PTR(p)                               \
        ({                                        \
                __typeof__(p) _tp_ = (p);         \
                (p) = NULL;                       \
                _tp_;                             \
        })
#define TAKE_FD(fd)                               \
        ({                                        \
                int _tf_ = (fd);                  \
                (fd) = -EBADF;                    \
                _tf_;                             \
        })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)   \
        static inline void func##p(type *p) {     \
                if (*p)                           \
                        func(*p);                 \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Closes an fd, keeping errno intact; returns -EBADF for assignment. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd) {
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

#define RET_NERRNO(expr)                          \
        ({                                        \
                int _r_ = (expr);                 \
                _r_ < 0 ? -errno : _r_;           \
        })

#define streq(a, b) (strcmp((a), (b)) == 0)
#define isempty(s) (!(s) || !(s)[0])
