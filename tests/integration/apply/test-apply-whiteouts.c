/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whiteout and opaque semantics through Apply: containerd's shared suite cases 9-15
 * (reference containerd-semantics.md §4.2), but every layer goes in as a tar with OCI
 * whiteouts (".wh.NAME", ".wh..wh..opq") the way containerd's diff writes it (changed
 * entries with their parent directories; removed directories that come back as opaque
 * ones). After each layer: Commit, a View mounted by the daemon, compared with a flat
 * directory built with the same changes (fstest.h).
 *
 *   test-apply-whiteouts SNAPSHOTTER [CASE...]
 *
 * Run under tests/integration/lib/run-test.sh. */

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply-test.h"
#include "fstest.h"
#include "strutil.h"
#include "test-util.h"

typedef enum TarOpType {
        TAR_END,
        TAR_DIR,      /* path, mode, uid, gid */
        TAR_FILE,     /* path, content, mode, uid, gid */
        TAR_WHITEOUT, /* path: the name removed (".wh." is added to its base name) */
        TAR_OPAQUE,   /* path: the directory made opaque */
} TarOpType;

typedef struct TarOp {
        TarOpType type;
        const char *path;
        const char *content;
        mode_t mode;
        uid_t uid;
        gid_t gid;
} TarOp;

#define T_DIR(p, m) { .type = TAR_DIR, .path = (p), .mode = (m) }
#define T_DIR_OWNED(p, m, u, g) { .type = TAR_DIR, .path = (p), .mode = (m), .uid = (u), .gid = (g) }
#define T_FILE(p, c, m) { .type = TAR_FILE, .path = (p), .content = (c), .mode = (m) }
#define T_FILE_OWNED(p, c, m, u, g) { .type = TAR_FILE, .path = (p), .content = (c), .mode = (m), .uid = (u), .gid = (g) }
#define T_WHITEOUT(p) { .type = TAR_WHITEOUT, .path = (p) }
#define T_OPAQUE(p) { .type = TAR_OPAQUE, .path = (p) }
#define T_END { .type = TAR_END }

/* One layer: the changes for the flat directory, and the tar a diff of them gives. */
typedef struct Layer {
        const FsOp *fs;
        const TarOp *tar;
} Layer;

static BusTest bus;
static const char *snapshotter;
static const char *T;

/* ".wh." + base name, or the opaque marker, inside the entry's directory. */
static char *tar_name(const TarOp *op) {
        const char *slash = strrchr(op->path, '/');
        int dir_len = slash ? (int) (slash - op->path) : 0;

        switch (op->type) {
        case TAR_WHITEOUT:
                return slash ? strdup_printf("%.*s/.wh.%s", dir_len, op->path, slash + 1)
                             : strdup_printf(".wh.%s", op->path);
        case TAR_OPAQUE:
                return strdup_printf("%s/.wh..wh..opq", op->path);
        default:
                return strdup(op->path);
        }
}

static void write_entry(struct archive *a, const TarOp *op, time_t mtime) {
        _cleanup_free_ char *name = tar_name(op);
        struct archive_entry *e = archive_entry_new();
        size_t size = op->type == TAR_FILE ? strlen(op->content) : 0;

        ASSERT_TRUE(name && e);
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, op->type == TAR_DIR ? AE_IFDIR : AE_IFREG);
        archive_entry_set_perm(e, op->type == TAR_DIR || op->type == TAR_FILE ? op->mode : 0);
        archive_entry_set_uid(e, op->uid);
        archive_entry_set_gid(e, op->gid);
        archive_entry_set_size(e, (la_int64_t) size);
        archive_entry_set_mtime(e, mtime, 0);
        ASSERT_TRUE(archive_write_header(a, e) == ARCHIVE_OK);
        if (size > 0)
                ASSERT_TRUE(archive_write_data(a, op->content, size) == (la_ssize_t) size);
        archive_entry_free(e);
}

