/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "backend.h"
#include "core.h"
#include "fs-quota.h"
#include "layer.h"
#include "store.h"

/* Shared by the files of src/core; nothing outside src/core sees this. */

struct CoreSnapshotter {
        Core *core;
        const char *name;
        Store *store;
        Backend *backend;

        /* IDs with a long operation running (Commit, Apply, Mount), and temporary entries
         * of snapshots/ that a Prepare is still building: Cleanup must not take them. */
        pthread_mutex_t lock;
        uint64_t *busy_ids;
        size_t n_busy;
        char **building;
        size_t n_preparing; /* backend prepares running, whose "new-" entry is not named yet */

        /* The state filesystem's project quotas, used for this snapshotter's snapshots
         * (core-quota.c): projects is true when each new snapshot gets a project. */
        FsQuota fsquota;
        bool projects;
        bool qgroups; /* btrfs: quotas are on, each subvolume has its qgroup */
        /* The pass at start (core-quota-start.c). */
        pthread_t quota_start_thread;
        bool quota_starting, quota_migrate;
        uint64_t quota_start_usec; /* CLOCK_REALTIME */

        /* Where trees were removed a moment ago, for Apply to build away from them
         * (core-apply-place.c; NULL until the first removal); with lock. */
        struct ApplyPlacement *placement;

        /* Frees removed data in the background (core-reclaim.c); with lock. */
        struct Reclaimer *reclaimer;
        atomic_bool stopping; /* laminad exits: the reclaimer and walks give up */

        /* The last detached mount found still held, and one process holding it
         * (core-mount-state.c): while that one still does, /proc is not walked again. */
        uint64_t held_mnt_id;
        pid_t held_pid;
        unsigned held_n;

        /* Overlays handed out or force-unmounted, watched until their filesystem is shut
         * down, by the mount ID of their record (mount-sb-watch.c). */
        MountSbWatch *sb_watch;
};

struct Core {
        char *state_dir;
        char *runtime_dir;
        int state_fd;
        char boot_id[33];
        LayerLimits apply_limits;
        CoreSnapshotter *snapshotters[3];
        size_t n_snapshotters;
        QuotaConfig quota;
        uint64_t fs_bytes, fs_inodes; /* of the state filesystem, for quotas in percent */
        struct QuotaState *quota_state; /* core-quota-cache.c */
};

/* A read transaction on s's store; the error names the snapshotter. */
int core_read_begin(CoreSnapshotter *s, StoreTxn **ret, Error *e);
/* The arguments of a write to key (its name, the labels when any): checked before the
 * store is touched. */
int core_validate_key_and_labels(const char *key, const Labels *labels, Error *e);
/* Resolves parent for a new snapshot in ns: own namespace first, then root's committed
 * snapshots. Fills the parent's owner and its chain (its own ID first); a chain the kernel
 * cannot stack below a child is InvalidArgument. */
int core_resolve_parent(CoreSnapshotter *s, uid_t ns, const char *parent, uid_t *ret_owner, Snapshot *ret_chain,
                        Error *e);
/* A backend's failure on the data of snapshot key, for the caller. Its message names
 * internal paths and an errno of the daemon's own file operations is no API error kind:
 * a full filesystem or quota becomes QuotaExceeded (ENOSPC, EDQUOT), missing data or a
 * refusing filesystem FailedPrecondition (instead of NotFound, AccessDenied), each
 * naming the key and what to do. Other failures are returned unchanged. */
int core_data_error(Error *e, int r, const char *key);

/* Marks id busy for a long operation; EBUSY (naming key) when it already is. */
int core_busy_acquire(CoreSnapshotter *s, uint64_t id, const char *key, Error *e);
void core_busy_release(CoreSnapshotter *s, uint64_t id);
bool core_is_busy(CoreSnapshotter *s, uint64_t id);

/* r, the result of looking key up in ns; when -ENOENT and root has key committed, e says so
 * (still NotFound: the caller's namespace has no such key, but "does not exist" of a
 * snapshot the caller lists would be a riddle). */
int core_not_own(StoreTxn *t, uid_t ns, const char *key, int r, Error *e);
/* Looks key up in ns only (what a caller may change); NotFound says when root has it. */
int core_lookup_own(StoreTxn *t, uid_t ns, const char *key, SnapshotInfo *ret, Error *e);
/* core_read_begin() then core_lookup_own() in that transaction, which *ret_txn then owns. */
int core_read_own(CoreSnapshotter *s, uid_t ns, const char *key, StoreTxn **ret_txn, SnapshotInfo *ret, Error *e);
/* Looks key up in ns, then, for ns != 0, among root's committed snapshots (what a caller
 * may see). */
