/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * layer_apply(): two confined children (layer-sandbox.c) do the work. The parser reads and
 * checks the layer (layer-parse.c) and streams the entries over a socket to the writer,
 * which writes them into a staging directory (layer-writer.c); the parser tells this
 * process what the commit needs through a pipe, and the writer asks it for the device
 * nodes it cannot make itself (layer-sandbox.c). Only a complete, valid layer with the
 * expected diff_id is moved into the target (layer-staging.c), by this process, after the
 * parent directories the layer lacks got their attributes (layer-implicit.c).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layer-implicit.h"
#include "layer-name.h"
#include "layer-parse.h"
#include "layer-fs.h"
#include "layer-paths.h"
#include "layer-proto.h"
#include "layer-sandbox.h"
#include "layer-staging.h"
#include "layer-writer.h"
#include "layer.h"
#include "strutil.h"

/* Everything one call owns. */
typedef struct Apply {
        const LayerApplyOptions *opts;
        LayerLimits limits;
        LayerStaging staging;
        char staging_name[LAYER_STAGING_NAME_SIZE];
        LayerWriter writer;
        LayerParser parser;
        int target_fd;
        int report_fd;  /* the writer's report (memfd) */
        int parse_fd;   /* the parser's report (pipe, our end) */
        int mknod_fd;   /* the writer's device node requests (socket, our end) */
        bool mknod_refused; /* the writer sent a malformed request */
        pid_t writer_pid, parser_pid;
        LayerPaths whiteouts; /* whited-out paths (deletion mode: what to delete) */
        LayerPaths opaques;   /* opaque directories */
        LayerParseResult result;
        bool have_result;
        uint64_t sync_at;     /* layer bytes read after which to write back again */
        uint64_t synced_usec; /* when it last did */
        uint64_t progress_usec; /* when the caller last heard of the progress */
        Error parse_error;    /* what the parser reported */
} Apply;

static void kill_and_wait(pid_t *pid) {
        int status;

        if (*pid <= 0)
                return;
        (void) kill(*pid, SIGKILL);
        (void) layer_sandbox_wait(*pid, &status);
        *pid = 0;
}

static void apply_done(Apply *a) {
        kill_and_wait(&a->parser_pid);
        kill_and_wait(&a->writer_pid);
        layer_staging_discard(&a->staging);
        free(a->writer.buf);
        free(a->writer.recv_buf);
        free(a->writer.file_xattrs);
        safe_close(a->writer.in_fd);
        safe_close(a->writer.mknod_fd);
        safe_close(a->mknod_fd);
        safe_close(a->parser.sock);
        safe_close(a->parser.report_fd);
        safe_close(a->report_fd);
        safe_close(a->parse_fd);
        safe_close(a->target_fd);
        layer_paths_done(&a->whiteouts);
        layer_paths_done(&a->opaques);
}

/* The caller's staging name (checked by layer_check_args()), or a fresh one. */
static int set_staging_name(Apply *a) {
        if (!a->opts->staging_name)
                return layer_staging_name_pick(a->staging_name);
        strcpy(a->staging_name, a->opts->staging_name);
        return 0;
}

/* What the writer may make: the layer's entries and bytes, each directory a block of the
 * target's file system (its st_blksize, 4096 when that is no block size); and what it
 * may report: the committer reads the report's paths into its memory (layer-implicit.c),
 * so a sixteenth of that, 64 MiB by default (some 2^20 directory paths of 24 bytes). The
 * committer appends the times of the missing parents it completes: for each, 32 bytes
 * more than the writer's record of it, which max_entries bounds too. */
static int writer_limits(Apply *a) {
        struct stat st;

        if (fstat(a->staging.fd, &st) < 0)
                return -errno;
        a->writer.max_entries = a->limits.max_entries;
        a->writer.max_bytes = a->limits.max_bytes;
        a->writer.max_report = a->limits.max_memory / 16;
        a->writer.block_size = st.st_blksize >= 512 && st.st_blksize <= 65536 ? (uint64_t) st.st_blksize : 4096;
        return 0;
}

