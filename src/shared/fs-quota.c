/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <linux/quota.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs-quota.h"

static int quotactl_fd(int fd, unsigned cmd, uint32_t id, void *addr) {
        return syscall(SYS_quotactl_fd, fd, cmd, id, addr) < 0 ? -errno : 0;
}

void fsquota_probe(int fd, FsQuota *ret) {
        struct fs_quota_statv st = { .qs_version = FS_QSTATV_VERSION1 };

        *ret = (FsQuota) {};
        if (quotactl_fd(fd, QCMD(Q_XGETQSTATV, PRJQUOTA), 0, &st) < 0)
                return;
        ret->accounting = st.qs_flags & FS_QUOTA_PDQ_ACCT;
        ret->enforced = ret->accounting && (st.qs_flags & FS_QUOTA_PDQ_ENFD);
}

int fsquota_get_project(int dir_fd, uint32_t *ret_projid, bool *ret_inherit) {
        struct fsxattr fa = {};

        if (ioctl(dir_fd, FS_IOC_FSGETXATTR, &fa) < 0)
                return -errno;
        *ret_projid = fa.fsx_projid;
        *ret_inherit = fa.fsx_xflags & FS_XFLAG_PROJINHERIT;
        return 0;
}

int fsquota_set_project(int dir_fd, uint32_t projid) {
        struct fsxattr fa = {};

        if (ioctl(dir_fd, FS_IOC_FSGETXATTR, &fa) < 0)
                return -errno;
        if (fa.fsx_projid == projid && (fa.fsx_xflags & FS_XFLAG_PROJINHERIT))
                return 0;
        fa.fsx_projid = projid;
        fa.fsx_xflags |= FS_XFLAG_PROJINHERIT;
        if (ioctl(dir_fd, FS_IOC_FSSETXATTR, &fa) < 0)
                return -errno;
        return 0;
}

int fsquota_usage(int fd, uint32_t projid, uint64_t *ret_bytes, uint64_t *ret_inodes) {
        struct if_dqblk q = {};
        int r;

        r = quotactl_fd(fd, QCMD(Q_GETQUOTA, PRJQUOTA), projid, &q);
        if (r < 0)
                return r;
        if (!(q.dqb_valid & QIF_SPACE) || !(q.dqb_valid & QIF_INODES))
                return -EIO;
        *ret_bytes = q.dqb_curspace;
        *ret_inodes = q.dqb_curinodes;
        return 0;
}

int fsquota_set_limits(int fd, uint32_t projid, uint64_t bytes, uint64_t inodes) {
        struct if_dqblk q = {
                .dqb_bhardlimit = bytes == UINT64_MAX ? 0 : bytes / 1024 + (bytes % 1024 != 0),
                .dqb_ihardlimit = inodes == UINT64_MAX ? 0 : inodes,
                .dqb_valid = QIF_LIMITS,
        };

        /* 0 is "no limit" to the kernel: the smallest real limit is one block/inode. */
        if (bytes != UINT64_MAX && q.dqb_bhardlimit == 0)
                q.dqb_bhardlimit = 1;
        if (inodes != UINT64_MAX && q.dqb_ihardlimit == 0)
                q.dqb_ihardlimit = 1;
        return quotactl_fd(fd, QCMD(Q_SETQUOTA, PRJQUOTA), projid, &q);
}
