/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "labels.h"
#include "snapshot-types.h"

/* The metadata of one snapshotter: an LMDB environment in its own directory.
 *
 * Snapshots are identified by (owner uid, name); names are 1..4096 bytes. IDs come
 * from a persistent sequence starting at 1 and are never reused. Reads run in read
 * transactions that may nest and may be open in several threads at once; writes run
 * through store_write(), one at a time. A full map grows by itself.
 *
 * Errors: ENOENT no such snapshot (or parent), EEXIST name taken, EINVAL bad
 * argument (parent not committed, fieldpath, filter), EWRONGKIND wrong kind for the
 * operation, ENOTEMPTY has children, ENOSPC/EDQUOT the filesystem holding the store is
 * full or its quota exhausted, or the map cannot grow (the message says which);
 * anything else is an internal failure. Every failure fills the Error with a message
 * naming the key or what is full.
 *
 * A full disk: no signal ever (LMDB's lock file, which it writes through a mapping,
 * is kept fully allocated and, on btrfs, NOCOW), reads keep working, writes fail with
 * ENOSPC and work again once there is space, except writes that free space
 * (store_write_freeing()), which use room data.mdb keeps for them (also NOCOW on btrfs);
 * the last committed state is what stays on disk. A store that needs its totals per owner or transient index built opens without
 * them (store_derived_missing()). store_open() compacts a data file that is mostly free
 * (only while no other process has it open).
 *
 * Threads: a transaction belongs to the thread that began it and is ended there.
 * Reads may nest (a Stat inside a walk callback). Growing the map waits until no
 * transaction is open, so store_write() cannot grow while its thread holds a read
 * transaction: don't call it inside one (it then fails with ENOSPC when the map is
 * full). Never call store_write() from inside a write fn.
 *
 * Results (SnapshotInfo, Snapshot, MountRecord) must be zero-initialized or hold an
 * earlier result: on success the old contents are freed and replaced; on failure they
 * are left alone. */

typedef struct Store Store;
typedef struct StoreTxn StoreTxn;
typedef struct Filter Filter;

typedef struct StoreOptions {
        size_t initial_map_size; /* 0: a sensible default; tests pass a tiny one */
} StoreOptions;

/* Opens (creating if needed, dir 0700, files 0600) the environment in dir. */
int store_open(const char *dir, const StoreOptions *opts, Store **ret);
Store *store_free(Store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Store *, store_free);

/* Read transactions. */
int store_read_begin(Store *s, StoreTxn **ret);
void store_read_end(StoreTxn *t); /* NULL is fine */
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreTxn *, store_read_end);
/* Unmaps from this process the pages of the store's file that reads touched: they stay in
 * the page cache, and a later read maps them again. After a read of many records, so the
 * daemon's RSS returns to its baseline. */
void store_release_pages(Store *s);

/* Runs fn in a write transaction and commits it when fn returns >= 0; aborts when
 * fn fails. fn may run more than once (after the map grew), so it must undo its own
 * side effects outside the store whenever it fails. Returns fn's result or the
 * commit's error. */
typedef int (*store_write_fn)(StoreTxn *t, void *userdata, Error *e);
int store_write(Store *s, store_write_fn fn, void *userdata, Error *e);
/* The same for a write that frees space (removes a snapshot, forgets a record): it may use
 * the room data.mdb keeps for such writes, which store_write() refuses to touch once the
 * filesystem holding the store is full (ENOSPC saying so). A user can then still remove
 * snapshots to make room. */
int store_write_freeing(Store *s, store_write_fn fn, void *userdata, Error *e);

/* containerd's storage package, namespaced by owner. parent may be NULL. */
int store_create(StoreTxn *t, SnapshotKind kind, uid_t owner, const char *name,
                 uid_t parent_owner, const char *parent, const Labels *labels,
                 uint64_t now_usec, Snapshot *ret, Error *e);
int store_get_info(StoreTxn *t, uid_t owner, const char *name, SnapshotInfo *ret, Error *e);
int store_get_info_by_id(StoreTxn *t, uint64_t id, SnapshotInfo *ret, Error *e);
/* ID and parent IDs (nearest first) of an active or view snapshot (committed: EWRONGKIND). */
int store_get_snapshot(StoreTxn *t, uid_t owner, const char *name, Snapshot *ret, Error *e);
/* ID and parent IDs of any kind, for mounting views of committed parents and for Apply. */
int store_get_chain(StoreTxn *t, uid_t owner, const char *name, Snapshot *ret, Error *e);
/* fieldpaths: NULL/empty or "labels" replace all; "labels.K" sets or deletes K. */
int store_update_info(StoreTxn *t, uid_t owner, const char *name, const Labels *labels,
                      char *const *fieldpaths, uint64_t now_usec, SnapshotInfo *ret, Error *e);
/* Active `key` becomes committed `name`, keeping its ID; labels replaced, usage stored. */
int store_commit_active(StoreTxn *t, uid_t owner, const char *key, const char *name,
                        uint64_t size, uint64_t inodes, const Labels *labels,
                        uint64_t now_usec, uint64_t *ret_id, Error *e);
