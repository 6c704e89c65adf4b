/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <signal.h>
#include <stdint.h>

/* One laminad per state directory: an exclusive flock() on <state_dir>/laminad.lock, taken
 * before anything in the directory is read or recovered, held until the process exits.
 * A second laminad (activated while the first one, off the bus, still finishes its jobs)
 * waits up to timeout_usec for the lock. Returns the lock's fd, -EBUSY when the wait timed
 * out, or -EINTR when one of stop_signals (blocked by the caller) arrived meanwhile. The
 * state directory is created (0700) when missing, its parent must exist. */
int state_lock_acquire(const char *state_dir, const sigset_t *stop_signals, uint64_t timeout_usec);
