/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>

/* What every confined process of an Apply shares: the parser and the writer
 * (layer-sandbox.c) and lamina-unpack itself (src/unpack/unpack-confine.c). */

/* A seccomp filter that kills the process on every system call but the n named ones, and
 * on one of another architecture; more rules may be added before it is loaded. */
int layer_seccomp_allowlist(const char *const *names, size_t n, scmp_filter_ctx *ret);
void layer_seccomp_releasep(scmp_filter_ctx *ctx);

/* Keeps only the capabilities whose bits (1 << CAP_x) are in keep, effective and
 * permitted, and drops every other from the bounding set; none ambient. Plain system
 * calls only, for a forked child too. 0 or -errno. */
int layer_capabilities_keep(uint64_t keep);
