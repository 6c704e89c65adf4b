/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "core-internal.h"
#include "mount-api.h"

/* Making a mount, shared by core_mount() (core-mount.c), core_mount_fd() (core-mount-fd.c)
 * and core_unmount() (core-unmount.c); nothing outside these files sees this. */

typedef struct MountArgs {
        CoreSnapshotter *s;
        uid_t ns;
        const char *key, *target; /* target NULL: a daemon-made directory */
        bool hand_out; /* core_mount_fd: attached in root's own directory, only to be cloned */
        uint64_t attrs;
        const CoreMountOptions *o;
        MountIdmapping prepared; /* core_mount_idmap_prepare, before the transaction */
        MountPrecheck pre;       /* core_mount_precheck() before the write transaction */

        uint64_t busy_id;        /* the snapshot, marked busy while mount_make() makes its mount */
        uint64_t kernel_mounts;  /* what its mount costs the kernel (the backend's kernel_mounts) */

        /* What mount_in_txn did outside the store, for mount_attach or undo (path and
         * target_fd: the caller's target, opened before, or a directory of our own). */
        char *path;
        bool made_dir;
        uint64_t id; /* of the snapshot, marked ATTACHING when != 0 */
        uint64_t mnt_id;
        int target_fd, mnt_fd;
        uint64_t sb_dev; /* once attached (record_identity) */
        char *mnt_root;
} MountArgs;

/* Closes and removes what the making of a's mount left outside the store (fds, a
 * daemon-made mount point, the ATTACHING mark); a's record is the caller's business. */
void core_mount_args_undo(MountArgs *a);
/* The attributes of ns's mount with options o (NULL: none); nosuid,nodev for ns != 0. */
uint64_t core_mount_attrs(uid_t ns, const CoreMountOptions *o);
/* What a mount of snap with attrs costs the kernel (core-mount-own-sb.c), and the mount
 * itself, detached: the backend's, or for a writable mount of what the backend binds, an
 * overlay of its data directory, whose superblock is its own (mount_dir_own_sb). */
uint64_t core_mount_cost(CoreSnapshotter *s, const Snapshot *snap, uint64_t attrs);
int core_mount_build(CoreSnapshotter *s, const Snapshot *snap, uint64_t attrs, const MountIdmapping *idmap,
                     int *ret_mnt_fd, Error *e);
/* In the backend's state directory: the work directories of own-superblock mounts. */
#define MOUNT_WORK_DIR "mount-work"
/* Removes the work directory of snapshot id's mount (its overlay gone). */
void core_mount_work_remove(CoreSnapshotter *s, uint64_t id);
/* Records the mount, makes it and attaches it; on failure everything is undone. */
int core_mount_recorded(MountArgs *a, Error *e);
/* store_write callback deleting the record of a's snapshot (gone already: fine). */
int core_mount_forget_in_txn(StoreTxn *t, void *userdata, Error *e);
/* The failure r (inner) of a step in src/mount, told with the key; still internal when it
 * was: what a system call said is never a kind (a seccomp filter's EPERM is no
 * AccessDenied, see error.h). */
int core_mount_error_with_key(Error *e, int r, const Error *inner, const char *what, const char *key,
                              const char *where);

/* The idmapping an idmapped mount of ns's key asks for (core-mount-idmap.c): made for
 * "idmap", checked for a user namespace the caller passed, nothing (userns_fd -EBADF)
 * otherwise. May block (NSS, files): before the write transaction, off the event loop. */
int core_mount_idmap_prepare(uid_t ns, const CoreMountOptions *o, const char *key, MountIdmapping *ret, Error *e);