/* Sets up the writer's end and starts the sandboxed writer. */
static int spawn_writer(Apply *a) {
        const LayerApplyOptions *o = a->opts;
        int sv[2], keep[3];
        size_t n_keep = 2;
        LayerSandbox sb;
        int r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        a->parser.sock = sv[0];
        a->writer.in_fd = sv[1];
        /* What the parser may send ahead of the writer (a unix stream socket holds what
         * its sender's buffer allows): the default, about 200 KiB, is a wake-up of the
         * other process every one or two 128 KiB chunks, each a wait for a CPU on a busy
         * machine. Capped by net.core.wmem_max; smaller is only slower. */
        (void) setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &(int) { LAYER_PIPELINE_BYTES }, sizeof(int));
        a->report_fd = memfd_create("lamina-layer-report", MFD_CLOEXEC);
        if (a->report_fd < 0)
                return -errno;
        a->writer.report_fd = a->report_fd;
        a->writer.root_fd = a->staging.fd;
        r = writer_limits(a);
        if (r < 0)
                return r;

        a->writer.buf = malloc(LAYER_MSG_MAX);
        a->writer.recv_buf = malloc(LAYER_MSG_RECV_BYTES);
        a->writer.file_xattrs = malloc(LAYER_XATTRS_MAX);
        if (!a->writer.buf || !a->writer.recv_buf || !a->writer.file_xattrs)
                return -ENOMEM;
        /* The fds the child keeps besides the staging directory: its socket end, the
         * report memfd and, for layers that may carry devices, its end of the socket
         * for device nodes. Not the target nor the lowers (see implicit_dirs_copy()). */
        keep[0] = a->writer.in_fd;
        keep[1] = a->report_fd;
        if (o->allow_devices) {
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                        return -errno;
                a->mknod_fd = sv[0];
                a->writer.mknod_fd = keep[n_keep++] = sv[1];
        }

        sb = (LayerSandbox) {
                .kind = LAYER_SANDBOX_WRITER,
                .root_fd = a->staging.fd,
                .keep_fds = keep,
                .n_keep_fds = n_keep,
                .fsuid = o->write_uid,
                .max_file_size = a->limits.max_bytes,
        };
        r = layer_sandbox_spawn(&sb, layer_writer_run, &a->writer, &a->writer_pid);
        if (r < 0)
                return r;
        a->writer.in_fd = safe_close(a->writer.in_fd);
        a->writer.mknod_fd = safe_close(a->writer.mknod_fd);
        return 0;
}

/* Starts the parser with the layer, its socket to the writer and its report pipe. */
static int spawn_parser(Apply *a, int layer_fd) {
        int p[2], keep[3], r;
        LayerSandbox sb;

        r = layer_parser_prepare();
        if (r < 0)
                return r;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        a->parse_fd = p[0];
        a->parser.report_fd = p[1];
        a->parser.layer_fd = layer_fd;
        a->parser.media_type = a->opts->media_type;
        a->parser.overlay_whiteouts = a->opts->overlay_whiteouts;
        a->parser.allow_devices = a->opts->allow_devices;
        a->parser.limits = a->limits;
        keep[0] = layer_fd;
        keep[1] = a->parser.sock;
        keep[2] = a->parser.report_fd;
        sb = (LayerSandbox) {
                .kind = LAYER_SANDBOX_PARSER,
                .root_fd = -EBADF,
                .keep_fds = keep,
                .n_keep_fds = ELEMENTSOF(keep),
                .max_memory = a->limits.max_memory,
                .max_cpu_sec = a->limits.max_cpu_sec,
        };
        r = layer_sandbox_spawn(&sb, layer_parser_run, &a->parser, &a->parser_pid);
        if (r < 0)
                return r;
        /* Only the children hold the stream now: one dying ends the other's input. */
        a->parser.sock = safe_close(a->parser.sock);
        a->parser.report_fd = safe_close(a->parser.report_fd);
        return 0;
}