/* Gives the parentless active `key` the committed parent (parent_owner, parent): the
 * record's parent and the children index, as store_create() records them (a rebase, done
 * just before its store_commit_active()). ENOENT no parent, EINVAL parent not committed,
 * EWRONGKIND key not active, EEXIST key has a parent already. */
int store_attach_parent(StoreTxn *t, uid_t owner, const char *key, uid_t parent_owner, const char *parent,
                        uint64_t *ret_parent_id, Error *e);
int store_remove(StoreTxn *t, uid_t owner, const char *name, uint64_t *ret_id,
                 SnapshotKind *ret_kind, Error *e);
/* Number of children (any kind) of the snapshot; 0 when none. */
int store_count_children(StoreTxn *t, uint64_t id, size_t *ret);

/* Calls fn for every snapshot matching filter (NULL: all), ordered by owner, then by
 * name bytes. A negative return from fn stops the walk and is returned. */
typedef int (*store_walk_fn)(const SnapshotInfo *info, void *userdata);
int store_walk(StoreTxn *t, const Filter *filter, store_walk_fn fn, void *userdata, Error *e);
/* The same for one owner's snapshots only, without reading anyone else's (the names index
 * starts with the owner). */
int store_walk_owner(StoreTxn *t, uid_t owner, const Filter *filter, store_walk_fn fn, void *userdata, Error *e);
/* The same from the name from on (NULL: the first), in name order; a positive return from
 * fn stops the walk (0): a page of n reads about n records, however many follow. */
int store_walk_owner_from(StoreTxn *t, uid_t owner, const char *from, const Filter *filter, store_walk_fn fn,
                          void *userdata, Error *e);

/* Whether the totals per owner and the transient index are missing: they could not be
 * built at open because the filesystem holding the store was full. store_owner_totals()
 * then fails with ENOSPC saying so, and store_walk_transient() reads every record. */
bool store_derived_missing(Store *s);
/* Builds them when it is time at now_usec (CLOCK_MONOTONIC). It looks at the filesystem's
 * free space every 10 s (statvfs); with 1 MiB free or more it builds them, which reads every
 * record in a write transaction: after a failure it tries again 10 s later, then 20 s,
 * 40 s... up to every 5 min, and 10 s after the last try once space was freed
 * (store_derived_space_freed(), or a look finds more than twice as much free as that try).
 * 1 when it built them, 0 when not (not yet due, there, or still too full), negative on
 * another failure; *ret_next_usec: when to call it again (UINT64_MAX: they are there). Off
 * the event loop, never inside a transaction. */
int store_derived_retry_due(Store *s, uint64_t now_usec, uint64_t *ret_next_usec);
/* The caller freed space on the filesystem holding the store (removed snapshots' data). */
void store_derived_space_freed(Store *s);

/* The label of a snapshot its maker asked to go when it goes (core.h); the store keeps an
 * index of the active snapshots and views carrying it. */
#define STORE_LABEL_TRANSIENT "org.lamina.transient"
/* Calls fn for every active snapshot and view carrying STORE_LABEL_TRANSIENT, in ID order,
 * reading only those (unless the index is missing: then every record). */
int store_walk_transient(StoreTxn *t, store_walk_fn fn, void *userdata, Error *e);

/* What one owner holds (for quotas): snapshots of every kind, their label bytes (keys and
 * values), the recorded usage of its committed ones, its image records (count, and bytes
 * of keys and values), its mount records and the kernel mounts they cost (kernel_mounts of
 * each). Kept in a record of its own, changed in the same transaction as what it counts:
 * reading it is one lookup. */
typedef struct StoreOwnerTotals {
        uint64_t snapshots;
        uint64_t label_bytes;
        uint64_t committed_bytes, committed_inodes;
        uint64_t images, image_bytes;
        uint64_t mounts;
        uint64_t kernel_mounts;
} StoreOwnerTotals;
int store_owner_totals(StoreTxn *t, uid_t owner, StoreOwnerTotals *ret, Error *e);
/* The same counted from the records themselves, in O(what the owner holds + all mounts):
 * for checks and tests. */
int store_owner_recount(StoreTxn *t, uid_t owner, StoreOwnerTotals *ret);
bool store_owner_totals_equal(const StoreOwnerTotals *a, const StoreOwnerTotals *b);
/* The IDs of owner's active snapshots and views, whose usage only their data shows: one
 * pass over the owner's records. *ret_ids is freed by the caller. */
int store_owner_uncommitted(StoreTxn *t, uid_t owner, uint64_t **ret_ids, size_t *ret_n, Error *e);
/* The owners that have snapshots, ascending: one seek per owner. */
int store_list_owners(StoreTxn *t, uid_t **ret, size_t *ret_n);

