/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Chains and their mounts, and Apply, from a long-lived sd-bus client. */

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "bench-commands.h"
#include "bench-util.h"
#include "log.h"
#include "strutil.h"

/* Commits PREFIX-1 … PREFIX-N, each the parent of the next. Prints the seconds it took. */
int cmd_chain_bus(int argc, char **argv) {
        _cleanup_(bt_closep) BusTest t = {};
        const char *prefix = argv[1];
        uint64_t start;
        size_t n;
        int r;

        r = parse_size(argv[2], &n);
        if (r >= 0)
                r = bus_open(&t);
        if (r < 0)
                return r;
        start = now_ns();
        for (size_t i = 1; i <= n; i++) {
                _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
                _cleanup_free_ char *key = strdup_printf("%s-active-%zu", prefix, i);
                _cleanup_free_ char *name = strdup_printf("%s-%zu", prefix, i);
                _cleanup_free_ char *parent = i > 1 ? strdup_printf("%s-%zu", prefix, i - 1) : strdup("");

                if (!key || !name || !parent)
                        return log_error_errno(-ENOMEM, "out of memory");
                r = bt_prepare(&t, key, parent, NULL, &mounts);
                if (r < 0)
                        return bus_fail(&t, "Prepare", key, r);
                r = bt_commit(&t, name, key, NULL);
                if (r < 0)
                        return bus_fail(&t, "Commit", key, r);
        }
        printf("%.3f\n", ms_since(start) / 1000.0);
        return 0;
}

/* Per repetition: milliseconds for Prepare(KEY, PARENT) + Mount(KEY, "") from the reply
 * of the first call to that of the second; then Unmount and Remove, not timed. */
static int prepare_mount_once(BusTest *t, unsigned rep, void *userdata) {
        _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
        _cleanup_free_ char *path = NULL;
        const char *parent = userdata;
        uint64_t start;
        char key[64];
        int r;

        rep_key(key, "pm", rep);
        start = now_ns();
        r = bt_prepare(t, key, parent, NULL, &mounts);
        if (r < 0)
                return bus_fail(t, "Prepare", key, r);
        r = bt_mount(t, key, "", NULL, &path);
        if (r < 0)
                return bus_fail(t, "Mount", key, r);
        printf("%.3f\n", ms_since(start));
        fflush(stdout);
        r = bt_unmount(t, key);
        if (r < 0)
                return bus_fail(t, "Unmount", key, r);
        r = bt_remove(t, key);
        return r < 0 ? bus_fail(t, "Remove", key, r) : 0;
}

int cmd_prepare_mount_bus(int argc, char **argv) {
        return bus_each_rep(prepare_mount_once, argv[1]);
}

/* --- Apply --- */

static int apply_once(BusTest *t, const char *key, int fd, uint64_t *ret_bytes) {
        sd_bus_message *reply = NULL;
        const char *diff_id;
        uint64_t bytes, entries;
        int r;

        r = bt_call(t, NULL, BT_SNAPSHOTTER_IFACE, "Apply", &reply, "sha{sv}", key, fd, 0);
        if (r < 0)
                return bus_fail(t, "Apply", key, r);
        r = sd_bus_message_read(reply, "stt", &diff_id, &bytes, &entries);
        sd_bus_message_unref(reply);
        if (r < 0)
                return log_error_errno(r, "cannot read the reply of Apply: %m");
        *ret_bytes = bytes;
        return 0;
}

/* Per repetition: seconds of one Apply of FILE into a new active snapshot, the
 * uncompressed bytes and the snapshot's key. The snapshot stays: bench/run removes them
 * once nothing is timed any more, because deleting thousands of files makes the next
 * creations on ext4 slower for a minute (its inode allocator skips recently deleted
 * inodes), which would bill one Apply or tar for the previous one's clean-up. */
static int apply_file(BusTest *t, unsigned rep, void *userdata) {
        _cleanup_(mount_spec_list_clear) MountSpecList mounts = {};
        _cleanup_close_ int fd = -EBADF;
        const char *file = userdata;
        uint64_t start, bytes = 0;
        char key[64];
        int r;

        rep_key(key, "apply", rep);
        r = bt_prepare(t, key, "", NULL, &mounts);
        if (r < 0)
                return bus_fail(t, "Prepare", key, r);
        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(-errno, "cannot open %s: %m", file);
        start = now_ns();
        r = apply_once(t, key, fd, &bytes);
        if (r < 0)
                return r;
        printf("%.3f %" PRIu64 " %s\n", ms_since(start) / 1000.0, bytes, key);
        return 0;
}

int cmd_apply_bus(int argc, char **argv) {
        return bus_each_rep(apply_file, argv[1]);
}
