/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * layer_apply(): the daemon reads and checks the layer (layer-reader.c, layer-entry.c)
 * and streams the entries over a socket to a sandboxed child (layer-sandbox.c) that
 * writes them into a staging directory (layer-writer.c); only a complete, valid layer
 * with the expected diff_id is moved into the target (layer-staging.c).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layer-entry.h"
#include "layer-fs.h"
#include "layer-paths.h"
#include "layer-proto.h"
#include "layer-reader.h"
#include "layer-sandbox.h"
#include "layer-staging.h"
#include "layer-writer.h"
#include "layer.h"
#include "strutil.h"

/* Everything one call owns. */
typedef struct Apply {
        const LayerApplyOptions *opts;
        LayerLimits limits;
        LayerReader *reader;
        LayerStaging staging;
        char staging_name[LAYER_STAGING_NAME_SIZE];
        LayerMsgBuf msg;
        LayerWriter writer;
        int target_fd;
        int sock;       /* our end of the entry stream */
        int report_fd;  /* the writer's report (memfd) */
        pid_t pid;
        uint64_t entries;
        uint64_t file_bytes; /* sizes of the regular files so far */
        LayerPaths whiteouts; /* whited-out paths (deletion mode: what to delete) */
        LayerPaths opaques;   /* opaque directories */
} Apply;

