/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The writer's limits, on the writer itself (as the fuzzer runs it: messages from a memfd,
 * no sandbox): the directories it makes for missing parents count as entries, every
 * directory a block against the bytes, and its report (a memfd in laminad's memory
 * cgroup, read at the end) stays under its cap however long the directories' paths are.
 * Past a limit the entry is refused with EDQUOT, naming it, before anything is made. */
#include <dirent.h>
#include <sys/mman.h>

#include "layer-proto.h"
#include "layer-writer.h"
#include "strutil.h"
#include "test-util.h"
#include "tree-util.h"

#define BLOCK 4096

typedef struct Limits {
        uint64_t entries, bytes, report;
} Limits;

typedef struct Run {
        int exit;       /* layer_writer_run()'s */
        int32_t code;   /* of its error, 0: none */
        char message[ERROR_MESSAGE_MAX];
        uint64_t report_size;
        char dir[64];   /* what it wrote, in "w" */
        int dir_fd;
} Run;

static int in_fd = -EBADF;

static void put(const void *p, size_t n) {
        ASSERT_TRUE(write(in_fd, p, n) == (ssize_t) n);
}

static void put_entry(LayerEntryKind kind, const char *path, uint64_t size) {
        LayerEntryMsg m = { .kind = kind, .mode = kind == LAYER_ENTRY_DIR ? 0755 : 0644, .uid = getuid(),
                            .gid = getgid(), .size = size };
        LayerMsgBuf b = {};

        ASSERT_OK(layer_msg_pack_entry(&b, &m, path, ""));
        put(b.data, b.size);
        layer_msg_buf_done(&b);
}

static void begin(void) {
        in_fd = memfd_create("test-writer-in", MFD_CLOEXEC);
        ASSERT_TRUE(in_fd >= 0);
}