int core_lookup_visible(StoreTxn *t, uid_t ns, const char *key, SnapshotInfo *ret, Error *e);

/* Starts the thread that frees removed data and queues what a crash left (data of
 * removed snapshots); at start, before any call. */
int core_reclaim_start(CoreSnapshotter *s);
/* Stops it (an entry being removed is given up: it stays an orphan for the next start). */
void core_reclaim_stop(CoreSnapshotter *s);
/* Queues the data of snapshot id, whose record is gone, for freeing; the bytes are
 * reported to uid's next Cleanup. */
void core_reclaim_queue(CoreSnapshotter *s, uint64_t id, uid_t uid);
/* In the write transaction that found them to be orphans: queues the n entries names of
 * snapshots/ for freeing, credited to uid, except what a Prepare of this process is still
 * building; *ret_queued: how many were not queued yet. */
int core_reclaim_queue_orphans(CoreSnapshotter *s, char *const *names, size_t n, uid_t uid, size_t *ret_queued);
/* Waits until fewer than ORPHAN_PAGE entries are queued, before a search queues another
 * page: the queue, which each Remove and Cleanup looks through with the snapshotter's lock
 * held, stays short however many orphans there are. */
void core_reclaim_wait_room(CoreSnapshotter *s);

/* Searching snapshots/ for orphans a page at a time (core-orphans.c): every entry that no
 * record names (ids_only: only those named by an ID, the data of removed snapshots; the
 * temporaries may be another laminad's), queued for freeing credited to uid. */
