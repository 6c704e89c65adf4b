/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "layer-landlock.h"
#include "macro.h"

/* The ABI this file knows, beyond what older uapi headers define. */
#define LL_FS_REFER (UINT64_C(1) << 13)       /* ABI 2 */
#define LL_FS_TRUNCATE (UINT64_C(1) << 14)    /* ABI 3 */
#define LL_FS_IOCTL_DEV (UINT64_C(1) << 15)   /* ABI 5 */
#define LL_NET_BIND_TCP (UINT64_C(1) << 0)    /* ABI 4 */
#define LL_NET_CONNECT_TCP (UINT64_C(1) << 1) /* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX (UINT64_C(1) << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (UINT64_C(1) << 1)        /* ABI 6 */

#define LL_FS_V1 ((UINT64_C(1) << 13) - 1) /* EXECUTE ... MAKE_SYM */

/* struct landlock_ruleset_attr as of ABI 6; the kernel takes a prefix of it. */
typedef struct RulesetAttr {
        uint64_t handled_access_fs;
        uint64_t handled_access_net;
        uint64_t scoped;
} RulesetAttr;

static uint64_t fs_rights(int abi) {
        uint64_t r = LL_FS_V1;

        if (abi >= 2)
                r |= LL_FS_REFER;
        if (abi >= 3)
                r |= LL_FS_TRUNCATE;
        if (abi >= 5)
                r |= LL_FS_IOCTL_DEV;
        return r;
}

int layer_landlock_ruleset(int dir_fd, int *ret_abi) {
        /* What the writer does beneath its root: read and write files, make directories,
         * files, symlinks, FIFOs and whiteouts (0/0 character devices; other device nodes
         * are made by the committer, see layer.c), hard links and renames (REFER),
         * truncate, remove. Not granted: EXECUTE, MAKE_SOCK, MAKE_BLOCK, IOCTL_DEV. */
        const uint64_t denied = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_SOCK |
                                LANDLOCK_ACCESS_FS_MAKE_BLOCK | LL_FS_IOCTL_DEV;
        struct landlock_path_beneath_attr rule = { .parent_fd = dir_fd };
        RulesetAttr attr = {};
        size_t size;
        long abi, fd;

        /* The kernel refuses this probe only when it has no Landlock (ENOSYS) or has it
         * off (EOPNOTSUPP); EPERM comes from a seccomp filter, e.g. systemd-nspawn's. */
        abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
        if (abi < 0)
                return errno == ENOSYS || errno == EOPNOTSUPP || errno == EPERM ? -EOPNOTSUPP : -errno;
        attr.handled_access_fs = fs_rights((int) abi);
        size = sizeof attr.handled_access_fs;
        if (abi >= 4) {
                /* The writer has no socket() in its seccomp filter; handled all the same. */
                attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
                size = offsetof(RulesetAttr, scoped);
        }
        if (abi >= 6) {
                attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
                size = sizeof attr;
        }
        fd = syscall(SYS_landlock_create_ruleset, &attr, size, 0);
        if (fd < 0)
                return -errno;
        rule.allowed_access = attr.handled_access_fs & ~denied;
        if (syscall(SYS_landlock_add_rule, (int) fd, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0) {
                int r = -errno;
                safe_close((int) fd);
                return r;
        }
        if (ret_abi)
                *ret_abi = (int) abi;
        return (int) fd;
}

int layer_landlock_enforce(int ruleset_fd, int dir_fd) {
        int r;

        r = (int) syscall(SYS_landlock_restrict_self, ruleset_fd, 0);
        (void) close(ruleset_fd);
        if (r < 0)
                return -1;
        /* The proof that it holds, from inside: a right not granted is refused. */
        if (mknodat(dir_fd, LAYER_LANDLOCK_PROBE, S_IFSOCK | 0600, 0) == 0) {
                (void) unlinkat(dir_fd, LAYER_LANDLOCK_PROBE, 0);
                errno = EPERM;
                return -1;
        }
        return errno == EACCES ? 0 : -1;
}
