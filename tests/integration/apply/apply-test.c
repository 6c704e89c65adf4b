/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apply-test.h"
#include "strutil.h"
#include "test-util.h"

#define HASH_MAX_SIZE (64u << 20) /* bigger files are described by their size */

int at_apply_fd(BusTest *t, const char *key, int fd, const char *expected_diff_id, char **ret_diff_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *diff_id;
        uint64_t bytes, entries;
        int r;

        if (expected_diff_id)
                r = bt_call(t, NULL, BT_SNAPSHOTTER_IFACE, "Apply", &reply, "sha{sv}", key, fd, 1,
                            "expected-diff-id", "s", expected_diff_id);
        else
                r = bt_call(t, NULL, BT_SNAPSHOTTER_IFACE, "Apply", &reply, "sha{sv}", key, fd, 0);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "stt", &diff_id, &bytes, &entries);
        if (r < 0)
                return r;
        if (ret_diff_id) {
                *ret_diff_id = strdup(diff_id);
                if (!*ret_diff_id)
                        return -ENOMEM;
        }
        return 0;
}

int at_apply_file(BusTest *t, const char *key, const char *path, char **ret_diff_id) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return at_apply_fd(t, key, fd, NULL, ret_diff_id);
}

/* The subvolume ID of the directory fd is in (BTRFS_IOC_INO_LOOKUP of its root). */
static int btrfs_subvol_id_of(int fd, uint64_t *ret) {
        struct btrfs_ioctl_ino_lookup_args args = { .objectid = BTRFS_FIRST_FREE_OBJECTID };

        if (ioctl(fd, BTRFS_IOC_INO_LOOKUP, &args) < 0)
                return -errno;
        *ret = args.treeid;
        return 0;
}

/* The entry of $LAMINA_TEST_DIR/state/btrfs/snapshots that is subvolume `subvolid=N`. */
static char *btrfs_data_dir(const MountSpec *m) {
        _cleanup_free_ char *dir = strdup_printf("%s/state/btrfs/snapshots", getenv("LAMINA_TEST_DIR") ?: "");
        _cleanup_strv_free_ char **names = NULL;
        uint64_t want = 0;

        for (char **o = m->options; o && *o; o++)
                if (strncmp(*o, "subvolid=", 9) == 0)
                        want = strtoull(*o + 9, NULL, 10);
        if (!dir || want == 0 || at_list_prefixed(dir, "", &names) < 0)
                return NULL;
        for (char **n = names; *n; n++) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", dir, *n);
                _cleanup_close_ int fd = p ? open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -EBADF;
                uint64_t id;

                if (fd >= 0 && btrfs_subvol_id_of(fd, &id) >= 0 && id == want)
                        return TAKE_PTR(p);
        }
        return NULL;
}

char *at_data_dir(const MountSpecList *specs) {
        const MountSpec *m;

        if (specs->n != 1)
                return NULL;
        m = &specs->items[0];
        if (streq(m->type, "btrfs"))
                return btrfs_data_dir(m);
        if (!streq(m->type, "overlay"))
                return strdup(m->source);
        for (char **o = m->options; o && *o; o++)
                if (strncmp(*o, "upperdir=", 9) == 0)
                        return strdup(*o + 9);
        return NULL;
}

char *at_prepare(BusTest *t, const char *key, const char *parent, const char *layer) {
        _cleanup_(mount_spec_list_clear) MountSpecList specs = {};
        char *data;

        BT_ASSERT_OK(t, bt_prepare(t, key, parent, NULL, &specs));
        data = at_data_dir(&specs);
        ASSERT_TRUE(data);
        if (layer)
                BT_ASSERT_OK(t, at_apply_file(t, key, layer, NULL));
        return data;
}

typedef struct Lines {
        char **items;
        size_t n, cap;
} Lines;

static void lines_done(Lines *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i]);
        free(l->items);
}

/* Adds s (taken); NULL only terminates the list, for strv_join(). */
static int lines_push(Lines *l, char *s) {
        if (l->n + 1 >= l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 64;
                char **n = realloc(l->items, cap * sizeof *n);
                if (!n) {
                        free(s);
                        return -ENOMEM;
                }
                l->items = n;
                l->cap = cap;
        }
        l->items[l->n] = s;
        if (s)
                l->n++;
        return 0;
}