/* The layer as an uncompressed pax tar in a memfd, positioned at 0. */
static int make_tar(const TarOp *ops) {
        int fd = memfd_create("layer.tar", MFD_CLOEXEC);
        struct archive *a = archive_write_new();
        time_t now = time(NULL);

        ASSERT_TRUE(fd >= 0 && a);
        ASSERT_TRUE(archive_write_set_format_pax_restricted(a) == ARCHIVE_OK);
        ASSERT_TRUE(archive_write_open_fd(a, fd) == ARCHIVE_OK);
        for (const TarOp *op = ops; op->type != TAR_END; op++)
                write_entry(a, op, now);
        ASSERT_TRUE(archive_write_close(a) == ARCHIVE_OK);
        archive_write_free(a);
        ASSERT_TRUE(lseek(fd, 0, SEEK_SET) == 0);
        return fd;
}

static char *make_dir(const char *what) {
        char *p = strdup_printf("%s/%s-XXXXXX", T, what);

        ASSERT_TRUE(p && mkdtemp(p));
        ASSERT_OK(RET_NERRNO(chmod(p, 0755)));
        return p;
}

/* The View of name, mounted by the daemon, must equal flat. */
static void check_view(const char *name, const char *flat) {
        _cleanup_free_ char *view = strdup_printf("%s-view", name), *path = NULL, *diff = NULL;
        _cleanup_(labels_clear) Labels labels = {};
        int r;

        ASSERT_TRUE(view);
        ASSERT_OK(labels_gc_root(&labels));
        BT_ASSERT_OK(&bus, bt_view(&bus, view, name, &labels, NULL));
        BT_ASSERT_OK(&bus, bt_mount(&bus, view, "", NULL, &path));
        r = fs_compare(path, flat, &diff);
        ASSERT_OK(r);
        if (r == 0) {
                fprintf(stderr, "%s: view %s differs from the flat directory: %s\n", snapshotter, view, diff);
                abort();
        }
        BT_ASSERT_OK(&bus, bt_unmount(&bus, view));
        BT_ASSERT_OK(&bus, bt_remove(&bus, view));
}

/* containerd's checkSnapshots, with Apply: each layer on the previous one, committed as
 * "<prefix>-<i>", checked through a View. The committed names go to names[] (n of them)
 * for the caller to remove, top first. */
static void check_layers(const char *prefix, const Layer *layers, size_t n, char **names) {
        _cleanup_free_ char *flat = make_dir("flat");
        const char *parent = "";

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *key = strdup_printf("%s-%zu-prepare", prefix, i);
                _cleanup_(labels_clear) Labels labels = {};
                _cleanup_close_ int fd = make_tar(layers[i].tar);

                names[i] = strdup_printf("%s-%zu", prefix, i);
                ASSERT_TRUE(key && names[i]);
                ASSERT_OK(labels_gc_root(&labels));
                BT_ASSERT_OK(&bus, bt_prepare(&bus, key, parent, &labels, NULL));
                BT_ASSERT_OK(&bus, at_apply_fd(&bus, key, fd, NULL, NULL));
                BT_ASSERT_OK(&bus, bt_commit(&bus, names[i], key, &labels));
                ASSERT_OK(fs_apply(flat, layers[i].fs));
                check_view(names[i], flat);
                parent = names[i];
        }
        ASSERT_OK(fs_remove_all(flat));
}

static void remove_layers(char **names, size_t n) {
        for (size_t i = n; i > 0; i--) {
                BT_ASSERT_OK(&bus, bt_remove(&bus, names[i - 1]));
                free(names[i - 1]);
        }
}

static void run_layers(const char *prefix, const Layer *layers, size_t n) {
        char *names[8];

        ASSERT_TRUE(n <= ELEMENTSOF(names));
        check_layers(prefix, layers, n, names);
        remove_layers(names, n);
}

#define RUN_LAYERS(prefix, ...)                                                            \
        do {                                                                               \
                const Layer _l[] = { __VA_ARGS__ };                                        \
                run_layers(prefix, _l, ELEMENTSOF(_l));                                    \
        } while (0)

#define FS(...) ((const FsOp[]) { __VA_ARGS__, FS_END })
#define TAR(...) ((const TarOp[]) { __VA_ARGS__, T_END })
#define NO_FS ((const FsOp[]) { FS_END })
#define NO_TAR ((const TarOp[]) { T_END })

