/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A caller's layer stream (a pipe or socket) may stall: the writer neither writes nor
 * closes. Apply reads such a stream through a relay: a thread splices it into a pipe of
 * ours and closes that pipe (the unpacker sees the stream end early and fails) when the
 * caller has sent nothing for stall_usec (a socket is read with recv(MSG_DONTWAIT), not
 * spliced: the thread never waits in a read). Waiting for the unpacker to read is never a
 * stall. */

typedef struct BusRelay BusRelay;

/* Starts relaying source_fd (borrowed: it must stay open until bus_relay_finish());
 * *ret_fd is the read end to hand on (owned by the caller). */
int bus_relay_start(int source_fd, uint64_t stall_usec, BusRelay **ret, int *ret_fd);
/* Stops the relay (close the read end first, so a splice blocked on it returns), waits
 * for its thread and frees it. Returns true if the caller's stream had stalled. */
bool bus_relay_finish(BusRelay *r);
