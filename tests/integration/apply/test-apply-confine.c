/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The confinement of the Apply parser, checked from outside while it waits in the middle
 * of a layer (it reads from a pipe this test holds open): laminad's child is lamina-unpack,
 * whose children are the writer and the parser. The parser must be nobody with no
 * capability (effective, permitted, bounding), NoNewPrivs and a seccomp filter; PID 1 of
 * its own PID namespace and in its own user, mount, network and IPC namespaces; see
 * one mount (its empty read-only tmpfs root); hold exactly three fds (our pipe, its socket
 * to the writer, its report pipe); and run under its address-space, CPU and file-size
 * limits. Then the rest of the layer arrives and the Apply succeeds. A helper SIGKILLed
 * mid-Apply takes its children along and leaves the snapshot as it was. laminad itself maps
 * none of the libraries that read layers (libarchive, zlib, libseccomp).
 *
 *   test-apply-confine SNAPSHOTTER
 *
 * Run under tests/integration/lib/run-test.sh. */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply-test.h"
#include "strutil.h"
#include "test-util.h"

static BusTest bus;
static const char *snapshotter;

/* The value of a "Name:\tvalue" line of /proc/PID/status (tabs kept), or NULL. */
static char *status_field(pid_t pid, const char *name) {
        _cleanup_free_ char *p = strdup_printf("/proc/%d/status", pid);
        char line[512], *v = NULL;
        size_t n = strlen(name);
        FILE *f;

        ASSERT_TRUE(p);
        f = fopen(p, "re");
        if (!f)
                return NULL;
        while (!v && fgets(line, sizeof line, f))
                if (strncmp(line, name, n) == 0 && line[n] == ':') {
                        line[strcspn(line, "\n")] = 0;
                        v = strdup(line + n + 1 + strspn(line + n + 1, "\t "));
                }
        fclose(f);
        return v;
}

static char *read_text(const char *path) {
        _cleanup_free_ char *buf = malloc(65536);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        ASSERT_TRUE(buf && fd >= 0);
        n = read(fd, buf, 65535);
        close(fd);
        ASSERT_TRUE(n >= 0);
        buf[n] = 0;
        return TAKE_PTR(buf);
}

static char *comm_of(pid_t pid) {
        _cleanup_free_ char *p = strdup_printf("/proc/%d/comm", pid);
        char *s = read_text(p);

        s[strcspn(s, "\n")] = 0;
        return s;
}

static char *ns_of(pid_t pid, const char *ns) {
        _cleanup_free_ char *p = pid > 0 ? strdup_printf("/proc/%d/ns/%s", pid, ns) : strdup_printf("/proc/self/ns/%s", ns);
        char buf[128];
        ssize_t n = readlink(p, buf, sizeof buf - 1);

        ASSERT_TRUE(n > 0);
        buf[n] = 0;
        return strdup(buf);
}

static void expect_field(const char *who, pid_t pid, const char *name, const char *want) {
        _cleanup_free_ char *v = status_field(pid, name);

        printf("# %s %s: %s\n", who, name, v ?: "(none)");
        if (!v || !streq(v, want)) {
                fprintf(stderr, "%s %s is \"%s\", expected \"%s\"\n", who, name, v ?: "(none)", want);
                abort();
        }
}

/* The fds of pid: "N -> target" lines; how many. */
static size_t list_fds(const char *who, pid_t pid, char targets[][128], size_t max) {
        _cleanup_free_ char *dir = strdup_printf("/proc/%d/fd", pid);
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        ASSERT_TRUE(dir);
        ASSERT_OK(at_list_prefixed(dir, "", &l));
        for (char **i = l; *i && n < max; i++, n++) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", dir, *i);
                ssize_t k = readlink(p, targets[n], 127);
                ASSERT_TRUE(k > 0);
                targets[n][k] = 0;
                printf("# %s fd %s -> %s\n", who, *i, targets[n]);
        }
        return strv_length(l);
}

/* laminad -> lamina-unpack -> {writer, parser}: the parser is the one in its own PID
 * namespace (NSpid ends in 1). */