static void sleep_to_next_second(void) {
        struct timespec ts;

        ASSERT_OK(RET_NERRNO(clock_gettime(CLOCK_REALTIME, &ts)));
        ts = (struct timespec) { .tv_nsec = 1000000000L - ts.tv_nsec };
        (void) nanosleep(&ts, NULL);
}

/* 9: same-size rewrites and a mode-only change; twice, each starting on a new second. */
TEST(LayerFileupdate) {
        for (int i = 0; i < 2; i++) {
                sleep_to_next_second();
                RUN_LAYERS("fileupdate",
                        { FS(FS_MKDIR("/etc", 0700),
                             FS_FILE("/etc/hosts", "mydomain 10.0.0.1", 0644),
                             FS_FILE("/etc/profile", "PATH=/usr/bin", 0644)),
                          TAR(T_DIR("etc", 0700),
                              T_FILE("etc/hosts", "mydomain 10.0.0.1", 0644),
                              T_FILE("etc/profile", "PATH=/usr/bin", 0644)) },
                        { FS(FS_FILE("/etc/hosts", "mydomain 10.0.0.2", 0644),
                             FS_FILE("/etc/profile", "PATH=/usr/bin", 0666),
                             FS_MKDIR("/root", 0700),
                             FS_FILE("/root/.bashrc", "PATH=/usr/sbin:/usr/bin", 0644)),
                          TAR(T_DIR("etc", 0700),
                              T_FILE("etc/hosts", "mydomain 10.0.0.2", 0644),
                              T_FILE("etc/profile", "PATH=/usr/bin", 0666),
                              T_DIR("root", 0700),
                              T_FILE("root/.bashrc", "PATH=/usr/sbin:/usr/bin", 0644)) });
        }
}

/* 10: a directory removed and re-created is opaque: "hidden" never comes back. */
TEST(RemoveDirectoryInLowerLayer) {
        RUN_LAYERS("rmdir",
                { FS(FS_MKDIR("/lib", 0700), FS_FILE("/lib/hidden", "", 0644)),
                  TAR(T_DIR("lib", 0700), T_FILE("lib/hidden", "", 0644)) },
                { FS(FS_REMOVE_ALL("/lib"), FS_MKDIR("/lib", 0700), FS_FILE("/lib/not-hidden", "", 0644)),
                  TAR(T_DIR("lib", 0700), T_OPAQUE("lib"), T_FILE("lib/not-hidden", "", 0644)) },
                { FS(FS_FILE("/lib/newfile", "", 0644)),
                  TAR(T_DIR("lib", 0700), T_FILE("lib/newfile", "", 0644)) });
}

/* 10, with the opaque marker after the directory's other entries: it still applies
 * before them (OCI layer spec). */
TEST(RemoveDirectoryInLowerLayerOpaqueLast) {
        RUN_LAYERS("rmdir-opq-last",
                { FS(FS_MKDIR("/lib", 0700), FS_FILE("/lib/hidden", "", 0644)),
                  TAR(T_DIR("lib", 0700), T_FILE("lib/hidden", "", 0644)) },
                { FS(FS_REMOVE_ALL("/lib"), FS_MKDIR("/lib", 0700), FS_FILE("/lib/not-hidden", "", 0644)),
                  TAR(T_DIR("lib", 0700), T_FILE("lib/not-hidden", "", 0644), T_OPAQUE("lib")) },
                { FS(FS_FILE("/lib/newfile", "", 0644)),
                  TAR(T_DIR("lib", 0700), T_FILE("lib/newfile", "", 0644)) });
}

/* 11: ownership changes only. */
TEST(Chown) {
        RUN_LAYERS("chown",
                { FS(FS_MKDIR("/opt", 0700), FS_MKDIR("/opt/a", 0700), FS_MKDIR("/opt/a/b", 0700),
                     FS_FILE("/opt/a/b/file.txt", "hello", 0644)),
                  TAR(T_DIR("opt", 0700), T_DIR("opt/a", 0700), T_DIR("opt/a/b", 0700),
                      T_FILE("opt/a/b/file.txt", "hello", 0644)) },
                { FS(FS_CHOWN("/opt", 1, 1), FS_CHOWN("/opt/a", 1, 1), FS_CHOWN("/opt/a/b", 1, 1),
                     FS_CHOWN("/opt/a/b/file.txt", 1, 1)),
                  TAR(T_DIR_OWNED("opt", 0700, 1, 1), T_DIR_OWNED("opt/a", 0700, 1, 1),
                      T_DIR_OWNED("opt/a/b", 0700, 1, 1), T_FILE_OWNED("opt/a/b/file.txt", "hello", 0644, 1, 1)) });
}

