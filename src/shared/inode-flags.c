/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <sys/ioctl.h>
#include <linux/fs.h>

#include "inode-flags.h"

int fd_add_inode_flags(int fd, int flags) {
        int old;

        if (ioctl(fd, FS_IOC_GETFLAGS, &old) < 0)
                return -errno;
        if ((old & flags) == flags)
                return 0;
        old |= flags;
        return ioctl(fd, FS_IOC_SETFLAGS, &old) < 0 ? -errno : 0;
}
