/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lamina-unpack: applies one layer for laminad, which execs it per Apply so that
 * libarchive, zlib, libzstd and libcrypto never run (nor load) in the daemon. The fds and
 * the result record are the contract in layer-unpack.h; the options come as arguments:
 *
 *   lamina-unpack --media-type=detect|tar|tar+gzip|tar+zstd --whiteouts=overlay|delete --mark-implicit=yes|no
 *                 --devices=yes|no --lowers=N --staging-name=NAME --max-entries=N
 *                 --max-bytes=N --max-name-length=N --max-memory=BYTES --max-cpu=SECONDS
 *                 --parent=PID [--expected-diff-id=sha256:HEX]
 *
 * It is not meant to be run by hand: it trusts its caller for the fds it is given.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "layer-unpack.h"
#include "layer.h"
#include "unpack-confine.h"

typedef struct Args {
        LayerApplyOptions o;
        size_t n_lowers;
        pid_t parent;
} Args;

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer checks at exit from a clone that ptraces the process: calls its seccomp
 * filter (unpack-confine.c) rightly kills. The code it runs is checked for leaks where
 * the unit tests run layer_apply() in their own process. (laminad starts it with an
 * empty environment, so these are its options.) */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
        return "detect_leaks=0";
}
#endif

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;

        errno = 0;
        *ret = strtoull(s, &end, 10);
        return errno == 0 && end != s && *end == 0 && s[0] != '-' ? 0 : -EINVAL;
}

static int parse_args(int argc, char *argv[], Args *a) {
        enum { MEDIA = 256, WHITEOUTS, DEVICES, LOWERS, STAGING, ENTRIES, BYTES, NAMELEN, MEMORY, CPU, PARENT, DIFFID, WRITEUID, MARK };
        static const struct option options[] = {
                { "media-type", required_argument, NULL, MEDIA },
                { "whiteouts", required_argument, NULL, WHITEOUTS },
                { "devices", required_argument, NULL, DEVICES },
                { "lowers", required_argument, NULL, LOWERS },
                { "staging-name", required_argument, NULL, STAGING },
                { "max-entries", required_argument, NULL, ENTRIES },
                { "max-bytes", required_argument, NULL, BYTES },
                { "max-name-length", required_argument, NULL, NAMELEN },
                { "max-memory", required_argument, NULL, MEMORY },
                { "max-cpu", required_argument, NULL, CPU },
                { "parent", required_argument, NULL, PARENT },
                { "expected-diff-id", required_argument, NULL, DIFFID },
                { "write-uid", required_argument, NULL, WRITEUID },
                { "mark-implicit", required_argument, NULL, MARK },
                {}
        };
        LayerLimits *l = &a->o.limits;
        uint64_t v = 0;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                r = 0;
                switch (c) {
                case MEDIA:
                        r = streq(optarg, "detect") ? LAYER_MEDIA_DETECT : layer_media_type_from_string(optarg);
                        a->o.media_type = r < 0 ? 0 : r;
                        break;
                case WHITEOUTS:
                        a->o.overlay_whiteouts = streq(optarg, "overlay");
                        r = a->o.overlay_whiteouts || streq(optarg, "delete") ? 0 : -EINVAL;
                        break;
                case DEVICES:
                        a->o.allow_devices = streq(optarg, "yes");
                        r = a->o.allow_devices || streq(optarg, "no") ? 0 : -EINVAL;
                        break;
                case MARK:
                        a->o.mark_implicit = streq(optarg, "yes");
                        r = a->o.mark_implicit || streq(optarg, "no") ? 0 : -EINVAL;
                        break;
                case STAGING:
                        a->o.staging_name = optarg;
                        break;
                case DIFFID:
                        a->o.expected_diff_id = optarg;
                        break;
                case LOWERS:
                case ENTRIES:
                case BYTES:
                case NAMELEN:
                case MEMORY:
                case CPU:
                case PARENT:
                case WRITEUID:
                        r = parse_u64(optarg, &v);
                        if (c == LOWERS)
                                a->n_lowers = (size_t) v, r = r ?: v > 4096 ? -EINVAL : 0;
                        else if (c == ENTRIES)
                                l->max_entries = v;
                        else if (c == BYTES)
                                l->max_bytes = v;
                        else if (c == NAMELEN)
                                l->max_name_len = (size_t) v;
                        else if (c == MEMORY)
                                l->max_memory = v;
                        else if (c == CPU)
                                l->max_cpu_sec = v;
                        else if (c == WRITEUID)
                                a->o.write_uid = (uid_t) v, r = r ?: v >= UINT32_MAX ? -EINVAL : 0;
                        else
                                a->parent = (pid_t) v;
                        break;
                default:
                        r = -EINVAL;
                }
                if (r < 0)
                        return -EINVAL;
        }
        if (optind != argc || !a->o.staging_name || a->parent <= 1 || l->max_entries == 0 || l->max_bytes == 0 ||
            l->max_name_len == 0 || l->max_memory == 0 || l->max_cpu_sec == 0)
                return -EINVAL;
        return 0;
}

