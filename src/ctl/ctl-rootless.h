/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "ctl.h"

/* run --rootless (ctl-rootless.c, ctl-rootless-exec.c). */

/* What the container's side exits with when it could not set the container up. */
#define ROOTLESS_EXIT_SETUP 125

/* Runs the container on key's snapshot; returns its exit status or a negative errno. */
int rootless_run(Ctl *c, const char *key, const RunConfig *rc, char *const *args);

/* In the container's PID 1, root of its user namespace, in mount, PID, IPC and UTS
 * namespaces of its own: attaches mnt_fd as the root with /proc, a minimal /dev and /tmp,
 * pivots into it and execs the image's command (args replacing Cmd; neither: /bin/sh) as
 * its User, with its Env and WorkingDir. Returns only on failure, with an exit status. */
int rootless_container_exec(int mnt_fd, const RunConfig *rc, char *const *args, const char *hostname);
