/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backend-apply.h"
#include "backend.h"
#include "fs-util.h"
#include "log.h"
#include "mount-api.h"
#include "strutil.h"

/* snapshots/<id>/fs is the upper directory (or the whole tree of a parentless
 * snapshot), snapshots/<id>/work the overlay work directory of actives; mounts as
 * containerd builds them (containerd-semantics.md §3.3). */

static char *data_path(Backend *b, uint64_t id, const char *sub) {
        return strdup_printf("%s/%" PRIu64 "/%s", b->snapshots_path, id, sub);
}

static int open_fs_dir(Backend *b, uint64_t id, int *ret_fd) {
        char name[48];
        int fd;

        snprintf(name, sizeof name, "%" PRIu64 "/fs", id);
        fd = openat(b->snapshots_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

/* Fills the new snapshot directory tmpfd: fs/ (owned like the parent's) and work/. */
static int overlay_build(Backend *b, int tmpfd, SnapshotKind kind, const uint64_t *parents, size_t n_parents) {
        _cleanup_close_ int pfd = -EBADF;
        struct stat st;
        int r;

        r = fs_mkdir_mode_at(tmpfd, "fs", 0755);
        if (r >= 0 && kind == SNAPSHOT_ACTIVE)
                r = fs_mkdir_mode_at(tmpfd, "work", 0711);
        if (r < 0 || n_parents == 0)
                return r;

        /* The root of an upper dir shows as the root of the mount: keep the parent's owner. */
        r = open_fs_dir(b, parents[0], &pfd);
        if (r < 0)
                return r;
        if (fstat(pfd, &st) < 0 || fchownat(tmpfd, "fs", st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        return 0;
}

static int overlay_prepare(Backend *b, SnapshotKind kind, const uint64_t *parents, size_t n_parents,
                           BackendCharge *charge, char **ret_tmpname, Error *e) {
        return backend_prepare_in_temp(b, overlay_build, kind, parents, n_parents, ret_tmpname, e);
}

static int overlay_lowerdir_option(Backend *b, const Snapshot *s, char **ret) {
        _cleanup_strv_free_ char **paths = NULL;
        char *joined, *opt;

        for (size_t i = 0; i < s->n_parents; i++) {
                char *p = data_path(b, s->parent_ids[i], "fs");
                if (!p || strv_push(&paths, p) < 0) {
                        free(p);
                        return -ENOMEM;
                }
        }
        joined = strv_join(paths, ":");
        if (!joined)
                return -ENOMEM;
        opt = strdup_printf("lowerdir=%s", joined);
        free(joined);
        if (!opt)
                return -ENOMEM;
        *ret = opt;
        return 0;
}

static int strv_new_push(char ***l, char *s) {
        if (!s)
                return -ENOMEM;
        if (strv_push(l, s) < 0) {
                free(s);
                return -ENOMEM;
        }
        return 0;
}

/* A snapshot without parents, or a view of one layer, is mounted as a bind mount of its
 * directory; any other as an overlay. */
static bool overlay_is_bind(const Snapshot *s) {
        return s->n_parents == 0 || (s->kind == SNAPSHOT_VIEW && s->n_parents == 1);
}

static int overlay_mounts(Backend *b, const Snapshot *s, MountSpecList *ret, Error *e) {
        _cleanup_strv_free_ char **opts = NULL;
        char *lower = NULL;
        int r = 0;

        if (overlay_is_bind(s)) {
                uint64_t id = s->n_parents == 0 ? s->id : s->parent_ids[0];
                _cleanup_free_ char *src = data_path(b, id, "fs");

                if (!src)
                        return error_set_errno(e, ENOMEM, "mounts");
                r = strv_new_push(&opts, strdup(s->kind == SNAPSHOT_ACTIVE ? "rw" : "ro"));
                if (r >= 0)
                        r = strv_new_push(&opts, strdup("rbind"));
                if (r >= 0)
                        r = mount_spec_list_add(ret, "bind", src, TAKE_PTR(opts));
                return r < 0 ? error_set_errno(e, r, "mounts") : 0;
        }

        if (s->kind == SNAPSHOT_ACTIVE) {
                r = strv_new_push(&opts, strdup_printf("workdir=%s/%" PRIu64 "/work", b->snapshots_path, s->id));
                if (r >= 0)
                        r = strv_new_push(&opts, strdup_printf("upperdir=%s/%" PRIu64 "/fs", b->snapshots_path, s->id));
        }
        if (r >= 0)
                r = overlay_lowerdir_option(b, s, &lower);
        if (r >= 0)
                r = strv_new_push(&opts, lower);
        if (r >= 0)
                r = strv_new_push(&opts, strdup("index=off"));
        if (r >= 0)
                r = mount_spec_list_add(ret, "overlay", "overlay", TAKE_PTR(opts));
        return r < 0 ? error_set_errno(e, r, "mounts") : 0;
}

/* An overlay holds a private clone of the mount of each of its layers and of its upper
 * (overlayfs's clone_private_mount), and is a mount itself. */
static uint64_t overlay_kernel_mounts(Backend *b, const Snapshot *s) {
        if (overlay_is_bind(s))
                return 1;
        return s->n_parents + (s->kind == SNAPSHOT_ACTIVE) + 1;
}

static int overlay_mount(Backend *b, const Snapshot *s, uint64_t attrs, const MountIdmapping *idmap, int *ret_mnt_fd,
                         Error *e) {
        _cleanup_strv_free_ char **lowers = NULL;
        _cleanup_free_ char *upper = NULL, *work = NULL;

        if (s->kind == SNAPSHOT_VIEW)
                attrs |= MOUNT_ATTR_RDONLY;
        if (overlay_is_bind(s)) {
                char name[48];

                snprintf(name, sizeof name, "%" PRIu64 "/fs", s->n_parents == 0 ? s->id : s->parent_ids[0]);
                return mount_bind(b->snapshots_fd, name, attrs, idmap, ret_mnt_fd, e);
        }

        /* The layers by their names in snapshots/, opened there (mount_overlay). */
        for (size_t i = 0; i < s->n_parents; i++)
                if (strv_new_push(&lowers, strdup_printf("%" PRIu64 "/fs", s->parent_ids[i])) < 0)
                        return error_set_errno(e, ENOMEM, "mount");
        if (s->kind == SNAPSHOT_ACTIVE) {
                upper = strdup_printf("%" PRIu64 "/fs", s->id);
                work = strdup_printf("%" PRIu64 "/work", s->id);
                if (!upper || !work)
                        return error_set_errno(e, ENOMEM, "mount");
        }
        return mount_overlay(&(MountOverlayDirs) { .root_fd = b->snapshots_fd,
                                                   .lowers = (const char *const *) lowers,
                                                   .n_lowers = s->n_parents,
                                                   .upper = upper,
                                                   .work = work },
                             attrs, idmap, ret_mnt_fd, e);
}

static int overlay_open_data(Backend *b, uint64_t id, int *ret_fd, Error *e) {
        int r = open_fs_dir(b, id, ret_fd);

        if (r < 0)
                return error_set_errno(e, r, "cannot open %s/%" PRIu64 "/fs", b->snapshots_path, id);
        return 0;
}

/* The upper dir "fs" in snapshots/<id>. */
static int overlay_open_data_parent(Backend *b, uint64_t id, int *ret_fd, char ret_name[static 32], Error *e) {
        char name[32];
        int fd;

        snprintf(name, sizeof name, "%" PRIu64, id);
        fd = openat(b->snapshots_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return error_set_errno(e, errno, "cannot open %s/%s", b->snapshots_path, name);
        strcpy(ret_name, "fs");
        *ret_fd = fd;
        return 0;
}

const BackendVTable backend_overlayfs = {
        .name = "overlayfs",
        .layered = true,
        .prepare = overlay_prepare,
        .mounts = overlay_mounts,
        .mount = overlay_mount,
        .kernel_mounts = overlay_kernel_mounts,
        .usage = backend_usage_walk,
        .open_data = overlay_open_data,
        .remove_data = backend_remove_tree,
        .clone_data = backend_clone_copy,
        .open_data_parent = overlay_open_data_parent,
        .remove_clone = backend_remove_clone_tree,
};