static bool in_list(const char *const *list, const char *s) {
        for (; list && *list; list++)
                if (streq(*list, s))
                        return true;
        return false;
}

/* FNV-1a over the content; "-" for files too big to hash. */
static int content_hash(int dir_fd, const char *name, const struct stat *st, char out[static 20]) {
        _cleanup_close_ int fd = -EBADF;
        uint64_t h = UINT64_C(14695981039346656037);
        uint8_t buf[65536];
        ssize_t n;

        if ((uint64_t) st->st_size > HASH_MAX_SIZE) {
                strcpy(out, "-");
                return 0;
        }
        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        while ((n = read(fd, buf, sizeof buf)) > 0)
                for (ssize_t i = 0; i < n; i++)
                        h = (h ^ buf[i]) * UINT64_C(1099511628211);
        if (n < 0)
                return -errno;
        snprintf(out, 20, "%016llx", (unsigned long long) h);
        return 0;
}

/* no_times: 1 leaves out the ctime, 2 the mtime too; 3 the ctime and the inode number. */
static char *describe(int dir_fd, const char *name, const char *rel, const struct stat *st, bool names_only,
                      int no_times) {
        char extra[PATH_MAX + 32] = "";

        if (names_only)
                return strdup_printf("%s type=%o", rel, st->st_mode & S_IFMT);
        if (S_ISLNK(st->st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlinkat(dir_fd, name, target, sizeof target - 1);
                if (n < 0)
                        return NULL;
                target[n] = 0;
                snprintf(extra, sizeof extra, " -> %s", target);
        } else if (S_ISREG(st->st_mode)) {
                char h[20];
                if (content_hash(dir_fd, name, st, h) < 0)
                        return NULL;
                snprintf(extra, sizeof extra, " content=%s", h);
        }
        return strdup_printf("%s mode=%o uid=%u gid=%u size=%lld nlink=%lu ino=%lu rdev=%u:%u mtime=%lld.%09ld ctime=%lld.%09ld%s",
                             rel, st->st_mode, st->st_uid, st->st_gid, (long long) st->st_size,
                             (unsigned long) st->st_nlink, no_times == 3 ? 0UL : (unsigned long) st->st_ino,
                             major(st->st_rdev), minor(st->st_rdev),
                             no_times == 2 ? 0LL : (long long) st->st_mtim.tv_sec, no_times == 2 ? 0L : st->st_mtim.tv_nsec,
                             no_times >= 1 ? 0LL : (long long) st->st_ctim.tv_sec, no_times >= 1 ? 0L : st->st_ctim.tv_nsec,
                             extra);
}

static int walk(int dir_fd, const char *rel, const ManifestOptions *o, Lines *out) {
        _cleanup_close_ int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);
        while (r >= 0 && (de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                path = *rel ? strdup_printf("%s/%s", rel, de->d_name) : strdup(de->d_name);
                if (!path) {
                        r = -ENOMEM;
                        break;
                }
                if (in_list(o->skip, path))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                char *line = describe(dirfd(d), de->d_name, path, &st, in_list(o->names_only, path),
                                      o->content_only ? 3 : 0);
                r = line ? lines_push(out, line) : -EIO; /* readlink, read or allocation failed */
                if (r >= 0 && S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub = openat(dirfd(d), de->d_name,
                                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        r = sub < 0 ? -errno : walk(sub, path, o, out);
                }
        }
        closedir(d);
        return r;
}

static int line_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int manifest_take(const char *root, const ManifestOptions *o, char **ret) {
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_(lines_done) Lines l = {};
        static const ManifestOptions none = {};
        struct stat st;
        char *s;
        int r;

        o = o ?: &none;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        s = describe(AT_FDCWD, root, ".", &st, false,
                     o->ignore_root_times ? 2 : o->content_only ? 3 : o->ignore_root_ctime ? 1 : 0);
        r = s ? lines_push(&l, s) : -EIO;
        if (r < 0)
                return r;
        r = walk(fd, "", o, &l);
        if (r < 0)
                return r;
        qsort(l.items, l.n, sizeof *l.items, line_cmp);
        r = lines_push(&l, NULL);
        if (r < 0)
                return r;
        s = strv_join(l.items, "\n");
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* The line starting at p, up to the newline. */
static void print_line(const char *prefix, const char *p) {
        fprintf(stderr, "%s%.*s\n", prefix, (int) strcspn(p, "\n"), p);
}

int manifest_compare(const char *what, const char *before, const char *after) {
        const char *a = before, *b = after;

        if (streq(before, after))
                return 0;
        /* Skip the common lines, then show where they part. */
        for (;;) {
                size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
                if (la != lb || strncmp(a, b, la) != 0)
                        break;
                a += la + !!a[la];
                b += lb + !!b[lb];
        }
        fprintf(stderr, "%s changed:\n", what);
        print_line("  before: ", *a ? a : "(nothing more)");
        print_line("  after:  ", *b ? b : "(nothing more)");
        return -1;
}

int at_run(char *const *argv) {
        pid_t pid = fork();
        int status;

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execvp(argv[0], argv);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int at_open_beneath(int dir_fd, const char *path, int flags) {
        struct open_how how = {
                .flags = (flags ?: O_PATH) | O_NOFOLLOW | O_CLOEXEC,
                .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int) syscall(SYS_openat2, dir_fd, path, &how, sizeof how);

        return fd < 0 ? -errno : fd;
}

int at_list_prefixed(const char *dir, const char *prefix, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        struct dirent *de;
        DIR *d = opendir(dir);
        int r = 0;

        if (!d)
                return -errno;
        while (r >= 0 && (de = readdir(d)))
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && !streq(de->d_name, ".") &&
                    !streq(de->d_name, ".."))
                        r = strv_extend(&l, de->d_name);
        closedir(d);
        if (r < 0)
                return r;
        if (!l) {
                l = calloc(1, sizeof *l);
                if (!l)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

size_t at_wait_empty(const char *dir, unsigned max_ms) {
        for (unsigned waited = 0;; waited += 50) {
                _cleanup_strv_free_ char **left = NULL;

                ASSERT_OK(at_list_prefixed(dir, "", &left));
                if (!left[0] || waited >= max_ms)
                        return strv_length(left);
                at_sleep_ms(50);
        }
}

void at_ustar_header(char h[static 512], const char *name, char typeflag, mode_t mode, uint64_t size, uint64_t mtime) {
        unsigned sum = 0;

        assert(strlen(name) < 100);
        memset(h, 0, 512);
        snprintf(h, 100, "%s", name);
        snprintf(h + 100, 8, "%07o", (unsigned) mode & 07777);
        snprintf(h + 108, 8, "%07o", 0);
        snprintf(h + 116, 8, "%07o", 0);
        snprintf(h + 124, 12, "%011llo", (unsigned long long) (size & 077777777777ULL));
        snprintf(h + 136, 12, "%011llo", (unsigned long long) mtime);
        h[156] = typeflag;
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        memset(h + 148, ' ', 8);
        for (int i = 0; i < 512; i++)
                sum += (unsigned char) h[i];
        snprintf(h + 148, 8, "%06o", sum);
}

void at_write_all(int fd, const void *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k <= 0) {
                        fprintf(stderr, "write: %m\n");
                        abort();
                }
                p = (const char *) p + k;
                n -= (size_t) k;
        }
}

int at_laminad_pid(BusTest *t, pid_t *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint32_t pid;
        int r;

        r = sd_bus_call_method(t->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "GetConnectionUnixProcessID", &error, &reply, "s", BT_SERVICE);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "u", &pid);
        if (r < 0)
                return r;
        *ret = (pid_t) pid;
        return 0;
}

static int on_apply_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        AtReply *r = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        r->done = true;
        r->error = strdup(e ? e->name : "(success)");
        r->message = strdup(e && e->message ? e->message : "");
        return 0;
}

int at_apply_async(BusTest *t, const char *key, int fd, AtReply *r) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int k;

        *r = (AtReply) {};
        k = sd_bus_message_new_method_call(t->bus, &m, BT_SERVICE, t->path, BT_SNAPSHOTTER_IFACE, "Apply");
        if (k >= 0)
                k = sd_bus_message_append(m, "sha{sv}", key, fd, 0);
        if (k >= 0)
                k = sd_bus_call_async(t->bus, NULL, m, on_apply_reply, r, UINT64_MAX);
        if (k >= 0)
                k = sd_bus_flush(t->bus);
        return k < 0 ? k : 0;
}

