/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "macro.h"
#include "subid.h"

/* The kernel's OVL_MAX_STACK: lower layers one overlay can stack. */
#define MOUNT_MAX_LAYERS 500

/* The new mount API (fsopen/fsconfig/fsmount/open_tree/mount_setattr/move_mount),
 * so that option strings never hit mount(2)'s one-page limit. `attrs` are
 * MOUNT_ATTR_* flags (RDONLY, NOSUID, NODEV, NOEXEC). Every mount error includes the
 * kernel's own fs_context message when there is one. Functions return 0 or a
 * negative errno with e filled. */

/* An idmapping for a mount being made: the user namespace carrying it (mount_userns_new)
 * and the host uid and gid that image id 0 maps to (the caller's), as which overlayfs
 * creates its work directories on the idmapped upper. */
typedef struct MountIdmapping {
        int userns_fd;
        uid_t uid;
        gid_t gid;
} MountIdmapping;

/* The directories of an overlay: paths below root_fd, a directory of laminad's that no
 * caller can change (a backend's snapshots/, its state directory). Each is opened there
 * (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS, O_PATH) and handed to
 * overlayfs as that fd (fsconfig FSCONFIG_SET_FD: Linux 6.15 takes O_PATH fds); where the
 * kernel does not take fds, as the path of that fd (/proc/self/fd/N, which the kernel
 * follows to the very directory opened). Either way no path is looked up again by name. */
typedef struct MountOverlayDirs {
        int root_fd;
        const char *const *lowers; /* topmost first */
        size_t n_lowers;
        const char *upper, *work; /* both NULL: read-only */
} MountOverlayDirs;

/* An overlay of d's lowers (1..500 entries; a 501st is EINVAL naming the kernel limit)
 * with optional upper/work (both NULL: read-only, needs >= 2 lowers), index=off and
 * metacopy=off, returned detached (*ret_mnt_fd, for mount_attach) so that its identity can
 * be recorded before anyone can reach it. With idmap (may be NULL) it is an overlay of
 * idmapped layers (an overlay cannot be idmapped itself): the directories are opened in one
 * idmapped, non-recursive clone of root_fd. uuid stays "auto": overlayfs stores a UUID
 * (trusted.overlay.uuid) in the root of a new upper, which gives the overlay an fsid
 * (statfs, fanotify) of its own that outlives remounts; "off" would report the upper's
 * filesystem's fsid instead. The xattr stays on laminad's own directory: no layer brings a
 * trusted.* attribute and no copy of a snapshot's data carries one (layer_xattr_allowed). */
int mount_overlay(const MountOverlayDirs *d, uint64_t attrs, const MountIdmapping *idmap, int *ret_mnt_fd, Error *e);

/* A mount of the directory parent/name (name one component) with a superblock of its own,
 * whose life mount_sb_watch can see: an overlay whose upper is parent, over the empty
 * directory empty, with the work directory work (on parent's filesystem, outside parent),
 * parent, empty and work being paths below root_fd as for mount_overlay, of which only name
 * is cloned and returned detached, with attrs (idmap as for mount_overlay). It shows the
 * same files with the same inode numbers and writes to them; nothing of overlayfs's is
 * stored in name's tree (no xattr, no whiteout: there is nothing below it; uuid=off: no
 * UUID in parent either), but st_dev is the overlay's, overlayfs refuses to create a 0/0
 * character device (its whiteout) and hides trusted.overlay.* attributes. 3 kernel mounts. */
int mount_dir_own_sb(int root_fd, const char *parent, const char *name, const char *empty, const char *work,
                     uint64_t attrs, const MountIdmapping *idmap, int *ret_mnt_fd, Error *e);
#define MOUNT_DIR_OWN_SB_KERNEL_MOUNTS 3

/* A recursive bind clone (open_tree(OPEN_TREE_CLONE|AT_RECURSIVE)) of the directory source,
 * a path below root_fd (a directory of laminad's, as for mount_overlay) opened there as for
 * mount_overlay and cloned as that fd, with attrs applied by mount_setattr, idmapped with
 * idmap (may be NULL), returned detached like mount_overlay. */
int mount_bind(int root_fd, const char *source, uint64_t attrs, const MountIdmapping *idmap, int *ret_mnt_fd,
               Error *e);

/* Attaches the detached mount mnt_fd onto target_fd (an O_PATH dir fd). A detached
 * mount that is never attached vanishes with its last fd. */
int mount_attach(int mnt_fd, int target_fd, Error *e);

