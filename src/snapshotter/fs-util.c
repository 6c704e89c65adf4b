/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "strutil.h"

int fs_mkdir_mode_at(int dirfd, const char *name, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;

        if (mkdirat(dirfd, name, 0700) < 0)
                return -errno;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0)
                return -errno;
        return 0;
}

int fs_mkdtemp_at(int dirfd, const char *prefix, mode_t mode, char **ret_name) {
        for (int attempt = 0; attempt < 100; attempt++) {
                uint64_t rnd;
                char *name;
                int r;

                if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
                        return -EIO;
                name = strdup_printf("%s%012" PRIx64, prefix, (uint64_t) (rnd & 0xffffffffffffULL));
                if (!name)
                        return -ENOMEM;
                r = fs_mkdir_mode_at(dirfd, name, mode);
                if (r >= 0) {
                        *ret_name = name;
                        return 0;
                }
                free(name);
                if (r != -EEXIST)
                        return r;
        }
        return -EEXIST;
}