/* A path from the parser, which is not trusted: it must be a normalized name (what
 * layer_name_normalize() makes of itself). */
static int check_parsed_path(const char *path) {
        _cleanup_free_ char *n = NULL;
        const char *rule;
        int r;

        r = layer_name_normalize(path, PATH_MAX - 1, &n, &rule);
        if (r < 0)
                return r;
        return streq(n, path) ? 0 : -EBADMSG;
}

/* This process only waits while the writer writes: it has the file system write back what
 * is written so far, so that the syncfs() that makes the layer durable at the end finds
 * little left (the kernel would start only at its dirty limits, far above a layer). Often
 * enough that what is left takes little time (bench/README, Apply). Best effort: that
 * one fails the Apply, this one cannot.
 * The byte count is the parser's word, so no more than LAYER_WRITEBACK_USEC apart, which
 * is what any user may do with sync(1). */
static void write_back(Apply *a, uint64_t done) {
        if (done < a->sync_at || clock_usec(CLOCK_MONOTONIC) < a->synced_usec + LAYER_WRITEBACK_USEC)
                return;
        (void) syncfs(a->target_fd);
        a->sync_at = done + LAYER_WRITEBACK_BYTES;
        a->synced_usec = clock_usec(CLOCK_MONOTONIC);
}

static int take_report(Apply *a, const LayerMsg *h, const uint8_t *buf) {
        const char *s = (const char *) buf;
        int32_t code;

        if (h->size == 0 || buf[h->size - 1] != 0)
                return -EBADMSG;
        switch (h->type) {
        case LAYER_PARSE_WHITEOUT:
        case LAYER_PARSE_OPAQUE:
                if (check_parsed_path(s) < 0)
                        return -EBADMSG;
                return layer_paths_add(h->type == LAYER_PARSE_WHITEOUT ? &a->whiteouts : &a->opaques, s);
        case LAYER_PARSE_PROGRESS: {
                LayerParseProgress p;
                if (h->size != sizeof p + 1)
                        return -EBADMSG;
                memcpy(&p, buf, sizeof p);
                if (a->opts->progress && clock_usec(CLOCK_MONOTONIC) >= a->progress_usec + LAYER_PROGRESS_USEC) {
                        a->opts->progress(p.done, p.total, a->opts->userdata);
                        a->progress_usec = clock_usec(CLOCK_MONOTONIC);
                }
                write_back(a, p.done);
                return 0;
        }
        case LAYER_PARSE_RESULT:
                if (h->size != sizeof a->result + 1)
                        return -EBADMSG;
                memcpy(&a->result, buf, sizeof a->result);
                a->result.diff_id[sizeof a->result.diff_id - 1] = 0;
                if (!layer_diff_id_is_valid(a->result.diff_id))
                        return -EBADMSG;
                a->have_result = true;
                return 0;
        case LAYER_REPORT_ERROR:
                if (h->size <= sizeof code)
                        return -EBADMSG;
                memcpy(&code, buf, sizeof code);
                (void) layer_error_from_child(&a->parse_error, code, s + sizeof code);
                return 0;
        default:
                return -EBADMSG;
        }
}

/* A device node the writer asks for (it has no CAP_MKNOD of the host): made with mode 0
 * in the staging tree, the path resolved beneath it (the writer sets mode, owner and
 * times). Returns the errno to answer with, or -EBADMSG for a request no writer of ours
 * sends. */
