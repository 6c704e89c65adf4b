/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "error.h"
#include "layer.h"

/* Confines the helper before it reads anything: its own network and IPC namespaces,
 * resource limits from l (resolved), no core dumps. */
int unpack_confine(const LayerLimits *l, Error *e);
