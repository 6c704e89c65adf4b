/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Landlock (raw system calls, no library) for the layer writer: a ruleset that handles
 * every file-system right the running kernel knows (and, where it knows them, TCP
 * bind/connect and the abstract-socket and signal scopes) and grants beneath one
 * directory only what writing a layer takes: no execute, no sockets, no block devices,
 * no device ioctls. Built in the parent (it may log nothing and allocate nothing in the
 * child); the child calls layer_landlock_enforce() after PR_SET_NO_NEW_PRIVS.
 *
 * Returns the ruleset fd (O_CLOEXEC), or -EOPNOTSUPP when the kernel has no Landlock
 * (older than 5.13, or not in its lsm= list): then no layer is applied (fail closed). */
int layer_landlock_ruleset(int dir_fd, int *ret_abi);

/* In the child: restricts the calling process with the ruleset, closes it, and checks
 * that it holds: creating a socket node in dir_fd (a right it is not granted) must fail
 * with EACCES. 0, or -1 with errno set. Only system calls. */
int layer_landlock_enforce(int ruleset_fd, int dir_fd);

/* The name of that probe (inside the staging directory, removed should it be made). */
#define LAYER_LANDLOCK_PROBE ".lamina-landlock-probe"
