/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the writer protocol: the input is the stream of framed messages
 * (layer-proto.h: ENTRY, DATA, END) the writer receives from the parser, which a
 * compromised parser controls completely. The writer runs on it as in the sandbox
 * (without the sandbox: libFuzzer must see its crashes), into a scratch directory on a
 * tmpfs of this process's own mount namespace, emptied after every input. Its report is
 * decoded as the committer would. See fuzz/README.md. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "tree-util.h"
#include "layer-proto.h"
#include "layer-writer.h"
#include "layer.h"

static int scratch_fd = -EBADF;
static uint8_t *buf, *recv_buf, *xattrs;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        char dir[] = "/tmp/lamina-fuzz-writer-XXXXXX";

        if (!mkdtemp(dir))
                abort();
        /* Root: a private tmpfs that disappears with the process. Otherwise a plain
         * directory, left behind empty. */
        if (geteuid() == 0 && (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                               mount("fuzz", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m") < 0))
                abort();
        scratch_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        /* The fd keeps the tmpfs; the directory it was mounted on goes at once. */
        if (scratch_fd >= 0 && geteuid() == 0 && (umount2(dir, MNT_DETACH) < 0 || rmdir(dir) < 0))
                abort();
        buf = malloc(LAYER_MSG_MAX);
        recv_buf = malloc(LAYER_MSG_RECV_BYTES);
        xattrs = malloc(LAYER_XATTRS_MAX);
        if (scratch_fd < 0 || !buf || !recv_buf || !xattrs)
                abort();
        return 0;
}

static void read_report(int fd) {
        LayerMsg h;

        if (lseek(fd, 0, SEEK_SET) != 0)
                abort();
        while (layer_msg_recv(fd, &h, buf) > 0)
                ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_close_ int in = memfd_create("fuzz-in", MFD_CLOEXEC), report = memfd_create("fuzz-report", MFD_CLOEXEC);
        _cleanup_close_ int root = -EBADF;
        LayerWriter w;

        if (in < 0 || report < 0 || write(in, data, size) != (ssize_t) size || lseek(in, 0, SEEK_SET) != 0)
                abort();
        if (mkdirat(scratch_fd, "w", 0755) < 0)
                abort();
        root = openat(scratch_fd, "w", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                abort();
        w = (LayerWriter) {
                .in_fd = in,
                .report_fd = report,
                .root_fd = root,
                .mknod_fd = -EBADF, /* device nodes are refused (EPERM), as without devices */
                .buf = buf,
                .recv_buf = recv_buf,
                .file_xattrs = xattrs,
                .max_entries = LAYER_DEFAULT_MAX_ENTRIES,
                .max_bytes = 32u << 20, /* of the 64 MiB tmpfs */
                .max_report = 16u << 20,
                .block_size = 4096,
        };
        (void) layer_writer_run(&w);
        read_report(report);
        if (rm_rf_at(scratch_fd, "w", NULL) < 0)
                abort();
        return 0;
}
