/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Mount, Unmount and ListMounts over the bus against the real laminad (run through
 * tests/integration/lib/run-test.sh: private system bus, laminad activated on demand,
 * everything mounted below $LAMINA_TEST_DIR unmounted afterwards). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "bus-test.h"
#include "macro.h"
#include "test-util.h"

static BusTest t;
static const char *test_dir;

static char *path_printf(const char *fmt, ...) _printf_(1, 2);
static char *path_printf(const char *fmt, ...) {
        va_list ap;
        char *p;

        va_start(ap, fmt);
        ASSERT_TRUE(vasprintf(&p, fmt, ap) >= 0);
        va_end(ap);
        return p;
}

static void write_file(const char *dir, const char *name, const char *content) {
        _cleanup_free_ char *p = path_printf("%s/%s", dir, name);
        FILE *f = fopen(p, "we");

        ASSERT_TRUE(f);
        ASSERT_TRUE(fputs(content, f) >= 0);
        ASSERT_TRUE(fclose(f) == 0);
}

static void expect_content(const char *dir, const char *name, const char *content) {
        _cleanup_free_ char *p = path_printf("%s/%s", dir, name);
        char buf[256] = "";
        FILE *f = fopen(p, "re");
        size_t n;

        if (!f) {
                fprintf(stderr, "cannot open %s: %m\n", p);
                abort();
        }
        n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        if (!streq(buf, content)) {
                fprintf(stderr, "%s: \"%s\" != \"%s\"\n", p, buf, content);
                abort();
        }
}

static int try_create(const char *dir) {
        _cleanup_free_ char *p = path_printf("%s/new-file", dir);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

        if (fd < 0)
                return -errno;
        close(fd);
        ASSERT_TRUE(unlink(p) == 0);
        return 0;
}

static bool exists(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0;
}

static char *mount_key(const char *key, const char *target) {
        char *path = NULL;

        BT_ASSERT_OK(&t, bt_mount(&t, key, target, NULL, &path));
        ASSERT_TRUE(path && path[0] == '/');
        return path;
}

typedef struct Mounted {
        char *key, *path;
        uint32_t owner;
        uint64_t usec;
} Mounted;

/* ListMounts; returns the number of entries, filling up to max of them. */
static size_t list_mounts(Mounted *ret, size_t max) {
        sd_bus_message *reply = NULL;
        const char *key, *path;
        uint32_t owner;
        uint64_t usec;
        size_t n = 0;
        int r;

        BT_ASSERT_OK(&t, bt_call(&t, NULL, BT_SNAPSHOTTER_IFACE, "ListMounts", &reply, NULL));
        ASSERT_TRUE(sd_bus_message_enter_container(reply, 'a', "(ssut)") >= 0);
        while ((r = sd_bus_message_read(reply, "(ssut)", &key, &path, &owner, &usec)) > 0) {
                if (n < max)
                        ret[n] = (Mounted) { strdup(key), strdup(path), owner, usec };
                n++;
        }
        ASSERT_TRUE(r == 0);
        sd_bus_message_unref(reply);
        return n;
}

static void mounted_clear(Mounted *m, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(m[i].key);
                free(m[i].path);
        }
}

static const Mounted *mounted_find(const Mounted *m, size_t n, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (streq(m[i].key, key))
                        return &m[i];
        return NULL;
}

/* Committed layers L0..L<n-1> written through Mount: f=<i> and u<i>=<i> in layer i. */
static void make_chain(size_t n) {
        for (size_t i = 0; i < n; i++) {
                char key[32], name[32], parent[32], num[32], u[32];
                _cleanup_free_ char *path = NULL;

                snprintf(key, sizeof key, "build-%zu", i);
                snprintf(name, sizeof name, "L%zu", i);
                snprintf(parent, sizeof parent, "L%zu", i - 1);
                snprintf(num, sizeof num, "%zu", i);
                snprintf(u, sizeof u, "u%zu", i);
                BT_ASSERT_OK(&t, bt_prepare(&t, key, i == 0 ? "" : parent, NULL, NULL));
                path = mount_key(key, NULL);
                write_file(path, "f", num);
                write_file(path, u, num);
                BT_ASSERT_OK(&t, bt_unmount(&t, key));
                ASSERT_TRUE(!exists(path)); /* the daemon removed its directory */
                BT_ASSERT_OK(&t, bt_commit(&t, name, key, NULL));
        }
}