static int make_device(Apply *a, const LayerMsg *h, const uint8_t *buf) {
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_free_ char *dir = NULL;
        LayerMknodRequest q;
        const char *path = (const char *) buf + sizeof q, *base;

        if (h->type != LAYER_REQUEST_MKNOD || h->size <= sizeof q || buf[h->size - 1] != 0)
                return -EBADMSG;
        memcpy(&q, buf, sizeof q);
        if ((q.type != S_IFCHR && q.type != S_IFBLK) || isempty(path) || check_parsed_path(path) < 0)
                return -EBADMSG;
        if (!a->opts->allow_devices)
                return EPERM;
        base = strrchr(path, '/');
        dir = strndup(path, base ? (size_t) (base - path) : 0);
        if (!dir)
                return ENOMEM;
        base = base ? base + 1 : path;
        dir_fd = layer_open_dir_in(a->staging.fd, dir);
        if (dir_fd < 0)
                return -dir_fd;
        if (mknodat(dir_fd, base, q.type, makedev(q.major, q.minor)) < 0)
                return errno;
        return 0;
}

/* Reads what the parser reports until it closes its end, and answers the writer's
 * device node requests until it closes its end. */
static int serve_children(Apply *a) {
        _cleanup_free_ uint8_t *buf = malloc(LAYER_MSG_MAX);
        int result = 0;
        LayerMsg h;

        if (!buf)
                return -ENOMEM;
        while (a->parse_fd >= 0 || a->mknod_fd >= 0) {
                struct pollfd p[2] = { { .fd = a->parse_fd, .events = POLLIN }, { .fd = a->mknod_fd, .events = POLLIN } };
                int r;

                if (poll(p, ELEMENTSOF(p), -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p[0].revents) {
                        r = layer_msg_recv(a->parse_fd, &h, buf);
                        if (r > 0)
                                r = take_report(a, &h, buf) ?: 1;
                        if (r <= 0) {
                                a->parse_fd = safe_close(a->parse_fd);
                                result = r;
                        }
                        if (r < 0) /* a parser that lies is stopped; the writer sees its input end */
                                kill_and_wait(&a->parser_pid);
                }
                if (p[1].revents) {
                        int32_t code;

                        r = layer_msg_recv(a->mknod_fd, &h, buf);
                        code = r > 0 ? make_device(a, &h, buf) : -EPIPE;
                        if (code >= 0 && send(a->mknod_fd, &code, sizeof code, MSG_NOSIGNAL) != sizeof code)
                                code = -EPIPE;
                        if (code < 0) {
                                /* the writer is gone, or sent what it never sends */
                                a->mknod_refused = code != -EPIPE;
                                a->mknod_fd = safe_close(a->mknod_fd);
                        }
                }
        }
        return result;
}

static int read_writer_error(Apply *a, Error *e) {
        _cleanup_free_ uint8_t *buf = malloc(LAYER_MSG_MAX);
        LayerMsg h;
        int r;

        if (!buf)
                return -ENOMEM;
        if (lseek(a->report_fd, 0, SEEK_SET) < 0)
                return -errno;
        while ((r = layer_msg_recv(a->report_fd, &h, buf)) > 0) {
                int32_t code;

                if (h.type != LAYER_REPORT_ERROR || h.size <= sizeof code || buf[h.size - 1] != 0)
                        continue;
                memcpy(&code, buf, sizeof code);
                return layer_error_from_child(e, code, (const char *) buf + sizeof code);
        }
        return error_setf(e, EIO, "the layer writer failed without saying why");
}

/* Waits for the writer; its verdict. */
static int wait_writer(Apply *a, Error *e) {
        int status, r;

        r = layer_sandbox_wait(a->writer_pid, &status);
        a->writer_pid = 0;
        if (r < 0)
                return error_set_errno(e, r, "cannot wait for the layer writer");
        /* RLIMIT_FSIZE, a backstop: the parser refuses big files before. */
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ)
                return error_setf(e, EDQUOT, "a file of the layer grew past the limit of %" PRIu64
                                  " bytes; the layer is refused", a->limits.max_bytes);
        if (WIFSIGNALED(status))
                return error_setf(e, EIO, "the layer writer was killed by signal %s (a sandbox violation or a resource limit)",
                                  strsignal(WTERMSIG(status)));
        if (!WIFEXITED(status))
                return error_setf(e, EIO, "the layer writer ended abnormally");
        if (WEXITSTATUS(status) == 0)
                return 0;
        if (WEXITSTATUS(status) == LAYER_WRITER_EXIT_FAILED)
                return read_writer_error(a, e);
        if (WEXITSTATUS(status) >= LAYER_SANDBOX_EXIT_SETUP)
                return error_setf(e, EIO, "cannot set up the layer writer sandbox (step %d)",
                                  WEXITSTATUS(status) - LAYER_SANDBOX_EXIT_SETUP);
        return error_setf(e, EIO, "the layer writer stopped early");
}

