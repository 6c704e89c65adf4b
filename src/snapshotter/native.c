/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backend-apply.h"
#include "backend.h"
#include "copy.h"
#include "fs-util.h"
#include "log.h"
#include "mount-api.h"
#include "strutil.h"

/* Every snapshot is a full tree at snapshots/<id> itself (containerd's native layout,
 * containerd-semantics.md §3.8). An active snapshot with a parent starts as a copy of the
 * parent's tree; a view of a parent binds the parent read-only and leaves its own
 * directory empty; a parentless snapshot starts as an empty 0755 root-owned directory. */

static char *data_path(Backend *b, uint64_t id) {
        return strdup_printf("%s/%" PRIu64, b->snapshots_path, id);
}

static int open_data_dir(Backend *b, uint64_t id) {
        char name[32];

        snprintf(name, sizeof name, "%" PRIu64, id);
        return RET_NERRNO(openat(b->snapshots_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

/* The tree that the mounts of s show: its own, or its parent's for a view of a parent. */
static uint64_t mounted_id(const Snapshot *s) {
        return s->kind == SNAPSHOT_VIEW && s->n_parents > 0 ? s->parent_ids[0] : s->id;
}

static int native_build(Backend *b, int tmpfd, SnapshotKind kind, const uint64_t *parents, size_t n_parents) {
        _cleanup_close_ int pfd = -EBADF;

        if (n_parents == 0 || kind == SNAPSHOT_VIEW)
                return RET_NERRNO(fchmod(tmpfd, 0755));
        pfd = open_data_dir(b, parents[0]);
        if (pfd < 0)
                return pfd;
        return copy_tree(pfd, tmpfd);
}

static int native_prepare(Backend *b, SnapshotKind kind, const uint64_t *parents, size_t n_parents,
                          BackendCharge *charge, char **ret_tmpname, Error *e) {
        return backend_prepare_in_temp(b, native_build, kind, parents, n_parents, ret_tmpname, e);
}

static int native_mounts(Backend *b, const Snapshot *s, MountSpecList *ret, Error *e) {
        _cleanup_strv_free_ char **opts = NULL;
        _cleanup_free_ char *src = data_path(b, mounted_id(s));
        int r;

        if (!src)
                return error_set_errno(e, ENOMEM, "mounts");
        /* containerd's native order: "rbind" first. */
        r = strv_extend(&opts, "rbind");
        if (r >= 0)
                r = strv_extend(&opts, s->kind == SNAPSHOT_ACTIVE ? "rw" : "ro");
        if (r >= 0)
                r = mount_spec_list_add(ret, "bind", src, TAKE_PTR(opts));
        return r < 0 ? error_set_errno(e, r, "mounts") : 0;
}

static int native_mount(Backend *b, const Snapshot *s, uint64_t attrs, const MountIdmapping *idmap, int *ret_mnt_fd,
                        Error *e) {
        char name[32];

        snprintf(name, sizeof name, "%" PRIu64, mounted_id(s));
        if (s->kind == SNAPSHOT_VIEW)
                attrs |= MOUNT_ATTR_RDONLY;
        return mount_bind(b->snapshots_fd, name, attrs, idmap, ret_mnt_fd, e);
}

static int native_open_data(Backend *b, uint64_t id, int *ret_fd, Error *e) {
        int fd = open_data_dir(b, id);

        if (fd < 0)
                return error_set_errno(e, fd, "cannot open %s/%" PRIu64, b->snapshots_path, id);
        *ret_fd = fd;
        return 0;
}

const BackendVTable backend_native = {
        .name = "native",
        .layered = false,
        .prepare = native_prepare,
        .mounts = native_mounts,
        .mount = native_mount,
        .usage = backend_usage_walk,
        .open_data = native_open_data,
        .remove_data = backend_remove_tree,
        .clone_data = backend_clone_copy,
        .open_data_parent = backend_open_data_parent_id,
        .remove_clone = backend_remove_clone_tree,
};