/* A view of n layers, mounted by the daemon: topmost wins, every layer shows, read-only. */
static void check_view(size_t n) {
        char key[32], parent[32], num[32];
        _cleanup_free_ char *path = NULL;

        snprintf(key, sizeof key, "view-%zu", n);
        snprintf(parent, sizeof parent, "L%zu", n - 1);
        BT_ASSERT_OK(&t, bt_view(&t, key, parent, NULL, NULL));
        path = mount_key(key, NULL);
        snprintf(num, sizeof num, "%zu", n - 1);
        expect_content(path, "f", num);
        for (size_t i = 0; i < n; i++) {
                char u[32];
                snprintf(u, sizeof u, "u%zu", i);
                snprintf(num, sizeof num, "%zu", i);
                expect_content(path, u, num);
        }
        ASSERT_TRUE(try_create(path) == -EROFS);
        BT_ASSERT_OK(&t, bt_unmount(&t, key));
        BT_ASSERT_OK(&t, bt_remove(&t, key));
        printf("ok - view of %zu layers\n", n);
}

static void test_chains(void) {
        _cleanup_free_ char *path = NULL;
        struct timespec a, b;

        clock_gettime(CLOCK_MONOTONIC, &a);
        make_chain(500);
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("# built 500 layers through Mount in %.1f s\n",
               (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9);

        check_view(1);
        check_view(2);
        check_view(128);
        check_view(500);

        /* an active snapshot on 500 layers: 500 lowers and its upper */
        BT_ASSERT_OK(&t, bt_prepare(&t, "top", "L499", NULL, NULL));
        path = mount_key("top", NULL);
        expect_content(path, "f", "499");
        write_file(path, "f", "top");
        expect_content(path, "f", "top");
        BT_ASSERT_OK(&t, bt_unmount(&t, "top"));
        BT_ASSERT_OK(&t, bt_commit(&t, "L500", "top", NULL));

        /* the 501st layer exists; nothing on it can be viewed (and so mounted) */
        BT_ASSERT_ERROR(&t, bt_view(&t, "view-501", "L500", NULL, NULL), "InvalidArgument");
        ASSERT_TRUE(strstr(bt_error_string(&t), "500"));
        printf("ok - 501 layers refused: %s\n", bt_error_string(&t));
}

static void test_kinds_and_busy(void) {
        _cleanup_free_ char *path = NULL, *link = path_printf("%s/link", test_dir);
        _cleanup_free_ char *target = path_printf("%s/target", test_dir);
        _cleanup_free_ char *full = path_printf("%s/full", test_dir);

        BT_ASSERT_ERROR(&t, bt_mount(&t, "L0", NULL, NULL, NULL), "FailedPrecondition");
        BT_ASSERT_ERROR(&t, bt_mount(&t, "no-such-key", NULL, NULL, NULL), "NotFound");
        BT_ASSERT_ERROR(&t, bt_mount(&t, "L0", NULL, (char *[]) { (char *) "bogus", NULL }, NULL),
                        "InvalidArgument");

        BT_ASSERT_OK(&t, bt_prepare(&t, "busy", "L0", NULL, NULL));
        path = mount_key("busy", NULL);
        BT_ASSERT_ERROR(&t, bt_mount(&t, "busy", NULL, NULL, NULL), "Busy");
        BT_ASSERT_ERROR(&t, bt_remove(&t, "busy"), "Busy");
        BT_ASSERT_ERROR(&t, bt_commit(&t, "busy-c", "busy", NULL), "Busy");
        BT_ASSERT_OK(&t, bt_unmount(&t, "busy"));
        BT_ASSERT_ERROR(&t, bt_unmount(&t, "busy"), "NotFound");

        /* caller-chosen targets: absolute, a real directory, empty */
        ASSERT_TRUE(mkdir(target, 0755) == 0);
        ASSERT_TRUE(mkdir(full, 0755) == 0);
        write_file(full, "x", "x");
        ASSERT_TRUE(symlink(target, link) == 0);
        BT_ASSERT_ERROR(&t, bt_mount(&t, "busy", link, NULL, NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&t, bt_mount(&t, "busy", full, NULL, NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&t, bt_mount(&t, "busy", "relative", NULL, NULL), "InvalidArgument");
        free(path);
        path = mount_key("busy", target);
        ASSERT_TRUE(streq(path, target));
        expect_content(target, "f", "0");
        BT_ASSERT_OK(&t, bt_unmount(&t, "busy"));
        {
                _cleanup_free_ char *f = path_printf("%s/f", target);
                ASSERT_TRUE(exists(target) && !exists(f));
        }
        BT_ASSERT_OK(&t, bt_remove(&t, "busy"));
        printf("ok - kinds, busy and targets\n");
}

/* Snapshots of a non-root namespace are always mounted nosuid,nodev, even when root asks
 * (here through the namespace's own object, .../user/<uid>). */
static void test_user_namespace_nosuid_nodev(void) {
        _cleanup_free_ char *root_path = strdup(t.path), *user_path = path_printf("%s/user/4242", t.path);
        _cleanup_free_ char *upath = NULL, *rpath = NULL;
        struct statvfs sv;
        Mounted m[4] = {};
        size_t n;

        ASSERT_TRUE(root_path);
        BT_ASSERT_OK(&t, bt_prepare(&t, "same-key", "L1", NULL, NULL));
        rpath = mount_key("same-key", NULL);
        ASSERT_TRUE(statvfs(rpath, &sv) == 0);
        ASSERT_TRUE(!(sv.f_flag & ST_NOSUID) && !(sv.f_flag & ST_NODEV));

        BT_ASSERT_OK(&t, bt_set_path(&t, user_path));
        BT_ASSERT_OK(&t, bt_prepare(&t, "same-key", "L1", NULL, NULL)); /* root's L1 is visible */
        upath = mount_key("same-key", NULL);
        ASSERT_TRUE(!streq(upath, rpath));
        ASSERT_TRUE(statvfs(upath, &sv) == 0);
        ASSERT_TRUE((sv.f_flag & ST_NOSUID) && (sv.f_flag & ST_NODEV));
        expect_content(upath, "f", "1");

        n = list_mounts(m, ELEMENTSOF(m));
        ASSERT_TRUE(n == 1 && streq(m[0].path, upath) && m[0].owner == 4242);
        mounted_clear(m, n);
        BT_ASSERT_OK(&t, bt_unmount(&t, "same-key"));
        BT_ASSERT_OK(&t, bt_remove(&t, "same-key"));

        BT_ASSERT_OK(&t, bt_set_path(&t, root_path));
        n = list_mounts(m, ELEMENTSOF(m));
        ASSERT_TRUE(n == 1 && streq(m[0].path, rpath) && m[0].owner == 0);
        mounted_clear(m, n);
        BT_ASSERT_OK(&t, bt_unmount(&t, "same-key"));
        BT_ASSERT_OK(&t, bt_remove(&t, "same-key"));
        printf("ok - a user namespace's mounts are nosuid,nodev and listed apart\n");
}

static pid_t laminad_pid(void) {
        sd_bus_message *reply = NULL;
        uint32_t pid;
        int r;

        r = sd_bus_call_method(t.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "GetConnectionUnixProcessID", NULL, &reply, "s", BT_SERVICE);
        ASSERT_TRUE(r >= 0);
        ASSERT_TRUE(sd_bus_message_read(reply, "u", &pid) > 0);
        sd_bus_message_unref(reply);
        return (pid_t) pid;
}

static bool name_has_owner(void) {
        sd_bus_message *reply = NULL;
        int has = 0;

        ASSERT_TRUE(sd_bus_call_method(t.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s",
                                       BT_SERVICE) >= 0);
        ASSERT_TRUE(sd_bus_message_read(reply, "b", &has) > 0);
        sd_bus_message_unref(reply);
        return has;
}

static void test_survives_sigkill(void) {
        const char *keys[] = { "crash-a", "crash-b", "crash-c" };
        char *paths[3];
        Mounted m[8] = {};
        size_t n;
        pid_t pid;

        for (size_t i = 0; i < 3; i++) {
                BT_ASSERT_OK(&t, bt_prepare(&t, keys[i], "L1", NULL, NULL));
                paths[i] = mount_key(keys[i], NULL);
                write_file(paths[i], "mine", keys[i]);
        }

        pid = laminad_pid();
        ASSERT_TRUE(pid > 1);
        ASSERT_TRUE(kill(pid, SIGKILL) == 0);
        for (int i = 0; i < 600 && name_has_owner(); i++)
                usleep(50 * 1000);
        ASSERT_TRUE(!name_has_owner());

        /* the next call activates a new laminad, which keeps the live records */
        n = list_mounts(m, ELEMENTSOF(m));
        ASSERT_TRUE(laminad_pid() != pid);
        ASSERT_TRUE(n == 3);
        for (size_t i = 0; i < 3; i++) {
                const Mounted *x = mounted_find(m, n, keys[i]);
                ASSERT_TRUE(x);
                ASSERT_TRUE(streq(x->path, paths[i]));
                ASSERT_TRUE(x->owner == 0 && x->usec > 0);
                expect_content(paths[i], "mine", keys[i]);
                expect_content(paths[i], "f", "1");
        }
        mounted_clear(m, n);

        for (size_t i = 0; i < 3; i++) {
                BT_ASSERT_OK(&t, bt_unmount(&t, keys[i]));
                ASSERT_TRUE(!exists(paths[i]));
                BT_ASSERT_OK(&t, bt_remove(&t, keys[i]));
                free(paths[i]);
        }
        ASSERT_TRUE(list_mounts(m, ELEMENTSOF(m)) == 0);
        printf("ok - mounts survive a SIGKILLed laminad and unmount after it\n");
}

int main(void) {
        test_dir = getenv("LAMINA_TEST_DIR");
        ASSERT_TRUE(test_dir);
        BT_ASSERT_OK(&t, bt_open(&t, "overlayfs"));

        test_chains();
        test_kinds_and_busy();
        test_user_namespace_nosuid_nodev();
        test_survives_sigkill();

        bt_close(&t);
        return 0;
}
