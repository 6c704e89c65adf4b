/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The confined child that writes a layer: forked, in its own mount, network and IPC
 * namespaces, chrooted into root_fd, with only the kept fds, a few capabilities, rlimits
 * and a seccomp allowlist that kills the process on anything else (no exec, no sockets,
 * no mounts, no new processes). */

typedef struct LayerSandbox {
        int root_fd;          /* directory the child is chrooted into */
        const int *keep_fds;  /* fds the child keeps (root_fd is kept too); others are closed */
        size_t n_keep_fds;
        bool allow_mknod;     /* keep CAP_MKNOD (device nodes; whiteouts need none) */
        uint64_t max_file_size; /* RLIMIT_FSIZE */
} LayerSandbox;

/* Exit codes of the child when the sandbox itself could not be set up. */
#define LAYER_SANDBOX_EXIT_SETUP 120

typedef int (*LayerSandboxFunc)(void *userdata); /* returns the exit code */

/* Forks the child, confines it and runs func(userdata) in it. Blocks nothing; the caller
 * waits with layer_sandbox_wait(). */
int layer_sandbox_spawn(const LayerSandbox *sb, LayerSandboxFunc func, void *userdata, pid_t *ret_pid);
/* Waits for pid; returns its wait status (WIFEXITED ...). */
int layer_sandbox_wait(pid_t pid, int *ret_status);