static uint64_t now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int at_reply_wait(BusTest *t, AtReply *r, unsigned max_ms) {
        /* by the clock: many queued messages (ApplyProgress) are processed one per call */
        for (uint64_t end = now_ms() + max_ms; !r->done;) {
                int k;

                if (now_ms() >= end)
                        return -ETIMEDOUT;
                k = sd_bus_process(t->bus, NULL);
                if (k < 0)
                        return k;
                if (k == 0) {
                        k = sd_bus_wait(t->bus, 100000);
                        if (k < 0)
                                return k;
                }
        }
        return 0;
}

void at_sleep_ms(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        (void) nanosleep(&ts, NULL);
}

char at_pid_state(pid_t pid) {
        _cleanup_free_ char *p = strdup_printf("/proc/%d/stat", pid);
        char buf[512], *s;
        FILE *f;

        f = p ? fopen(p, "re") : NULL;
        if (!f)
                return 0;
        s = fgets(buf, sizeof buf, f);
        fclose(f);
        s = s ? strrchr(buf, ')') : NULL;
        return s && s[1] == ' ' ? s[2] : 0;
}

bool at_pid_dead(pid_t pid) {
        char state = at_pid_state(pid);

        return state == 0 || state == 'Z' || state == 'X';
}

bool at_name_has_owner(BusTest *t) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int has = 0;

        if (sd_bus_call_method(t->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", NULL, &reply, "s", BT_SERVICE) < 0 ||
            sd_bus_message_read(reply, "b", &has) < 0) {
                fprintf(stderr, "NameHasOwner failed\n");
                abort();
        }
        return has;
}