/* 12: owners of directories kept, removed, re-created (dir5 comes back empty). */
TEST(DirectoryPermissionOnCommit) {
        RUN_LAYERS("dirperm",
                { FS(FS_MKDIR("/dir1", 0700), FS_MKDIR("/dir2", 0700), FS_MKDIR("/dir3", 0700),
                     FS_MKDIR("/dir4", 0700), FS_FILE("/dir4/f1", "...", 0644), FS_MKDIR("/dir5", 0700),
                     FS_FILE("/dir5/f1", "...", 0644), FS_CHOWN("/dir1", 1, 1), FS_CHOWN("/dir2", 1, 1),
                     FS_CHOWN("/dir3", 1, 1), FS_CHOWN("/dir5", 1, 1), FS_CHOWN("/dir5/f1", 1, 1)),
                  TAR(T_DIR_OWNED("dir1", 0700, 1, 1), T_DIR_OWNED("dir2", 0700, 1, 1),
                      T_DIR_OWNED("dir3", 0700, 1, 1), T_DIR("dir4", 0700), T_FILE("dir4/f1", "...", 0644),
                      T_DIR_OWNED("dir5", 0700, 1, 1), T_FILE_OWNED("dir5/f1", "...", 0644, 1, 1)) },
                { FS(FS_CHOWN("/dir2", 0, 0), FS_REMOVE_ALL("/dir3"), FS_CHOWN("/dir4", 1, 1),
                     FS_CHOWN("/dir4/f1", 1, 1)),
                  TAR(T_DIR("dir2", 0700), T_WHITEOUT("dir3"), T_DIR_OWNED("dir4", 0700, 1, 1),
                      T_FILE_OWNED("dir4/f1", "...", 0644, 1, 1)) },
                { FS(FS_MKDIR("/dir3", 0700), FS_CHOWN("/dir3", 1, 1), FS_REMOVE_ALL("/dir5"),
                     FS_MKDIR("/dir5", 0700), FS_CHOWN("/dir5", 1, 1)),
                  TAR(T_DIR_OWNED("dir3", 0700, 1, 1), T_DIR_OWNED("dir5", 0700, 1, 1), T_OPAQUE("dir5")) });
}

/* 13: a committed snapshot with a child cannot be removed; the chain then goes top down. */
TEST(RemoveIntermediateSnapshot) {
        const Layer layers[] = {
                { FS(FS_FILE("/base", "base\n", 0644), FS_MKDIR("/d", 0755), FS_FILE("/d/x", "x\n", 0644)),
                  TAR(T_FILE("base", "base\n", 0644), T_DIR("d", 0755), T_FILE("d/x", "x\n", 0644)) },
                { FS(FS_REMOVE_ALL("/base"), FS_REMOVE_ALL("/d/x"), FS_FILE("/inter", "inter\n", 0644)),
                  TAR(T_WHITEOUT("base"), T_DIR("d", 0755), T_WHITEOUT("d/x"), T_FILE("inter", "inter\n", 0644)) },
        };
        _cleanup_close_ int fd = make_tar(TAR(T_WHITEOUT("inter"), T_FILE("top", "top\n", 0644)));
        char *names[ELEMENTSOF(layers)];

        check_layers("inter", layers, ELEMENTSOF(layers), names);
        BT_ASSERT_OK(&bus, bt_prepare(&bus, "inter-top", names[1], NULL, NULL));
        BT_ASSERT_OK(&bus, at_apply_fd(&bus, "inter-top", fd, NULL, NULL));
        BT_ASSERT_ERROR(&bus, bt_remove(&bus, names[1]), "FailedPrecondition");
        BT_ASSERT_ERROR(&bus, bt_remove(&bus, names[0]), "FailedPrecondition");
        BT_ASSERT_OK(&bus, bt_remove(&bus, "inter-top"));
        remove_layers(names, ELEMENTSOF(layers));
}

