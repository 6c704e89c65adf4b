/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>

#include "test-util.h"

/* A direct (peer-to-peer) connection over a socketpair: no bus daemon. */
typedef struct Peers {
        sd_bus *server, *client;
} Peers;

/* Without flushing: nobody would serve the other end while one end waits. */
static inline void peers_close(Peers *p) {
        sd_bus_close_unref(p->client);
        sd_bus_close_unref(p->server);
}

static inline void peers_open(Peers *p) {
        sd_id128_t id;
        int fds[2];

        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds));
        ASSERT_OK(sd_id128_randomize(&id));
        ASSERT_OK(sd_bus_new(&p->server));
        ASSERT_OK(sd_bus_set_fd(p->server, fds[0], fds[0]));
        ASSERT_OK(sd_bus_set_server(p->server, 1, id));
        ASSERT_OK(sd_bus_set_anonymous(p->server, 1));
        ASSERT_OK(sd_bus_start(p->server));
        ASSERT_OK(sd_bus_new(&p->client));
        ASSERT_OK(sd_bus_set_fd(p->client, fds[1], fds[1]));
        ASSERT_OK(sd_bus_start(p->client));
}
