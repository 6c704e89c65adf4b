/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The relay of an Apply's layer stream (bus-relay.c) never waits on the caller's fd outside
 * poll(): the caller holds its own copy of the fd and may read back what poll() saw before
 * the relay reads it. splice() honours SPLICE_F_NONBLOCK only from pipes and AF_UNIX stream
 * sockets; from a seqpacket, datagram or TCP socket it then waits for more data, where the
 * relay's thread noticed neither a cancel nor the stall timeout: the Apply's job (and the
 * caller's job slot) never ended, and laminad never exited on idle. This test is the caller:
 * its poll() (which the relay calls instead of libc's) reads the data back right after the
 * kernel said it was there. And every byte of a stream still arrives, in order. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bus-relay.h"
#include "test-util.h"

/* The socket whose data the "caller" takes back (-1: none). Set before the relay starts. */
static _Atomic int steal_fd = -1;

int poll(struct pollfd *fds, nfds_t n, int timeout_ms) {
        struct timespec ts = { timeout_ms / 1000, (long) (timeout_ms % 1000) * 1000000L };
        char buf[4096];
        int k;

        k = ppoll(fds, n, timeout_ms < 0 ? NULL : &ts, NULL);
        for (nfds_t i = 0; k > 0 && i < n; i++)
                if (fds[i].fd == steal_fd && (fds[i].revents & POLLIN))
                        while (recv(steal_fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
                                ;
        return k;
}

static void *finish_thread(void *p) {
        return (void *) (uintptr_t) bus_relay_finish(p);
}

/* bus_relay_finish(), waited for at most two minutes: a relay stuck in a read never ends. */
static void finish_or_fail(BusRelay *relay) {
        struct timespec deadline;
        pthread_t thread;
        void *stalled;

        ASSERT_TRUE(pthread_create(&thread, NULL, finish_thread, relay) == 0);
        ASSERT_OK(clock_gettime(CLOCK_REALTIME, &deadline) < 0 ? -errno : 0);
        deadline.tv_sec += 120;
        ASSERT_TRUE(pthread_timedjoin_np(thread, &stalled, &deadline) == 0); /* else stuck in a read */
        ASSERT_TRUE(!stalled);
}

static void relay_of_socket_type(int type) {
        _cleanup_close_ int read_fd = -EBADF;
        BusRelay *relay = NULL;
        int sv[2];
        char buf[16];

        ASSERT_OK(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0 ? -errno : 0);
        steal_fd = sv[0];
        ASSERT_TRUE(send(sv[1], "x", 1, 0) == 1);
        ASSERT_OK(bus_relay_start(sv[0], 0, &relay, &read_fd));
        /* Until the relay's poll() saw the byte (and the caller took it back). */
        while (recv(sv[0], buf, 1, MSG_DONTWAIT | MSG_PEEK) > 0)
                ASSERT_OK(usleep(1000) < 0 ? -errno : 0);
        steal_fd = -1;
        /* What the caller sends next still goes through. */
        ASSERT_TRUE(send(sv[1], "hello", 5, 0) == 5);
        ASSERT_TRUE(read(read_fd, buf, sizeof buf) == 5);
        ASSERT_TRUE(memcmp(buf, "hello", 5) == 0);

        /* Now the caller takes back all it sends, and Apply stops (cancel). */
        steal_fd = sv[0];
        ASSERT_TRUE(send(sv[1], "y", 1, 0) == 1);
        while (recv(sv[0], buf, 1, MSG_DONTWAIT | MSG_PEEK) > 0)
                ASSERT_OK(usleep(1000) < 0 ? -errno : 0);
        read_fd = safe_close(read_fd);
        finish_or_fail(relay);
        steal_fd = -1;
        safe_close(sv[0]);
        safe_close(sv[1]);
}

TEST(a_seqpacket_socket_read_back_by_its_caller_stops_no_relay) {
        relay_of_socket_type(SOCK_SEQPACKET);
}

TEST(a_datagram_socket_read_back_by_its_caller_stops_no_relay) {
        relay_of_socket_type(SOCK_DGRAM);
}

TEST(a_stream_socket_read_back_by_its_caller_stops_no_relay) {
        relay_of_socket_type(SOCK_STREAM);
}

#define STREAM_BYTES (4u * 1024u * 1024u + 123u)

static void *write_stream(void *p) {
        int fd = (int) (intptr_t) p;

        for (size_t i = 0; i < STREAM_BYTES;) {
                unsigned char chunk[3001];
                size_t n = STREAM_BYTES - i < sizeof chunk ? STREAM_BYTES - i : sizeof chunk;
                ssize_t k;

                for (size_t j = 0; j < n; j++)
                        chunk[j] = (unsigned char) ((i + j) * 7 % 251);
                k = write(fd, chunk, n);
                ASSERT_TRUE(k > 0);
                i += (size_t) k;
        }
        ASSERT_OK(close(fd) < 0 ? -errno : 0);
        return NULL;
}

/* Every byte arrives, in order, through our pipe (which holds less than the relay moves at
 * once), to the end of the stream. */
static void relay_carries_all(int source_fd, int writer_fd) {
        _cleanup_close_ int read_fd = -EBADF;
        BusRelay *relay = NULL;
        pthread_t writer;
        size_t got = 0;

        ASSERT_OK(bus_relay_start(source_fd, 0, &relay, &read_fd));
        ASSERT_TRUE(pthread_create(&writer, NULL, write_stream, (void *) (intptr_t) writer_fd) == 0);
        for (;;) {
                unsigned char buf[65536];
                ssize_t n = read(read_fd, buf, sizeof buf);

                ASSERT_TRUE(n >= 0);
                if (n == 0)
                        break;
                for (ssize_t j = 0; j < n; j++)
                        ASSERT_TRUE(buf[j] == (unsigned char) ((got + (size_t) j) * 7 % 251));
                got += (size_t) n;
        }
        ASSERT_TRUE(got == STREAM_BYTES);
        ASSERT_TRUE(pthread_join(writer, NULL) == 0);
        read_fd = safe_close(read_fd);
        finish_or_fail(relay);
        safe_close(source_fd);
}

TEST(a_stream_socket_is_carried_whole) {
        int sv[2];

        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ? -errno : 0);
        relay_carries_all(sv[0], sv[1]);
}

TEST(a_pipe_is_carried_whole) {
        int p[2];

        ASSERT_OK(pipe2(p, O_CLOEXEC) < 0 ? -errno : 0);
        relay_carries_all(p[0], p[1]);
}

TEST_MAIN(TEST_ENTRY(a_seqpacket_socket_read_back_by_its_caller_stops_no_relay),
          TEST_ENTRY(a_datagram_socket_read_back_by_its_caller_stops_no_relay),
          TEST_ENTRY(a_stream_socket_read_back_by_its_caller_stops_no_relay),
          TEST_ENTRY(a_stream_socket_is_carried_whole),
          TEST_ENTRY(a_pipe_is_carried_whole))
