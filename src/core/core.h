/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core-quota.h"
#include "error.h"
#include "labels.h"
#include "snapshot-types.h"
#include "store.h"

/* Snapshot semantics: kinds, parents, labels, namespaces, busy state. No bus here.
 *
 * Every call acts on one snapshotter and one namespace `ns` (the owner uid whose keys
 * are resolved). For ns != 0 a parent that is not in ns is looked up in root's
 * namespace, and List shows ns's snapshots plus root's committed ones. All functions
 * are thread-safe: the daemon runs slow ones (Usage, Commit, Cleanup, Apply) on worker
 * threads. Errors are negative errno with the Error filled (see error.h for kinds). */

#define CORE_MAX_LAYERS 500 /* the kernel's OVL_MAX_STACK */

typedef struct Core Core;
typedef struct CoreSnapshotter CoreSnapshotter;

typedef struct CoreOptions {
        const char *state_dir;   /* default /var/lib/lamina */
        const char *runtime_dir; /* default /run/lamina */
        size_t initial_map_size; /* 0: store default */
        /* Limits of one Apply; 0: the defaults (2^20 entries, 64 GiB, PATH_MAX - 1) */
        uint64_t apply_max_entries;
        uint64_t apply_max_bytes;    /* uncompressed stream, and all files' sizes together */
        size_t apply_max_name_len;   /* of an entry's normalized path */
        /* The unpack helper's: address space, CPU seconds, wall-clock seconds. 0: default */
        uint64_t apply_max_memory, apply_max_cpu_sec, apply_max_wall_sec;
        const QuotaConfig *quota; /* NULL: the built-in defaults (copied) */
} CoreOptions;

int core_new(const CoreOptions *opts, Core **ret);
Core *core_free(Core *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Core *, core_free);

/* Whether a snapshotter's store opened without its totals per user and transient index
 * (store_derived_missing(): its filesystem was full). Each snapshotter's reclaim thread
 * builds them once there is space, with back-off (store_derived_retry_due()), and logs it. */
bool core_derived_missing(Core *c);

/* Available snapshotters, overlayfs first. */
size_t core_n_snapshotters(Core *c);
CoreSnapshotter *core_snapshotter_by_index(Core *c, size_t i);
CoreSnapshotter *core_snapshotter_by_name(Core *c, const char *name);
const char *core_snapshotter_name(CoreSnapshotter *s);
const char *core_state_dir(Core *c);

/* Keys and names: 1..4096 bytes of UTF-8 without control characters. */
int core_validate_key(const char *what, const char *key, Error *e);

int core_stat(CoreSnapshotter *s, uid_t ns, const char *key, SnapshotInfo *ret, Error *e);
int core_update(CoreSnapshotter *s, uid_t ns, const char *key, const Labels *labels,
                char *const *fieldpaths, SnapshotInfo *ret, Error *e);
int core_usage(CoreSnapshotter *s, uid_t ns, const char *key, uint64_t *ret_size,
               uint64_t *ret_inodes, Error *e);
int core_mounts(CoreSnapshotter *s, uid_t ns, const char *key, MountSpecList *ret, Error *e);
int core_prepare(CoreSnapshotter *s, uid_t ns, const char *key, const char *parent,
                 const Labels *labels, MountSpecList *ret, Error *e);
int core_view(CoreSnapshotter *s, uid_t ns, const char *key, const char *parent,
              const Labels *labels, MountSpecList *ret, Error *e);
int core_commit(CoreSnapshotter *s, uid_t ns, const char *name, const char *key,
                const Labels *labels, Error *e);
/* core_commit() in bounded time, for an event loop: EWOULDBLOCK, with nothing changed and e
 * not set, when it would take longer: the data is more than a small walk (256 entries,
 * 256 KiB of directories) or its count needs a sync of the filesystem (btrfs qgroups), it
 * is to be rebased, or the snapshot has a mount record (whose holders may have to be
 * searched). */
int core_commit_quick(CoreSnapshotter *s, uid_t ns, const char *name, const char *key, const Labels *labels,
                      Error *e);
/* Rebase (containerd 2.1's, overlayfs): an active snapshot without a parent whose data
 * is one layer's changes (EOPNOTSUPP on a backend holding full trees); Commit onto a parent
 * (resolved as Prepare resolves it; NULL or "": none) then gives it what an Apply onto that
 * parent would have (core-rebase.c). Committing another snapshot with a parent: EWRONGKIND. */
