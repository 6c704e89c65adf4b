/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* File-system helpers shared by the reader process and the sandboxed writer. Everything
 * works on directory fds; nothing here follows a symlink. They allocate only with malloc
 * (usable in the forked writer, see layer-sandbox.c) and never log. */

/* Resolution for every path inside a tree: scoped to the dirfd, no symlinks at all, no
 * magic links, no crossing into other mounts. */
#define LAYER_RESOLVE_FLAGS (RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

/* openat2() with LAYER_RESOLVE_FLAGS and O_CLOEXEC; "" means dirfd itself. Returns an fd
 * or a negative errno (ELOOP: a component is a symlink). */
int layer_open_in(int dirfd, const char *path, int flags);
/* Opens the directory path (O_RDONLY|O_DIRECTORY|O_NOFOLLOW) inside dirfd. */
int layer_open_dir_in(int dirfd, const char *path);

/* The names in dir_fd (without "." and ".."), as a NULL-terminated array the caller frees
 * with strv_free(). */
int layer_list_dir(int dir_fd, char ***ret);

/* The xattrs a layer may carry: user.* except user.overlay.*, security.capability and
 * POSIX ACLs. trusted.* and other security.* names are dropped. */
bool layer_xattr_allowed(const char *name);

/* Removes every allowed xattr of fd; the others (trusted.overlay.*, security.selinux)
 * stay. */
int layer_clear_xattrs(int fd);

/* Gives directory dst_fd the owner, mode and allowed xattrs of src_fd: allowed xattrs
 * that src_fd lacks are removed (OCI: a directory over a directory takes the new entry's
 * attributes). *ret_st (may be NULL) gets src's stat, e.g. for its times. */
int layer_copy_dir_attrs(int src_fd, int dst_fd, struct stat *ret_st);

/* read()/write() until n bytes moved. read returns 1 when it got all n bytes, 0 on EOF
 * before the first byte, -EPIPE on EOF after it; write returns 0. */
int layer_read_full(int fd, void *buf, size_t n);
int layer_write_full(int fd, const void *buf, size_t n);
