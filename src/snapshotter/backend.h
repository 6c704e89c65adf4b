/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "mount-api.h"
#include "snapshot-types.h"
#include "tree-util.h"

/* One on-disk layout behind one vtable (overlayfs, native, btrfs).
 *
 * A backend owns <state>/<name>/snapshots/ (opened as snapshots_fd). Snapshot data
 * lives in snapshots/<id>; nothing is ever named after a caller's key. New data is
 * built in a temporary entry (name starting "new-") and the core renames it to <id>
 * inside the metadata write transaction, so a crash leaves at most an orphan that
 * cleanup() removes. */

typedef struct Backend Backend;

/* How a new snapshot's data is charged to its owner's disk quota where the filesystem
 * counts it (btrfs qgroups; the other backends take NULL and ignore it): the subvolume
 * joins the owner's qgroup when it is created, if it can without the kernel rescanning
 * every quota count; else its own exclusive bytes are limited, before anyone can write. */
typedef struct BackendCharge {
        uint64_t qgroup;    /* the owner's qgroup; 0: none */
        uint64_t own_limit; /* if it joins none; UINT64_MAX: none */
        bool rescanned;     /* out: joining made the counts stale after all; a rescan was started */
} BackendCharge;

/* Flags for mount(): MOUNT_ATTR_* from linux/mount.h (RDONLY, NOSUID, NODEV, NOEXEC). */

typedef struct BackendVTable {
        const char *name;
        /* true: a snapshot holds only its own changes, Apply stores OCI whiteouts as overlay
         * whiteouts (overlayfs); false: it is a full tree and whiteouts delete (native, btrfs). */
        bool layered;
        /* > 0 when this backend can run on the filesystem of state_fd. */
        int (*available)(int state_fd);
        int (*init)(Backend *b);
        void (*done)(Backend *b);

        /* Builds the data of a new snapshot of `kind` on `parents` (IDs, nearest first) in a
         * new temporary entry of snapshots/, charged as charge says (may be NULL); returns
         * its name. May be slow (native copies). */
        int (*prepare)(Backend *b, SnapshotKind kind, const uint64_t *parents, size_t n_parents,
                       BackendCharge *charge, char **ret_tmpname, Error *e);
        /* After the metadata commit of a Commit: e.g. btrfs makes the subvolume read-only.
         * Failures are logged, not fatal: the metadata already says committed. */
        int (*commit)(Backend *b, uint64_t id, Error *e);
        /* The mounts for an active or view snapshot, exactly as containerd builds them. */
        int (*mounts)(Backend *b, const Snapshot *s, MountSpecList *ret, Error *e);
        /* Builds a detached mount of s with MOUNT_ATTR_* flags, idmapped with idmap (may be
         * NULL), and returns its fd; the caller records its identity, then attaches it
         * (mount_attach). */
        int (*mount)(Backend *b, const Snapshot *s, uint64_t attrs, const MountIdmapping *idmap, int *ret_mnt_fd,
                     Error *e);
        /* The mounts the kernel holds for that mount of s, for the budget per user (NULL:
         * one, a bind mount). More than one is an overlay, whose superblock is its own: the
         * core watches it to know when it is really gone (core_mount_own_sb). */
        uint64_t (*kernel_mounts)(Backend *b, const Snapshot *s);
        /* Bytes (st_blocks*512 of unique inodes) and inodes of this snapshot's own data;
         * with a budget (NULL: none), E2BIG when walking it would take more. */
        int (*usage)(Backend *b, uint64_t id, const TreeWalkBudget *budget, uint64_t *ret_size,
                     uint64_t *ret_inodes, Error *e);
        /* Opens the directory holding snapshot id's own content (overlayfs: the upper
         * "fs" dir; native/btrfs: the full tree) for Apply to write into or read from. */
        int (*open_data)(Backend *b, uint64_t id, int *ret_fd, Error *e);
        /* Deletes snapshots/<name> (an orphan); adds the bytes it freed to *reclaimed. */
        int (*remove_data)(Backend *b, const char *name, uint64_t *reclaimed, Error *e);

        /* Apply, all or nothing (see backend-apply.h): makes dir_fd/<prefix><random>, a
         * clone of what open_data opens (native, overlayfs: a copy; btrfs: a snapshot of
         * the subvolume, charged as charge says, may be NULL), and returns its name. */
        int (*clone_data)(Backend *b, uint64_t id, int dir_fd, const char *prefix, BackendCharge *charge,
                          char **ret_name, Error *e);
        /* Opens the directory holding the entry open_data opens; its name there. */
        int (*open_data_parent)(Backend *b, uint64_t id, int *ret_fd, char ret_name[static 32], Error *e);
        /* Removes dir_fd/name, a clone or the data it replaced. Needs no Backend: it runs in
         * a background thread too. */
        int (*remove_clone)(int dir_fd, const char *name);
} BackendVTable;

struct Backend {
        const BackendVTable *vtable;
        int state_fd;     /* <state>/<name>/ */
        int snapshots_fd; /* <state>/<name>/snapshots/ */
        char *snapshots_path;
        void *userdata;   /* the backend's own */
        const atomic_bool *cancel; /* NULL, or true when long removals should give up */
};

extern const BackendVTable backend_overlayfs;
extern const BackendVTable backend_native;
extern const BackendVTable backend_btrfs;

/* Opens snapshots/ under state_fd and runs init. */
int backend_open(const BackendVTable *vt, int state_fd, const char *state_path, Backend **ret);
Backend *backend_free(Backend *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(Backend *, backend_free);

/* Shared implementations of vtable ops. */
/* Usage by walking what open_data opens. */
int backend_usage_walk(Backend *b, uint64_t id, const TreeWalkBudget *budget, uint64_t *ret_size,
                       uint64_t *ret_inodes, Error *e);
/* Creates a temporary "new-" directory in snapshots/, lets build fill it, and returns its
 * name; on failure removes it again. */
typedef int (*backend_build_fn)(Backend *b, int tmpfd, SnapshotKind kind, const uint64_t *parents,
                                size_t n_parents);
int backend_prepare_in_temp(Backend *b, backend_build_fn build, SnapshotKind kind, const uint64_t *parents,
                            size_t n_parents, char **ret_tmpname, Error *e);
/* Removes snapshots/<name> as a plain directory tree. */
int backend_remove_tree(Backend *b, const char *name, uint64_t *reclaimed, Error *e);