/* 14: a whiteout in layer 2; layer 3 is an empty tar. */
TEST(DeletedFilesInChildSnapshot) {
        RUN_LAYERS("deleted",
                { FS(FS_FILE("/foo", "foo\n", 0777), FS_FILE("/foobar", "foobar\n", 0777)),
                  TAR(T_FILE("foo", "foo\n", 0777), T_FILE("foobar", "foobar\n", 0777)) },
                { FS(FS_REMOVE_ALL("/foobar")), TAR(T_WHITEOUT("foobar")) },
                { NO_FS, NO_TAR });
}

/* 15: dir1 removed, f1 re-created in dir3, dir2/f2 moved to dir3 (its link peer is gone,
 * so the diff carries it as a new file). */
TEST(MoveFileFromLowerLayer) {
        RUN_LAYERS("move",
                { FS(FS_MKDIR("/dir1", 0700), FS_FILE("/dir1/f1", "Hello", 0644), FS_MKDIR("/dir2", 0700),
                     FS_FILE("/dir2/f2", "...", 0644)),
                  TAR(T_DIR("dir1", 0700), T_FILE("dir1/f1", "Hello", 0644), T_DIR("dir2", 0700),
                      T_FILE("dir2/f2", "...", 0644)) },
                { FS(FS_MKDIR("/dir3", 0700), FS_FILE("/dir3/f1", "Hello", 0644), FS_REMOVE_ALL("/dir1"),
                     FS_LINK("/dir2/f2", "/dir3/f2"), FS_REMOVE_ALL("/dir2/f2")),
                  TAR(T_WHITEOUT("dir1"), T_DIR("dir2", 0700), T_WHITEOUT("dir2/f2"), T_DIR("dir3", 0700),
                      T_FILE("dir3/f1", "Hello", 0644), T_FILE("dir3/f2", "...", 0644)) });
}

/* Beyond containerd's suite: a whiteout and the same name again in one layer. The
 * whiteout removes the lower d, so the new d holds only what this layer puts there. */
TEST(WhiteoutAndRecreateInOneLayer) {
        RUN_LAYERS("recreate",
                { FS(FS_MKDIR("/d", 0755), FS_FILE("/d/old", "old\n", 0644), FS_FILE("/f", "old\n", 0644)),
                  TAR(T_DIR("d", 0755), T_FILE("d/old", "old\n", 0644), T_FILE("f", "old\n", 0644)) },
                { FS(FS_REMOVE_ALL("/d"), FS_MKDIR("/d", 0700), FS_FILE("/d/new", "new\n", 0644),
                     FS_REMOVE_ALL("/f"), FS_FILE("/f", "new\n", 0600)),
                  TAR(T_WHITEOUT("d"), T_DIR("d", 0700), T_FILE("d/new", "new\n", 0644),
                      T_WHITEOUT("f"), T_FILE("f", "new\n", 0600)) });
}

static const TestCase cases[] = {
        TEST_ENTRY(LayerFileupdate),
        TEST_ENTRY(RemoveDirectoryInLowerLayer),
        TEST_ENTRY(RemoveDirectoryInLowerLayerOpaqueLast),
        TEST_ENTRY(Chown),
        TEST_ENTRY(DirectoryPermissionOnCommit),
        TEST_ENTRY(RemoveIntermediateSnapshot),
        TEST_ENTRY(DeletedFilesInChildSnapshot),
        TEST_ENTRY(MoveFileFromLowerLayer),
        TEST_ENTRY(WhiteoutAndRecreateInOneLayer),
};

int main(int argc, char **argv) {
        unsigned n = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s SNAPSHOTTER [CASE...]\n", argv[0]);
                return 2;
        }
        snapshotter = argv[1];
        T = getenv("LAMINA_TEST_DIR");
        ASSERT_TRUE(T);
        umask(0); /* as containerd's suite: modes are exactly what the layers say */
        ASSERT_OK(bt_open(&bus, snapshotter));
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (!bt_case_selected(cases[i].name, argc, argv))
                        continue;
                cases[i].func();
                printf("ok %u - %s %s\n", ++n, snapshotter, cases[i].name);
                fflush(stdout);
        }
        bt_close(&bus);
        return 0;
}
