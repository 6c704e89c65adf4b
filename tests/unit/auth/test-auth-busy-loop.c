/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Finished polkit checks are freed on a loop that is never idle: a user whose checks polkit
 * answered gets new ones, however busy the daemon. A real dbus-daemon (started here, on a
 * socket in a scratch directory) carries the calls of an unprivileged caller (a connection
 * made with euid 65534) to a server using auth_check(), and a stand-in for polkit answering
 * yes at once; a source always pending keeps the loop from ever being idle.
 * Before, the answered checks were freed by an idle-priority source only, so they stayed
 * counted against the caller: its call after AUTH_QUERIES_PER_UID answered ones was
 * LimitsExceeded. */
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "auth-internal.h"
#include "auth.h"
#include "test-util.h"

#define DBUS_DAEMON "/usr/bin/dbus-daemon"
#define CALLER_EUID 65534
#define ACTION "org.lamina.snapshot1.manage-own"

static AuthRegistry *registry;

static int method_check(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        static const char *const details[] = { "verb", "prepare", "key", "k", NULL };
        int r;

        r = auth_check(m, ACTION, details, registry, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable server_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Check", "", "", method_check, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* polkit: every subject is authorized. */
static int method_check_authorization(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "(bba{ss})", 1, 0, 0);
}

static const sd_bus_vtable polkit_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("CheckAuthorization", "(sa{sv})sa{ss}us", "(bba{ss})", method_check_authorization, 0),
        SD_BUS_VTABLE_END
};

/* Always pending, just below the buses' priority (work a busy daemon always has): the loop
 * is never idle. */
static int on_busy(sd_event_source *s, void *userdata) {
        (*(uint64_t *) userdata)++;
        return 0;
}

typedef struct Replies {
        unsigned ok, failed;
        char last_error[256];
} Replies;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Replies *r = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e) {
                r->failed++;
                snprintf(r->last_error, sizeof r->last_error, "%s: %s", e->name, e->message ?: "");
        } else
                r->ok++;
        return 0;
}

static sd_bus *connect_to(const char *address) {
        sd_bus *bus = NULL;

        ASSERT_OK(sd_bus_new(&bus));
        ASSERT_OK(sd_bus_set_address(bus, address));
        ASSERT_OK(sd_bus_set_bus_client(bus, 1));
        ASSERT_OK(sd_bus_start(bus));
        /* A round trip: connected and authenticated (dbus-daemon took its credentials). */
        ASSERT_OK(sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                     "GetId", NULL, NULL, NULL));
        return bus;
}

/* Runs the loop until done(), failing after 60 s. */
static void run_until(sd_event *event, bool (*done)(void *), void *userdata) {
        struct timespec ts;
        uint64_t deadline;

        ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &ts));
        deadline = (uint64_t) ts.tv_sec + 60;
        while (!done(userdata)) {
                ASSERT_OK(sd_event_run(event, 100 * 1000));
                ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &ts));
                if ((uint64_t) ts.tv_sec >= deadline)
                        fprintf(stderr, "%zu checks pending\n", auth_registry_pending(registry));
                ASSERT_TRUE((uint64_t) ts.tv_sec < deadline);
        }
}

static unsigned want_replies;
static bool replies_in(void *userdata) {
        Replies *r = userdata;

        return r->ok + r->failed >= want_replies;
}

static bool checks_freed(void *userdata) {
        return auth_registry_pending(registry) == 0;
}

static void write_config(const char *path, const char *socket_path) {
        FILE *f = fopen(path, "we");

        ASSERT_TRUE(f);
        fprintf(f,
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig>\n"
                "  <type>custom</type>\n"
                "  <listen>unix:path=%s</listen>\n"
                "  <auth>EXTERNAL</auth>\n"
                "  <policy context=\"default\">\n"
                "    <allow user=\"*\"/>\n"
                "    <allow own=\"*\"/>\n"
                "    <allow send_destination=\"*\"/>\n"
                "    <allow receive_sender=\"*\"/>\n"
                "  </policy>\n"
                "</busconfig>\n",
                socket_path);
        ASSERT_OK(fclose(f) < 0 ? -errno : 0);
}