int core_prepare_rebase(CoreSnapshotter *s, uid_t ns, const char *key, const Labels *labels, MountSpecList *ret,
                        Error *e);
int core_commit_onto(CoreSnapshotter *s, uid_t ns, const char *name, const char *key, const char *parent,
                     const Labels *labels, Error *e);
int core_remove(CoreSnapshotter *s, uid_t ns, const char *key, Error *e);
/* core_remove() for an event loop: EWOULDBLOCK, with nothing changed and e not set, when the
 * snapshot has a mount record (Remove may have to search for the holders of a force-unmounted
 * mount); the record is looked up in Remove's own write transaction. */
int core_remove_quick(CoreSnapshotter *s, uid_t ns, const char *key, Error *e);

/* A snapshot whose maker asked for it to go when it goes: the label CORE_LABEL_TRANSIENT,
 * given at Prepare or View, names the maker (the bus layer: its unique connection name).
 * core_remove_transient() removes key only if it is still active or a view carrying that
 * label with the value owner; ESRCH when it no longer is (committed, removed, relabelled). */
#define CORE_LABEL_TRANSIENT STORE_LABEL_TRANSIENT
int core_remove_transient(CoreSnapshotter *s, uid_t ns, const char *key, const char *owner, Error *e);

typedef struct SnapshotInfoList {
        SnapshotInfo *items;
        size_t n;
} SnapshotInfoList;
void snapshot_info_list_clear(SnapshotInfoList *l);
/* ns CORE_NS_ALL (never a uid): every namespace's snapshots (core_list) and mounts
 * (core_list_mounts), for root's object manager. */
#define CORE_NS_ALL ((uid_t) -1)
int core_list(CoreSnapshotter *s, uid_t ns, char *const *filters, SnapshotInfoList *ret, Error *e);
/* The active snapshots and views of every namespace carrying CORE_LABEL_TRANSIENT, reading
 * only those (store_walk_transient()): what a stopped laminad left, at start. */
int core_list_transient(CoreSnapshotter *s, SnapshotInfoList *ret, Error *e);
/* How much one list may hold: at most max_items snapshots and, past the first, at most
 * max_bytes as size() counts them (the bus layer counts what they take in a message). A
 * page also reads at most max_read snapshots (0: no bound), whether its filters keep
 * them or not. */
typedef struct CoreListLimit {
        size_t max_items, max_bytes;
        size_t (*size)(const SnapshotInfo *info);
        size_t max_read;
        uint64_t max_filter_cpu_usec; /* CPU time of its ~= patterns per namespace read; 0: any */
} CoreListLimit;
/* core_list() (ns a uid) that stops reading where the list would pass limit, or once it
 * has read limit->max_read snapshots (0: any number), kept or not: *ret_more says whether
 * it did, and ret holds what fitted; limit NULL: none. EUSERS when the filters' patterns
 * take more than limit->max_filter_cpu_usec. */
int core_list_limited(CoreSnapshotter *s, uid_t ns, char *const *filters, const CoreListLimit *limit,
                      SnapshotInfoList *ret, bool *ret_more, Error *e);
/* One page of core_list() (ns a uid) in name-then-owner order: the snapshots after
 * (after_name, after_owner) (after_name NULL: from the first) that fit limit.
 * *ret_next_name (freed by the caller) and *ret_next_owner: where the next page starts
 * after, NULL after the last page. Reads about one page per namespace, however long the
 * list, and at most limit->max_read snapshots per namespace: a filter that keeps few
 * gives pages with fewer snapshots than fit, even none, and a next page; so does one whose
 * patterns took limit->max_filter_cpu_usec in a namespace. */
int core_list_page(CoreSnapshotter *s, uid_t ns, char *const *filters, uid_t after_owner, const char *after_name,
                   const CoreListLimit *limit, SnapshotInfoList *ret, char **ret_next_name, uid_t *ret_next_owner,
                   Error *e);

/* Deletes data no record refers to (the write lock is held only to compute the list), the
 * work directories of ns's snapshots that no mount record names (ns 0: all of them) and
 * waits for the data Removes are freeing in the background; returns the bytes freed for
 * namespace ns since its last Cleanup. */
