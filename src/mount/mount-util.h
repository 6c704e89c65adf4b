/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Helpers shared by the files of src/mount. */

/* Linux 6.8; glibc 2.36 and Debian 12's kernel headers do not know it yet. */
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif

/* "/proc/self/fd/" + an int */
#define PROC_FD_PATH_MAX (sizeof("/proc/self/fd/") + 11)

/* openat2(dirfd, path) with RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS; fd or -errno. */
int mount_openat_no_symlinks(int dirfd, const char *path, int flags);

/* How mount_overlay hands its directories to overlayfs (mount-api.c): found out at the
 * first overlay (PROBE), then kept; a test sets it to try either form on any kernel. */
typedef enum MountOverlayDirsBy {
        MOUNT_OVERLAY_DIRS_PROBE,
        MOUNT_OVERLAY_DIRS_BY_FD,   /* fsconfig FSCONFIG_SET_FD, an O_PATH fd */
        MOUNT_OVERLAY_DIRS_BY_PATH, /* FSCONFIG_SET_STRING, the path /proc/self/fd/N of that fd */
} MountOverlayDirsBy;
MountOverlayDirsBy mount_overlay_dirs_by(void);
void mount_overlay_dirs_by_set(MountOverlayDirsBy by);

/* The unique mount ID of what dirfd/path (followed, magic links too: /proc/PID/fd/N)
 * refers to; for mount-holders.c. */
int mount_id_of_path(int dirfd, const char *path, uint64_t *ret);

/* Whether path is dir or below it (strictly below when `strict`). */
bool mount_path_within(const char *path, const char *dir, bool strict);

/* The mount table from mountinfo, for when statmount(2)/listmount(2) are unavailable
 * (mount-info.c). One mount of laminad's mount namespace: unique ID, mount point, the
 * device of its superblock and the directory of that filesystem it shows. */
typedef struct MountInfo {
        uint64_t id;
        char *point;
        dev_t dev;
        char *root;
} MountInfo;

/* One line of a mountinfo file, parsed in place (the strings point into it): the mount's
 * 32-bit ID, the device of its superblock, and root and mount point with the kernel's
 * \ooo escapes decoded. -EINVAL for a line that is not one. */
typedef struct MountInfoLine {
        int id;
        dev_t dev;
        const char *root;
        const char *point;
} MountInfoLine;
int mount_info_parse_line(char *line, MountInfoLine *ret);

/* The mounts of /proc/self/mountinfo that can be identified by unique ID (all but those
 * covered by another mount on the same mount point). */
int mount_info_read_self(MountInfo **ret, size_t *ret_n);
void mount_info_free(MountInfo *m, size_t n);

/* 1 when the mount table of the process whose /proc directory is proc_pid_fd has a mount
 * of superblock dev showing root or a directory below it; 0 when not or the process is
 * gone. */
int mount_info_has_copy(int proc_pid_fd, dev_t dev, const char *root);

/* Idmaps the detached mount mnt_fd (not yet idmapped, not an overlay) through userns_fd
 * (mount-idmap.c): files on disk with image id i show as the host id i maps to, and what
 * is created through it is stored with the image id. Other attributes of attr_set too. */
int mount_set_idmap(int mnt_fd, int userns_fd, uint64_t attr_set);

/* Children of laminad's that do one thing and report over a socket pair
 * (mount-userns-child.c). fn runs in the child (forked from a thread of a multi-threaded
 * daemon: plain system calls, malloc() at most, which glibc's fork() makes safe, never
 * stdio, logging or NSS) with the caller's fd and userdata and its end of the pair, and
 * never returns; our end in *ret_sock. */
