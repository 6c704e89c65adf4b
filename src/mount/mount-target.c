/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opening the directory a caller names as a mount target. Root's is looked up by laminad
 * itself. One named by a caller other than root is looked up with the caller's rights: a
 * short-lived child of laminad's becomes the caller (its uid, gid and groups, no
 * capability, no new privileges), opens the path without following symbolic links and
 * checks that it is an empty directory of the caller's, and sends the O_PATH fd back,
 * whose type and owner laminad checks again; the mount is made on that fd. Every
 * component of the path is searched as the caller: a directory of its own inside a tree
 * it cannot enter (another user's 0700 home, /root) is out of its reach, as it is for the
 * caller itself.
 *
 * The target may lie on a filesystem of the caller's that never answers (FUSE): the
 * child is waited for MOUNT_CHILD_TIMEOUT_MS, then killed. A killed child waiting on a
 * FUSE request its server already read stays until the server answers or goes: it is
 * not waited for then (the worker goes on), but remembered and reaped later, and while it
 * is there its uid gets no other child: one such process per uid, beyond lookups of the
 * same uid that were under way at the same time (each on a job of the caller's, which the
 * per-caller job slots bound). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "dir-util.h"
#include "macro.h"
#include "mount-api.h"
#include "mount-util.h"
#include "strutil.h"

/* How long a killed child is waited for before it is left to be reaped later. */
#define TARGET_CHILD_KILL_WAIT_MS 1000

typedef struct TargetLookup {
        const char *path;
        uid_t uid;
        const gid_t *gids;
        size_t n_gids;
} TargetLookup;

/* Children killed but not yet gone, with the uid each ran as; any worker thread. */
typedef struct StuckChild {
        pid_t pid;
        uid_t uid;
} StuckChild;

static pthread_mutex_t stuck_lock = PTHREAD_MUTEX_INITIALIZER;
static StuckChild *stuck;
static size_t n_stuck, n_stuck_allocated;

/* 1 when the directory fd (O_PATH is fine) has no entries besides . and .., 0 if it has. */
static int dir_is_empty(int fd) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        r = dir_open_fd(fd, &d);
        if (r < 0)
                return r;

        for (errno = 0; (de = readdir(d)); errno = 0)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        return 0;
        return errno > 0 ? -errno : 1;
}

int mount_open_target(const char *path, int *ret_fd, Error *e) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        assert(path);
        assert(ret_fd);

        if (path[0] != '/')
                return error_setf(e, EINVAL, "target %s is not an absolute path; give the full path of an empty directory",
                                  QUOTE(path));

        fd = mount_openat_no_symlinks(AT_FDCWD, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd == -ELOOP || fd == -EXDEV)
                return error_setf(e, EINVAL, "target %s is or passes through a symbolic link; give the real path",
                                  QUOTE(path));
        if (fd == -ENOENT)
                return error_setf(e, ENOENT, "target %s does not exist; create an empty directory first", QUOTE(path));
        if (fd == -ENOTDIR)
                return error_setf(e, EINVAL, "target %s is not a directory; give an empty directory", QUOTE(path));
        if (fd < 0)
                return error_set_errno(e, fd, "opening target %s", QUOTE(path));

        r = dir_is_empty(fd);
        if (r < 0)
                return error_set_errno(e, r, "reading target %s", QUOTE(path));
        if (r == 0)
                return error_setf(e, EINVAL, "target %s is not empty; give an empty directory", QUOTE(path));

        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Becomes the caller: its groups, gid and uid (setresuid to a uid other than 0 clears
 * every capability, which is checked, and the death signal, which the child sets again
 * after this). Not dumpable before and after, so that the caller cannot look into this
 * copy of laminad's memory. */
static int become_caller(const TargetLookup *l) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};

        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                return -1;
        if (setgroups(l->n_gids, l->gids) < 0 || setresgid(l->gids[0], l->gids[0], l->gids[0]) < 0 ||
            setresuid(l->uid, l->uid, l->uid) < 0)
                return -1;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return -1;
        if (syscall(SYS_capget, &h, d) < 0)
                return -1;
        for (size_t i = 0; i < ELEMENTSOF(d); i++)
                if (d[i].effective != 0 || d[i].permitted != 0)
                        return -1;
        return 0;
}

/* Filesystems of the kernel's interfaces: their directories are the kernel's view of
 * something (a process's files in /proc/PID/fd, a cgroup), owned by a user as the thing
 * is, and programs of other users and root read them by path. A user's tree over one
 * would be read as the kernel's word. */
static bool fs_is_kernel_api(uint64_t magic) {
        switch (magic) {
        case PROC_SUPER_MAGIC:
        case SYSFS_MAGIC:
        case CGROUP_SUPER_MAGIC:
        case CGROUP2_SUPER_MAGIC:
        case DEVPTS_SUPER_MAGIC:
        case NSFS_MAGIC:
        case BPF_FS_MAGIC:
        case DEBUGFS_MAGIC:
        case TRACEFS_MAGIC:
        case SECURITYFS_MAGIC:
        case SELINUX_MAGIC:
        case SMACK_MAGIC:
        case PSTOREFS_MAGIC:
        case EFIVARFS_MAGIC:
        case BINFMTFS_MAGIC:
        case AUTOFS_SUPER_MAGIC:
        case 0x62656570: /* configfs */
        case 0x65735543: /* fusectl */
        case 0x19800202: /* mqueue */
        case 0x5a3c69f0: /* apparmorfs */
        case 0x67596969: /* rpc_pipefs */
                return true;
        default:
                return false;
        }
}