int core_cleanup(CoreSnapshotter *s, uid_t ns, uint64_t *ret_reclaimed, Error *e);
/* Whether data of removed snapshots is still queued or being freed, or the search at start
 * for what a crash left still runs (laminad's idle exit waits for it). */
bool core_reclaim_pending(Core *c);
/* Whether an overlay laminad handed out or force-unmounted is still in use somewhere:
 * laminad watches its filesystem (core-mount-state.c) and must not exit meanwhile, or a
 * descriptor of it kept where no search looks would outlive the record. */
bool core_mount_filesystems_watched(Core *c);
/* Whether a lookup of a caller's mount target, ended after its time, still waits on the
 * caller's filesystem (laminad's idle exit waits for it: its service could not stop
 * before that process is gone, and would hold up the next start). */
bool core_mount_lookups_pending(void);

/* --- Per-uid quotas (core-quota.c) --- */

/* uid's limits (root: none); percentages are of the state filesystem's size. */
void core_quota_limits(Core *c, uid_t uid, QuotaLimits *ret);
/* What uid holds in one snapshotter, indexed by QuotaKind: its snapshots, their label bytes,
 * and their data (committed: as recorded at Commit; active and views: walked now, so this
 * takes as long as their data is large). */
int core_quota_usage(CoreSnapshotter *s, uid_t uid, uint64_t ret[static _QUOTA_KIND_MAX], Error *e);
/* The same, summed over every snapshotter (what the quotas are checked against). */
int core_quota_usage_all(Core *c, uid_t uid, uint64_t ret[static _QUOTA_KIND_MAX], Error *e);
/* Who enforces the quotas, per snapshotter: "overlayfs: laminad and project quotas;
 * native: laminad; …" (laminad alone does not limit writes through mounts). */
const char *core_quota_enforcement(Core *c, char *buf, size_t size);
/* The uids that have snapshots in s, ascending. */
int core_quota_owners(CoreSnapshotter *s, uid_t **ret, size_t *ret_n, Error *e);

/* --- Mounts made by the daemon (core-mount*.c, core-unmount.c) --- */

typedef struct CoreMountOptions {
        bool read_only, noexec;
        bool nosuid, nodev; /* forced on for non-root namespaces */
        /* Idmapped for the namespace's uid: image id 0 shows as its uid (and primary gid),
         * 1..N as its first /etc/subuid (/etc/subgid) range (mount_idmap_for_caller); an
         * overlay is made over idmapped layers. */
        bool idmap;
        /* Idmapped through the caller's own user namespace userns_fd instead: one of the
         * namespace's uid (it and its ancestors below the host's), mapping only host ids that
         * uid may use (its own uid and primary gid, its subordinate ranges; root: any),
         * checked by mount_userns_check. */
        bool userns;
        int userns_fd;
        const char *subuid_path, *subgid_path; /* NULL: /etc/subuid, /etc/subgid */
        /* A target the caller names must be a directory of this uid (the caller's): else a
         * user would shadow a directory it cannot write (/etc/polkit-1/rules.d) with a tree
         * of its own, root-owned files of its layers included. 0: a call of root's, any
         * directory. */
        uid_t target_owner;
        /* And the caller's groups (its gid first), with which, and target_owner as its uid,
         * laminad looks the target up (mount_open_target_as): none, a call of root's. */
        const gid_t *target_gids;
        size_t n_target_gids;
} CoreMountOptions;

/* Mounts (mount fds and force-unmounted mounts still in use included) a non-root uid may
 * have per snapshotter (root: no limit); one more is LimitsExceeded naming the limit. */
#define CORE_MOUNTS_PER_USER_MAX 256u

/* Kernel mounts a non-root uid's mounts may cost per snapshotter (root: no limit). An
 * overlay of N layers is N + 2 mounts in the kernel (a private clone of each layer's mount
 * and of its upper, and itself; only the last is in a mount table, so they never meet
 * fs.mount-max, but each is a struct mount of 384 bytes of unswappable kernel memory,
 * charged to laminad): without a budget the 256 mounts above, of 500 layers each, are
 * 128 512 mounts, ~50 MiB per user and snapshotter. 16 384 (6 MiB) are the 256 mounts of
 * images up to 62 layers deep (images have a few to a few dozen), or 32 mounts of the
 * deepest image the kernel stacks; one more is LimitsExceeded naming the budget. */