static void find_helper(pid_t laminad, pid_t *ret_helper, pid_t *ret_parser, pid_t *ret_writer) {
        pid_t kids[8], grandkids[8];
        size_t n, m;

        for (int i = 0; i < 200; i++) {
                n = at_children_of(laminad, kids, ELEMENTSOF(kids));
                for (size_t k = 0; k < n; k++) {
                        _cleanup_free_ char *comm = comm_of(kids[k]);
                        if (!streq(comm, "lamina-unpack"))
                                continue;
                        m = at_children_of(kids[k], grandkids, ELEMENTSOF(grandkids));
                        if (m != 2)
                                continue;
                        *ret_helper = kids[k];
                        *ret_parser = *ret_writer = 0;
                        for (size_t g = 0; g < m; g++) {
                                _cleanup_free_ char *nspid = status_field(grandkids[g], "NSpid");
                                if (nspid && strstr(nspid, "\t1") && strlen(strstr(nspid, "\t1")) == 2)
                                        *ret_parser = grandkids[g];
                                else
                                        *ret_writer = grandkids[g];
                        }
                        if (*ret_parser > 0 && *ret_writer > 0)
                                return;
                }
                at_sleep_ms(50);
        }
        fprintf(stderr, "no lamina-unpack with a parser and a writer below laminad %d\n", laminad);
        abort();
}

/* What every confined process of an Apply shows once its seccomp filter is on (the last
 * step: from then on, it is what it stays): the capabilities caps (hex) effective,
 * permitted and bounding, none ambient, NoNewPrivs, the filter, and each of namespaces
 * (NULL-terminated) its own, not ours. */
static void check_confined(const char *who, pid_t pid, const char *caps, const char *const *namespaces) {
        for (int i = 0; i < 200; i++) {
                _cleanup_free_ char *seccomp = status_field(pid, "Seccomp");
                if (seccomp && streq(seccomp, "2"))
                        break;
                at_sleep_ms(50);
        }
        expect_field(who, pid, "CapEff", caps);
        expect_field(who, pid, "CapPrm", caps);
        expect_field(who, pid, "CapBnd", caps);
        expect_field(who, pid, "CapAmb", "0000000000000000");
        expect_field(who, pid, "NoNewPrivs", "1");
        expect_field(who, pid, "Seccomp", "2");
        for (const char *const *ns = namespaces; *ns; ns++) {
                _cleanup_free_ char *mine = ns_of(0, *ns), *its = ns_of(pid, *ns);
                printf("# %s ns %s (ours %s)\n", who, its, mine);
                ASSERT_TRUE(!streq(mine, its));
        }
}

static void check_parser(pid_t parser, int layer_pipe) {
        _cleanup_free_ char *mountinfo = NULL, *limits = NULL, *p = NULL, *pipe_name = NULL;
        char fds[8][128];
        struct stat st;
        size_t n, lines = 0;
        unsigned pipes = 0;

        check_confined("parser", parser, "0000000000000000",
                       (const char *const[]) { "user", "mnt", "net", "ipc", "pid", NULL });
        expect_field("parser", parser, "Uid", "65534\t65534\t65534\t65534");
        expect_field("parser", parser, "Gid", "65534\t65534\t65534\t65534");
        expect_field("parser", parser, "Groups", "");

        /* One mount: the empty tmpfs, read-only; nothing leads to the host's tree. */
        p = strdup_printf("/proc/%d/mountinfo", parser);
        mountinfo = read_text(p);
        printf("# parser mountinfo: %s", mountinfo);
        for (const char *s = mountinfo; *s; s++)
                lines += *s == '\n';
        ASSERT_TRUE(lines == 1);
        ASSERT_TRUE(strstr(mountinfo, " / / ro,") && strstr(mountinfo, " - tmpfs "));

        /* Three fds: the layer (our pipe, or the pipe of laminad's stall relay), its
         * socket to the writer, its report pipe. Nothing that leads to a file system. */
        ASSERT_OK(RET_NERRNO(fstat(layer_pipe, &st)));
        pipe_name = strdup_printf("pipe:[%lu]", (unsigned long) st.st_ino);
        n = list_fds("parser", parser, fds, ELEMENTSOF(fds));
        ASSERT_TRUE(n == 3);
        for (size_t i = 0; i < n; i++) {
                ASSERT_TRUE(strncmp(fds[i], "pipe:[", 6) == 0 || strncmp(fds[i], "socket:[", 8) == 0);
                pipes += strncmp(fds[i], "pipe:[", 6) == 0;
                if (streq(fds[i], pipe_name))
                        printf("# parser reads our pipe directly\n");
        }
        ASSERT_TRUE(pipes == 2);

        free(p);
        p = strdup_printf("/proc/%d/limits", parser);
        limits = read_text(p);
        printf("%s", limits);
        ASSERT_TRUE(strstr(limits, "Max cpu time              1800                 1802"));
        ASSERT_TRUE(strstr(limits, "Max file size             0                    0"));
        ASSERT_TRUE(strstr(limits, "Max core file size        0                    0"));
#if !defined(__SANITIZE_ADDRESS__)
        ASSERT_TRUE(strstr(limits, "Max address space         1073741824           1073741824"));
#endif
}

