/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Filesystem appliers and directory comparison in the spirit of continuity's fstest. */

typedef enum FsOpType {
        FS_OP_END,
        FS_OP_FILE,       /* path, content, mode: write, fsync, chmod */
        FS_OP_MKDIR,      /* path, mode */
        FS_OP_REMOVE_ALL, /* path; missing is fine */
        FS_OP_CHOWN,      /* path, uid, gid (no symlink following) */
        FS_OP_LINK,       /* path = existing, arg = new hard link */
        FS_OP_RENAME,     /* path = old, arg = new */
} FsOpType;

typedef struct FsOp {
        FsOpType type;
        const char *path;
        const char *arg;
        mode_t mode;
        uid_t uid;
        gid_t gid;
} FsOp;

#define FS_FILE(p, content, m) { .type = FS_OP_FILE, .path = (p), .arg = (content), .mode = (m) }
#define FS_MKDIR(p, m) { .type = FS_OP_MKDIR, .path = (p), .mode = (m) }
#define FS_REMOVE_ALL(p) { .type = FS_OP_REMOVE_ALL, .path = (p) }
#define FS_CHOWN(p, u, g) { .type = FS_OP_CHOWN, .path = (p), .uid = (u), .gid = (g) }
#define FS_LINK(old, new) { .type = FS_OP_LINK, .path = (old), .arg = (new) }
#define FS_RENAME(old, new) { .type = FS_OP_RENAME, .path = (old), .arg = (new) }
#define FS_END { .type = FS_OP_END }

/* Applies ops (terminated by FS_END) below root; paths are relative to root ("/x" = root/x). */
int fs_apply(const char *root, const FsOp *ops);

int fs_remove_all(const char *path);

/* Compares the trees below a and b (not the roots themselves): type, mode bits, uid, gid,
 * size and content of files, hard-link groups, symlink targets, device numbers; not times,
 * not xattrs. Returns 1 if equal, 0 if not (a description of the first difference in
 * *ret_diff, to be freed), or a negative errno. */
int fs_compare(const char *a, const char *b, char **ret_diff);