/* Ends the messages (END) and runs the writer on them into a new directory. */
static void run(const Limits *l, Run *ret) {
        _cleanup_close_ int report = memfd_create("test-writer-report", MFD_CLOEXEC), root = -EBADF;
        _cleanup_free_ uint8_t *buf = malloc(LAYER_MSG_MAX), *recv_buf = malloc(LAYER_MSG_RECV_BYTES),
                               *xattrs = malloc(LAYER_XATTRS_MAX);
        LayerMsg h = { .type = LAYER_MSG_END };
        LayerWriter w;
        struct stat st;

        put(&h, sizeof h);
        ASSERT_TRUE(lseek(in_fd, 0, SEEK_SET) == 0);
        ASSERT_TRUE(report >= 0 && buf && recv_buf && xattrs);
        *ret = (Run) {};
        strcpy(ret->dir, "/tmp/lamina-test-writer-XXXXXX");
        ASSERT_TRUE(mkdtemp(ret->dir));
        ret->dir_fd = open(ret->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(ret->dir_fd >= 0);
        ASSERT_OK(mkdirat(ret->dir_fd, "w", 0755) < 0 ? -errno : 0);
        root = openat(ret->dir_fd, "w", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(root >= 0);
        w = (LayerWriter) {
                .in_fd = in_fd,
                .report_fd = report,
                .root_fd = root,
                .mknod_fd = -EBADF,
                .buf = buf,
                .recv_buf = recv_buf,
                .file_xattrs = xattrs,
                .max_entries = l->entries,
                .max_bytes = l->bytes,
                .max_report = l->report,
                .block_size = BLOCK,
        };
        ret->exit = layer_writer_run(&w);
        in_fd = safe_close(in_fd);

        ASSERT_TRUE(fstat(report, &st) == 0);
        ret->report_size = (uint64_t) st.st_size;
        ASSERT_TRUE(lseek(report, 0, SEEK_SET) == 0);
        while (layer_msg_recv(report, &h, buf) > 0)
                if (h.type == LAYER_REPORT_ERROR && ret->code == 0) {
                        ASSERT_TRUE(h.size > sizeof ret->code && buf[h.size - 1] == 0);
                        memcpy(&ret->code, buf, sizeof ret->code);
                        snprintf(ret->message, sizeof ret->message, "%s", (const char *) buf + sizeof ret->code);
                }
        fprintf(stderr, "writer: exit %d, report of %llu bytes, %s\n", ret->exit,
                (unsigned long long) ret->report_size, ret->code ? ret->message : "no error");
}

static void run_done(Run *r) {
        ASSERT_OK(rm_rf_at(r->dir_fd, "w", NULL));
        close(r->dir_fd);
        ASSERT_OK(rmdir(r->dir) < 0 ? -errno : 0);
}

/* The directories below path in what the writer wrote, path included. */
static size_t count_dirs(const Run *r, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        size_t n = 1;
        DIR *d;

        fd = openat(r->dir_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return 0;
        d = fdopendir(TAKE_FD(fd));
        ASSERT_TRUE(d);
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_type == DT_DIR && !streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        char *sub = strdup_printf("%s/%s", path, de->d_name);

                        ASSERT_TRUE(sub);
                        n += count_dirs(r, sub);
                        free(sub);
                }
        closedir(d);
        return n;
}

static const char *const names[] = { "a", "b", "c", "d", "e", "f", "g", "h", "i" };

static void assert_refused(const Run *r, const char *entry, const char *why) {
        ASSERT_TRUE(r->exit == LAYER_WRITER_EXIT_FAILED);
        ASSERT_TRUE(r->code == EDQUOT);
        ASSERT_TRUE(strstr(r->message, entry));
        ASSERT_TRUE(strstr(r->message, why));
}

/* 1000 directories of ~3000-byte paths: some 3 MB of records. A 1 MiB cap refuses the
 * directory that would pass it, and the report ends under the cap and one error record. */
TEST(many_long_directory_paths_keep_the_report_under_its_cap) {
        static const Limits small = { .entries = 100000, .bytes = UINT64_C(1) << 30, .report = 1u << 20 },
                            large = { .entries = 100000, .bytes = UINT64_C(1) << 30, .report = 16u << 20 };
        char base[12 * 251] = "", name[251], path[sizeof base + 16];
        Run r;

        memset(name, 'c', 250);
        name[250] = 0;
        for (size_t i = 0; i < 12; i++) {
                if (i > 0)
                        strcat(base, "/");
                strcat(base, name);
        }
        for (unsigned pass = 0; pass < 2; pass++) {
                begin();
                for (unsigned i = 0; i < 1000; i++) {
                        snprintf(path, sizeof path, "%s/%u", base, i);
                        put_entry(LAYER_ENTRY_DIR, path, 0);
                }
                run(pass == 0 ? &small : &large, &r);
                if (pass == 0) {
                        assert_refused(&r, "/c", "kept until the end");
                        ASSERT_TRUE(r.report_size <= small.report + sizeof(LayerMsg) + sizeof(int32_t) + ERROR_MESSAGE_MAX);
                        /* what fits in the cap was made, no more: ~3050 bytes a record */
                        ASSERT_TRUE(count_dirs(&r, "w") <= 13 + small.report / 3000);
                } else {
                        /* the same layer under a cap it fits in: the small one was passed */
                        ASSERT_TRUE(r.exit == 0 && r.code == 0);
                        ASSERT_TRUE(r.report_size > small.report);
                        ASSERT_TRUE(count_dirs(&r, "w") == 1 + 12 + 1000);
                }
                run_done(&r);
        }
}

/* One file 100 directories deep: 101 entries of the writer's limit, not 1. */
TEST(missing_parents_count_as_entries) {
        static const Limits tight = { .entries = 50, .bytes = UINT64_C(1) << 30, .report = 1u << 20 },
                            room = { .entries = 101, .bytes = UINT64_C(1) << 30, .report = 1u << 20 };
        char path[2 * 100 + 3] = "a";
        Run r;

        for (size_t i = 1; i < 100; i++)
                strcat(path, "/d");
        strcat(path, "/f");
        begin();
        put_entry(LAYER_ENTRY_FILE, path, 1);
        run(&tight, &r);
        assert_refused(&r, "/d/f", "directories made for missing parents");
        /* the file took one entry, its first 49 missing parents the others */
        ASSERT_TRUE(count_dirs(&r, "w/a") == 49);
        run_done(&r);

        begin();
        put_entry(LAYER_ENTRY_FILE, path, 1);
        run(&room, &r);
        ASSERT_TRUE(r.exit == 0 && r.code == 0);
        ASSERT_TRUE(count_dirs(&r, "w/a") == 100);
        run_done(&r);
}

/* Directories, those of the layer and those made for missing parents, take a block each. */
TEST(directories_count_a_block_against_the_bytes) {
        static const Limits l = { .entries = 1000, .bytes = 10 * BLOCK + 100, .report = 1u << 20 };
        Run r;

        /* 9 directories, 1 missing parent, 100 bytes of file: exactly the limit */
        begin();
        put_entry(LAYER_ENTRY_FILE, "p/f", 100);
        for (unsigned i = 0; i < 9; i++)
                put_entry(LAYER_ENTRY_DIR, names[i], 0);
        run(&l, &r);
        ASSERT_TRUE(r.exit == 0 && r.code == 0);
        run_done(&r);

        /* one byte more: the last directory is refused, before it is made */
        begin();
        put_entry(LAYER_ENTRY_FILE, "p/f", 101);
        for (unsigned i = 0; i < 9; i++)
                put_entry(LAYER_ENTRY_DIR, names[i], 0);
        run(&l, &r);
        assert_refused(&r, "\"i\"", "bytes for each directory");
        ASSERT_TRUE(count_dirs(&r, "w/i") == 0 && count_dirs(&r, "w/h") == 1);
        run_done(&r);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(many_long_directory_paths_keep_the_report_under_its_cap),
                TEST_ENTRY(missing_parents_count_as_entries),
                TEST_ENTRY(directories_count_a_block_against_the_bytes),
        };

        return test_run_all(cases, ELEMENTSOF(cases));
}