/* lamina-unpack itself, once its children run: only the capabilities committing takes
 * (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SYS_ADMIN for trusted.* xattrs, SETFCAP, and
 * MKNOD for the device nodes the writer asks for: root's layers may carry them), in the
 * bounding set too, NoNewPrivs and a seccomp filter; no network nor System V IPC of the
 * host. */
static void check_helper(pid_t helper) {
        check_confined("lamina-unpack", helper, "000000008820003b", (const char *const[]) { "net", "ipc", NULL });
}

/* The writer: in a user namespace of its own that maps every id onto itself, with only
 * the capabilities writing a layer takes (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SETFCAP)
 * and those of that namespace, not of the host (no MKNOD: it asks lamina-unpack for
 * device nodes), NoNewPrivs and a seccomp filter, its own mount, network and IPC
 * namespaces, chrooted into the staging directory; Landlock confines it to that
 * directory (it checks that itself before it reads a byte, and fails the Apply
 * otherwise: the Apply succeeding proves it; its ruleset fd is closed by then). Its fds
 * are that directory, its socket from the parser, its socket for device nodes and its
 * report memfd: none of the snapshot's lower layers, nor the snapshot itself, nor
 * anything that leads out (".." of its root is its root). */
static void check_writer(pid_t writer) {
        _cleanup_free_ char *p = NULL, *root = NULL, *mountinfo = NULL, *map = NULL;
        char fds[8][128];
        unsigned sockets = 0, memfds = 0, dirs = 0;
        size_t n;

        check_confined("writer", writer, "000000008000001b", (const char *const[]) { "user", "mnt", "net", "ipc", NULL });
        for (size_t i = 0; i < 2; i++) {
                free(p);
                p = strdup_printf("/proc/%d/%s", writer, i == 0 ? "uid_map" : "gid_map");
                free(map);
                map = read_text(p);
                printf("# writer %s: %s", i == 0 ? "uid_map" : "gid_map", map);
                ASSERT_TRUE(streq(map, "         0          0 4294967295\n"));
        }

        n = list_fds("writer", writer, fds, ELEMENTSOF(fds));
        ASSERT_TRUE(n >= 3 && n < ELEMENTSOF(fds));
        free(p);
        p = strdup_printf("/proc/%d/root", writer);
        root = realpath(p, NULL);
        ASSERT_TRUE(root);
        printf("# writer root: %s\n", root);
        ASSERT_TRUE(strstr(root, "/.lamina-apply-"));
        for (size_t i = 0; i < n; i++) {
                bool socket = strncmp(fds[i], "socket:[", 8) == 0;
                bool memfd = strncmp(fds[i], "/memfd:lamina-layer-report", 26) == 0;
                bool in_root = strncmp(fds[i], root, strlen(root)) == 0 &&
                               (fds[i][strlen(root)] == 0 || fds[i][strlen(root)] == '/');

                /* anything else is a file of the layer it is still writing; no
                 * anon_inode:landlock-ruleset left either */
                ASSERT_TRUE(socket || memfd || in_root);
                sockets += socket;
                memfds += memfd;
                dirs += streq(fds[i], root);
        }
        ASSERT_TRUE(sockets == 2 && memfds == 1 && dirs == 1);

        /* It sees no mount but what its root is on (mount points outside its root are
         * not shown to it). */
        free(p);
        p = strdup_printf("/proc/%d/mountinfo", writer);
        mountinfo = read_text(p);
        printf("# writer mountinfo: %s\n", mountinfo);
        for (const char *l = mountinfo; *l; l = strchr(l, '\n') + 1) {
                const char *f = l;
                for (int k = 0; k < 4; k++)
                        f = strchr(f, ' ') + 1;
                ASSERT_TRUE(strncmp(f, "/ ", 2) == 0);
        }
}

/* A regular file entry of a tar stream (content shorter than a block): header, content,
 * padding. */
static void write_entry(int fd, const char *name, const char *content) {
        char h[512], pad[512] = {};
        size_t n = strlen(content);

        assert(n < sizeof pad);
        at_ustar_header(h, name, '0', 0644, n, 1700000000);
        at_write_all(fd, h, sizeof h);
        at_write_all(fd, content, n);
        at_write_all(fd, pad, sizeof pad - n);
}

/* Starts an Apply into key from a new pipe p and sends one entry: the parser then waits
 * for the next header. Finds laminad's lamina-unpack, its parser and its writer. */