/* A detached, private, non-recursive copy (open_tree OPEN_TREE_CLONE) of the mount mnt_fd
 * refers to (attached), with its flags and idmapping; it has a unique ID of its own. With
 * lock_flags its flags are locked (mount_clone_locked): for a mount handed to a user, who
 * could otherwise clear nosuid and nodev from a user namespace of its own. */
int mount_clone_detached(int mnt_fd, bool lock_flags, int *ret_fd, Error *e);

/* 1 when the superblock under the mount fd is read-only (e.g. overlayfs fell back to
 * read-only because it could not create its work dir), 0 when it is writable. */
int mount_sb_is_read_only(int mnt_fd);

/* Mount targets a caller names (mount-target.c). */

/* Opens an existing, empty directory `path` (absolute) without following any symlink
 * (openat2 RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS) as an O_PATH fd: root's target. */
int mount_open_target(const char *path, int *ret_fd, Error *e);

/* The same for a caller other than root, looked up as the caller: a child
 * with uid, gids[0] as its gid and gids as its groups, and no capability, opens it and
 * checks that it is an empty directory owned by uid. -EACCES for any path that is not one
 * the caller reaches (missing, below a directory it cannot search, a symbolic link on the
 * way, not a directory, not its own, not empty); -ETIMEDOUT when the lookup did not end
 * within MOUNT_CHILD_TIMEOUT_MS (its filesystem does not answer: the child is killed);
 * -EBUSY while such a killed child of uid's has not ended yet. */
int mount_open_target_as(const char *path, uid_t uid, const gid_t *gids, size_t n_gids, int *ret_fd);
/* Whether a child of mount_open_target_as, killed, still waits on its filesystem. */
bool mount_target_lookups_stuck(void);

/* The unique 64-bit mount ID (statx STATX_MNT_ID_UNIQUE: never reused until reboot) of
 * the mount fd refers to. */
int mount_id_of_fd(int fd, uint64_t *ret);

/* The mount table of laminad's mount namespace, by unique mount ID (mount-table.c,
 * statmount(2) and listmount(2)). */

/* 1 and the mount point (as the kernel sees it now, wherever the mount was moved or its
 * parents renamed to) when mount mnt_id is in this mount namespace; 0 when it is not
 * (unmounted, detached, never attached). ret_mount_point may be NULL. */
int mount_find(uint64_t mnt_id, char **ret_mount_point);

/* The same for many lookups in a row (ListMounts): without statmount the table is read
 * once, not for each of them. What mount_find says, as of mount_table_load. */