static void apply_done(Apply *a) {
        if (a->pid > 0) {
                int status;
                (void) kill(a->pid, SIGKILL);
                (void) layer_sandbox_wait(a->pid, &status);
        }
        layer_staging_discard(&a->staging);
        layer_reader_free(a->reader);
        layer_msg_buf_done(&a->msg);
        free(a->writer.buf);
        free(a->writer.file_xattrs);
        free((int *) a->writer.source_fds);
        safe_close(a->writer.in_fd);
        safe_close(a->sock);
        safe_close(a->report_fd);
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

/* Sets up the writer's end and starts the sandboxed child. */
static int apply_spawn(Apply *a) {
        const LayerApplyOptions *o = a->opts;
        int sv[2], *sources;
        size_t n_sources = 1 + o->n_lower_fds;
        LayerSandbox sb;
        int r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        a->sock = sv[0];
        a->writer.in_fd = sv[1];
        a->report_fd = memfd_create("lamina-layer-report", MFD_CLOEXEC);
        if (a->report_fd < 0)
                return -errno;
        a->writer.report_fd = a->report_fd;
        a->writer.root_fd = a->staging.fd;

        sources = malloc((n_sources + 2) * sizeof(int));
        a->writer.buf = malloc(LAYER_MSG_MAX);
        a->writer.file_xattrs = malloc(LAYER_XATTRS_MAX);
        if (!sources || !a->writer.buf || !a->writer.file_xattrs) {
                free(sources);
                return -ENOMEM;
        }
        /* Missing parents copy from what the target has, then from the lowers. */
        sources[0] = a->target_fd;
        if (o->n_lower_fds > 0)
                memcpy(sources + 1, o->lower_fds, o->n_lower_fds * sizeof(int));
        a->writer.source_fds = sources;
        a->writer.n_source_fds = n_sources;
        /* The fds the child keeps: the sources, then its socket end and the report memfd. */
        sources[n_sources] = a->writer.in_fd;
        sources[n_sources + 1] = a->report_fd;

        sb = (LayerSandbox) {
                .root_fd = a->staging.fd,
                .keep_fds = sources,
                .n_keep_fds = n_sources + 2,
                .allow_mknod = o->allow_devices,
                .max_file_size = a->limits.max_bytes,
        };
        r = layer_sandbox_spawn(&sb, layer_writer_run, &a->writer, &a->pid);
        if (r < 0)
                return r;
        a->writer.in_fd = safe_close(a->writer.in_fd);
        return 0;
}

static int send_file_data(Apply *a, Error *e) {
        const void *buf;
        uint64_t offset;
        size_t size;
        int r;

        while ((r = layer_reader_data(a->reader, &buf, &size, &offset, e)) > 0)
                for (size_t done = 0; done < size;) {
                        size_t n = size - done < LAYER_DATA_CHUNK ? size - done : LAYER_DATA_CHUNK;

                        r = layer_msg_send_data(a->sock, offset + done, (const uint8_t *) buf + done, n);
                        if (r < 0)
                                return r;
                        done += n;
                }
        return r;
}

/* A regular file bigger than what is left of the byte limit is refused before the writer
 * starts on it (a sparse file costs nothing to send, whatever size it claims). */
static int apply_check_size(Apply *a, struct archive_entry *ae, const LayerEntryPlan *p, Error *e) {
        uint64_t size = (uint64_t) archive_entry_size(ae); /* not negative: checked by the plan */
        uint64_t left = a->limits.max_bytes - a->file_bytes;

        if (p->kind != LAYER_ENTRY_FILE)
                return 0;
        if (size > left)
                return error_setf(e, EDQUOT, "layer entry %s: its %" PRIu64 " bytes pass the limit of %" PRIu64
                                  " bytes for a layer's files (%" PRIu64 " bytes were left); the layer is refused",
                                  QUOTE(layer_entry_name(ae)), size, a->limits.max_bytes, left);
        a->file_bytes += size;
        return 0;
}

/* Keeps what the commit needs: the whiteouts and opaque directories. A directory where
 * this layer put a whiteout is re-created, so it is opaque too (OCI: only this layer's
 * content shows there, nothing of the lower layers nor of an earlier Apply). */
static int apply_collect(Apply *a, const LayerEntryPlan *p) {
        switch (p->name_kind) {
        case LAYER_NAME_WHITEOUT:
                return layer_paths_add(&a->whiteouts, p->path);
        case LAYER_NAME_OPAQUE:
                return layer_paths_add(&a->opaques, p->path);
        default:
                if (p->kind == LAYER_ENTRY_DIR && layer_paths_contains(&a->whiteouts, p->path))
                        return layer_paths_add(&a->opaques, p->path);
                return 0;
        }
}

/* One entry: checked, collected, then sent to the writer unless it is a whiteout or an
 * opaque marker in deletion mode (those are only applied at the commit). */
static int apply_entry(Apply *a, struct archive_entry *ae, Error *e) {
        const LayerEntryRules rules = {
                .max_name_len = a->limits.max_name_len,
                .allow_devices = a->opts->allow_devices,
        };
        _cleanup_(layer_entry_plan_done) LayerEntryPlan plan = {};
        int r;

        if (++a->entries > a->limits.max_entries)
                return error_setf(e, EDQUOT, "layer entry %s: the layer has more than %" PRIu64 " entries, the limit",
                                  QUOTE(layer_entry_name(ae)), a->limits.max_entries);
        r = layer_entry_plan(ae, &rules, &plan, &a->msg, e);
        if (r < 0)
                return r;
        r = apply_check_size(a, ae, &plan, e);
        if (r < 0)
                return r;
        r = apply_collect(a, &plan);
        if (r < 0)
                return r;
        if (plan.name_kind != LAYER_NAME_PLAIN && !a->opts->overlay_whiteouts)
                return 0;

        r = layer_msg_send(a->sock, &a->msg);
        if (r < 0)
                return r;
        if (plan.kind == LAYER_ENTRY_FILE)
                return send_file_data(a, e);
        return 0;
}

static int apply_stream(Apply *a, Error *e) {
        struct archive_entry *ae;
        int r;

        while ((r = layer_reader_next(a->reader, &ae, e)) > 0) {
                r = apply_entry(a, ae, e);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return layer_msg_send_end(a->sock);
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
                return error_setf(e, code > 0 ? code : EIO, "%s", (const char *) buf + sizeof code);
        }
        return error_setf(e, EIO, "the layer writer failed without saying why");
}

/* Waits for the writer; its verdict. */
static int apply_wait(Apply *a, Error *e) {
        int status, r;

        r = layer_sandbox_wait(a->pid, &status);
        a->pid = 0;
        if (r < 0)
                return error_set_errno(e, r, "cannot wait for the layer writer");
        /* RLIMIT_FSIZE, a backstop: apply_check_size() refuses big files before. */
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

static int apply_run(Apply *a, int layer_fd, LayerApplyResult *ret, Error *e) {
        const LayerApplyOptions *o = a->opts;
        const LayerReaderOptions ro = {
                .media_type = o->media_type,
                .max_bytes = a->limits.max_bytes,
                .progress = o->progress,
                .userdata = o->userdata,
        };
        LayerChanges changes;
        int r;

        r = layer_reader_new(layer_fd, &ro, &a->reader, e);
        if (r < 0)
                return error_from_errno(e, r, "cannot read the layer");
        r = layer_staging_new(a->target_fd, a->staging_name, &a->staging);
        if (r < 0)
                return error_set_errno(e, r, "cannot create a staging directory in the snapshot");
        r = apply_spawn(a);
        if (r < 0)
                return error_set_errno(e, r, "cannot start the layer writer");

        r = apply_stream(a, e);
        if (r < 0) {
                /* A broken stream with no error of ours: the writer stopped, and says why. */
                if (e->code == 0 && (r == -EPIPE || r == -ECONNRESET))
                        (void) apply_wait(a, e);
                return error_from_errno(e, r, "cannot stream the layer to the writer");
        }
        a->sock = safe_close(a->sock);
        r = apply_wait(a, e);
        if (r < 0)
                return r;

        r = layer_reader_finish(a->reader, ret, e);
        if (r < 0)
                return r;
        ret->entries = a->entries;
        if (o->expected_diff_id && !streq(o->expected_diff_id, ret->diff_id))
                return error_setf(e, EINVAL, "layer diff_id %s does not match the expected %s; the snapshot was left unchanged",
                                  ret->diff_id, o->expected_diff_id);

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
                .writer = { .in_fd = -EBADF, .report_fd = -EBADF, .root_fd = -EBADF },
                .target_fd = -EBADF,
                .sock = -EBADF,
                .report_fd = -EBADF,
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