#define CORE_KERNEL_MOUNTS_PER_USER_MAX 16384u

/* A caller's mount target: an absolute path without a ".." component, so that the path
 * polkit is asked about (the detail "target", which rules match by prefix) names the tree
 * the directory is in. EINVAL otherwise. */
int core_validate_mount_target(const char *target, Error *e);

/* target NULL or "": <runtime>/mounts/<snapshotter>/<uid>/<random name>, in a directory
 * only uid can enter; else core_validate_mount_target(). Returns the path. */
int core_mount(CoreSnapshotter *s, uid_t ns, const char *key, const char *target,
               const CoreMountOptions *o, char **ret_path, Error *e);
/* The same mount, handed out detached (*ret_fd, an open_tree clone) for the caller to
 * attach in a mount namespace of its own; recorded, with no path, until it is released
 * (no process holds the fd or has it attached in the owner's user namespaces). */
int core_mount_fd(CoreSnapshotter *s, uid_t ns, const char *key, const CoreMountOptions *o, int *ret_fd,
                  Error *e);
/* Without force: Busy while anything uses the mount; succeeds only when it is gone.
 * With force: detaches it even when in use; the snapshot then stays busy (Commit, Apply,
 * Remove, Mount refuse) until the last process holding it lets go. */
int core_unmount(CoreSnapshotter *s, uid_t ns, const char *key, bool force, char **ret_path, Error *e);

typedef struct CoreMountInfo {
        char *key;
        char *path; /* "" when handed out by core_mount_fd */
        uid_t owner;
        uint64_t mounted_usec;
        uint64_t snapshot_id;
        uint64_t attrs; /* MOUNT_ATTR_* it was made with, MOUNT_ATTR_IDMAP when idmapped */
        bool attrs_known; /* false: mounted by an older laminad */
} CoreMountInfo;
typedef struct CoreMountInfoList {
        CoreMountInfo *items;
        size_t n;
} CoreMountInfoList;
void core_mount_info_list_clear(CoreMountInfoList *l);
int core_list_mounts(CoreSnapshotter *s, uid_t ns, CoreMountInfoList *ret, Error *e);
/* The mount ns's snapshot snapshot_id has in core_list_mounts(), or -ENOENT: one record
 * and one mount looked up (core-mount-info.c). */
int core_mount_info(CoreSnapshotter *s, uid_t ns, uint64_t snapshot_id, CoreMountInfo *ret, Error *e);
void core_mount_info_clear(CoreMountInfo *i);
/* Where laminad has ns's key mounted now, or "" (not mounted, or handed out by
 * core_mount_fd): one record and one mount looked up, not the whole table. */
int core_mount_path(CoreSnapshotter *s, uid_t ns, const char *key, char **ret, Error *e);
/* At start: records against the kernel's mount table, both ways (core-mount-reconcile.c). */
int core_reconcile_mounts(Core *c);

/* --- Apply (core-apply.c) --- */

typedef struct CoreApplyOptions {
        const char *expected_diff_id; /* "sha256:<hex>" or NULL */
        const char *media_type;       /* "tar", "tar+gzip", "tar+zstd" or NULL: detect */
        bool allow_devices;           /* root callers only */
        /* Called from the applying thread, at most ten times a second. */
        void (*progress)(uint64_t bytes_done, uint64_t bytes_total, void *userdata);
        void *userdata;
        /* > 0: an eventfd that becomes readable when the Apply must stop (ECANCELED). */
        int cancel_fd;
} CoreApplyOptions;

typedef struct CoreApplyResult {
        char diff_id[7 + 64 + 1];
        uint64_t bytes;
        uint64_t entries;
} CoreApplyResult;

/* Whether fd may be passed to core_apply() by caller: readable, not O_PATH, a regular file
 * (1), pipe or socket (0), else EINVAL. A regular file of a non-root caller on a FUSE or
 * network filesystem is EINVAL too: its server could hold every read until the Apply's
 * wall-clock limit (a pipe or socket goes through the stall relay instead). Without
 * may_ask_fs no filesystem is asked anything (statx AT_STATX_DONT_SYNC, the mount table),
 * in constant time, for the bus before authorization; a file on a mount of another mount
 * namespace (or without statmount) then passes, and is checked with statfs(2) only with
 * may_ask_fs (on the caller's worker). */