typedef void (*MountChildFn)(pid_t parent, int fd, const void *userdata, int sock);
int mount_child_fork(MountChildFn fn, int fd, const void *userdata, pid_t *ret_pid, int *ret_sock);
/* In the child: closes every fd from 3 on but a and b (none when b < 0). */
int mount_child_close_all_but(int a, int b);
/* In the child: sends one byte and, when fd >= 0, fd with it; 0 or -1. */
int mount_child_send_ready(int sock, int fd);
/* Waits up to MOUNT_CHILD_TIMEOUT_MS for the child's byte and, when ret_fd is not NULL, the
 * fd that must come with it: -ECHILD when the child failed or died without it, -ETIMEDOUT
 * when it did not come in time (a caller may stop a child that runs with its ids or in its
 * namespace, or hold up its lookup on a filesystem of its own). */
#define MOUNT_CHILD_TIMEOUT_MS 5000
int mount_child_recv_ready(int sock, int *ret_fd);

/* A child that sits in a user namespace and runs nothing, so that its /proc/PID directory
 * (*ret_proc_fd, O_PATH) reaches the namespace's uid_map and gid_map
 * (mount-userns-child.c): the namespace userns_fd, joined, or a new one (userns_fd < 0;
 * *ret_new_userns_fd is then an fd of it). The child is not dumpable, holds no other fd,
 * dies with the calling thread; -ETIMEDOUT when it did not get there within 5 s. End it with
 * mount_userns_child_end(), which kills and reaps it. */
int mount_userns_child_start(int userns_fd, pid_t *ret_pid, int *ret_proc_fd, int *ret_new_userns_fd);
void mount_userns_child_end(pid_t pid);

/* A detached clone of the attached mount mnt_fd refers to whose flags (nosuid, nodev,
 * noexec, ro) are locked: made by a child that enters the mount and then a user and mount
 * namespace of its own, where the kernel locks the flags of its copy of every mount, which
 * a clone keeps (mount-userns-child.c). Whoever gets it cannot clear them with
 * mount_setattr(), not even with CAP_SYS_ADMIN in a user namespace of its own.
 * -ETIMEDOUT when the child did not send it within 5 s. */
int mount_clone_locked(int mnt_fd, int *ret_fd);

/* Runs this thread with file system ids uid/gid (0/0: back to root's), its capabilities
 * kept effective: what overlayfs records as its creator at FSCONFIG_CMD_CREATE. */
int mount_fs_ids_set(uid_t uid, gid_t gid);

/* statmount(2) and listmount(2) (mount-table.c), for mount-copies.c. */
#define STATMOUNT_SB_BASIC 0x00000001U
#define STATMOUNT_MNT_ROOT 0x00000008U
/* The head of struct statmount as of Linux 6.8; strings follow in str[]. */
struct statmount_head {
        uint32_t size;
        uint32_t mnt_opts;
        uint64_t mask;
        uint32_t sb_dev_major, sb_dev_minor;
        uint64_t sb_magic;
        uint32_t sb_flags;
        uint32_t fs_type;
        uint64_t mnt_id, mnt_parent_id;
        uint32_t mnt_id_old, mnt_parent_id_old;
        uint64_t mnt_attr, mnt_propagation, mnt_peer_group, mnt_master, propagate_from;
        uint32_t mnt_root;
        uint32_t mnt_point;
        uint64_t spare2[50];
        char str[];
};

#define STATMOUNT_SIZE (sizeof(struct statmount_head) + 2 * PATH_MAX)
/* statmount(2) of mnt_id in the mount namespace ns_id (0: ours) into sm (STATMOUNT_SIZE
 * bytes): 1, or 0 when there is no such mount. */
int stat_mount(uint64_t ns_id, uint64_t mnt_id, uint64_t mask, struct statmount_head *sm);
/* A string of sm, or NULL when its offset is out of bounds. */
const char *statmount_str(const struct statmount_head *sm, uint32_t offset);
/* Whether statmount(2) and listmount(2) work here, found out by the first call. */
bool statmount_usable(void);
/* Every mount of the mount namespace ns_id (0: ours); E2BIG when it has more than max. */
int list_mounts(uint64_t ns_id, size_t max, uint64_t **ret, size_t *ret_n);