typedef struct MountTable MountTable;
int mount_table_load(MountTable **ret);
MountTable *mount_table_free(MountTable *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(MountTable *, mount_table_free);
int mount_table_find(MountTable *t, uint64_t mnt_id, char **ret_mount_point);

/* The filesystem magic (statfs(2) f_type) of the mount that the file fd is on, from the
 * kernel's mount table (statmount), never asking the filesystem (a FUSE or network server
 * may not answer): ENOENT when that mount is not in this mount namespace, EOPNOTSUPP
 * without statmount. */
int mount_fs_magic_of_fd(int fd, uint64_t *ret);

/* The file handle (name_to_handle_at) of the directory dir_fd (O_PATH is fine) about to
 * become a mount point, as mount_unmount takes it: what finds that very directory again,
 * whatever it is called by then. EOPNOTSUPP for the root of a mount or a filesystem without
 * file handles. */
#define MOUNT_POINT_HANDLE_MAX 136
int mount_point_handle(int dir_fd, uint8_t ret[static MOUNT_POINT_HANDLE_MAX], size_t *ret_size);

/* Unmounts exactly the mount mnt_id wherever it is now (mount-unmount.c), nothing swapped in
 * for it meanwhile. Without `detach` this is a plain umount: EBUSY while any process has a
 * file, a working directory or a mount in it; it goes through point_handle, the handle of
 * the directory the mount was attached to (mount_point_handle; size 0: unknown, then by
 * name in the directory the mount was found in, safe only where no one else can rename).
 * With `detach` (MNT_DETACH) it leaves the tree at once and lives on until its last user
 * lets go (see mount_count_holders). ENOENT when it is not in this namespace. */
int mount_unmount(uint64_t mnt_id, bool detach, const uint8_t *point_handle, size_t point_handle_size, Error *e);

/* Detaches (MNT_DETACH) the attached mount whose root mnt_fd is, found through the fd: also
 * where statmount is refused and mount_unmount cannot find it by ID. */
int mount_detach_fd(int mnt_fd, Error *e);

/* The unique IDs of all mounts whose mount point is below the absolute directory dir. */
int mount_list_below(const char *dir, uint64_t **ret_ids, size_t *ret_n);

/* What a mount shows: its superblock's device and the directory of that filesystem it
 * shows (statmount), to recognise copies of it in other mount namespaces. */
int mount_identity(uint64_t mnt_id, uint64_t *ret_dev, char **ret_root);

/* Mount namespaces (not ours) of processes in user namespaces made by owner ((uid_t) -1:
 * by anyone but root), as made by unshare(CLONE_NEWUSER|CLONE_NEWNS), that hold a copy of
 * such a mount: of superblock dev, showing root or a directory below it; with others, also
 * those of every other uid but root (a mount fd handed out may be passed to anyone). A user
 * namespace is made by the owner of the outermost user namespace it is in (below ours): the
 * namespaces a user nests in its own under its subordinate uids are its own. Copies in
 * root's own namespaces (services, containers, sandboxes) are root's business.
 * E2BIG when owner has more than 256 mount namespaces, more than MOUNT_COPIES_MAX_MOUNTS
 * mounts in them or ones that take more than 100 ms to ask about: not looked into (laminad
 * asks on its main loop). Every other uid pays for its own namespaces from a share of its
 * own, as much as the owner's while at most 4 uids have namespaces, else 4/N of it each
 * (all of them together never cost more than 4 owners): what a uid has past a whole share
 * is its own excess and is not looked into, so that no user's namespaces decide another's
 * Busy; past a share made smaller by other uids, nothing is known of the rest: E2BIG unless
 * a copy was found (so that a held mount never counts as released). */
int mount_count_user_ns_copies(uint64_t dev, const char *root, uid_t owner, bool others, unsigned *ret);
#define MOUNT_COPIES_MAX_MOUNTS 16384U
/* The same in every mount namespace but laminad's, root's own too (a process in laminad's
 * user namespace: uid 0), every uid paying as another's: what its share does not cover is
 * not looked into; E2BIG as above when shares were made smaller. */
int mount_count_any_copies(uint64_t dev, const char *root, unsigned *ret);

/* Overlays laminad watches until the kernel shuts their filesystem down
 * (mount-sb-watch.c): only for a mount whose superblock is its own (an overlay: every
 * copy, clone and file of it holds that superblock; a bind mount shares its filesystem's,
 * which never goes). Thread-safe. */
typedef struct MountSbWatch MountSbWatch;
int mount_sb_watch_new(MountSbWatch **ret);
MountSbWatch *mount_sb_watch_free(MountSbWatch *w);
/* Watches the filesystem of the mount mnt_fd (its root) under key. ENOSPC past
 * MOUNT_SB_WATCH_MAX watches: inotify watches are root's, shared with every service of
 * root's (fs.inotify.max_user_watches), and laminad takes no more than a share of them. */
int mount_sb_watch_add(MountSbWatch *w, int mnt_fd, uint64_t key);
#define MOUNT_SB_WATCH_MAX 8192U
/* Stops watching key's filesystem (its mount stayed where laminad sees it). */
void mount_sb_watch_forget(MountSbWatch *w, uint64_t key);
/* Waits up to timeout_ms for key's watched filesystem to go (a namespace that just ended
 * lets go of its mounts a little later): true when it is gone or not watched. */
bool mount_sb_watch_wait_gone(MountSbWatch *w, uint64_t key, unsigned timeout_ms);
/* Whether key's filesystem is watched and still lives (false: not watched, or gone). */
bool mount_sb_watch_alive(MountSbWatch *w, uint64_t key);
/* How many watched filesystems still live. */
size_t mount_sb_watch_live(MountSbWatch *w);

/* For records written before mounts were known by unique ID: 1 and the unique ID of the
 * mount at path when its reusable 32-bit ID is old_id, else 0. */
int mount_adopt_legacy(const char *path, uint64_t old_id, uint64_t *ret);

/* Processes holding the mount mnt_id (also a detached one): through an open file, a
 * mapped file, a working or root directory, in any mount namespace (mount-holders.c).
 * ret_first (may be NULL): the first of them, for mount_pid_holds().
 * Each uid pays for looking at its own processes (a process's uid: its real uid where its
 * /proc directory shows root). The owner's and root's come first, MOUNT_HOLDERS_MAX_LINKS
 * links each and MOUNT_HOLDERS_MAX_USEC together; when they cannot all be looked at:
 * E2BIG, not known, to be taken as held. Then every other uid's: a first look at each
 * process (its directories, its first files), then the rest, MOUNT_HOLDERS_MAX_LINKS per
 * uid, all together twice the links and the time; what cannot be looked at there is
 * E2BIG when others_reach (other users can reach the mount by path: they could hold it
 * for real as cheaply), else taken as not holding it (they could hold it only through
 * what the owner or root handed them). So no user's open files make another's mount
 * busy. A holder found is found, whatever was not looked at. */
int mount_count_holders(uint64_t mnt_id, uid_t owner, bool others_reach, unsigned *ret, pid_t *ret_first);

/* 1 when process pid holds mount mnt_id (as above), 0 when not or when it is gone, E2BIG
 * when it has more than MOUNT_HOLDERS_MAX_LINKS links or they take more than
 * MOUNT_HOLDERS_MAX_USEC of CPU time to look at. */
int mount_pid_holds(pid_t pid, uint64_t mnt_id);
/* Any process may hold 2^19 open files. The time bound is CPU time of the searching
 * thread (a worker of laminad's), not wall-clock time: a loaded machine makes a search
 * slower but never shorter (wall-clock bounds of 250 ms, then 2 s, made normal searches
 * falsely Busy at load 14 to 19). */
#define MOUNT_HOLDERS_MAX_LINKS 131072U
#define MOUNT_HOLDERS_MAX_USEC (2000u * 1000u)

/* Mount points that laminad makes itself (mount-point.c). */

/* Creates parent_path (each missing component root-owned 0755, none may be a symlink),
 * in it the directory of `owner` (named by the uid, owned by it, mode 0700, so that no
 * one else can reach what is mounted inside) and in that a new directory with a random
 * name (root-owned 0700), opened as for mount_open_target. Returns its path. */
int mount_point_create(const char *parent_path, uid_t owner, char **ret_path, int *ret_fd, Error *e);

/* Removes the empty directory path (its parents resolved without symlinks); 0 when it
 * is already gone. */
int mount_point_remove(const char *path);

/* Idmapped mounts (mount-idmap.c). */

typedef struct MountIdmapRange {
        uint32_t inside, outside, count; /* as in uid_map(5): image-side id, host id */
} MountIdmapRange;

typedef struct MountIdmap {
        MountIdmapRange uid[2], gid[2];
        size_t n_uid, n_gid;
} MountIdmap;

/* The first range of subid_ranges(); *ret_count 0 when there is none. */
int mount_subid_range(const char *path, const char *name, uint32_t who, uint32_t *ret_start, uint32_t *ret_count);

/* What a caller uid/gid is entitled to, as newuidmap/newgidmap would let it map: image id
 * 0 is the caller's own uid (gid), image ids 1..N its first subordinate range of the
 * files (found by the user's name or uid in both), N at most 65536. Without
 * a range only 0 is mapped; every other image id shows as the overflow id (nobody) and
 * cannot be written. gid (gid_t) -1: the user's primary group, or the uid's number when
 * it has no passwd entry. */
int mount_idmap_for_caller(uid_t uid, gid_t gid, const char *subuid_path, const char *subgid_path, MountIdmap *ret);

/* A user namespace (fd) with that mapping, made by a child that only waits to be killed. */
int mount_userns_new(const MountIdmap *m, int *ret_fd);

/* Every host id a uid may map in a user namespace of its own, as newuidmap/newgidmap let it:
 * its uid and primary gid, and its first MOUNT_ENTITLED_RANGES_MAX ranges in the subordinate
 * id files (by user name or uid). */
#define MOUNT_ENTITLED_RANGES_MAX 16
typedef struct MountEntitlement {
        uid_t uid;
        gid_t gid;
        SubidRange subuid[MOUNT_ENTITLED_RANGES_MAX], subgid[MOUNT_ENTITLED_RANGES_MAX];
        size_t n_subuid, n_subgid;
} MountEntitlement;

/* Looks the user up (NSS: may block, keep it off the event loop) and reads the files. */
int mount_entitlement_for_caller(uid_t uid, const char *subuid_path, const char *subgid_path,
                                 MountEntitlement *ret);

/* Checks a user namespace fd a caller passed for an idmapped mount (mount-userns.c): not
 * O_PATH, a user namespace (NS_GET_NSTYPE), not laminad's own; it and every ancestor below
 * laminad's owned by ent->uid (NS_GET_OWNER_UID); every host id its uid_map and gid_map
 * map within ent (ent NULL: root's call, any id). On success *ret holds a copy of the fd
 * and the host ids image id 0 maps to (else the first mapped ones), as which overlayfs
 * makes its work directories. Errors: EINVAL for what is not a user namespace (or maps
 * nothing), EPERM for someone else's or ids ent does not hold, with e naming why. */
int mount_userns_check(int userns_fd, const MountEntitlement *ent, MountIdmapping *ret, Error *e);