static void apply_one_entry(const char *key, int p[2], AtReply *reply, pid_t *ret_helper, pid_t *ret_parser,
                            pid_t *ret_writer) {
        pid_t laminad;

        ASSERT_OK(RET_NERRNO(pipe2(p, O_CLOEXEC)));
        ASSERT_OK(at_apply_async(&bus, key, p[0], reply));
        write_entry(p[1], "first", "first\n");
        ASSERT_OK(at_laminad_pid(&bus, &laminad));
        find_helper(laminad, ret_helper, ret_parser, ret_writer);
        printf("# laminad %d -> lamina-unpack %d -> parser %d, writer %d\n", laminad, *ret_helper, *ret_parser,
               *ret_writer);
}

TEST(parser_confined_mid_apply) {
        _cleanup_free_ char *data = NULL, *second = NULL;
        AtReply reply;
        pid_t helper, parser, writer;
        char end[1024] = {}, buf[16] = "";
        int p[2], fd;

        data = at_prepare(&bus, "confined", "", NULL);

        apply_one_entry("confined", p, &reply, &helper, &parser, &writer);
        check_parser(parser, p[0]);
        check_helper(helper);
        check_writer(writer);
        close(p[0]);

        /* The rest: the Apply completes. */
        write_entry(p[1], "second", "second\n");
        at_write_all(p[1], end, sizeof end);
        close(p[1]);
        ASSERT_OK(at_reply_wait(&bus, &reply, 60000));
        printf("# the Apply: %s\n", reply.error);
        ASSERT_STREQ(reply.error, "(success)");
        free(reply.error);
        free(reply.message);
        second = strdup_printf("%s/second", data);
        fd = open(second, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(read(fd, buf, sizeof buf) == 7 && memcmp(buf, "second\n", 7) == 0);
        close(fd);
}

/* The helper SIGKILLed mid-Apply: the Apply fails, the parser and the writer die with it,
 * the snapshot is as it was. */
TEST(killed_helper_leaves_nothing) {
        _cleanup_free_ char *data = NULL, *before = NULL, *after = NULL;
        const ManifestOptions mo = { .ignore_root_times = true };
        pid_t helper, parser, writer;
        AtReply reply;
        int p[2];

        data = at_prepare(&bus, "killed", "", NULL);
        ASSERT_OK(manifest_take(data, &mo, &before));

        apply_one_entry("killed", p, &reply, &helper, &parser, &writer);
        ASSERT_OK(RET_NERRNO(kill(helper, SIGKILL)));
        ASSERT_OK(at_reply_wait(&bus, &reply, 60000));
        printf("# the Apply of a killed helper: %s: %s\n", reply.error, reply.message);
        ASSERT_TRUE(!streq(reply.error, "(success)"));
        for (int i = 0; i < 200 && !(at_pid_dead(parser) && at_pid_dead(writer)); i++)
                at_sleep_ms(50);
        ASSERT_TRUE(at_pid_dead(parser) && at_pid_dead(writer));
        ASSERT_OK(manifest_take(data, &mo, &after));
        ASSERT_TRUE(manifest_compare("the killed helper's snapshot", before, after) == 0);
        free(reply.error);
        free(reply.message);
        close(p[0]);
        close(p[1]);
}

/* The daemon maps none of the libraries that read layers. */
TEST(laminad_maps_no_layer_library) {
        _cleanup_free_ char *path = NULL, *maps = NULL;
        pid_t laminad;

        ASSERT_OK(at_laminad_pid(&bus, &laminad));
        path = strdup_printf("/proc/%d/maps", laminad);
        maps = read_text(path);
        printf("# laminad maps libcrypto: %s, libzstd: %s (through libsystemd)\n",
               strstr(maps, "libcrypto") ? "yes" : "no", strstr(maps, "libzstd") ? "yes" : "no");
        ASSERT_TRUE(!strstr(maps, "libarchive"));
        ASSERT_TRUE(!strstr(maps, "/libz.so"));
        ASSERT_TRUE(!strstr(maps, "libseccomp"));
}

int main(int argc, char *argv[]) {
        static const TestCase cases[] = {
                TEST_ENTRY(parser_confined_mid_apply),
                TEST_ENTRY(killed_helper_leaves_nothing),
                TEST_ENTRY(laminad_maps_no_layer_library),
        };
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: %s SNAPSHOTTER\n", argv[0]);
                return 2;
        }
        snapshotter = argv[1];
        signal(SIGPIPE, SIG_IGN);
        ASSERT_OK(bt_open(&bus, snapshotter));
        r = test_run_all(cases, ELEMENTSOF(cases));
        bt_close(&bus);
        return r;
}
