/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The container side of run --rootless, in its PID 1: root of the caller's user namespace,
 * in mount, PID, IPC and UTS namespaces of its own. Everything is mounted with the new mount
 * API onto fds opened beneath the root without following symlinks, so that a symlink in the
 * image (/proc -> /somewhere) cannot send a mount elsewhere. Then pivot_root, the user and
 * the environment of the image's config, exec. Written out rather than handed to bwrap or
 * crun: neither takes a detached mount fd as the root (bwrap wants a path in the caller's
 * mount namespace, crun an OCI bundle with a rootfs path), and what is left after attaching
 * it (/proc, a few /dev nodes, /tmp, pivot_root) is short. */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctl-escape.h"
#include "ctl-rootless.h"
#include "strutil.h"

#define STAGING "/tmp"
#define ROOT STAGING "/root"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The message may hold what the image's config says (its User, WorkingDir, command):
 * escaped (ctl-escape.h) on its way to the terminal. */
static int fail(const char *fmt, ...) _printf_(1, 2);
static int fail(const char *fmt, ...) {
        _cleanup_free_ char *escaped = NULL;
        char buf[2048];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        escaped = ctl_escape(buf);
        fprintf(stderr, "laminactl: %s\n", escaped ?: "out of memory");
        return -1;
}

/* The container's /etc/passwd or /etc/group, if it is a regular file of a sane size: a FIFO
 * there would block the start for ever, /dev/zero (a link to it) never end. NULL when it is
 * missing; -1 (printed) when it is something else. */
#define USER_DB_MAX (64 * 1024 * 1024)
static int open_user_db(const char *path, FILE **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;

        *ret = NULL;
        if (fd < 0 && errno == ENOENT)
                return 0;
        if (fd < 0 || fstat(fd, &st) < 0)
                return fail("cannot open the image's %s: %m", path);
        if (!S_ISREG(st.st_mode) || st.st_size > USER_DB_MAX)
                return fail("the image's %s is not a regular file of at most %d MiB", path, USER_DB_MAX >> 20);
        if (fcntl(fd, F_SETFL, O_RDONLY) < 0 || !(*ret = fdopen(fd, "re")))
                return fail("cannot open the image's %s: %m", path);
        TAKE_FD(fd);
        return 0;
}

/* dirfd/path beneath dirfd, no symlink followed. */
static int open_beneath(int dirfd, const char *path, int flags) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };

        return (int) syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* The directory name beneath root, made 0755 when missing (through the idmapped mount: as
 * image id 0), opened O_PATH. */
static int dir_beneath(int root, const char *name) {
        int fd;

        if (mkdirat(root, name, 0755) < 0 && errno != EEXIST)
                return fail("cannot make /%s in the container: %m", name);
        fd = open_beneath(root, name, O_PATH | O_DIRECTORY);
        if (fd < 0)
                return fail("cannot open /%s in the container (it must be a directory): %m", name);
        return fd;
}

static int attach(int mnt_fd, int target_fd, const char *what) {
        int r = move_mount(mnt_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);

        if (r < 0)
                return fail("cannot mount %s: %m", what);
        return 0;
}

/* A new filesystem of type with key=value options (NULL-terminated pairs), attached on
 * target_fd with attrs. */
static int mount_new(const char *type, const char *const *options, uint64_t attrs, int target_fd, const char *what) {
        _cleanup_close_ int fs = -EBADF, mnt = -EBADF;

        fs = fsopen(type, FSOPEN_CLOEXEC);
        if (fs < 0)
                return fail("cannot make %s (%s): %m", what, type);
        for (const char *const *o = options; o && *o; o += 2)
                if (fsconfig(fs, FSCONFIG_SET_STRING, o[0], o[1], 0) < 0)
                        return fail("cannot set %s=%s on %s: %m", o[0], o[1], what);
        if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return fail("cannot make %s (%s): %m", what, type);
        mnt = fsmount(fs, FSMOUNT_CLOEXEC, (unsigned) attrs);
        if (mnt < 0)
                return fail("cannot make %s (%s): %m", what, type);
        return attach(mnt, target_fd, what);
}

static int mount_new_at(int root, const char *name, const char *type, const char *const *options, uint64_t attrs) {
        _cleanup_close_ int target = dir_beneath(root, name);
        char what[64];

        if (target < 0)
                return -1;
        snprintf(what, sizeof what, "/%s", name);
        return mount_new(type, options, attrs, target, what);
}

/* The caller's terminal (standard input) as /dev/console: the host's devpts is not in the
 * container, and ttyname() finds a terminal under /dev by its device number. */
