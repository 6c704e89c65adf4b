/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A FUSE filesystem whose server holds up what a hostile user's would: it mounts itself
 * (root, allow_other) at DIR, holding one regular file "layer" of SIZE bytes, and answers
 * on /dev/fuse without libfuse:
 * - the mount's root and "layer" are looked up, opened, flushed and released at once, and
 *   statfs is answered;
 * - a getattr of "layer" is answered for any uid but root (attributes are never cached, so
 *   every stat asks), root's is never answered: laminad stat'ing a caller's file waits;
 * - a lookup of any other name and every read are never answered.
 * Each request left unanswered is appended to STATUS as "held OPCODE UID". It runs until
 * killed; the connection then aborts and whoever waited gets ENOTCONN.
 * Usage: fuse-stall DIR STATUS */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

enum {
        OP_LOOKUP = 1,
        OP_FORGET = 2,
        OP_GETATTR = 3,
        OP_OPEN = 14,
        OP_READ = 15,
        OP_STATFS = 17,
        OP_RELEASE = 18,
        OP_FLUSH = 25,
        OP_INIT = 26,
        OP_OPENDIR = 27,
        OP_RELEASEDIR = 29,
        OP_INTERRUPT = 36,
        OP_BATCH_FORGET = 42,
};

struct in_header {
        uint32_t len, opcode;
        uint64_t unique, nodeid;
        uint32_t uid, gid, pid;
        uint16_t total_extlen, padding;
};

struct out_header {
        uint32_t len;
        int32_t error;
        uint64_t unique;
};

struct attr {
        uint64_t ino, size, blocks, atime, mtime, ctime;
        uint32_t atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev, blksize, flags;
};

struct entry_out {
        uint64_t nodeid, generation, entry_valid, attr_valid;
        uint32_t entry_valid_nsec, attr_valid_nsec;
        struct attr attr;
};

struct attr_out {
        uint64_t attr_valid;
        uint32_t attr_valid_nsec, dummy;
        struct attr attr;
};

struct open_out {
        uint64_t fh;
        uint32_t open_flags;
        int32_t backing_id;
};

struct init_out {
        uint32_t major, minor, max_readahead, flags;
        uint16_t max_background, congestion_threshold;
        uint32_t max_write, time_gran;
        uint16_t max_pages, map_alignment;
        uint32_t flags2, max_stack_depth;
        uint16_t request_timeout, unused[11];
};

#define LAYER_INO 2
#define BUF_SIZE (1024 * 1024 + 4096)

static int dev_fd = -1;
static FILE *status;
static uint64_t layer_size;

static void die(const char *what) {
        perror(what);
        exit(EXIT_FAILURE);
}

static void reply(const struct in_header *h, int error, const void *data, size_t n) {
        char buf[sizeof(struct out_header) + 256];
        struct out_header *o = (struct out_header *) buf;

        *o = (struct out_header) { .len = sizeof *o + n, .error = -error, .unique = h->unique };
        memcpy(buf + sizeof *o, data, n);
        if (write(dev_fd, buf, o->len) < 0 && errno != ENOENT) /* ENOENT: interrupted meanwhile */
                die("write /dev/fuse");
}

static void hold(const struct in_header *h) {
        fprintf(status, "held %u %u\n", h->opcode, h->uid);
        fflush(status);
}

static struct attr attr_of(uint64_t ino) {
        if (ino == LAYER_INO)
                return (struct attr) { .ino = ino, .size = layer_size, .mode = 0100644, .nlink = 1, .blksize = 4096 };
        return (struct attr) { .ino = 1, .mode = 040755, .nlink = 2, .blksize = 4096 };
}

static void handle(const struct in_header *h, const char *arg) {
        switch (h->opcode) {
        case OP_INIT: {
                struct init_out o = { .major = 7, .minor = 31, .max_readahead = 65536, .max_background = 16,
                                      .congestion_threshold = 12, .max_write = 65536, .time_gran = 1 };
                reply(h, 0, &o, sizeof o);
                break;
        }
        case OP_LOOKUP:
                if (h->nodeid == 1 && strcmp(arg, "layer") == 0) {
                        struct entry_out o = { .nodeid = LAYER_INO, .entry_valid = 3600, .attr = attr_of(LAYER_INO) };
                        reply(h, 0, &o, sizeof o);
                } else
                        hold(h);
                break;
        case OP_GETATTR:
                if (h->nodeid == LAYER_INO && h->uid == 0)
                        hold(h);
                else {
                        struct attr_out o = { .attr = attr_of(h->nodeid) };
                        reply(h, 0, &o, sizeof o);
                }
                break;
        case OP_OPEN:
        case OP_OPENDIR: {
                struct open_out o = { .fh = 1 };
                reply(h, 0, &o, sizeof o);
                break;
        }
        case OP_STATFS: {
                uint64_t kstatfs[10] = {}; /* struct fuse_kstatfs: the kernel sets f_type */
                reply(h, 0, kstatfs, sizeof kstatfs);
                break;
        }
        case OP_FLUSH:
        case OP_RELEASE:
        case OP_RELEASEDIR:
                reply(h, 0, NULL, 0);
                break;
        case OP_READ:
                hold(h);
                break;
        case OP_FORGET:
        case OP_BATCH_FORGET:
        case OP_INTERRUPT:
                break; /* no reply; an interrupted request stays held */
        default:
                reply(h, ENOSYS, NULL, 0);
        }
}

int main(int argc, char **argv) {
        char opts[128], *buf;
        ssize_t n;

        if (argc != 3) {
                fprintf(stderr, "usage: fuse-stall DIR STATUS\n");
                return EXIT_FAILURE;
        }
        layer_size = 10240;
        status = fopen(argv[2], "ae");
        if (!status)
                die(argv[2]);
        dev_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
        if (dev_fd < 0)
                die("/dev/fuse");
        snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", dev_fd);
        if (mount("fuse-stall", argv[1], "fuse", MS_NOSUID | MS_NODEV, opts) < 0)
                die("mount");
        buf = malloc(BUF_SIZE);
        if (!buf)
                die("malloc");
        fprintf(status, "ready\n");
        fflush(status);
        for (;;) {
                n = read(dev_fd, buf, BUF_SIZE);
                if (n < 0) {
                        if (errno == EINTR || errno == ENOENT)
                                continue;
                        if (errno == ENODEV) /* unmounted */
                                return EXIT_SUCCESS;
                        die("read /dev/fuse");
                }
                if ((size_t) n < sizeof(struct in_header))
                        continue;
                buf[n < BUF_SIZE ? n : BUF_SIZE - 1] = 0;
                handle((const struct in_header *) buf, buf + sizeof(struct in_header));
        }
}