static void on_progress(uint64_t done, uint64_t total, void *userdata) {
        LayerUnpackProgress p = { .done = done, .total = total };

        /* Best effort: the daemon reads as fast as it likes. */
        (void) !write(LAYER_UNPACK_FD_PROGRESS, &p, sizeof p);
}

static int write_result(const LayerUnpackResult *res) {
        ssize_t n = pwrite(LAYER_UNPACK_FD_RESULT, res, sizeof *res, 0);
        return n == (ssize_t) sizeof *res ? 0 : -EIO;
}

int main(int argc, char *argv[]) {
        _cleanup_free_ int *lowers = NULL;
        LayerUnpackResult res = { .magic = LAYER_UNPACK_RESULT_MAGIC };
        LayerApplyResult applied = {};
        Error e = ERROR_NULL;
        Args a = {};
        int r;

        /* Ends with the daemon: an apply it no longer waits for must not commit later,
         * after the daemon's next start removed its staging directory. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                return LAYER_UNPACK_EXIT_USAGE;
        if (parse_args(argc, argv, &a) < 0 || getppid() != a.parent) {
                fprintf(stderr, "%s: to be started by laminad only\n", LAYER_UNPACK_HELPER);
                return LAYER_UNPACK_EXIT_USAGE;
        }
        lowers = malloc((a.n_lowers + 1) * sizeof(int));
        if (!lowers)
                return LAYER_UNPACK_EXIT_USAGE;
        for (size_t i = 0; i < a.n_lowers; i++)
                lowers[i] = LAYER_UNPACK_FD_LOWERS + (int) i;
        a.o.lower_fds = lowers;
        a.o.n_lower_fds = a.n_lowers;
        a.o.progress = on_progress;
        a.o.confine_self = unpack_confine_committer;

        r = unpack_confine(&a.o.limits, &e);
        if (r >= 0)
                r = layer_apply(LAYER_UNPACK_FD_LAYER, LAYER_UNPACK_FD_TARGET, &a.o, &applied, &e);
        if (r < 0) {
                /* Memory runs out where the address space limit is: name it. */
                if (e.code == ENOMEM || (e.code == 0 && r == -ENOMEM)) {
                        char why[sizeof e.message];
                        snprintf(why, sizeof why, "%s", e.code ? e.message : "out of memory");
                        e = ERROR_NULL;
                        (void) error_setf(&e, EDQUOT, "unpacking the layer needs more than the limit of %" PRIu64
                                          " bytes of memory (%s); the layer is refused", a.o.limits.max_memory, why);
                }
                (void) error_from_errno(&e, r, "cannot apply the layer");
                res.code = e.internal ? -e.code : e.code;
                snprintf(res.message, sizeof res.message, "%s", e.message);
        } else {
                memcpy(res.diff_id, applied.diff_id, sizeof res.diff_id);
                res.bytes = applied.bytes;
                res.entries = applied.entries;
                res.marked_implicit = applied.marked_implicit;
        }
        if (write_result(&res) < 0)
                return LAYER_UNPACK_EXIT_USAGE;
        return r < 0 ? 1 : 0;
}
