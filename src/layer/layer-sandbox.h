/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The confined children of an apply, each with only the kept fds, rlimits and a seccomp
 * allowlist that kills the process on anything else (no exec, no new processes, no
 * mounts, no opening of files it was not given):
 *   writer  forked, in its own mount, network and IPC namespaces, chrooted into root_fd,
 *           in a user namespace of its own (every id mapped onto itself) with the few
 *           capabilities writing a layer takes there and none of the host's, and
 *           confined by Landlock to what it does beneath root_fd (layer-landlock.h);
 *           it keeps no directory but root_fd;
 *   parser  in its own PID, mount, network and IPC namespaces and, as nobody, its own
 *           user namespace; its root is an empty read-only tmpfs; no
 *           capabilities at all; address space, CPU time and file size limited. It only
 *           reads, computes and writes to the fds it holds. */

typedef enum LayerSandboxKind {
        LAYER_SANDBOX_WRITER,
        LAYER_SANDBOX_PARSER,
} LayerSandboxKind;

typedef struct LayerSandbox {
        LayerSandboxKind kind;
        int root_fd;          /* writer: directory the child is chrooted into */
        const int *keep_fds;  /* fds the child keeps (root_fd is kept too); others are closed */
        size_t n_keep_fds;
        uid_t fsuid;          /* writer: the fsuid it writes as (its capabilities stay) */
        uint64_t max_file_size; /* writer: RLIMIT_FSIZE (the parser writes no file) */
        uint64_t max_memory;    /* parser: RLIMIT_AS */
        uint64_t max_cpu_sec;   /* parser: RLIMIT_CPU */
} LayerSandbox;

/* Exit codes of the child when the sandbox itself could not be set up (120 + step), of
 * the writer when Landlock did not confine it, and of the parser when it reached its CPU
 * time limit. */
#define LAYER_SANDBOX_EXIT_SETUP 120
#define LAYER_SANDBOX_EXIT_CPU 119
#define LAYER_SANDBOX_EXIT_LANDLOCK 118

typedef int (*LayerSandboxFunc)(void *userdata); /* returns the exit code */

/* Forks the child, confines it and runs func(userdata) in it; for the writer, waits until
 * its user namespace is mapped, for the parser until it has its death signal again after
 * becoming nobody (both die with the calling process, also one killed while they are being
 * confined). The caller waits with layer_sandbox_wait(). -EOPNOTSUPP:
 * the kernel has no Landlock (the writer is not started without it); -EISDIR: a kept fd
 * of the writer is a directory. */
int layer_sandbox_spawn(const LayerSandbox *sb, LayerSandboxFunc func, void *userdata, pid_t *ret_pid);
/* Waits for pid; returns its wait status (WIFEXITED ...) and, if wanted, the CPU time it
 * used in microseconds. */
int layer_sandbox_wait(pid_t pid, int *ret_status);
int layer_sandbox_wait_cpu(pid_t pid, int *ret_status, uint64_t *ret_cpu_usec);
