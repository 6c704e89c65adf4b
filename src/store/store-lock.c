/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LMDB's lock file, made safe for a full disk.
 *
 * LMDB keeps its reader table in lock.mdb and writes it through a shared writable
 * mapping on every transaction, reads included. A write fault on a page the filesystem
 * still has to allocate (a hole: LMDB makes the file with ftruncate) or must copy (every
 * page on btrfs, which is copy-on-write) kills the process with SIGBUS when the
 * filesystem is full: laminad died on every Stat. So before LMDB opens it, the lock file
 * gets all its blocks written (zeros) and, on btrfs, the NOCOW attribute: then writing
 * through the mapping never allocates. LMDB maps the whole file when it is larger than
 * the table it needs.
 *
 * The file can only be replaced while no other process has the environment open. Every
 * LMDB process holds at least a read lock on the first byte of lock.mdb; an open file
 * description lock for writing on that byte therefore succeeds only when nobody has the
 * environment open, and makes others wait in their mdb_env_open() until it is dropped.
 * (It conflicts with this process's own LMDB locks too: drop it before mdb_env_open().) */

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store-internal.h"

#define LOCK_FILE "lock.mdb"
#define LOCK_FILE_NEW "lock.mdb.new"
#define LOCK_FILE_SIZE ((off_t) 64 << 10) /* new ones: room for 1000 readers */
#define LOCK_FILE_MIN ((off_t) 8 << 10)   /* what LMDB needs for its default 126 readers */
#define LOCK_FILE_EXTENTS_MAX 16

static int lock_first_byte(int fd, short type) {
        struct flock l = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };

        return RET_NERRNO(fcntl(fd, F_OFD_SETLK, &l));
}

/* Extents shared with another file (a snapshot or reflink copy of the state directory:
 * the first write must copy them, even with NOCOW) or allocated but unwritten (the first
 * write converts them). Filesystems without FIEMAP (tmpfs) share nothing. */
static bool has_extents_needing_allocation(int fd) {
        struct {
                struct fiemap map;
                struct fiemap_extent extents[LOCK_FILE_EXTENTS_MAX];
        } f = { .map = { .fm_length = FIEMAP_MAX_OFFSET, .fm_extent_count = LOCK_FILE_EXTENTS_MAX } };

        if (ioctl(fd, FS_IOC_FIEMAP, &f.map) < 0)
                return false;
        for (unsigned i = 0; i < f.map.fm_mapped_extents; i++) {
                if (f.extents[i].fe_flags & (FIEMAP_EXTENT_SHARED | FIEMAP_EXTENT_UNWRITTEN))
                        return true;
                if (f.extents[i].fe_flags & FIEMAP_EXTENT_LAST)
                        return false;
        }
        return f.map.fm_mapped_extents > 0; /* more extents than we look at: replace it */
}

/* Whether writing through a mapping of fd can never need a new block. */
static bool lock_file_is_safe(int fd) {
        struct stat st;

        /* An older, smaller one is fine if it has no holes: LMDB maps what is there. */
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < LOCK_FILE_MIN)
                return false;
        if ((off_t) st.st_blocks * 512 < st.st_size)
                return false; /* holes */
        if (store_file_needs_nocow(fd))
                return false;
        return !has_extents_needing_allocation(fd);
}

static int write_zeros(int fd, off_t size) {
        static const uint8_t zeros[4096];

        for (off_t off = 0; off < size;) {
                ssize_t n = pwrite(fd, zeros, MIN((off_t) sizeof zeros, size - off), off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                off += n;
        }
        return RET_NERRNO(fdatasync(fd));
}

/* A new lock file, fully written, locked; renamed over lock.mdb. Returns its fd. */
static int lock_file_replace(int dir_fd) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (unlinkat(dir_fd, LOCK_FILE_NEW, 0) < 0 && errno != ENOENT)
                return -errno;
        fd = openat(dir_fd, LOCK_FILE_NEW, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = lock_first_byte(fd, F_WRLCK);
        if (r < 0)
                return r;
        /* NOCOW can only be set while the file is empty. Without it the file is still
         * better than a sparse one; the next start tries again. */
        store_file_nocow(fd, "lock file");
        r = write_zeros(fd, LOCK_FILE_SIZE);
        if (r >= 0 && renameat(dir_fd, LOCK_FILE_NEW, dir_fd, LOCK_FILE) < 0)
                r = -errno;
        if (r >= 0)
                r = RET_NERRNO(fsync(dir_fd));
        if (r < 0) {
                (void) unlinkat(dir_fd, LOCK_FILE_NEW, 0);
                return r;
        }
        return TAKE_FD(fd);
}

int store_lock_take(int dir_fd, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = openat(dir_fd, LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = lock_first_byte(fd, F_WRLCK);
        if (r == -EAGAIN || r == -EACCES) {
                *ret_fd = -EBADF;
                return 0; /* in use by another process */
        }
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 1;
}

int store_lock_prepare(int dir_fd, int *lock_fd, bool fresh) {
        int fd;

        assert(*lock_fd >= 0);

        /* The data file was replaced: a process waiting for our lock on the old file must
         * not trust its reader table, which names transactions of the old data file (a
         * compacted copy starts again at 1). LMDB refuses a lock file without its magic,
         * and initializes it afresh when it is the first to open it. */
        if (fresh)
                (void) pwrite(*lock_fd, (const uint8_t[4096]) {}, 4096, 0);
        if (!fresh && lock_file_is_safe(*lock_fd))
                return 0;
        fd = lock_file_replace(dir_fd);
        if (fd < 0)
                return fd;
        safe_close(*lock_fd);
        *lock_fd = fd;
        log_debug("metadata lock file replaced by one that is fully allocated%s",
                  store_fd_on_btrfs(fd) ? " and NOCOW" : "");
        return 1;
}
