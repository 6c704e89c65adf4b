/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "state-lock.h"

#define LOCK_FILE "laminad.lock"
#define RETRY_NSEC (100 * 1000 * 1000L) /* a tenth of a second */

static int open_lock_file(const char *state_dir) {
        _cleanup_close_ int dir_fd = -EBADF;
        int fd;

        if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "cannot create the state directory %s: %m", state_dir);
        dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return log_error_errno(errno, "cannot open the state directory %s: %m", state_dir);
        fd = openat(dir_fd, LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return log_error_errno(errno, "cannot open %s/%s: %m", state_dir, LOCK_FILE);
        return fd;
}

int state_lock_acquire(const char *state_dir, const sigset_t *stop_signals, uint64_t timeout_usec) {
        _cleanup_close_ int fd = -EBADF;
        uint64_t waited_usec = 0;
        bool told = false;

        fd = open_lock_file(state_dir);
        if (fd < 0)
                return fd;

        while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                struct timespec retry = { .tv_nsec = RETRY_NSEC };
                int sig;

                if (errno == EINTR)
                        continue;
                if (errno != EWOULDBLOCK)
                        return log_error_errno(errno, "cannot lock %s/%s: %m", state_dir, LOCK_FILE);
                if (waited_usec >= timeout_usec)
                        return log_error_errno(-EBUSY,
                                               "another laminad still uses %s after %llu s; not starting a "
                                               "second one",
                                               state_dir, (unsigned long long) (timeout_usec / 1000000));
                if (!told) {
                        log_info("another laminad is using %s; waiting for it to exit", state_dir);
                        told = true;
                }
                sig = sigtimedwait(stop_signals, NULL, &retry);
                if (sig > 0) {
                        log_info("%s while waiting for the state lock; exiting", strsignal(sig));
                        return -EINTR;
                }
                waited_usec += RETRY_NSEC / 1000;
        }
        if (told)
                log_info("the other laminad is gone; going on");
        return TAKE_FD(fd);
}
