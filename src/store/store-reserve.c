/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Room kept for removals.
 *
 * When the filesystem holding the store is full, removing snapshots is how a user makes
 * room, and a Remove's commit needs pages: LMDB takes them from its free list, or writes
 * them past the end of data.mdb, which needs blocks the filesystem no longer has. The free
 * list can be empty (right after store_compact(), or after writes that only added), so
 * the file keeps STORE_RESERVE_BYTES allocated past its end (fallocate FALLOC_FL_KEEP_SIZE:
 * writing there allocates nothing on ext4, XFS, tmpfs, or btrfs, whose store files are
 * NOCOW). Every commit tops it up again; when that fails, only writes that free space
 * (store_write_freeing()) may run, until a top-up succeeds: another write uses at most
 * one transaction's pages of it, less than half of it, and what is left serves the
 * removals. */

#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>

#include "log.h"
#include "store-internal.h"

/* Whether the room was kept past the end of the data file as st shows it: writing there
 * makes the file longer, so an unchanged size means the room is untouched. Most commits
 * reuse LMDB's free pages and leave the size alone: no fallocate() for them (on tmpfs it
 * walks every page of the room, ~0.1 ms a commit). */
static bool reserved_past(Store *s, const struct stat *st) {
        bool kept;

        pthread_mutex_lock(&s->mutex);
        kept = s->reserved_ino == st->st_ino && s->reserved_size == st->st_size;
        pthread_mutex_unlock(&s->mutex);
        return kept;
}

static void reserved_set(Store *s, const struct stat *st) {
        pthread_mutex_lock(&s->mutex);
        s->reserved_ino = st ? st->st_ino : 0;
        s->reserved_size = st ? st->st_size : -1;
        pthread_mutex_unlock(&s->mutex);
}

int store_reserve_top_up(Store *s) {
        mdb_filehandle_t fd;
        struct stat st;
        int r;

        /* Entered like a transaction: the environment is not reopened meanwhile. */
        txn_enter(s);
        if (!s->env || mdb_env_get_fd(s->env, &fd) != 0)
                r = -EIO;
        else if (fstat(fd, &st) < 0)
                r = -errno;
        else if (!atomic_load(&s->reserve_low) && reserved_past(s, &st))
                r = 0; /* nothing was written past the end since: the room is all there */
        else {
                r = RET_NERRNO(fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, STORE_RESERVE_BYTES));
                reserved_set(s, r >= 0 ? &st : NULL);
        }
        txn_leave(s);

        /* Filesystems without fallocate (none that laminad supports) keep nothing. */
        if (r == -EOPNOTSUPP)
                r = 0;
        if (r < 0 && !atomic_load(&s->reserve_low))
                log_debug_errno(r, "cannot keep room for removals in the metadata in %s: %m", s->dir);
        atomic_store(&s->reserve_low, r < 0);
        return r;
}

int store_reserve_check(Store *s, Error *e) {
        int r;

        if (!atomic_load(&s->reserve_low))
                return 0;
        r = store_reserve_top_up(s);
        if (r >= 0)
                return 0;
        if (r == -ENOSPC || r == -EDQUOT)
                return error_setf(e, -r, "no space left for snapshot metadata: the filesystem holding it is full "
                                  "(the rest is kept for removals); remove snapshots or free space and try again");
        return error_set_errno(e, r, "cannot keep room for removals in the snapshot metadata");
}