/* Sets e (unless set) to src, internal or not. */
static int copy_error(Error *e, const Error *src) {
        if (e && e->code == 0)
                *e = *src;
        return -src->code;
}

/* Waits for the parser; its verdict, from how it ended and what it reported. */
static int wait_parser(Apply *a, Error *e) {
        uint64_t cpu = 0;
        int status, r;

        r = layer_sandbox_wait_cpu(a->parser_pid, &status, &cpu);
        a->parser_pid = 0;
        if (r < 0)
                return error_set_errno(e, r, "cannot wait for the layer parser");
        if ((WIFEXITED(status) && WEXITSTATUS(status) == LAYER_SANDBOX_EXIT_CPU) ||
            (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && cpu >= a->limits.max_cpu_sec * 1000000u))
                return error_setf(e, EDQUOT, "reading the layer used more than the limit of %" PRIu64
                                  " s of CPU time; the layer is refused", a->limits.max_cpu_sec);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
                return error_setf(e, EIO, "the layer parser made a system call its seccomp filter forbids and was killed");
        if (WIFSIGNALED(status))
                return error_setf(e, EIO, "the layer parser was killed by signal %s", strsignal(WTERMSIG(status)));
        if (!WIFEXITED(status))
                return error_setf(e, EIO, "the layer parser ended abnormally");
        if (WEXITSTATUS(status) >= LAYER_SANDBOX_EXIT_SETUP)
                return error_setf(e, EIO, "cannot set up the layer parser sandbox (step %d)",
                                  WEXITSTATUS(status) - LAYER_SANDBOX_EXIT_SETUP);
        if (a->parse_error.code != 0)
                return copy_error(e, &a->parse_error);
        if (WEXITSTATUS(status) != 0 || !a->have_result)
                return error_setf(e, EIO, "the layer parser ended (status %d) without a result", WEXITSTATUS(status));
        return 0;
}

/* Both children's verdicts. A parser that could not send (EPIPE) lost its writer, which
 * says why; otherwise the parser's error is the first cause. */
static int wait_children(Apply *a, int reports, Error *e) {
        Error pe = ERROR_NULL, we = ERROR_NULL;
        int rp, rw;

        rp = wait_parser(a, &pe);
        rw = wait_writer(a, &we);
        if (reports == -ENOMEM)
                return error_set_errno(e, reports, "too many whiteouts and opaque directories to remember");
        if (reports < 0)
                return error_set_errno(e, reports, "the layer parser sent a malformed report");
        if (rp < 0 && (rw >= 0 || (pe.code != EPIPE && pe.code != ECONNRESET)))
                return copy_error(e, &pe);
        if (rw < 0)
                return copy_error(e, &we);
        return 0;
}

