/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* The members of a tar archive (an image packed by docker save, or an OCI layout packed with
 * tar), read in one pass: an import asks for the members in the order its JSON names them,
 * which is not the archive's. Each regular member's data is then a byte range of a file: of
 * the archive itself when it can be read at an offset (a file, not compressed, the member not
 * sparse), else of an unlinked temporary file the pass copied it to (a compressed archive, a
 * pipe). Links between members are followed at lookup. */
typedef struct ArchiveMember ArchiveMember;

typedef struct ArchiveIndex {
        ArchiveMember *members; /* sorted by path, one per path */
        size_t n, allocated;
        size_t text_bytes; /* of the members' paths and link targets */
        int spool;         /* the temporary copy, or -EBADF */
        uint64_t spool_size;
        uint64_t spool_room; /* the size it may grow to before its file system is looked at again */
} ArchiveIndex;

#define ARCHIVE_INDEX_NULL ((ArchiveIndex) { .spool = -EBADF })

/* Reads the archive fd (a file when seekable, then also of size bytes; else a pipe, read
 * once); name is for messages. Prints why not on failure. */
int archive_index_build(ArchiveIndex *x, int fd, bool seekable, uint64_t size, const char *name);
void archive_index_done(ArchiveIndex *x);

/* Where the data of the regular file at path is: bytes [*ret_offset, + *ret_size) of
 * *ret_fd (the archive's fd, archive_fd, or the temporary copy; not to be closed).
 * -ENOENT, unprinted, when there is no such member; other failures are printed: a path
 * (or a link on the way) that more than one member has is refused. */
int archive_index_find(const ArchiveIndex *x, int archive_fd, const char *path, const char *name, int *ret_fd,
                       uint64_t *ret_offset, uint64_t *ret_size);