/* 1 when fd is an empty directory of uid's that is not the kernel's (fs_is_kernel_api),
 * 0 when it is something else. */
static int is_empty_dir_of(int fd, uid_t uid) {
        struct statfs sfs;
        struct stat st;

        if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode) || st.st_uid != uid || fs_is_kernel_api((uint64_t) sfs.f_type))
                return 0;
        return dir_is_empty(fd);
}

/* Runs in the child: as the caller, opens and checks the target and sends it. */
_noreturn_ static void target_child(pid_t parent, int fd, const void *userdata, int sock) {
        const TargetLookup *l = userdata;
        int target;

        if (mount_child_close_all_but(sock, -EBADF) < 0 || become_caller(l) < 0)
                _exit(EXIT_FAILURE);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
                _exit(EXIT_FAILURE);
        target = mount_openat_no_symlinks(AT_FDCWD, l->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (target < 0 || is_empty_dir_of(target, l->uid) <= 0 || mount_child_send_ready(sock, target) < 0)
                _exit(EXIT_FAILURE);
        _exit(EXIT_SUCCESS);
}

/* Reaps the stuck children that are gone; 1 when one of uid's is still there. Under
 * stuck_lock. */
static int stuck_reap(uid_t uid) {
        bool mine = false;
        size_t j = 0;

        for (size_t i = 0; i < n_stuck; i++) {
                if (waitpid(stuck[i].pid, NULL, WNOHANG) != 0)
                        continue; /* reaped (or, ECHILD, not ours any more) */
                mine = mine || stuck[i].uid == uid;
                stuck[j++] = stuck[i];
        }
        n_stuck = j;
        return mine;
}

static int stuck_check(uid_t uid) {
        int r;

        pthread_mutex_lock(&stuck_lock);
        r = stuck_reap(uid);
        pthread_mutex_unlock(&stuck_lock);
        return r;
}

bool mount_target_lookups_stuck(void) {
        bool any;

        pthread_mutex_lock(&stuck_lock);
        (void) stuck_reap((uid_t) -1);
        any = n_stuck > 0;
        pthread_mutex_unlock(&stuck_lock);
        return any;
}

/* Kills the child and reaps it when it is gone within TARGET_CHILD_KILL_WAIT_MS; else it
 * is remembered (see above). */
static void target_child_end(pid_t pid, uid_t uid) {
        _cleanup_close_ int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        bool added;

        (void) kill(pid, SIGKILL);
        if (pidfd >= 0 && poll(&(struct pollfd) { .fd = pidfd, .events = POLLIN }, 1, TARGET_CHILD_KILL_WAIT_MS) > 0) {
                (void) waitpid(pid, NULL, 0);
                return;
        }
        if (waitpid(pid, NULL, WNOHANG) != 0)
                return;
        pthread_mutex_lock(&stuck_lock);
        added = GREEDY_REALLOC(stuck, n_stuck_allocated, n_stuck + 1, 8) >= 0;
        if (added)
                stuck[n_stuck++] = (StuckChild) { .pid = pid, .uid = uid };
        pthread_mutex_unlock(&stuck_lock);
        if (!added) /* out of memory: wait for it after all rather than leak it */
                (void) waitpid(pid, NULL, 0);
}

int mount_open_target_as(const char *path, uid_t uid, const gid_t *gids, size_t n_gids, int *ret_fd) {
        const TargetLookup l = { .path = path, .uid = uid, .gids = gids, .n_gids = n_gids };
        _cleanup_close_ int sock = -EBADF, fd = -EBADF;
        struct statx sx;
        pid_t pid;
        int r;

        assert(path);
        assert(uid != 0);
        assert(ret_fd);

        if (path[0] != '/' || n_gids == 0 || n_gids > NGROUPS_MAX)
                return -EINVAL;
        if (stuck_check(uid) > 0)
                return -EBUSY;

        r = mount_child_fork(target_child, -EBADF, &l, &pid, &sock);
        if (r < 0)
                return r;
        r = mount_child_recv_ready(sock, &fd);
        target_child_end(pid, uid);
        if (r < 0)
                return r == -ECHILD ? -EACCES : r;
        /* What the child checked, checked again on the fd itself from cached attributes
         * (AT_STATX_DONT_SYNC: FUSE and NFS do not ask their server). Its emptiness was
         * checked by the child only: reading the directory could wait on the caller's
         * filesystem, here with no bound. */
        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE | STATX_UID, &sx) < 0)
                return -errno;
        if ((sx.stx_mask & (STATX_TYPE | STATX_UID)) != (STATX_TYPE | STATX_UID) || !S_ISDIR(sx.stx_mode) ||
            sx.stx_uid != uid)
                return -EACCES;
        *ret_fd = TAKE_FD(fd);
        return 0;
}