void at_kill_laminad(BusTest *t, pid_t pid) {
        if (kill(pid, SIGKILL) < 0 && errno != ESRCH) {
                fprintf(stderr, "kill %d: %m\n", pid);
                abort();
        }
        for (int i = 0; i < 600 && (!at_pid_dead(pid) || at_name_has_owner(t)); i++)
                at_sleep_ms(50);
        if (!at_pid_dead(pid) || at_name_has_owner(t)) {
                fprintf(stderr, "laminad %d did not die\n", pid);
                abort();
        }
}

/* The PIDs in /proc/PID/task/TID/children of every thread. */
size_t at_children_of(pid_t pid, pid_t *out, size_t max) {
        _cleanup_free_ char *dir = strdup_printf("/proc/%d/task", pid);
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        ASSERT_TRUE(dir);
        d = opendir(dir);
        if (!d)
                return 0;
        while ((de = readdir(d))) {
                _cleanup_free_ char *f = strdup_printf("%s/%s/children", dir, de->d_name);
                FILE *c;
                int child;

                if (de->d_name[0] == '.' || !f || !(c = fopen(f, "re")))
                        continue;
                while (n < max && fscanf(c, "%d", &child) == 1)
                        out[n++] = child;
                fclose(c);
        }
        closedir(d);
        return n;
}

uint64_t at_rss_kib(pid_t pid) {
        _cleanup_free_ char *p = strdup_printf("/proc/%d/status", pid);
        char line[256];
        uint64_t kib = 0;
        FILE *f;

        ASSERT_TRUE(p);
        f = fopen(p, "re");
        ASSERT_TRUE(f);
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmRSS: %" SCNu64 " kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

uint64_t at_rss_settled_kib(pid_t pid, uint64_t want) {
        uint64_t rss = at_rss_kib(pid);

        /* A baseline (want 0) reads 2 s long; a bound waits up to 10 s on a loaded machine. */
        for (int i = 0; i < (want > 0 ? 100 : 20) && rss > want; i++) {
                at_sleep_ms(100);
                rss = at_rss_kib(pid);
        }
        return rss;
}