#define ORPHAN_PAGE 256
typedef struct OrphanScan OrphanScan;
int orphan_scan_new(CoreSnapshotter *s, uid_t uid, bool ids_only, OrphanScan **ret);
OrphanScan *orphan_scan_free(OrphanScan *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(OrphanScan *, orphan_scan_free);
/* The next page: reads at most ORPHAN_PAGE entries and records, in a write transaction only
 * when some have no record. 1 when there may be more, 0 when the search is done. */
int orphan_scan_page(OrphanScan *o, Error *e);
size_t orphan_scan_queued(const OrphanScan *o);
/* A whole search, page after page (ECANCELED when laminad stops meanwhile). */
int orphan_scan_run(CoreSnapshotter *s, uid_t uid, bool ids_only, size_t *ret_queued, Error *e);
/* Whether name, an entry of snapshots/ (or mount-work/), is named by a snapshot's ID. */
bool core_data_id(const char *name, uint64_t *ret);

/* Removes the work directories of own-superblock mounts that no mount record names
 * (core-cleanup-work.c): with ns 0 all of them (root's Cleanup, start), otherwise those of
 * ns's snapshots only, at a cost linear in their number. */
int core_mount_work_sweep(CoreSnapshotter *s, uid_t ns, Error *e);

/* Rebase (core-rebase.c). Marks the data of the new active snapshot id for a rebase. */
int core_rebase_mark(CoreSnapshotter *s, uint64_t id, Error *e);
/* Before an Apply to id: *ret_mark whether it is a rebase snapshot (its parent directories
 * are marked); EWRONGKIND when a Commit of it began. */
int core_rebase_apply_check(CoreSnapshotter *s, uint64_t id, const char *key, bool *ret_mark, Error *e);
/* After an Apply to a rebase snapshot marked a directory below its root, before its clone
 * (clone_fd) replaces the data: the Commit has directories to complete. */
int core_rebase_applied(int clone_fd, const char *key, Error *e);
/* Before Commit records id: gives its data what Apply onto chain (the parent's ID and
 * parents; NULL: none) would have given it. 0: not a rebase snapshot and chain NULL
 * (nothing to do); 1: done; EWRONGKIND: not a rebase snapshot but chain given, or a
 * Commit onto another parent began. */
int core_rebase_attach(CoreSnapshotter *s, uint64_t id, const char *key, const Snapshot *chain, Error *e);
/* After the commit of a rebase snapshot is recorded. */
void core_rebase_finish(CoreSnapshotter *s, uint64_t id, const char *key);

/* Starts removing, in the background, what applies cut off by a crash left behind; at
 * start, before any call. Fast: it only lists a directory. */
int core_apply_recover(CoreSnapshotter *s);

/* Mount records against the kernel (core-mount-state.c). */
typedef enum MountState {
        MOUNT_MOUNTED,  /* in the mount table (or being attached) */
        MOUNT_HELD,     /* detached, but processes still hold it */
        MOUNT_RELEASED, /* gone for good: the record can go */
} MountState;
MountState core_mount_record_state(CoreSnapshotter *s, const MountRecord *m, char **ret_path, unsigned *ret_holders);
/* Processes holding the mount of record m (remembering one of them, so that asking again
 * while it still does costs one process, not a walk of /proc); E2BIG when not known (see
 * mount_count_holders: other users' processes count so only where they reach the mount
 * by path). */
int core_mount_count_holders(CoreSnapshotter *s, const MountRecord *m, unsigned *ret);

/* The state of the mount record of ns's key, found before the write transaction (walking
 * /proc for holders can take a while; no one else should wait for it meanwhile). */
typedef struct MountPrecheck {
        bool known;         /* state and holders taken as such while the record is the same */
        MountState state;
        unsigned holders;
        uint64_t snapshot_id;
        uint64_t mnt_id;
        char boot_id[33];
} MountPrecheck;
void core_mount_precheck(CoreSnapshotter *s, uid_t ns, const char *key, MountPrecheck *ret);
/* EBUSY when laminad has id mounted, or unmounted it with force while processes still
 * hold it (the one check before Commit, Apply, Remove and Mount). A record of a mount
 * that is gone for good is deleted on the way when t is a write transaction. pre (may be
 * NULL: look now) is taken as the state of the record while it is the same one and still
 * out of the mount table. */
int core_check_not_mounted_pre(CoreSnapshotter *s, StoreTxn *t, uint64_t id, const char *key,
                               const MountPrecheck *pre, Error *e);
/* Whether a user keeps a copy of m's mount in a user namespace of its own. */
bool core_mount_has_user_ns_copies(CoreSnapshotter *s, const MountRecord *m);
/* "N process(es) still use(s) it", that a copy is mounted elsewhere (holders 0) or that
 * its filesystem lives on where no search looks (CORE_MOUNT_HOLDERS_UNSEEN). */
const char *core_mount_held_by(unsigned holders, char buf[static 64]);
#define CORE_MOUNT_HOLDERS_UNSEEN UINT_MAX
/* Whether a mount of kernel_mounts (its record's) has a superblock of its own: an overlay
 * (more than one kernel mount), whose filesystem lives exactly as long as any mount of it.
 * A mount recorded by an older laminad (cost unknown) counts as a bind mount. */
static inline bool core_mount_own_sb(uint64_t kernel_mounts) {
        return kernel_mounts > 1 && kernel_mounts != STORE_MOUNT_KERNEL_MOUNTS_UNKNOWN;
}
/* Whether m's watched filesystem lives on (waiting up to wait_ms for it to go) where no
 * search looks: no live copy of it in any namespace, counted or not, explains it. A copy
 * that does makes the watch tell nothing: it is dropped. */
bool core_mount_held_unseen(CoreSnapshotter *s, const MountRecord *m, unsigned wait_ms);
/* Watches the filesystem of the overlay mnt_fd (record mount ID mnt_id) until the kernel
 * shuts it down; a failure only leaves it to the search for holders. */
void core_mount_watch_sb(CoreSnapshotter *s, int mnt_fd, uint64_t mnt_id);
/* The mark of a snapshot whose mount is being attached, in the busy set beside its own
 * (snapshot IDs never reach 2^63). */
#define CORE_MOUNT_ATTACHING(id) ((id) | UINT64_C(1) << 63)
/* Deletes the record of a released mount (in a write transaction), its directory and
 * its work directory. */
int core_mount_record_forget(CoreSnapshotter *s, StoreTxn *t, const MountRecord *m);

/* --- Quotas (core-quota.c) --- */

/* The usages of active snapshots known, and the Applies under quota running
 * (core-quota-cache.c): made by core_quota_init(), freed by core_quota_done(). */
typedef struct QuotaState QuotaState;
int core_quota_state_new(Core *c);
void core_quota_state_free(Core *c);
/* What made uid's usages in s stale so far: core_quota_cache_put() keeps a walk only when
 * nothing did since this was read, before the records the walk follows. */
uint64_t core_quota_cache_generation(CoreSnapshotter *s, uid_t uid);
/* The usage of uid's snapshot id as last walked: false when not known. */
bool core_quota_cache_get(CoreSnapshotter *s, uid_t uid, uint64_t id, uint64_t *ret_bytes, uint64_t *ret_inodes);
/* What uid's usages in s are now: usage[i] (bytes, inodes) of ids[i] where known[i] (not
 * mounted), kept when generation is still current; the others are forgotten. */
void core_quota_cache_put(CoreSnapshotter *s, uid_t uid, uint64_t generation, const uint64_t *ids,
                          const uint64_t (*usage)[2], const bool *known, size_t n);
/* The data of uid's snapshot id may change (its mount is recorded, an Apply to it ended):
 * its usage is walked again, and a walk running now is not kept. */
void core_quota_forget(CoreSnapshotter *s, uid_t uid, uint64_t id);
/* The reservations of uid's Applies (bytes, inodes) into ret; returns how many of uid's
 * were released since start (a usage walked before a release counts the released one's
 * data neither in it nor in the reservations; other uids' releases do not count: they
 * neither change uid's usage nor make its Applies walk it again). */
uint64_t core_quota_reserved(CoreSnapshotter *s, uid_t uid, uint64_t ret[static 2]);
/* Reserves add (bytes, inodes) for an Apply of uid whose usage was walked as used while
 * released of its reservations had been released: EAGAIN when more were released since (walk
 * again), EDQUOT when used, the others' reservations (ret_others) and add pass max. */
int core_quota_reserve(CoreSnapshotter *s, uid_t uid, uint64_t released, const uint64_t used[static 2],
                       const uint64_t add[static 2], const uint64_t max[static 2], uint64_t ret_others[static 2],
                       uint64_t *ret_id);
void core_quota_release(CoreSnapshotter *s, uint64_t id);
/* Until a reservation of uid is released after released ones were (ECANCELED when
 * cancel_fd becomes readable or laminad stops meanwhile). */
int core_quota_wait_released(CoreSnapshotter *s, uid_t uid, uint64_t released, int cancel_fd);

typedef struct QuotaUse {
        uint64_t used[_QUOTA_KIND_MAX];
} QuotaUse;

/* Copies config (NULL: the defaults) and reads the size of the state filesystem. */
int core_quota_init(Core *c, const QuotaConfig *config);
/* Frees what core_quota_init() made. */
void core_quota_done(Core *c);
/* Keys and values of l, the bytes LabelBytes= counts. */
uint64_t core_labels_bytes(const Labels *l);
/* The snapshots and label bytes ns holds in the snapshotters other than s, read before a
 * write transaction of s (that transaction counts s's own). */
int core_quota_meta_elsewhere(CoreSnapshotter *s, uid_t ns, QuotaUse *ret, Error *e);
/* Whether ns may make a change that adds add_snapshots snapshots and add_label_bytes bytes
 * of labels: EDQUOT naming the limit when ns would then hold more than its quota in what t
 * (a transaction of s; NULL: a read transaction of its own) shows plus elsewhere, the change
 * included (counted: t already holds it; the caller aborts t then). A kind the change does
 * not grow always passes, also for a uid over a lowered quota. Root: no quota. */
int core_quota_check_meta(CoreSnapshotter *s, StoreTxn *t, uid_t ns, const QuotaUse *elsewhere, bool counted,
                          uint64_t add_snapshots, uint64_t add_label_bytes, Error *e);
/* Probes the state filesystem's project quotas for s (at start). */
void core_quota_probe(CoreSnapshotter *s);
/* Bytes and inodes of snapshot id's own data: the backend's walk (or its qgroup), within
 * budget (NULL: none). */
int core_data_usage(CoreSnapshotter *s, uint64_t id, const TreeWalkBudget *budget, uint64_t *ret_size,
                    uint64_t *ret_inodes, Error *e);
/* The filesystem counts each non-root uid's data in one group per snapshotter and enforces
 * its quota on the group, so no call walks a uid's snapshots: on btrfs with quotas on its
 * qgroup (quota_user_qgroup), which each new subvolume joins when it is created; on ext4
 * and XFS with project quotas its project (quota_user_project), which each new overlayfs
 * snapshot's directories get before the snapshot is recorded. */
/* In the write transaction that records a snapshot of ns: gives its new data
 * snapshots/<tmpname> (and the directories in it) ns's project, when s uses projects.
 * Failures are only logged: the snapshot then has no project (no filesystem limit). */
void core_quota_project_new(CoreSnapshotter *s, const char *tmpname, uid_t ns);
/* Before the data of a snapshot of ns of kind is made (Prepare, View, or an Apply's clone
 * of snapshot replaces_id): sets the limit of ns's group (core_quota_fs_limit), and says
 * how the backend charges the data. Makes ns's qgroup when it has none; a snapshot
 * that cannot join it (its parent is not in it alone) is limited to what ns's quota leaves,
 * plus what replaces_id holds alone. O(snapshotters). */
void core_quota_charge(CoreSnapshotter *s, uid_t ns, SnapshotKind kind, uint64_t replaces_id, BackendCharge *ret);
/* btrfs with quotas on, ns not root: makes ns's qgroup if it has none, and sets its limit
 * (core_quota_fs_limit); *ret_held: its exclusive bytes. */
int core_quota_qgroup_ready(CoreSnapshotter *s, uid_t ns, uint64_t *ret_held);
/* Whether the filesystem enforces s's quotas on groups (btrfs qgroups, enforced projects). */
bool core_quota_fs_groups(CoreSnapshotter *s);
/* Sets the limit of ns's group in s (core_quota_fs_limit() for one snapshotter). */
void core_quota_limit_group(CoreSnapshotter *s, uid_t ns);
/* Where core_quota_fs_groups(): a thread of s's own sets the limits of every owner's group
 * and (btrfs) puts older snapshots' subvolumes into their owners' qgroups
 * (core-quota-start.c). At start, once every snapshotter is open. */
void core_quota_start_pass(CoreSnapshotter *s);
/* Stops and joins it (before any snapshotter is freed: it reads the others' totals). */
void core_quota_stop_pass(CoreSnapshotter *s);
/* After the backend made it: a uid whose snapshot made the kernel's counts stale (and
 * start a rescan) has its new snapshots join its qgroup no more (for as long as the
 * filesystem's quota tree lives): only those on other users' layers can be made. */
void core_quota_charged(CoreSnapshotter *s, uid_t ns, const BackendCharge *charge);
/* After what ns holds changed (Apply, Remove): the limit of each of its groups is
 * what its Bytes= (and Inodes=, projects) leave besides what it holds in the other
 * snapshotters. O(snapshotters); best effort, logged at debug. */
void core_quota_fs_limit(Core *c, uid_t ns);
/* An Apply's reservation (core-quota-apply.c): what its layer adds, reserved once it is
 * unpacked and until the Apply ends (core_quota_applied()). */
typedef struct QuotaReservation {
        bool limited; /* ns has a Bytes= or Inodes= quota */
        bool refused; /* the layer did not fit besides what the others added */
        uint64_t id;  /* 0: nothing reserved */
} QuotaReservation;
/* Lowers an Apply's byte and entry limits to what ns's Bytes= and Inodes= quotas leave
 * besides the reservations of ns's other Applies (EDQUOT when nothing is left; ECANCELED
 * when cancel_fd became readable while it waited for one to be released); *ret_used and
 * *ret_max say what was found. Applies of one uid run side by side. */
int core_quota_apply_limits(CoreSnapshotter *s, uid_t ns, const char *key, int cancel_fd, LayerLimits *limits,
                            QuotaUse *ret_used, QuotaLimits *ret_max, QuotaReservation *ret, Error *e);
/* Once the layer is unpacked into clone_fd and before that becomes snapshot id's data:
 * reserves what it adds to the data (bytes and inodes, as the usage counts them: a walk of
 * the clone and of the data) if ns's usage, the reservations of its other Applies and that
 * stay within its quota, else EDQUOT. Exact: a usage walked before another reservation
 * was released is walked again, and a refusal while others hold reservations waits for
 * them (their data then counts in the walk, once). */
int core_quota_apply_reserve(CoreSnapshotter *s, uid_t ns, const char *key, int cancel_fd, uint64_t id, int clone_fd,
                             QuotaReservation *r, Error *e);
/* After an Apply to ns's snapshot id, done or failed: its usage is walked again, then its
 * reservation released. */
void core_quota_applied(CoreSnapshotter *s, uid_t ns, uint64_t id, QuotaReservation *r);