/* Every live snapshot ID, ascending (for checks and tests: it reads every record). */
int store_list_ids(StoreTxn *t, uint64_t **ret_ids, size_t *ret_n);
/* For orphan detection one entry at a time: 1 when a snapshot record has id, 0 when none. */
int store_has_id(StoreTxn *t, uint64_t id);
/* In a write transaction: no snapshot is ever given id or a lower ID from now on. The data
 * of a snapshot whose record a crash (or a failed commit) never let be written carries an
 * ID the counter would give out again. */
int store_retire_id(StoreTxn *t, uint64_t id);

/* Checks records, name index, child links, the ID counter and the totals per owner against
 * each other (after a crash, in tests, for fsck): EBADMSG naming the first inconsistency. */
int store_verify(StoreTxn *t, Error *e);

/* Records of mounts that laminad made, keyed by snapshot ID. */
#define STORE_MOUNT_POINT_HANDLE_MAX 136u
typedef struct MountRecord {
        uint64_t snapshot_id;
        uid_t owner;
        char *target;
        uint64_t mnt_id;     /* unique 64-bit mount ID (statx STATX_MNT_ID_UNIQUE) */
        bool legacy_mnt_id;  /* read from an older record: mnt_id is the reusable 32-bit ID */
        char boot_id[33];
        bool daemon_made_target; /* laminad created the directory and removes it */
        uint64_t mounted_usec;
        /* What the mount shows (mount_identity), once it is attached; mnt_root NULL:
         * not known (attached by an older laminad, or killed before it was written). */
        uint64_t sb_dev;
        char *mnt_root;
        /* The MOUNT_ATTR_* flags it was made with (MOUNT_ATTR_IDMAP when idmapped);
         * attrs_known false: recorded by an older laminad. */
        uint64_t attrs;
        bool attrs_known;
        /* The mounts the kernel holds for it (an overlay: one per layer, one for its upper
         * and itself; a bind mount: one). STORE_MOUNT_KERNEL_MOUNTS_UNKNOWN in a record of
         * an older laminad. */
        uint64_t kernel_mounts;
        /* What finds the directory it was attached to again, whatever that is called by
         * then (src/mount's mount_point_handle(), opaque here); size 0: not known (an
         * older laminad, or a filesystem without file handles). */
        uint8_t point_handle[STORE_MOUNT_POINT_HANDLE_MAX];
        uint32_t point_handle_size;
} MountRecord;

/* What a mount recorded by an older laminad (which did not record its cost) counts: the
 * most one mount can cost, an overlay of the 500 layers the kernel stacks at most, its
 * upper and itself. */
#define STORE_MOUNT_KERNEL_MOUNTS_UNKNOWN 502u

void mount_record_clear(MountRecord *r);
int store_mount_put(StoreTxn *t, const MountRecord *r);
int store_mount_get(StoreTxn *t, uint64_t snapshot_id, MountRecord *ret); /* -ENOENT */
int store_mount_delete(StoreTxn *t, uint64_t snapshot_id);
/* Whether t may change records (store_write's) or only read them. */
bool store_txn_is_write(StoreTxn *t);
typedef int (*store_mount_walk_fn)(const MountRecord *r, void *userdata);
int store_mount_walk(StoreTxn *t, store_mount_walk_fn fn, void *userdata);

/* Image records (store-image.c): a name in an owner's namespace → the top snapshot (by name
 * and owner: the owner's or root's) and the image's OCI config. Names are 1..
 * STORE_IMAGE_NAME_MAX bytes (the core validates them). */
#define STORE_IMAGE_NAME_MAX 255

typedef struct ImageRecord {
        uid_t owner;
        char *name;
        char *top;
        uid_t top_owner;
        char *config; /* "" when the image has none */
        uint64_t created_usec, updated_usec;
} ImageRecord;

void image_record_clear(ImageRecord *r);
/* Creates or replaces the record of (r->owner, r->name). */
int store_image_put(StoreTxn *t, const ImageRecord *r);
int store_image_get(StoreTxn *t, uid_t owner, const char *name, ImageRecord *ret); /* -ENOENT */
int store_image_delete(StoreTxn *t, uid_t owner, const char *name);              /* -ENOENT */
/* Every image record, ordered by owner, then by name bytes; a negative return of fn stops.
 * Walks never read the configs: r->config is NULL (store_image_get() has it). */
typedef int (*store_image_walk_fn)(const ImageRecord *r, void *userdata);
int store_image_walk(StoreTxn *t, store_image_walk_fn fn, void *userdata);
/* The same for owner's records only (one key range). */
int store_image_walk_owner(StoreTxn *t, uid_t owner, store_image_walk_fn fn, void *userdata);
/* How many images owner names and the bytes their records take (keys and values: configs,
 * one copy per name): images and image_bytes of store_owner_totals(). */

/* SHA-256 of data (libgcrypt, already mapped by libsystemd), for keys of long names and
 * image config digests; -EIO when libgcrypt cannot be initialized. */
int store_sha256(const void *data, size_t len, uint8_t ret[static 32]);
