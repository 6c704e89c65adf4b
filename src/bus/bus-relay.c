/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-relay.h"
#include "log.h"
#include "macro.h"

#define RELAY_CHUNK (1024 * 1024)
#define RELAY_SOCKET_CHUNK (64 * 1024)

struct BusRelay {
        pthread_t thread;
        int source_fd;  /* borrowed */
        int write_fd;   /* our pipe's write end (O_NONBLOCK), closed by the thread when it ends */
        int cancel_fd;  /* eventfd: stop now */
        int stall_ms;   /* -1: never */
        bool stalled;   /* written by the thread, read after the join */
        char *buf;      /* a socket's data not yet in our pipe (NULL for a pipe) */
        size_t n_buf;
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

/* Moves what the caller's fd holds now towards our pipe, never waiting. From a pipe,
 * splice() (SPLICE_F_NONBLOCK holds between pipes). From a socket, recv(MSG_DONTWAIT) into
 * our buffer: splice() from a seqpacket, datagram or TCP socket waits for data when what
 * poll() saw is gone (the caller read it back through its own copy of the fd), and a
 * thread waiting there would notice neither the stall timeout nor a cancel. Returns the
 * bytes read, 0 at the end, or -errno. */
static ssize_t relay_read(BusRelay *r) {
        ssize_t n;

        if (!r->buf)
                n = splice(r->source_fd, NULL, r->write_fd, NULL, RELAY_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        else {
                n = recv(r->source_fd, r->buf, RELAY_SOCKET_CHUNK, MSG_DONTWAIT);
                if (n > 0)
                        r->n_buf = (size_t) n;
        }
        return n < 0 ? -errno : n;
}

/* Writes what the buffer holds into our pipe, as far as it has room. */
static int relay_flush(BusRelay *r) {
        ssize_t n = write(r->write_fd, r->buf, r->n_buf);

        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        memmove(r->buf, r->buf + n, r->n_buf - (size_t) n);
        r->n_buf -= (size_t) n;
        return 0;
}

static void *relay_thread(void *p) {
        BusRelay *r = p;
        sigset_t pipe_mask;

        /* A write into a pipe whose reader is gone raises SIGPIPE at this thread: with it
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
                if (r->n_buf > 0) {
                        if (relay_flush(r) < 0)
                                break;
                        continue;
                }
                k = relay_wait(r, r->source_fd, POLLIN, r->stall_ms);
                if (k < 0)
                        break;
                if (k == 0) {
                        r->stalled = true;
                        break;
                }
                /* Readable by poll() may still mean a read that waits (data the caller read
                 * back itself, a socket's SO_RCVLOWAT): relay_read() never waits. */
                n = relay_read(r);
                if (n == -EINTR || n == -EAGAIN)
                        continue;
                if (n <= 0) /* the end, or an error the unpacker will report as an early end */
                        break;
        }
        r->write_fd = safe_close(r->write_fd);
        return NULL;
}

static BusRelay *relay_free(BusRelay *r) {
        if (!r)
                return NULL;
        safe_close(r->cancel_fd);
        free(r->buf);
        free(r);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(BusRelay *, relay_free);

int bus_relay_start(int source_fd, uint64_t stall_usec, BusRelay **ret, int *ret_fd) {
        _cleanup_(relay_freep) BusRelay *r = NULL;
        _cleanup_close_ int read_fd = -EBADF;
        struct stat st;
        int pipe_fds[2], k;

        if (fstat(source_fd, &st) < 0)
                return -errno;
        r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->write_fd = r->cancel_fd = -EBADF;
        r->source_fd = source_fd;
        r->stall_ms = stall_usec == 0 ? -1 : stall_usec / 1000 > INT32_MAX ? INT32_MAX : (int) (stall_usec / 1000);
        if (S_ISSOCK(st.st_mode)) {
                r->buf = malloc(RELAY_SOCKET_CHUNK);
                if (!r->buf)
                        return -ENOMEM;
        }
        r->cancel_fd = eventfd(0, EFD_CLOEXEC);
        if (r->cancel_fd < 0)
                return -errno;
        if (pipe2(pipe_fds, O_CLOEXEC) < 0)
                return -errno;
        read_fd = pipe_fds[0];
        r->write_fd = pipe_fds[1];
        /* Only our end: the unpacker reads the other one as it is. */
        if (fcntl(r->write_fd, F_SETFL, O_NONBLOCK) < 0) {
                k = -errno;
                safe_close(r->write_fd);
                return k;
        }

        k = pthread_create(&r->thread, NULL, relay_thread, r);
        if (k != 0) {
                safe_close(r->write_fd);
                return -k;
        }
        *ret_fd = TAKE_FD(read_fd);
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
        relay_free(r);
        return stalled;
}