TEST(answered_checks_are_freed_on_a_busy_loop) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        char config[PATH_MAX], socket_path[PATH_MAX], address[PATH_MAX + 16];
        sd_bus *server, *polkit, *caller;
        sd_event_source *busy = NULL;
        sd_bus_slot *slots[2] = {};
        uint64_t busy_runs = 0;
        Replies replies = {};
        const char *server_name;
        char *dir;
        pid_t daemon_pid;

        if (geteuid() != 0 || access(DBUS_DAEMON, X_OK) < 0) {
                printf("# skipped: needs root and %s\n", DBUS_DAEMON);
                return;
        }
        dir = test_mkdtemp();
        ASSERT_OK(chmod(dir, 0755) < 0 ? -errno : 0);
        snprintf(config, sizeof config, "%s/bus.conf", dir);
        snprintf(socket_path, sizeof socket_path, "%s/bus", dir);
        snprintf(address, sizeof address, "unix:path=%s", socket_path);
        write_config(config, socket_path);

        daemon_pid = fork();
        ASSERT_TRUE(daemon_pid >= 0);
        if (daemon_pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                execl(DBUS_DAEMON, DBUS_DAEMON, "--nofork", "--nopidfile", "--config-file", config, (char *) NULL);
                _exit(127);
        }
        ASSERT_EVENTUALLY(access(socket_path, F_OK) == 0);

        ASSERT_OK(sd_event_new(&event));
        ASSERT_OK(auth_registry_new(&registry));
        server = connect_to(address);
        polkit = connect_to(address);
        ASSERT_OK(sd_bus_request_name(polkit, AUTH_POLKIT_SERVICE, 0));
        ASSERT_OK(sd_bus_get_unique_name(server, &server_name));
        ASSERT_OK(sd_bus_add_object_vtable(server, &slots[0], "/test", "org.lamina.Test", server_vtable, NULL));
        ASSERT_OK(sd_bus_add_object_vtable(polkit, &slots[1], AUTH_POLKIT_PATH, AUTH_POLKIT_INTERFACE, polkit_vtable,
                                           NULL));
        /* The caller: dbus-daemon records the euid of the connecting process. */
        ASSERT_OK(setresuid(-1, CALLER_EUID, -1) < 0 ? -errno : 0);
        caller = connect_to(address);
        ASSERT_OK(setresuid(-1, 0, -1) < 0 ? -errno : 0);

        ASSERT_OK(sd_bus_attach_event(server, event, SD_EVENT_PRIORITY_NORMAL));
        ASSERT_OK(sd_bus_attach_event(polkit, event, SD_EVENT_PRIORITY_NORMAL));
        ASSERT_OK(sd_bus_attach_event(caller, event, SD_EVENT_PRIORITY_NORMAL));
        ASSERT_OK(sd_event_add_defer(event, &busy, on_busy, &busy_runs));
        ASSERT_OK(sd_event_source_set_priority(busy, SD_EVENT_PRIORITY_NORMAL + 1));
        ASSERT_OK(sd_event_source_set_enabled(busy, SD_EVENT_ON));

        /* Twice as many checks as one user may have pending, in two rounds, each answered. */
        for (unsigned round = 0; round < 2; round++) {
                for (unsigned i = 0; i < AUTH_QUERIES_PER_UID; i++)
                        ASSERT_OK(sd_bus_call_method_async(caller, NULL, server_name,
                                                           "/test", "org.lamina.Test", "Check", on_reply, &replies,
                                                           ""));
                want_replies = (round + 1) * AUTH_QUERIES_PER_UID;
                run_until(event, replies_in, &replies);
                if (replies.failed > 0)
                        fprintf(stderr, "refused: %s\n", replies.last_error);
                ASSERT_TRUE(replies.failed == 0 && replies.ok == want_replies);
        }
        /* And none is left, with the loop still never idle. */
        run_until(event, checks_freed, NULL);
        ASSERT_TRUE(busy_runs > 0);

        sd_event_source_disable_unref(busy);
        for (size_t i = 0; i < ELEMENTSOF(slots); i++)
                sd_bus_slot_unref(slots[i]);
        registry = auth_registry_free(registry);
        sd_bus_flush_close_unref(caller);
        sd_bus_flush_close_unref(polkit);
        sd_bus_flush_close_unref(server);
        ASSERT_OK(kill(daemon_pid, SIGTERM) < 0 ? -errno : 0);
        ASSERT_TRUE(waitpid(daemon_pid, NULL, 0) == daemon_pid);
        test_rm_rf(dir);
        free(dir);
}

TEST_MAIN(TEST_ENTRY(answered_checks_are_freed_on_a_busy_loop))
