/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl-output.h"
#include "ctl.h"

/* Waits for the reply even when interrupted: the snapshot stays busy until the Apply ends (it
 * ends early when the layer comes through a pipe that the feeder stops filling). */

/* One Apply call in flight: its reply, and the progress bar fed by ApplyProgress. */
typedef struct ApplyCall {
        const char *key;
        const char *label;
        uint64_t size;
        uid_t owner;
        bool bar;
        bool drawn;
} ApplyCall;

static void progress_draw(ApplyCall *a, uint64_t done, uint64_t total) {
        enum { WIDTH = 30 };

        fprintf(stderr, "\r\x1b[K%s ", a->label);
        if (total > 0) {
                unsigned filled = (unsigned) (done >= total ? WIDTH : done * WIDTH / total);

                fputc('[', stderr);
                for (unsigned i = 0; i < WIDTH; i++)
                        fputc(i < filled ? '#' : '.', stderr);
                fprintf(stderr, "] %3u%% %s/%s", (unsigned) (done >= total ? 100 : done * 100 / total),
                        FORMAT_BYTES(done), FORMAT_BYTES(total));
        } else
                fprintf(stderr, "%s", FORMAT_BYTES(done));
        fflush(stderr);
        a->drawn = true;
}

static void progress_clear(ApplyCall *a) {
        if (!a->drawn)
                return;
        fputs("\r\x1b[K", stderr);
        fflush(stderr);
        a->drawn = false;
}

static int on_progress(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        ApplyCall *a = userdata;
        const char *key;
        uint64_t done, total;
        uint32_t owner;

        if (sd_bus_message_read(m, "sttu", &key, &done, &total, &owner) < 0)
                return 0; /* a malformed signal is not worth failing the apply over */
        if (streq(key, a->key) && owner == a->owner)
                progress_draw(a, done, total ?: a->size);
        return 0;
}

int ctl_apply_message(Ctl *c, const char *key, int fd, const char *expected_diff_id, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = ctl_new_call(c, "Apply", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "sh", key, fd);
        if (r >= 0)
                r = expected_diff_id ? sd_bus_message_append(m, "a{sv}", 1, "expected-diff-id", "s", expected_diff_id)
                                     : sd_bus_message_append(m, "a{sv}", 0);
        if (r < 0)
                return ctl_bus_append_error(r);
        *ret = TAKE_PTR(m);
        return 0;
}

int ctl_apply(Ctl *c, const ApplyArgs *args, char **ret_diff_id, uint64_t *ret_bytes, uint64_t *ret_entries) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *match = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        ApplyCall a = {
                .key = args->key,
                .label = args->label ?: args->key,
                .size = args->size,
                .owner = arg_have_user ? arg_user : geteuid(),
                .bar = !arg_quiet && isatty(STDERR_FILENO),
        };
        const char *diff_id;
        int r;

        r = ctl_apply_message(c, args->key, args->fd, args->expected_diff_id, &m);
        if (r < 0)
                return r;
        if (a.bar) {
                /* Any path: the signal is emitted on the snapshotter object of the namespace. */
                r = sd_bus_match_signal(c->bus, &match, LAMINA_BUS_NAME, NULL, LAMINA_SNAPSHOTTER_IFACE,
                                        "ApplyProgress", on_progress, &a);
                if (r < 0)
                        a.bar = false;
                else
                        progress_draw(&a, 0, a.size);
        }
        r = ctl_send_wait(c, m, CALL_TIMEOUT_LONG, &reply);
        progress_clear(&a);
        if (r < 0)
                return r;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                r = -sd_bus_message_get_errno(reply);
                if (args->ret_error)
                        (void) sd_bus_error_copy(args->ret_error, sd_bus_message_get_error(reply));
                else
                        r = ctl_bus_error(c, sd_bus_message_get_error(reply), r);
                return r;
        }
        r = sd_bus_message_read(reply, "stt", &diff_id, ret_bytes, ret_entries);
        if (r >= 0 && ret_diff_id) {
                *ret_diff_id = strdup(diff_id);
                if (!*ret_diff_id)
                        r = -ENOMEM;
        }
        return r < 0 ? ctl_bus_parse_error(r) : 0;
}

int verb_apply(Ctl *c, int argc, char **argv) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *diff_id = NULL;
        uint64_t bytes, entries;
        int r;

        if (streq(argv[1], "-"))
                fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        else
                fd = open(argv[1], O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return ctl_fail(-errno, "cannot open %s: %m", streq(argv[1], "-") ? "standard input" : argv[1]);

        r = ctl_apply(c, &(ApplyArgs) { .key = argv[0], .fd = fd }, &diff_id, &bytes, &entries);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF)
                return json_print_object("diff_id", 's', diff_id, "bytes", 'u', bytes, "entries", 'u', entries, NULL);
        puts(diff_id);
        return 0;
}