int core_check_layer_fd(int fd, uid_t caller, bool may_ask_fs, Error *e);

/* layer_fd: a regular file, pipe or socket the daemon reads (already type-checked by
 * the caller of this function is not assumed: it is checked here again). */
int core_apply(CoreSnapshotter *s, uid_t ns, const char *key, int layer_fd,
               const CoreApplyOptions *o, CoreApplyResult *ret, Error *e);

/* --- Images (core-image.c) ---
 * A name ("name:tag", many per image) in a namespace for a committed top snapshot (the
 * namespace's own or root's) and the image's OCI config. Callers see their own images and
 * root's; they change only their own. */
#define CORE_IMAGE_CONFIG_MAX (1024u * 1024u)
/* Image names a non-root uid may hold (root: no limit); one more is QuotaExceeded. */
#define CORE_IMAGES_PER_USER_MAX 1024u
/* Bytes a non-root uid's image records may take in all, configs included (each name keeps
 * its image's config); a name or config past it is QuotaExceeded. */
#define CORE_IMAGE_BYTES_PER_USER_MAX (64u * 1024u * 1024u)

typedef struct CoreImage {
        char *name;
        char *top;
        char *config; /* "" when the image has none; NULL in core_image_list()'s items */
        uid_t owner, top_owner;
        uint64_t created_usec, updated_usec;
} CoreImage;

typedef struct CoreImageList {
        CoreImage *items;
        size_t n;
} CoreImageList;

void core_image_clear(CoreImage *i);
void core_image_list_clear(CoreImageList *l);
int core_image_validate_name(const char *name, Error *e);
int core_image_get(CoreSnapshotter *s, uid_t ns, const char *name, CoreImage *ret, Error *e);
int core_image_list(CoreSnapshotter *s, uid_t ns, CoreImageList *ret, Error *e);
/* Names top (a committed snapshot ns sees) name, with config; an existing name moves, unless
 * flags has CORE_IMAGE_NO_REPLACE: then a name of ns's that stands for another top or config
 * is -EEXIST and stays (in the same transaction as the write: no other call gets between). */
#define CORE_IMAGE_NO_REPLACE (UINT64_C(1) << 0)
int core_image_create(CoreSnapshotter *s, uid_t ns, const char *name, const char *top, const char *config,
                      uint64_t flags, Error *e);
/* Gives the image source (ns's or root's) the name name in ns as well. */
int core_image_tag(CoreSnapshotter *s, uid_t ns, const char *source, const char *name, Error *e);
/* Removes the name only. */
int core_image_untag(CoreSnapshotter *s, uid_t ns, const char *name, Error *e);
/* An image as the bus shows it as an object (core-image-object.c): the names one namespace
 * gives one top snapshot, known by that snapshot's ID (never reused, says nothing of a name). */
typedef struct CoreImageObject {
        uint64_t top_id;
        uid_t owner, top_owner;
        char *top;
        char **names; /* sorted by bytes */
        /* Of the config of the name updated last: "sha256:<hex>" of its bytes (the image ID
         * when it is the config as imported), "" when it has none. */
        char config_digest[7 + 64 + 1];
        uint64_t config_size;
        uint64_t created_usec, updated_usec; /* earliest of its names, latest */
} CoreImageObject;
typedef struct CoreImageObjectList {
        CoreImageObject *items;
        size_t n;
} CoreImageObjectList;
void core_image_object_list_clear(CoreImageObjectList *l);
/* The image objects of namespace ns (its own names only; CORE_NS_ALL: every namespace's),
 * ordered by owner and top; top_id != 0: only the one of that top snapshot. Reads one config
 * per object. */
int core_image_objects(CoreSnapshotter *s, uid_t ns, uint64_t top_id, CoreImageObjectList *ret, Error *e);
/* Removes the name, then the image's layers from the top down while they are ns's, no other
 * image names them and nothing is built on them; *ret_removed (may be NULL) lists those. */
int core_image_remove(CoreSnapshotter *s, uid_t ns, const char *name, char ***ret_removed, Error *e);
