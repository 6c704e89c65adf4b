/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "layer.h"

/* Confines the helper before it reads anything: its own network and IPC namespaces,
 * resource limits from l (resolved), no core dumps. */
int unpack_confine(const LayerLimits *l, Error *e);

/* Called by layer_apply() once the parser and the writer run (confine_self): the helper
 * keeps only the capabilities committing a layer takes and gets a seccomp filter that
 * kills it on exec, mounts, namespaces, sockets and the like (see there). */
int unpack_confine_committer(bool allow_devices, const pid_t children[static 2]);
