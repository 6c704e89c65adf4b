/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the Apply integration tests: Apply over the bus, the data directory of a
 * snapshot, and tree manifests that notice any change to a tree (content, metadata,
 * ctime, new or removed entries). */

#include <stdbool.h>
#include <stdint.h>

#include "bus-test.h"

/* Apply(key, fd of path, {expected-diff-id?}); the diff_id in *ret_diff_id if wanted. */
int at_apply_fd(BusTest *t, const char *key, int fd, const char *expected_diff_id, char **ret_diff_id);
int at_apply_file(BusTest *t, const char *key, const char *path, char **ret_diff_id);

/* The directory holding a snapshot's own data, from its Prepare/Mounts specs: the overlay
 * upperdir, the bind source, or for btrfs the subvolume of $LAMINA_TEST_DIR/state/btrfs/
 * snapshots that subvolid= names. NULL for a view of several layers. */
char *at_data_dir(const MountSpecList *specs);
/* Prepares key on parent ("" for none), then Applies the file layer to it unless NULL;
 * its data directory (at_data_dir). Aborts when any of it fails. */
char *at_prepare(BusTest *t, const char *key, const char *parent, const char *layer);

typedef struct ManifestOptions {
        /* Paths relative to the root that are left out, with everything below them. */
        const char *const *skip;
        /* Paths listed by name and type only: metadata that changes legitimately. */
        const char *const *names_only;
        /* The root's ctime is left out (creating and removing a staging dir moves it). */
        bool ignore_root_ctime;
        /* The root's mtime and ctime are left out. */
        bool ignore_root_times;
        /* Inode numbers and ctimes are left out: a copy with the same content, owners,
         * modes, mtimes and links compares equal. */
        bool content_only;
} ManifestOptions;

/* One line per entry below root, sorted: path, type, mode, owner, size, link count,
 * inode, device, mtime, ctime, symlink target, and a hash of regular files' content.
 * Never follows symlinks, never opens anything but regular files. */
int manifest_take(const char *root, const ManifestOptions *o, char **ret);

/* 0 if equal, else prints the first differing lines under `what` and returns -1. */
int manifest_compare(const char *what, const char *before, const char *after);

/* A ustar header: name (< 100 bytes), typeflag ('0' file, '5' directory), mode, size, mtime. */
void at_ustar_header(char h[static 512], const char *name, char typeflag, mode_t mode, uint64_t size, uint64_t mtime);
/* write() until all n bytes are written; aborts on an error. */
void at_write_all(int fd, const void *p, size_t n);

/* Runs argv (argv[0] looked up in PATH), waits; 0 if it exited 0. */
int at_run(char *const *argv);

/* Opens path below dir_fd without following any symlink on the way (O_PATH if flags
 * is 0); a negative errno otherwise. */
int at_open_beneath(int dir_fd, const char *path, int flags);

/* Names in dir that start with prefix, "." and ".." excluded (NULL-terminated, may be empty). */
int at_list_prefixed(const char *dir, const char *prefix, char ***ret);
/* Waits until dir is empty, at most max_ms; how many entries are left. */
size_t at_wait_empty(const char *dir, unsigned max_ms);

/* The PID of the process owning org.lamina.snapshot1 on the bus, or a negative errno. */
int at_laminad_pid(BusTest *t, pid_t *ret);

/* An Apply sent without waiting for it: its reply's error name, or "(success)". */
typedef struct AtReply {
        bool done;
        char *error;   /* the error name, or "(success)" */
        char *message; /* the error message, or "" */
} AtReply;
/* Sends Apply(key, fd, {}); the reply goes to *r once the bus is processed. */
int at_apply_async(BusTest *t, const char *key, int fd, AtReply *r);
/* Processes the bus until *r is done, for at most max_ms; 0 or -ETIMEDOUT. */
int at_reply_wait(BusTest *t, AtReply *r, unsigned max_ms);

void at_sleep_ms(long ms);
/* Gone or a zombie. */
/* The state letter of pid in /proc/PID/stat ('R', 'S', 'T', 'Z'...), 0 when it is gone. */
char at_pid_state(pid_t pid);
bool at_pid_dead(pid_t pid);
bool at_name_has_owner(BusTest *t);
/* SIGKILLs laminad (pid) and waits until it is dead and its bus name is gone; aborts
 * after 30 s. */
void at_kill_laminad(BusTest *t, pid_t pid);

/* The PIDs of pid's children (of every thread), at most max of them. */
size_t at_children_of(pid_t pid, pid_t *out, size_t max);

/* VmRSS of pid, in KiB. */
uint64_t at_rss_kib(pid_t pid);
/* VmRSS of pid once at most want KiB (laminad trims its heap when no call runs), or the
 * last of 100 readings 0.1 s apart (of 20 for want 0, a baseline). */
uint64_t at_rss_settled_kib(pid_t pid, uint64_t want);