static int apply_run(Apply *a, int layer_fd, LayerApplyResult *ret, Error *e) {
        const LayerApplyOptions *o = a->opts;
        LayerChanges changes;
        int r;

        r = layer_staging_new(a->target_fd, a->staging_name, &a->staging);
        if (r < 0)
                return error_set_errno(e, r, "cannot create a staging directory in the snapshot");
        r = spawn_writer(a);
        if (r == -EOPNOTSUPP)
                return error_set_errno(e, r, "cannot start the layer writer: the kernel offers no Landlock (5.13 or later, "
                                       "with landlock in its lsm= list) or a seccomp filter refuses it (in a container: "
                                       "allow landlock_create_ruleset, landlock_add_rule and landlock_restrict_self); it "
                                       "confines the writer to its staging directory, and no layer is applied without it");
        if (r < 0)
                return error_set_errno(e, r, "cannot start the layer writer");
        r = spawn_parser(a, layer_fd);
        if (r < 0)
                return error_set_errno(e, r, "cannot start the layer parser");
        r = o->confine_self ? o->confine_self(o->allow_devices, (const pid_t[]) { a->parser_pid, a->writer_pid }) : 0;
        if (r < 0)
                return error_set_errno(e, r, "cannot confine the unpack helper");

        r = serve_children(a);
        r = wait_children(a, r, e);
        if (r < 0)
                return r;
        if (a->mknod_refused)
                return error_setf(e, EIO, "the layer writer sent a malformed device node request");

        memcpy(ret->diff_id, a->result.diff_id, sizeof ret->diff_id);
        ret->bytes = a->result.bytes;
        ret->entries = a->result.entries;
        if (o->expected_diff_id && !streq(o->expected_diff_id, ret->diff_id))
                return error_setf(e, EINVAL, "layer diff_id %s does not match the expected %s; the snapshot was left unchanged",
                                  ret->diff_id, o->expected_diff_id);

        r = layer_implicit_dirs_copy(a->report_fd, a->staging.fd, a->target_fd, o, &ret->marked_implicit);
        if (r < 0)
                return error_set_errno(e, r, "cannot copy the missing parent directories of the layer from the snapshot's layers");

        changes = (LayerChanges) {
                .deletions = o->overlay_whiteouts ? NULL : a->whiteouts.list.l,
                .opaques = a->opaques.list.l,
                .overlay_whiteouts = o->overlay_whiteouts,
                .report_fd = a->report_fd,
        };
        r = layer_staging_commit(&a->staging, &changes, e);
        if (r < 0)
                return r;
        a->staging.fd = -EBADF; /* committed: nothing to discard */
        return 0;
}

int layer_apply(int layer_fd, int target_fd, const LayerApplyOptions *o, LayerApplyResult *ret, Error *e) {
        _cleanup_(apply_done) Apply a = {
                .opts = o,
                .staging = LAYER_STAGING_NULL,
                .writer = { .in_fd = -EBADF, .report_fd = -EBADF, .root_fd = -EBADF, .mknod_fd = -EBADF, .dir_fd = -EBADF },
                .parser = { .layer_fd = -EBADF, .sock = -EBADF, .report_fd = -EBADF },
                .target_fd = -EBADF,
                .report_fd = -EBADF,
                .sync_at = LAYER_WRITEBACK_BYTES,
                .parse_fd = -EBADF,
                .mknod_fd = -EBADF,
        };
        Error local = ERROR_NULL, *err = e ?: &local;
        LayerApplyResult result = {};
        struct stat st;
        int r;

        assert(o);
        assert(ret);

        r = layer_check_args(layer_fd, o, err);
        if (r < 0)
                return r;
        /* Our own readable fd of the target, whatever kind the caller passed. */
        a.target_fd = openat(target_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (a.target_fd < 0 || fstat(a.target_fd, &st) < 0)
                return error_set_errno(err, errno, "cannot open the target directory");
        a.limits = layer_limits_resolve(&o->limits);
        r = set_staging_name(&a);
        if (r < 0)
                return error_from_errno(err, r, "cannot pick a staging directory name");

        r = apply_run(&a, layer_fd, &result, err);
        if (r < 0)
                return r;
        *ret = result;
        return 0;
}
