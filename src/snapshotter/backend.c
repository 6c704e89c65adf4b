/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "fs-util.h"
#include "strutil.h"

int backend_open(const BackendVTable *vt, int state_fd, const char *state_path, Backend **ret) {
        _cleanup_(backend_freep) Backend *b = NULL;
        int r;

        b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        b->vtable = vt;
        b->state_fd = b->snapshots_fd = -EBADF;
        b->snapshots_path = strdup_printf("%s/snapshots", state_path);
        if (!b->snapshots_path)
                return -ENOMEM;
        b->state_fd = fcntl(state_fd, F_DUPFD_CLOEXEC, 3);
        if (b->state_fd < 0)
                return -errno;
        r = fs_mkdir_mode_at(b->state_fd, "snapshots", 0700);
        if (r < 0 && r != -EEXIST)
                return r;
        b->snapshots_fd = openat(b->state_fd, "snapshots", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (b->snapshots_fd < 0)
                return -errno;
        if (vt->init) {
                r = vt->init(b);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(b);
        return 0;
}

Backend *backend_free(Backend *b) {
        if (!b)
                return NULL;
        if (b->vtable->done)
                b->vtable->done(b);
        safe_close(b->snapshots_fd);
        safe_close(b->state_fd);
        free(b->snapshots_path);
        free(b);
        return NULL;
}

static bool parse_id(const char *name, uint64_t *ret) {
        char *end;

        if (name[0] < '1' || name[0] > '9')
                return false;
        errno = 0;
        *ret = strtoull(name, &end, 10);
        return errno == 0 && *end == 0;
}

static bool id_in(uint64_t id, const uint64_t *ids, size_t n) {
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (ids[mid] == id)
                        return true;
                if (ids[mid] < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return false;
}

int backend_list_orphans(Backend *b, const uint64_t *ids, size_t n_ids, char ***ret) {
        _cleanup_strv_free_ char **orphans = NULL;
        _cleanup_close_ int fd = openat(b->snapshots_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        fd = -EBADF;
        while ((de = readdir(d))) {
                uint64_t id;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (parse_id(de->d_name, &id) && id_in(id, ids, n_ids))
                        continue;
                r = strv_extend(&orphans, de->d_name);
                if (r < 0)
                        break;
        }
        closedir(d);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(orphans);
        return 0;
}
