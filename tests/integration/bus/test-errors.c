/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Error NAMES for the edge cases of containerd's Snapshotter (reference §1.5) and API.md,
 * the bus policy for unprivileged callers, and idle exit with re-activation.
 *
 *   test-errors [SNAPSHOTTER]        every error case, the policy cases as nobody
 *   test-errors --idle [SNAPSHOTTER] laminad started with --idle-timeout 2 exits and is
 *                                    re-activated with its state intact; it stays while a
 *                                    connection muted its own signals (Monitor.Mute)
 *
 * Run under tests/integration/lib/run-test.sh. */

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "bus-test.h"
#include "strutil.h"
#include "test-util.h"

#define ACCESS_DENIED "org.freedesktop.DBus.Error.AccessDenied"

static BusTest bus;
static const char *snapshotter = "overlayfs";

static void prepare(const char *key, const char *parent) {
        BT_ASSERT_OK(&bus, bt_prepare(&bus, key, parent, NULL, NULL));
}

static void view(const char *key, const char *parent) {
        BT_ASSERT_OK(&bus, bt_view(&bus, key, parent, NULL, NULL));
}

static void committed(const char *name, const char *parent) {
        _cleanup_free_ char *key = strdup_printf("%s-active", name);

        prepare(key, parent);
        BT_ASSERT_OK(&bus, bt_commit(&bus, name, key, NULL));
}

/* The last error's message must contain `what` (the key, "remove", …). */
static void assert_message_has(const char *what) {
        if (!strstr(bus.error.message ?: "", what)) {
                fprintf(stderr, "error message does not mention \"%s\": %s\n", what, bt_error_string(&bus));
                abort();
        }
}

static void check(const char *what) {
        printf("# %s\n", what);
        fflush(stdout);
}

static char *repeat(char c, size_t n) {
        char *s = malloc(n + 1);

        ASSERT_TRUE(s);
        memset(s, c, n);
        s[n] = 0;
        return s;
}

TEST(unknown_key_is_not_found) {
        const char *k = "errors-missing";
        uint64_t size, inodes;

        check("Stat, Usage, Mounts, Remove, Update of an unknown key: NotFound naming the key");
        BT_ASSERT_ERROR(&bus, bt_stat(&bus, k, NULL), "NotFound");
        assert_message_has(k);
        BT_ASSERT_ERROR(&bus, bt_usage(&bus, k, &size, &inodes), "NotFound");
        BT_ASSERT_ERROR(&bus, bt_mounts(&bus, k, NULL), "NotFound");
        BT_ASSERT_ERROR(&bus, bt_remove(&bus, k), "NotFound");
        assert_message_has(k);
        BT_ASSERT_ERROR(&bus, bt_update(&bus, k, NULL, NULL, NULL), "NotFound");
}

