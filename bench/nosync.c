/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LD_PRELOAD shim for bench/run's populate step only: fsync, fdatasync, syncfs and msync
 * return at once, and open() drops O_SYNC/O_DSYNC (LMDB writes its meta page through an
 * O_DSYNC descriptor), so 100 000 snapshots (two durable LMDB transactions each) are
 * written in seconds instead of many minutes. bench/run calls sync(1) afterwards; the
 * state laminad then opens is byte for byte what durable writes would have left. */
/* Both open and open64 are defined here, so neither may be renamed to the other. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <unistd.h>

int fsync(int fd) {
        return 0;
}

int fdatasync(int fd) {
        return 0;
}

int syncfs(int fd) {
        return 0;
}

int msync(void *addr, size_t length, int flags) {
        return 0;
}

static mode_t open_mode(int flags, va_list ap) {
        return (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
}

#define NOSYNC_OPEN(name)                                                                 \
        int name(const char *path, int flags, ...) {                                      \
                static int (*real)(const char *, int, ...);                               \
                va_list ap;                                                               \
                mode_t mode;                                                              \
                                                                                          \
                if (!real)                                                                \
                        real = (int (*)(const char *, int, ...)) dlsym(RTLD_NEXT, #name); \
                va_start(ap, flags);                                                      \
                mode = open_mode(flags, ap);                                              \
                va_end(ap);                                                               \
                return real(path, flags & ~(O_SYNC | O_DSYNC), mode);                     \
        }

NOSYNC_OPEN(open)
NOSYNC_OPEN(open64)
