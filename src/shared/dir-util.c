/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>

#include "dir-util.h"

int dir_open_fd(int fd, DIR **ret) {
        _cleanup_close_ int dfd = -EBADF;
        DIR *d;

        dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        d = fdopendir(dfd);
        if (!d)
                return -errno;
        TAKE_FD(dfd);
        *ret = d;
        return 0;
}