TEST(prepare_parent_errors) {
        check("Prepare/View on a missing parent: NotFound, also when the key exists (parent checked first)");
        BT_ASSERT_ERROR(&bus, bt_prepare(&bus, "pp-a", "pp-missing", NULL, NULL), "NotFound");
        assert_message_has("pp-missing");
        BT_ASSERT_ERROR(&bus, bt_view(&bus, "pp-v", "pp-missing", NULL, NULL), "NotFound");
        prepare("pp-exists", NULL);
        BT_ASSERT_ERROR(&bus, bt_prepare(&bus, "pp-exists", "pp-missing", NULL, NULL), "NotFound");

        check("Prepare/View on an active or view parent: InvalidArgument");
        view("pp-view", NULL);
        BT_ASSERT_ERROR(&bus, bt_prepare(&bus, "pp-b", "pp-exists", NULL, NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&bus, bt_view(&bus, "pp-c", "pp-exists", NULL, NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&bus, bt_prepare(&bus, "pp-d", "pp-view", NULL, NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&bus, bt_view(&bus, "pp-e", "pp-view", NULL, NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&bus, bt_stat(&bus, "pp-b", NULL), "NotFound");
}

TEST(key_taken_is_already_exists) {
        check("Prepare/View with a key taken by an active, a view or a committed snapshot: AlreadyExists");
        prepare("kt-active", NULL);
        view("kt-view", NULL);
        committed("kt-committed", NULL);
        for (size_t i = 0; i < 3; i++) {
                const char *k = (const char *[]) { "kt-active", "kt-view", "kt-committed" }[i];

                BT_ASSERT_ERROR(&bus, bt_prepare(&bus, k, NULL, NULL, NULL), "AlreadyExists");
                assert_message_has(k);
                BT_ASSERT_ERROR(&bus, bt_view(&bus, k, NULL, NULL, NULL), "AlreadyExists");
                BT_ASSERT_ERROR(&bus, bt_prepare(&bus, k, "kt-committed", NULL, NULL), "AlreadyExists");
        }
}

TEST(commit_errors) {
        check("Commit: name taken (committed, active, name == key) AlreadyExists; key missing NotFound; "
              "key a view or committed FailedPrecondition");
        committed("ce-done", NULL);
        prepare("ce-active", NULL);
        prepare("ce-other", NULL);
        view("ce-view", NULL);
        BT_ASSERT_ERROR(&bus, bt_commit(&bus, "ce-done", "ce-active", NULL), "AlreadyExists");
        BT_ASSERT_ERROR(&bus, bt_commit(&bus, "ce-other", "ce-active", NULL), "AlreadyExists");
        BT_ASSERT_ERROR(&bus, bt_commit(&bus, "ce-active", "ce-active", NULL), "AlreadyExists");
        BT_ASSERT_ERROR(&bus, bt_commit(&bus, "ce-new", "ce-missing", NULL), "NotFound");
        assert_message_has("ce-missing");
        BT_ASSERT_ERROR(&bus, bt_commit(&bus, "ce-new", "ce-view", NULL), "FailedPrecondition");
        BT_ASSERT_ERROR(&bus, bt_commit(&bus, "ce-new", "ce-done", NULL), "FailedPrecondition");
        /* Refused calls changed nothing. */
        BT_ASSERT_ERROR(&bus, bt_stat(&bus, "ce-new", NULL), "NotFound");
        BT_ASSERT_OK(&bus, bt_stat(&bus, "ce-active", NULL));
        BT_ASSERT_OK(&bus, bt_commit(&bus, "ce-new", "ce-active", NULL));
}

TEST(mounts_of_committed) {
        check("Mounts of a committed snapshot: FailedPrecondition; of active and view: specs");
        committed("mc", NULL);
        BT_ASSERT_ERROR(&bus, bt_mounts(&bus, "mc", NULL), "FailedPrecondition");
        prepare("mc-a", "mc");
        view("mc-v", "mc");
        BT_ASSERT_OK(&bus, bt_mounts(&bus, "mc-a", NULL));
        BT_ASSERT_OK(&bus, bt_mounts(&bus, "mc-v", NULL));
}

TEST(remove_with_children) {
        check("Remove of a snapshot with children: FailedPrecondition, message says to remove them first");
        committed("rc", NULL);
        prepare("rc-a", "rc");
        view("rc-v", "rc");
        BT_ASSERT_ERROR(&bus, bt_remove(&bus, "rc"), "FailedPrecondition");
        assert_message_has("rc");
        assert_message_has("remove");
        if (!strstr(bus.error.message, "2"))
                fprintf(stderr, "# note: message does not give the number of children: %s\n", bus.error.message);
        BT_ASSERT_OK(&bus, bt_stat(&bus, "rc", NULL));
        BT_ASSERT_OK(&bus, bt_remove(&bus, "rc-a"));
        BT_ASSERT_OK(&bus, bt_remove(&bus, "rc-v"));
        BT_ASSERT_OK(&bus, bt_remove(&bus, "rc"));
}

TEST(update_fieldpaths) {
        _cleanup_(labels_clear) Labels l = {};

        check("Update with fieldpath parent, name, kind or created: InvalidArgument; labels unchanged");
        prepare("uf", NULL);
        ASSERT_OK(labels_from_pairs(&l, "a", "1", NULL));
        BT_ASSERT_OK(&bus, bt_update(&bus, "uf", &l, NULL, NULL));
        for (size_t i = 0; i < 4; i++) {
                char *f = (char *[]) { (char *) "parent", (char *) "name", (char *) "kind", (char *) "created" }[i];
                _cleanup_(labels_clear) Labels other = {};

                ASSERT_OK(labels_from_pairs(&other, "a", "2", NULL));
                BT_ASSERT_ERROR(&bus, bt_update(&bus, "uf", &other, STRV_MAKE(f), NULL), "InvalidArgument");
        }
        _cleanup_(snapshot_info_clear) SnapshotInfo si = {};
        BT_ASSERT_OK(&bus, bt_stat(&bus, "uf", &si));
        ASSERT_TRUE(labels_equal(&si.labels, &l));
}

TEST(bad_filters) {
        check("List with a filter that does not parse: InvalidArgument");
        BT_ASSERT_ERROR(&bus, bt_list(&bus, STRV_MAKE("name==\"unterminated"), NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&bus, bt_list(&bus, STRV_MAKE("==x"), NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&bus, bt_list(&bus, STRV_MAKE("kind==active", "name~=("), NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&bus, bt_list(&bus, STRV_MAKE("name==a,"), NULL), "InvalidArgument");
}

TEST(key_syntax) {
        _cleanup_free_ char *k4096 = repeat('k', 4096), *k4097 = repeat('k', 4097);
        _cleanup_free_ char *n4097 = repeat('n', 4097);

        check("keys: empty, 4097 bytes, control characters: InvalidArgument; 4096 bytes of UTF-8 work");
        BT_ASSERT_ERROR(&bus, bt_prepare(&bus, "", NULL, NULL, NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&bus, bt_prepare(&bus, k4097, NULL, NULL, NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&bus, bt_view(&bus, k4097, NULL, NULL, NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&bus, bt_stat(&bus, k4097, NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&bus, bt_stat(&bus, "", NULL), "InvalidArgument");
        for (size_t i = 0; i < 5; i++) {
                const char *k = (const char *[]) { "a\nb", "tab\tkey", "\x01", "del\x7f", "c1\xc2\x85" }[i];
                BT_ASSERT_ERROR(&bus, bt_prepare(&bus, k, NULL, NULL, NULL), "InvalidArgument");
        }
        BT_ASSERT_ERROR(&bus, bt_prepare(&bus, "ks-p", k4097, NULL, NULL), "InvalidArgument");

        prepare(k4096, NULL);
        BT_ASSERT_OK(&bus, bt_stat(&bus, k4096, NULL));
        BT_ASSERT_ERROR(&bus, bt_commit(&bus, n4097, k4096, NULL), "InvalidArgument");
        BT_ASSERT_ERROR(&bus, bt_commit(&bus, "", k4096, NULL), "InvalidArgument");
        BT_ASSERT_OK(&bus, bt_remove(&bus, k4096));

        prepare("ks/with/slashes/../and ünïcödé", NULL);
        BT_ASSERT_OK(&bus, bt_stat(&bus, "ks/with/slashes/../and ünïcödé", NULL));
}

TEST(label_limits) {
        _cleanup_(labels_clear) Labels pair = {}, exact = {}, total = {}, empty_key = {};
        _cleanup_free_ char *v4086 = repeat('v', 4086), *v4087 = repeat('v', 4087), *v4000 = repeat('v', 4000);

        check("labels: pair > 4096 bytes, total > 64 KiB, empty key: InvalidArgument on Prepare, View, "
              "Commit, Update; a 4096-byte pair works");
        ASSERT_OK(labels_from_pairs(&pair, "0123456789", v4087, NULL)); /* 4097 */
        ASSERT_OK(labels_from_pairs(&exact, "0123456789", v4086, NULL)); /* 4096 */
        for (int i = 0; i < 17; i++) {
                char k[16];
                snprintf(k, sizeof k, "key-%02d", i);
                ASSERT_OK(labels_set(&total, k, v4000));
        }
        ASSERT_OK(labels_from_pairs(&empty_key, "", "x", NULL));

        const Labels *bad[] = { &pair, &total, &empty_key };
        prepare("ll", NULL);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                BT_ASSERT_ERROR(&bus, bt_prepare(&bus, "ll-p", NULL, bad[i], NULL), "InvalidArgument");
                BT_ASSERT_ERROR(&bus, bt_view(&bus, "ll-v", NULL, bad[i], NULL), "InvalidArgument");
                BT_ASSERT_ERROR(&bus, bt_commit(&bus, "ll-c", "ll", bad[i]), "InvalidArgument");
                BT_ASSERT_ERROR(&bus, bt_update(&bus, "ll", bad[i], NULL, NULL), "InvalidArgument");
        }
        BT_ASSERT_ERROR(&bus, bt_stat(&bus, "ll-p", NULL), "NotFound");
        BT_ASSERT_ERROR(&bus, bt_stat(&bus, "ll-c", NULL), "NotFound");

        BT_ASSERT_OK(&bus, bt_update(&bus, "ll", &exact, NULL, NULL));
        BT_ASSERT_OK(&bus, bt_prepare(&bus, "ll-exact", NULL, &exact, NULL));
}

TEST(usage_of_view_is_zero) {
        uint64_t size = 1, inodes = 1;

        check("Usage of a view: 0 bytes, 0 inodes");
        committed("uv", NULL);
        view("uv-view", "uv");
        BT_ASSERT_OK(&bus, bt_usage(&bus, "uv-view", &size, &inodes));
        ASSERT_TRUE(size == 0 && inodes == 0);
}

TEST(mount_errors) {
        _cleanup_free_ char *path = NULL;

        check("Mount: committed FailedPrecondition, unknown option InvalidArgument, twice Busy; "
              "Commit and Remove of a mounted snapshot Busy");
        committed("me", NULL);
        BT_ASSERT_ERROR(&bus, bt_mount(&bus, "me", NULL, NULL, NULL), "FailedPrecondition");
        prepare("me-a", "me");
        BT_ASSERT_ERROR(&bus, bt_mount(&bus, "me-a", NULL, STRV_MAKE("bogus"), NULL), "InvalidArgument");
        BT_ASSERT_OK(&bus, bt_mount(&bus, "me-a", NULL, NULL, &path));
        BT_ASSERT_ERROR(&bus, bt_mount(&bus, "me-a", NULL, NULL, NULL), "Busy");
        BT_ASSERT_ERROR(&bus, bt_commit(&bus, "me-c", "me-a", NULL), "Busy");
        BT_ASSERT_ERROR(&bus, bt_remove(&bus, "me-a"), "Busy");
        BT_ASSERT_OK(&bus, bt_unmount(&bus, "me-a"));
        BT_ASSERT_OK(&bus, bt_commit(&bus, "me-c", "me-a", NULL));
}

TEST(depth_limit) {
        _cleanup_(mount_spec_list_clear) MountSpecList m = {};
        char parent[32] = "", name[32];
        int depth;

        check("the kernel stacks 500 layers: a View on 500 committed layers mounts (500 lowers); "
              "Prepare and View on 501 are InvalidArgument naming the limit");
        for (depth = 1; depth <= 501; depth++) {
                char key[32];

                snprintf(key, sizeof key, "depth-%d-a", depth);
                snprintf(name, sizeof name, "depth-%d", depth);
                BT_ASSERT_OK(&bus, bt_prepare(&bus, key, parent, NULL, NULL));
                BT_ASSERT_OK(&bus, bt_commit(&bus, name, key, NULL));
                memcpy(parent, name, sizeof parent);
                if (depth == 500) {
                        BT_ASSERT_OK(&bus, bt_view(&bus, "depth-500-view", parent, NULL, &m));
                        ASSERT_TRUE(m.n == 1);
                        BT_ASSERT_OK(&bus, bt_mount(&bus, "depth-500-view", NULL, NULL, NULL));
                        BT_ASSERT_OK(&bus, bt_unmount(&bus, "depth-500-view"));
                }
        }
        BT_ASSERT_ERROR(&bus, bt_view(&bus, "depth-501-view", parent, NULL, NULL), "InvalidArgument");
        assert_message_has("500");
        BT_ASSERT_ERROR(&bus, bt_prepare(&bus, "depth-501-active", parent, NULL, NULL), "InvalidArgument");
        assert_message_has("500");
}

/* ---- the bus policy, as nobody (setpriv re-executes this program) ---- */

static int unprivileged_checks(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

        ASSERT_TRUE(geteuid() != 0);
        ASSERT_OK(bt_open(&bus, snapshotter));

        /* Allowed by the policy and needing no authorization: reaches the daemon. */
        BT_ASSERT_ERROR(&bus, bt_stat(&bus, "policy-missing", NULL), "NotFound");
        BT_ASSERT_OK(&bus, bt_call(&bus, BT_MANAGER_PATH, BT_MANAGER_IFACE, "ListSnapshotters", &reply, NULL));

        /* Empty arrays, read before authorization is asked about: the daemon answers (an
         * empty option list of UnmountWithOptions was read as a NULL list and crashed it). */
        BT_ASSERT_ERROR(&bus, bt_call(&bus, NULL, BT_SNAPSHOTTER_IFACE, "UnmountWithOptions", NULL, "sas",
                                      "policy-missing", 0),
                        ACCESS_DENIED);
        BT_ASSERT_ERROR(&bus, bt_call(&bus, NULL, BT_SNAPSHOTTER_IFACE, "MountFd", NULL, "sas", "policy-missing", 0),
                        ACCESS_DENIED);
        BT_ASSERT_ERROR(&bus, bt_call(&bus, NULL, BT_SNAPSHOTTER_IFACE, "Mount", NULL, "ssas", "policy-missing", "",
                                      0),
                        ACCESS_DENIED);
        BT_ASSERT_ERROR(&bus, bt_call(&bus, NULL, BT_SNAPSHOTTER_IFACE, "Update", NULL, "sa{ss}as", "policy-missing",
                                      0, 0),
                        ACCESS_DENIED);
        BT_ASSERT_OK(&bus, bt_call(&bus, NULL, BT_SNAPSHOTTER_IFACE, "List", NULL, "as", 0));
        BT_ASSERT_ERROR(&bus, bt_stat(&bus, "policy-missing", NULL), "NotFound");

        /* Not in the policy: the bus refuses it; the daemon never sees it. */
        BT_ASSERT_ERROR(&bus, bt_call(&bus, NULL, BT_SNAPSHOTTER_IFACE, "Frobnicate", NULL, NULL), ACCESS_DENIED);
        assert_message_has("Rejected send message"); /* dbus-daemon's words, not laminad's */
        BT_ASSERT_ERROR(&bus, bt_call(&bus, BT_MANAGER_PATH, BT_MANAGER_IFACE, "Frobnicate", NULL, NULL),
                        ACCESS_DENIED);
        BT_ASSERT_ERROR(&bus, bt_call(&bus, BT_MANAGER_PATH, "org.freedesktop.DBus.Properties", "Set", NULL,
                                      "ssv", BT_MANAGER_IFACE, "DefaultSnapshotter", "s", "native"),
                        ACCESS_DENIED);
        BT_ASSERT_ERROR(&bus, bt_call(&bus, NULL, "org.lamina.snapshot1.NoSuchInterface", "Stat", NULL, "s", "x"),
                        ACCESS_DENIED);
        bt_close(&bus);
        return 0;
}

TEST(policy_refuses_unknown_members_for_nobody) {
        char self[4096];
        ssize_t n;
        pid_t pid;
        int status;

        check("as nobody: Stat and ListSnapshotters pass the policy, calls with empty arrays are answered; "
              "Frobnicate, Properties.Set and an unknown interface are refused by the bus with AccessDenied");
        n = readlink("/proc/self/exe", self, sizeof self - 1);
        ASSERT_TRUE(n > 0);
        self[n] = 0;
        fflush(NULL);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                execlp("setpriv", "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
                       self, "--unprivileged", snapshotter, (char *) NULL);
                fprintf(stderr, "exec setpriv: %m\n");
                _exit(127);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "the unprivileged checks failed (status %d)\n", status);
                abort();
        }
        /* Root's empty option list: the call goes on to the snapshot, which is not there. */
        BT_ASSERT_ERROR(&bus, bt_call(&bus, NULL, BT_SNAPSHOTTER_IFACE, "UnmountWithOptions", NULL, "sas",
                                      "policy-missing", 0),
                        "NotFound");
        /* The same member as root reaches the daemon, which does not know it. */
        BT_ASSERT_ERROR(&bus, bt_call(&bus, NULL, BT_SNAPSHOTTER_IFACE, "Frobnicate", NULL, NULL),
                        "org.freedesktop.DBus.Error.UnknownMethod");
}

/* ---- idle exit and re-activation ---- */

static uint32_t laminad_pid(void) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint32_t pid = 0;

        if (sd_bus_call_method(bus.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "GetConnectionUnixProcessID", &error, &reply, "s", BT_SERVICE) < 0)
                return 0;
        ASSERT_OK(sd_bus_message_read(reply, "u", &pid));
        return pid;
}

static bool pid_gone(uint32_t pid) {
        char path[64], state[256];
        FILE *f;
        bool zombie = false;

        snprintf(path, sizeof path, "/proc/%u/status", pid);
        f = fopen(path, "re");
        if (!f)
                return true;
        while (fgets(state, sizeof state, f))
                if (strncmp(state, "State:", 6) == 0)
                        zombie = strchr(state, 'Z') != NULL;
        fclose(f);
        return zombie;
}

static BusTest quiet;

static int idle_checks(void) {
        _cleanup_(snapshot_info_clear) SnapshotInfo before = {}, after = {};
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(labels_clear) Labels l = {};
        uint32_t pid, pid2;
        uint64_t deadline;

        ASSERT_OK(bt_open(&bus, snapshotter));
        check("the first call activates laminad through the activation file");
        ASSERT_TRUE(laminad_pid() == 0);
        BT_ASSERT_OK(&bus, bt_call(&bus, BT_MANAGER_PATH, BT_MANAGER_IFACE, "ListSnapshotters", &reply, NULL));
        pid = laminad_pid();
        ASSERT_TRUE(pid > 0);

        ASSERT_OK(labels_from_pairs(&l, "idle", "state survives", NULL));
        BT_ASSERT_OK(&bus, bt_prepare(&bus, "idle-base-a", NULL, NULL, NULL));
        BT_ASSERT_OK(&bus, bt_commit(&bus, "idle-base", "idle-base-a", &l));
        BT_ASSERT_OK(&bus, bt_prepare(&bus, "idle-child", "idle-base", &l, NULL));
        BT_ASSERT_OK(&bus, bt_stat(&bus, "idle-child", &before));

        check("with --idle-timeout 2 laminad releases its name and exits");
        deadline = now_usec() + 60 * 1000000ULL;
        while (laminad_pid() != 0 && now_usec() < deadline)
                nanosleep(&(struct timespec) { .tv_nsec = 100 * 1000 * 1000 }, NULL);
        if (laminad_pid() != 0) {
                fprintf(stderr, "laminad (pid %u) still owns its name 60 s after the last call\n", pid);
                abort();
        }
        while (!pid_gone(pid) && now_usec() < deadline)
                nanosleep(&(struct timespec) { .tv_nsec = 100 * 1000 * 1000 }, NULL);
        ASSERT_TRUE(pid_gone(pid));

        check("the next call re-activates it with the state intact");
        BT_ASSERT_OK(&bus, bt_stat(&bus, "idle-child", &after));
        pid2 = laminad_pid();
        ASSERT_TRUE(pid2 > 0 && pid2 != pid);
        ASSERT_STREQ(after.name, before.name);
        ASSERT_STREQ(after.parent, "idle-base");
        ASSERT_TRUE(after.kind == before.kind);
        ASSERT_TRUE(labels_equal(&after.labels, &before.labels));
        ASSERT_TRUE(after.created_usec == before.created_usec && after.updated_usec == before.updated_usec);
        BT_ASSERT_ERROR(&bus, bt_remove(&bus, "idle-base"), "FailedPrecondition");
        BT_ASSERT_OK(&bus, bt_remove(&bus, "idle-child"));
        BT_ASSERT_OK(&bus, bt_remove(&bus, "idle-base"));
        printf("ok 1 - idle_exit_and_reactivation\n");

        check("a connection that muted the signals of its own calls keeps laminad (the next one would not know)");
        BT_ASSERT_OK(&quiet, bt_open(&quiet, snapshotter));
        BT_ASSERT_OK(&quiet, bt_call(&quiet, BT_MANAGER_PATH, "org.lamina.snapshot1.Monitor", "Mute", NULL, NULL));
        /* Three idle timeouts: an idle laminad would have exited within the first. */
        nanosleep(&(struct timespec) { .tv_sec = 6 }, NULL);
        ASSERT_TRUE(laminad_pid() == pid2);
        check("and exits once that connection left");
        bt_close(&quiet);
        deadline = now_usec() + 60 * 1000000ULL;
        while (!pid_gone(pid2) && now_usec() < deadline)
                nanosleep(&(struct timespec) { .tv_nsec = 100 * 1000 * 1000 }, NULL);
        ASSERT_TRUE(pid_gone(pid2));
        bt_close(&bus);
        printf("ok 2 - a_muted_connection_holds_laminad\n");
        return 0;
}

int main(int argc, char **argv) {
        static const TestCase cases[] = {
                TEST_ENTRY(unknown_key_is_not_found),
                TEST_ENTRY(prepare_parent_errors),
                TEST_ENTRY(key_taken_is_already_exists),
                TEST_ENTRY(commit_errors),
                TEST_ENTRY(mounts_of_committed),
                TEST_ENTRY(remove_with_children),
                TEST_ENTRY(update_fieldpaths),
                TEST_ENTRY(bad_filters),
                TEST_ENTRY(key_syntax),
                TEST_ENTRY(label_limits),
                TEST_ENTRY(usage_of_view_is_zero),
                TEST_ENTRY(mount_errors),
                TEST_ENTRY(depth_limit),
                TEST_ENTRY(policy_refuses_unknown_members_for_nobody),
        };
        int r;

        if (argc > 2 && streq(argv[1], "--unprivileged")) {
                snapshotter = argv[2];
                return unprivileged_checks();
        }
        if (argc > 1 && streq(argv[1], "--idle")) {
                snapshotter = argc > 2 ? argv[2] : snapshotter;
                return idle_checks();
        }
        if (argc > 1)
                snapshotter = argv[1];

        ASSERT_OK(bt_open(&bus, snapshotter));
        r = test_run_all(cases, ELEMENTSOF(cases));
        bt_close(&bus);
        return r;
}
