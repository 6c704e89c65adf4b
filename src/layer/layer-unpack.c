/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * layer_unpack(): runs lamina-unpack for one Apply. The daemon is multithreaded, so the
 * helper is started with posix_spawn() (vfork semantics: nothing runs between the clone
 * and the exec but glibc's own file actions), with an empty environment, default signal
 * handling and exactly the fds of the contract (layer-unpack.h). Its result comes back in
 * a memfd it fills; progress arrives through a pipe while the daemon waits on a pidfd
 * under the wall-clock limit. Nothing the helper writes is trusted: the result is
 * checked for its magic, an errno kind in range and a message that is UTF-8.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "layer-proto.h"
#include "layer-unpack.h"
#include "strutil.h"

static int pidfd_open_(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_kill(int pidfd) {
        return (int) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
}

/* Next to the running daemon (both are installed in libexecdir), unless the environment
 * names another (tests run it from the build tree). */
static int helper_path(char ret[static PATH_MAX]) {
        const char *p = secure_getenv(LAYER_UNPACK_PATH_ENV);
        ssize_t n;
        char *slash;

        if (p && p[0] == '/' && strlen(p) < PATH_MAX) {
                strcpy(ret, p);
                return 0;
        }
        n = readlink("/proc/self/exe", ret, PATH_MAX - 1);
        if (n < 0)
                return -errno;
        ret[n] = 0;
        slash = strrchr(ret, '/');
        if (!slash || (size_t) (slash + 1 - ret) + strlen(LAYER_UNPACK_HELPER) >= PATH_MAX)
                return -ENAMETOOLONG;
        strcpy(slash + 1, LAYER_UNPACK_HELPER);
        return 0;
}

/* Everything one call owns. */
typedef struct Unpack {
        char path[PATH_MAX]; /* of the helper */
        int result_fd;
        int progress_fd; /* our (read) end */
        int pidfd;
        pid_t pid;
        int *fds;        /* the helper's fds, in contract order, moved above the contract */
        size_t n_fds;
        char **argv;
        size_t n_argv;
} Unpack;

static void unpack_done(Unpack *u) {
        if (u->pidfd >= 0) {
                siginfo_t si;
                (void) pidfd_kill(u->pidfd);
                (void) waitid(P_PIDFD, (id_t) u->pidfd, &si, WEXITED);
        }
        safe_close(u->pidfd);
        safe_close(u->result_fd);
        safe_close(u->progress_fd);
        for (size_t i = 0; i < u->n_fds; i++)
                safe_close(u->fds[i]);
        free(u->fds);
        for (size_t i = 0; i < u->n_argv; i++)
                free(u->argv[i]);
        free(u->argv);
}

_printf_(2, 3) static int argv_add(Unpack *u, const char *fmt, ...) {
        char **l = realloc(u->argv, (u->n_argv + 2) * sizeof(char *));
        va_list ap;
        int r;

        if (!l)
                return -ENOMEM;
        u->argv = l;
        va_start(ap, fmt);
        r = vasprintf(&l[u->n_argv], fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        l[++u->n_argv] = NULL;
        return 0;
}

/* The helper's command line: every option explicit, so the helper has no defaults to
 * disagree about. */
static int build_argv(Unpack *u, const LayerApplyOptions *o, const LayerLimits *l) {
        const char *mt = layer_media_type_to_string(o->media_type);
        int r = 0;

        r = r ?: argv_add(u, "%s", LAYER_UNPACK_HELPER);
        r = r ?: argv_add(u, "--media-type=%s", mt ?: "detect");
        r = r ?: argv_add(u, "--whiteouts=%s", o->overlay_whiteouts ? "overlay" : "delete");
        r = r ?: argv_add(u, "--devices=%s", o->allow_devices ? "yes" : "no");
        r = r ?: argv_add(u, "--write-uid=%u", (unsigned) o->write_uid);
        r = r ?: argv_add(u, "--lowers=%zu", o->n_lower_fds);
        r = r ?: argv_add(u, "--mark-implicit=%s", o->mark_implicit ? "yes" : "no");
        r = r ?: argv_add(u, "--staging-name=%s", o->staging_name);
        r = r ?: argv_add(u, "--max-entries=%" PRIu64, l->max_entries);
        r = r ?: argv_add(u, "--max-bytes=%" PRIu64, l->max_bytes);
        r = r ?: argv_add(u, "--max-name-length=%zu", l->max_name_len);
        r = r ?: argv_add(u, "--max-memory=%" PRIu64, l->max_memory);
        r = r ?: argv_add(u, "--max-cpu=%" PRIu64, l->max_cpu_sec);
        r = r ?: argv_add(u, "--parent=%d", (int) getpid());
        if (r == 0 && o->expected_diff_id)
                r = argv_add(u, "--expected-diff-id=%s", o->expected_diff_id);
        return r;
}

/* Copies the helper's fds above the contract's numbers (CLOEXEC), so the spawn's dup2()
 * into 3, 4, ... never overwrites one that is still to be moved. */
static int collect_fds(Unpack *u, int layer_fd, int target_fd, int progress_w, const LayerApplyOptions *o) {
        size_t n = LAYER_UNPACK_FD_LOWERS - LAYER_UNPACK_FD_LAYER + o->n_lower_fds;
        int above = LAYER_UNPACK_FD_LOWERS + (int) o->n_lower_fds;
        int src[] = { layer_fd, target_fd, u->result_fd, progress_w };

        u->fds = malloc(n * sizeof(int));
        if (!u->fds)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                int fd = i < ELEMENTSOF(src) ? src[i] : o->lower_fds[i - ELEMENTSOF(src)];
                int c = fcntl(fd, F_DUPFD_CLOEXEC, above);
                if (c < 0)
                        return -errno;
                u->fds[u->n_fds++] = c;
        }
        return 0;
}

static int spawn_helper(Unpack *u) {
        static char *const envp[] = { NULL };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        int r;

        r = -posix_spawn_file_actions_init(&fa);
        if (r < 0)
                return r;
        r = -posix_spawnattr_init(&attr);
        if (r < 0) {
                posix_spawn_file_actions_destroy(&fa);
                return r;
        }
        sigemptyset(&none);
        sigfillset(&all);
        for (size_t i = 0; i < u->n_fds && r == 0; i++)
                r = -posix_spawn_file_actions_adddup2(&fa, u->fds[i], LAYER_UNPACK_FD_LAYER + (int) i);
        if (r == 0)
                r = -posix_spawn_file_actions_addclosefrom_np(&fa, LAYER_UNPACK_FD_LAYER + (int) u->n_fds);
        if (r == 0)
                r = -posix_spawnattr_setsigmask(&attr, &none);
        if (r == 0)
                r = -posix_spawnattr_setsigdefault(&attr, &all);
        if (r == 0)
                r = -posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        if (r == 0)
                r = -posix_spawn(&u->pid, u->path, &fa, &attr, u->argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r < 0)
                return r;
        /* Nobody else reaps our children (layer.h), so pid still names the helper. */
        u->pidfd = pidfd_open_(u->pid);
        if (u->pidfd < 0) {
                int k = -errno, status;
                (void) kill(u->pid, SIGKILL);
                (void) waitpid(u->pid, &status, 0);
                return k;
        }
        return 0;
}

/* Passes on the newest progress record that arrived, if any. */
static void forward_progress(Unpack *u, const LayerApplyOptions *o) {
        LayerUnpackProgress p, last;
        bool any = false;
        ssize_t n;

        while ((n = read(u->progress_fd, &p, sizeof p)) == (ssize_t) sizeof p) {
                last = p;
                any = true;
        }
        if (any && o->progress)
                o->progress(last.done, last.total, o->userdata);
}

/* Waits for the helper under the wall-clock limit; 1 if it ended, 0 if the limit passed,
 * -ECANCELED if o->cancel_fd became readable (it is killed in both cases). */
static int wait_helper(Unpack *u, const LayerApplyOptions *o, uint64_t limit_sec, siginfo_t *ret) {
        uint64_t deadline = clock_usec(CLOCK_MONOTONIC) / 1000u + limit_sec * 1000u;
        bool timed_out = false, cancelled = false, progress_open = true;

        for (;;) {
                struct pollfd p[3] = {
                        { .fd = u->pidfd, .events = POLLIN },
                        { .fd = progress_open ? u->progress_fd : -1, .events = POLLIN },
                        { .fd = o->cancel_fd > 0 && !cancelled ? o->cancel_fd : -1, .events = POLLIN },
                };
                uint64_t now = clock_usec(CLOCK_MONOTONIC) / 1000u, left = deadline > now ? deadline - now : 0;
                int k;

                if (!timed_out && !cancelled && left == 0) {
                        (void) pidfd_kill(u->pidfd);
                        timed_out = true;
                }
                k = poll(p, 3, timed_out || cancelled ? -1 : left > INT32_MAX ? INT32_MAX : (int) left);
                if (k < 0 && errno != EINTR)
                        return -errno;
                if (k <= 0)
                        continue;
                if (p[2].revents && !timed_out) {
                        (void) pidfd_kill(u->pidfd);
                        cancelled = true;
                }
                if (p[1].revents & POLLIN)
                        forward_progress(u, o);
                else if (p[1].revents)
                        progress_open = false; /* the helper closed it: only its end is left */
                if (p[0].revents)
                        break;
        }
        memset(ret, 0, sizeof *ret);
        if (waitid(P_PIDFD, (id_t) u->pidfd, ret, WEXITED) < 0)
                return -errno;
        u->pidfd = safe_close(u->pidfd);
        return cancelled ? -ECANCELED : timed_out ? 0 : 1;
}

static int read_result(Unpack *u, LayerUnpackResult *ret) {
        ssize_t n = pread(u->result_fd, ret, sizeof *ret, 0);

        if (n != (ssize_t) sizeof *ret || ret->magic != LAYER_UNPACK_RESULT_MAGIC)
                return -EBADMSG;
        ret->message[sizeof ret->message - 1] = 0;
        ret->diff_id[sizeof ret->diff_id - 1] = 0;
        return 0;
}

/* The helper's verdict from how it ended and what it wrote. */
static int helper_verdict(Unpack *u, const LayerLimits *l, const siginfo_t *si, LayerApplyResult *ret, Error *e) {
        LayerUnpackResult res;
        int k;

        if (si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED) {
                if (si->si_status == SIGXCPU)
                        return error_setf(e, EDQUOT, "unpacking the layer used more than the limit of %" PRIu64
                                          " s of CPU time; the layer is refused", l->max_cpu_sec);
                if (si->si_status == SIGXFSZ)
                        return error_setf(e, EDQUOT, "a file of the layer grew past the limit of %" PRIu64
                                          " bytes; the layer is refused", l->max_bytes);
                if (si->si_status == SIGSYS)
                        return error_setf(e, EIO, "the unpack helper made a system call its seccomp filter forbids "
                                          "and was killed");
                return error_setf(e, EIO, "the unpack helper was killed by signal %s", sigabbrev_np(si->si_status) ?: "?");
        }
        if (si->si_code != CLD_EXITED)
                return error_setf(e, EIO, "the unpack helper ended abnormally");
        if (si->si_status == LAYER_UNPACK_EXIT_USAGE)
                return error_setf(e, EIO, "the unpack helper %s refused its arguments (not the same version as laminad?)",
                                  u->path);
        k = read_result(u, &res);
        if (k < 0 || (si->si_status == 0) != (res.code == 0) || res.code <= -4096 || res.code >= 4096)
                return error_setf(e, EIO, "the unpack helper ended (status %d) without a valid result", si->si_status);
        if (!utf8_is_printable(res.message))
                strcpy(res.message, "(the unpack helper's message was not printable UTF-8)");
        if (res.code != 0)
                return layer_error_from_child(e, res.code, res.message);
        if (!layer_diff_id_is_valid(res.diff_id))
                return error_setf(e, EIO, "the unpack helper returned no valid diff_id");
        memcpy(ret->diff_id, res.diff_id, sizeof ret->diff_id);
        ret->bytes = res.bytes;
        ret->entries = res.entries;
        ret->marked_implicit = res.marked_implicit != 0;
        return 0;
}

int layer_unpack(int layer_fd, int target_fd, const LayerApplyOptions *o, LayerApplyResult *ret, Error *e) {
        _cleanup_(unpack_done) Unpack u = { .result_fd = -EBADF, .progress_fd = -EBADF, .pidfd = -EBADF };
        _cleanup_close_ int progress_w = -EBADF;
        char staging[LAYER_STAGING_NAME_SIZE];
        LayerApplyOptions opts = *o;
        LayerLimits l = layer_limits_resolve(&o->limits);
        Error local = ERROR_NULL, *err = e ?: &local;
        LayerApplyResult result = {};
        siginfo_t si;
        int pipefd[2], r;

        assert(ret);

        r = layer_check_args(layer_fd, o, err);
        if (r < 0)
                return r;
        if (!opts.staging_name) {
                r = layer_staging_name_pick(staging);
                if (r < 0)
                        return error_set_errno(err, r, "cannot pick a staging directory name");
                opts.staging_name = staging;
        }

        u.result_fd = memfd_create("lamina-unpack-result", MFD_CLOEXEC);
        if (u.result_fd < 0)
                return error_set_errno(err, errno, "cannot create the unpack helper's result file");
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return error_set_errno(err, errno, "cannot create the unpack helper's progress pipe");
        u.progress_fd = pipefd[0];
        progress_w = pipefd[1];
        if (fcntl(u.progress_fd, F_SETFL, O_NONBLOCK) < 0)
                return error_set_errno(err, errno, "cannot set up the progress pipe");

        r = helper_path(u.path);
        if (r < 0)
                return error_set_errno(err, r, "cannot find the unpack helper");
        r = build_argv(&u, &opts, &l);
        if (r >= 0)
                r = collect_fds(&u, layer_fd, target_fd, progress_w, &opts);
        if (r >= 0)
                r = spawn_helper(&u);
        if (r < 0)
                return error_set_errno(err, r, "cannot start the unpack helper %s", u.path);
        progress_w = safe_close(progress_w);
        for (size_t i = 0; i < u.n_fds; i++)
                u.fds[i] = safe_close(u.fds[i]);

        r = wait_helper(&u, &opts, l.max_wall_sec, &si);
        if (r == -ECANCELED)
                return error_setf(err, ECANCELED, "the Apply was cancelled (its caller left) and the layer not applied");
        if (r < 0)
                return error_set_errno(err, r, "cannot wait for the unpack helper");
        if (r == 0)
                return error_setf(err, EDQUOT, "unpacking the layer took longer than the limit of %" PRIu64
                                  " s; the layer is refused", l.max_wall_sec);
        r = helper_verdict(&u, &l, &si, &result, err);
        if (r < 0)
                return r;
        *ret = result;
        return 0;
}