static int bind_terminal(int dev) {
        _cleanup_close_ int file = -EBADF, tree = -EBADF;
        char path[PATH_MAX];
        struct stat in, found;
        ssize_t n;

        /* Only the copy of its mount in this namespace can be cloned: by path, checked. */
        n = readlink("/proc/self/fd/0", path, sizeof path - 1);
        if (n <= 0 || fstat(STDIN_FILENO, &in) < 0)
                return 0;
        path[n] = 0;
        tree = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (tree < 0 || fstat(tree, &found) < 0 || !S_ISCHR(found.st_mode) || found.st_rdev != in.st_rdev)
                return 0; /* not reachable here: no /dev/console */
        file = openat(dev, "console", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (file < 0)
                return fail("cannot make /dev/console in the container: %m");
        file = safe_close(file);
        file = open_beneath(dev, "console", O_PATH);
        if (file < 0)
                return fail("cannot open /dev/console in the container: %m");
        return attach(tree, file, "/dev/console");
}

/* /dev: a tmpfs with the harmless host devices bound onto empty files (no mknod in a user
 * namespace), its own devpts instance, /dev/shm and the usual links. */
static int make_dev(int root) {
        static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
        static const char *const dev_options[] = { "mode", "0755", "size", "1m", NULL };
        static const char *const pts_options[] = { "ptmxmode", "0666", "mode", "0620", NULL };
        static const char *const shm_options[] = { "mode", "1777", NULL };
        static const char *const links[][2] = {
                { "ptmx", "pts/ptmx" }, { "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
                { "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
        };
        _cleanup_close_ int dev = -EBADF;

        if (mount_new_at(root, "dev", "tmpfs", dev_options, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC) < 0)
                return -1;
        dev = open_beneath(root, "dev", O_PATH | O_DIRECTORY);
        if (dev < 0)
                return fail("cannot open the container's /dev: %m");
        for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
                _cleanup_close_ int file = -EBADF, tree = -EBADF;
                char host[32];

                snprintf(host, sizeof host, "/dev/%s", nodes[i]);
                file = openat(dev, nodes[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0666);
                if (file < 0)
                        return fail("cannot make %s in the container: %m", host);
                file = safe_close(file);
                file = open_beneath(dev, nodes[i], O_PATH);
                tree = open_tree(AT_FDCWD, host, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                if (file < 0 || tree < 0)
                        return fail("cannot bind %s into the container: %m", host);
                if (attach(tree, file, host) < 0)
                        return -1;
        }
        if (mount_new_at(dev, "pts", "devpts", pts_options, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC) < 0 ||
            mount_new_at(dev, "shm", "tmpfs", shm_options, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV) < 0)
                return -1;
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlinkat(links[i][1], dev, links[i][0]) < 0)
                        return fail("cannot make /dev/%s in the container: %m", links[i][0]);
        return isatty(STDIN_FILENO) ? bind_terminal(dev) : 0;
}

/* The root: the snapshot's mount attached in a private staging tmpfs, then its mounts. */
static int make_root(int mnt_fd) {
        static const char *const staging_options[] = { "mode", "0700", NULL };
        static const char *const tmp_options[] = { "mode", "1777", NULL };
        _cleanup_close_ int staging = -EBADF, root = -EBADF;

        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return fail("cannot make the container's mounts private: %m");
        staging = open(STAGING, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (staging < 0 || mount_new("tmpfs", staging_options, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, staging,
                                     "the staging directory") < 0)
                return staging < 0 ? fail("cannot open %s: %m", STAGING) : -1;
        if (mkdir(ROOT, 0755) < 0)
                return fail("cannot make %s: %m", ROOT);
        root = open(ROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return fail("cannot open %s: %m", ROOT);
        if (attach(mnt_fd, root, "the snapshot") < 0)
                return -1;
        safe_close(root);
        /* the mount on top, not the directory below it */
        root = open(ROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return fail("cannot open the container's root: %m");
        if (mount_new_at(root, "proc", "proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC) < 0 ||
            make_dev(root) < 0 ||
            mount_new_at(root, "tmp", "tmpfs", tmp_options, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV) < 0)
                return -1;

        if (chdir(ROOT) < 0)
                return fail("cannot enter the container's root: %m");
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return fail("cannot pivot into the container's root: %m");
        if (umount2(".", MNT_DETACH) < 0)
                return fail("cannot let go of the host's root: %m");
        if (chdir("/") < 0)
                return fail("cannot enter /: %m");
        return 0;
}

/* A number, or NULL when s is not one. */
static bool parse_id(const char *s, uint32_t *ret) {
        char *end;
        unsigned long v;

        if (isempty(s) || s[0] == '-')
                return false;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v >= UINT32_MAX)
                return false;
        *ret = (uint32_t) v;
        return true;
}

/* User "name|uid[:group|gid]" of the image config, looked up in the container's own
 * /etc/passwd and /etc/group (never the host's NSS). */
static int resolve_user(const char *spec, uid_t *ret_uid, gid_t *ret_gid, char **ret_home) {
        _cleanup_free_ char *user = strndup(spec, strcspn(spec, ":"));
        const char *group = strchr(spec, ':');
        uint32_t id;
        bool numeric, found = false;
        FILE *f;

        if (!user)
                return fail("out of memory");
        numeric = parse_id(user, &id);
        *ret_uid = numeric ? id : 0;
        *ret_gid = 0;
        if (open_user_db("/etc/passwd", &f) < 0)
                return -1;
        for (struct passwd *pw; f && (pw = fgetpwent(f));)
                if (numeric ? pw->pw_uid == id : streq(pw->pw_name, user)) {
                        *ret_uid = pw->pw_uid;
                        *ret_gid = pw->pw_gid;
                        *ret_home = strdup(pw->pw_dir);
                        found = true;
                        break;
                }
        if (f)
                fclose(f);
        if (!found && !numeric)
                return fail("the image's user %s is not in its /etc/passwd", user);
        if (!group)
                return 0;
        group++;
        if (parse_id(group, &id)) {
                *ret_gid = id;
                return 0;
        }
        found = false;
        if (open_user_db("/etc/group", &f) < 0)
                return -1;
        for (struct group *gr; f && (gr = fgetgrent(f));)
                if (streq(gr->gr_name, group)) {
                        *ret_gid = gr->gr_gid;
                        found = true;
                        break;
                }
        if (f)
                fclose(f);
        return found ? 0 : fail("the image's group %s is not in its /etc/group", group);
}

static bool env_has(char **env, const char *name) {
        size_t n = strlen(name);

        for (char **e = env; e && *e; e++)
                if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
                        return true;
        return false;
}

/* The image's Env (NAME=value entries), then PATH, HOME and the host's TERM unless given. */
static int make_env(const RunConfig *rc, const char *home, char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        const char *term = getenv("TERM");
        bool ok = true;

        for (char **e = rc->env; ok && e && *e; e++)
                if (strchr(*e, '='))
                        ok = strv_extend(&env, *e) >= 0;
        if (ok && !env_has(env, "PATH"))
                ok = strv_extend(&env, "PATH=" DEFAULT_PATH) >= 0;
        if (ok && !env_has(env, "HOME")) {
                _cleanup_free_ char *h = strdup_printf("HOME=%s", home ?: "/");
                ok = h && strv_push(&env, TAKE_PTR(h)) >= 0;
        }
        if (ok && term && !env_has(env, "TERM")) {
                _cleanup_free_ char *t = strdup_printf("TERM=%s", term);
                ok = t && strv_push(&env, TAKE_PTR(t)) >= 0;
        }
        if (ok && !env_has(env, "container"))
                ok = strv_extend(&env, "container=lamina") >= 0;
        if (!ok || (!env && !(env = calloc(1, sizeof(char *)))))
                return fail("out of memory");
        *ret = TAKE_PTR(env);
        return 0;
}

int rootless_container_exec(int mnt_fd, const RunConfig *rc, char *const *args, const char *hostname) {
        _cleanup_strv_free_ char **argv = NULL, **env = NULL;
        _cleanup_free_ char *home = NULL;
        uid_t uid = 0;
        gid_t gid = 0;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || make_root(mnt_fd) < 0)
                return ROOTLESS_EXIT_SETUP;
        safe_close(mnt_fd);
        (void) sethostname(hostname, strnlen(hostname, 64));
        if (rc->user && resolve_user(rc->user, &uid, &gid, &home) < 0)
                return ROOTLESS_EXIT_SETUP;
        if (!rc->user) {
                struct passwd *pw;
                FILE *f;

                if (open_user_db("/etc/passwd", &f) < 0)
                        return ROOTLESS_EXIT_SETUP;
                while (f && (pw = fgetpwent(f)))
                        if (pw->pw_uid == 0) {
                                home = strdup(pw->pw_dir);
                                break;
                        }
                if (f)
                        fclose(f);
        }
        if (make_env(rc, home, &env) < 0)
                return ROOTLESS_EXIT_SETUP;
        if (run_config_command(rc, args, &argv) < 0)
                return fail("out of memory"), ROOTLESS_EXIT_SETUP;
        if (!argv && strv_extend(&argv, "/bin/sh") < 0)
                return fail("out of memory"), ROOTLESS_EXIT_SETUP;

        /* Without subordinate gids setgroups is denied in the namespace: nothing to drop then. */
        if (setgroups(0, NULL) < 0 && errno != EPERM)
                return fail("cannot clear the supplementary groups: %m"), ROOTLESS_EXIT_SETUP;
        if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                return fail("cannot become %u:%u in the container (is it mapped?): %m", (unsigned) uid, (unsigned) gid),
                       ROOTLESS_EXIT_SETUP;
        /* It goes with its parent, which goes with laminactl; set again after the uid change. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                return fail("cannot tie the container to laminactl: %m"), ROOTLESS_EXIT_SETUP;
        if (rc->working_dir && chdir(rc->working_dir) < 0)
                return fail("cannot enter the image's working directory %s: %m", rc->working_dir), ROOTLESS_EXIT_SETUP;

        /* Only standard input, output and error go in (as with podman run). */
        if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
                return fail("cannot close laminactl's files: %m"), ROOTLESS_EXIT_SETUP;
        environ = env;
        execvp(argv[0], argv);
        fail("cannot run %s in the container: %m", argv[0]);
        return errno == ENOENT ? 127 : 126;
}
