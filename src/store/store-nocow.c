/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The store's files on btrfs: NOCOW.
 *
 * On btrfs every write of a file's data is copied to newly allocated blocks unless the file
 * is NOCOW: on a full filesystem then no LMDB commit can succeed, not even that of a
 * Remove, whose pages LMDB takes from its free list (blocks the file already has). A user
 * could not make room by removing snapshots. A NOCOW file is written in place (as on ext4
 * or XFS), so a Remove succeeds as long as LMDB finds free pages in the file. btrfs takes
 * the attribute only while a file is empty: data.mdb is created empty with it before LMDB
 * opens it, and an older data.mdb without it is copied into one that has it (store_compact()).
 * systemd's journal files are NOCOW on btrfs for the same reasons. */

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "inode-flags.h"
#include "log.h"
#include "store-internal.h"

bool store_fd_on_btrfs(int fd) {
        struct statfs sfs;

        return fstatfs(fd, &sfs) >= 0 && (uint32_t) sfs.f_type == (uint32_t) BTRFS_SUPER_MAGIC;
}

void store_file_nocow(int fd, const char *what) {
        int r;

        if (!store_fd_on_btrfs(fd))
                return;
        r = fd_add_inode_flags(fd, FS_NOCOW_FL);
        if (r < 0)
                log_debug_errno(r, "cannot make the metadata %s NOCOW: %m", what);
}

bool store_file_needs_nocow(int fd) {
        int flags = 0;

        return store_fd_on_btrfs(fd) && (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0 || !(flags & FS_NOCOW_FL));
}

int store_data_file_create(int dir_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = openat(dir_fd, STORE_DATA_FILE, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
        if (fd < 0)
                return errno == ELOOP ? -EBADMSG : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        if (st.st_size == 0)
                store_file_nocow(fd, "file");
        return 0;
}
