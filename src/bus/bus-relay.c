/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bus-relay.h"
#include "log.h"
#include "macro.h"

#define RELAY_CHUNK (1024 * 1024)

struct BusRelay {
        pthread_t thread;
        int source_fd;  /* borrowed */
        int write_fd;   /* our pipe's write end, closed by the thread when it ends */
        int cancel_fd;  /* eventfd: stop now */
        int stall_ms;   /* -1: never */
        bool stalled;   /* written by the thread, read after the join */
};

/* Waits for fd to get events (or cancel_fd to be written) for at most timeout_ms (-1:
 * forever). Returns the revents of fd, 0 on timeout, -ECANCELED, or -errno. */
static int relay_wait(BusRelay *r, int fd, short events, int timeout_ms) {
        for (;;) {
                struct pollfd fds[2] = {
                        { .fd = fd, .events = events },
                        { .fd = r->cancel_fd, .events = POLLIN },
                };
                int k = poll(fds, 2, timeout_ms);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (fds[1].revents)
                        return -ECANCELED;
                return fds[0].revents;
        }
}

static void *relay_thread(void *p) {
        BusRelay *r = p;
        sigset_t pipe_mask;

        /* A splice into a pipe whose reader is gone raises SIGPIPE at this thread: with it
         * blocked here the call fails with EPIPE instead of the signal killing laminad. */
        sigemptyset(&pipe_mask);
        sigaddset(&pipe_mask, SIGPIPE);
        (void) pthread_sigmask(SIG_BLOCK, &pipe_mask, NULL);

        for (;;) {
                ssize_t n;
                int k;

                /* Room in our pipe first: waiting for the unpacker is not the caller's stall. */
                k = relay_wait(r, r->write_fd, POLLOUT, -1);
                if (k <= 0 || (k & (POLLERR | POLLHUP)))
                        break;
                k = relay_wait(r, r->source_fd, POLLIN, r->stall_ms);
                if (k < 0)
                        break;
                if (k == 0) {
                        r->stalled = true;
                        break;
                }
                /* Never blocking on the caller's fd, whatever its flags: readable by poll() may
                 * still mean a read that waits (data the caller read back itself through its
                 * own copy of the fd, a socket's SO_RCVLOWAT), and a thread blocked there
                 * would notice neither the stall timeout nor a cancel. Our pipe has room. */
                n = splice(r->source_fd, NULL, r->write_fd, NULL, RELAY_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0) /* the end, or an error the unpacker will report as an early end */
                        break;
        }
        r->write_fd = safe_close(r->write_fd);
        return NULL;
}

int bus_relay_start(int source_fd, uint64_t stall_usec, BusRelay **ret, int *ret_fd) {
        _cleanup_free_ BusRelay *r = NULL;
        int pipe_fds[2], k;

        r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->source_fd = source_fd;
        r->stall_ms = stall_usec == 0 ? -1 : stall_usec / 1000 > INT32_MAX ? INT32_MAX : (int) (stall_usec / 1000);
        r->cancel_fd = eventfd(0, EFD_CLOEXEC);
        if (r->cancel_fd < 0)
                return -errno;
        if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
                k = -errno;
                safe_close(r->cancel_fd);
                return k;
        }
        r->write_fd = pipe_fds[1];

        k = pthread_create(&r->thread, NULL, relay_thread, r);
        if (k != 0) {
                safe_close(pipe_fds[0]);
                safe_close(pipe_fds[1]);
                safe_close(r->cancel_fd);
                return -k;
        }
        *ret_fd = pipe_fds[0];
        *ret = TAKE_PTR(r);
        return 0;
}

bool bus_relay_finish(BusRelay *r) {
        bool stalled;

        if (!r)
                return false;
        (void) eventfd_write(r->cancel_fd, 1);
        (void) pthread_join(r->thread, NULL);
        stalled = r->stalled;
        safe_close(r->cancel_fd);
        free(r);
        return stalled;
}
