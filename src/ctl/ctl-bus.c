/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl-escape.h"
#include "ctl.h"
#include "strutil.h"

static bool failure_printed = false;

bool ctl_failure_printed(void) {
        return failure_printed;
}

/* One line "laminactl: MESSAGE SUFFIX" on stderr. The message may hold what an image's author
 * wrote (a path in its manifest): escaped (ctl-escape.h), never as is to the terminal (an
 * escape sequence, a newline forging a line, a bidi override reordering it). */
_printf_(3, 0) static void log_failure(int level, const char *suffix, const char *fmt, va_list ap) {
        char buf[2048], escaped[sizeof buf * 4], *p = escaped;

        vsnprintf(buf, sizeof buf, fmt, ap);
        for (const char *s = buf; *s;) {
                size_t written;

                s += ctl_escape_char(s, p, &written);
                p += written;
        }
        *p = 0;
        log_full(level, "laminactl: %s%s", escaped, suffix);
}

int ctl_fail(int r, const char *fmt, ...) {
        va_list ap;

        failure_printed = true;
        va_start(ap, fmt);
        log_failure(LOG_ERR, "", fmt, ap);
        va_end(ap);
        return r < 0 ? r : -EIO;
}

void ctl_warn(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_failure(LOG_WARNING, "", fmt, ap);
        va_end(ap);
}

int ctl_usage_error(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_failure(LOG_ERR, " (see laminactl --help)", fmt, ap);
        va_end(ap);
        return EXIT_USAGE;
}

int ctl_open(Ctl *c) {
        int r;

        *c = (Ctl) {};
        r = sd_bus_open_system(&c->bus);
        if (r < 0)
                return ctl_fail(r, "cannot connect to the system bus: %s; is dbus running?", strerror(-r));
        /* Lets polkit ask the user (through an agent) instead of refusing outright. */
        r = sd_bus_set_allow_interactive_authorization(c->bus, true);
        if (r < 0)
                return ctl_fail(r, "cannot allow interactive authorization: %s", strerror(-r));
        return 0;
}

#define PKTTYAGENT "/usr/bin/pkttyagent"

void ctl_polkit_agent_open(Ctl *c) {
        _cleanup_close_ int ready = -EBADF;
        const char *unique;
        int fd[2];
        char dummy;

        if (c->agent_pid > 0 || geteuid() == 0 || !isatty(STDIN_FILENO) || access(PKTTYAGENT, X_OK) < 0 ||
            sd_bus_get_unique_name(c->bus, &unique) < 0 || pipe2(fd, O_CLOEXEC) < 0)
                return;
        ready = fd[0];
        c->agent_pid = fork();
        if (c->agent_pid < 0) {
                c->agent_pid = 0;
                (void) safe_close(fd[1]);
                return;
        }
        if (c->agent_pid == 0) {
                _cleanup_free_ char *notify = strdup_printf("--notify-fd=%d", fd[1]);
                _cleanup_free_ char *name = strdup_printf("--system-bus-name=%s", unique);

                /* The agent closes the pipe once it is registered. */
                if (notify && name && fcntl(fd[1], F_SETFD, 0) >= 0)
                        execl(PKTTYAGENT, "pkttyagent", notify, name, "--fallback", (char *) NULL);
                _exit(EXIT_FAILURE);
        }
        (void) safe_close(fd[1]);
        while (read(ready, &dummy, 1) < 0 && errno == EINTR)
                ;
}

static void polkit_agent_close(Ctl *c) {
        if (c->agent_pid <= 0)
                return;
        (void) kill(c->agent_pid, SIGTERM);
        (void) waitpid(c->agent_pid, NULL, 0);
        c->agent_pid = 0;
}

void ctl_close(Ctl *c) {
        polkit_agent_close(c);
        if (c->bus)
                sd_bus_flush_close_unref(c->bus);
        free(c->snapshotter);
        free(c->path);
        *c = (Ctl) {};
}

/* Object path elements may only hold [A-Za-z0-9_]. */
static bool snapshotter_name_is_valid(const char *s) {
        return !isempty(s) &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s);
}

int ctl_resolve(Ctl *c) {
        const char *name = arg_snapshotter ?: getenv("LAMINA_SNAPSHOTTER");
        _cleanup_free_ char *base = NULL;

        if (c->path)
                return 0;
        if (isempty(name))
                base = strdup(LAMINA_DEFAULT_PATH); /* no round trip to ask which one that is */
        else {
                if (!snapshotter_name_is_valid(name))
                        return ctl_fail(-EINVAL, "no snapshotter %s; see laminactl snapshotters", QUOTE(name));
                c->snapshotter = strdup(name);
                if (!c->snapshotter)
                        return -ENOMEM;
                base = strdup_printf(LAMINA_MANAGER_PATH "/%s", name);
        }
        if (!base)
                return -ENOMEM;
        c->path = arg_have_user ? strdup_printf("%s/user/%u", base, (unsigned) arg_user) : TAKE_PTR(base);
        return c->path ? 0 : -ENOMEM;
}

int ctl_bus_parse_error(int r) {
        return ctl_fail(r, "cannot understand laminad's reply: %s", strerror(-r));
}

int ctl_bus_append_error(int r) {
        if (r == -ENOMEM)
                return ctl_fail(r, "out of memory");
        return ctl_fail(r, "cannot pass the arguments to laminad: %s; keys, labels and filters must be UTF-8",
                        strerror(-r));
}

int ctl_bus_error(Ctl *c, const sd_bus_error *error, int r) {
        const char *msg = sd_bus_error_is_set(error) && !isempty(error->message) ? error->message : strerror(-r);

        /* sd-bus knows no names of ours (any is -EIO): a name refused (--no-replace) is -EEXIST,
         * on which import-tar takes back the layer it made. */
        if (sd_bus_error_has_name(error, "org.lamina.snapshot1.Error.AlreadyExists"))
                r = -EEXIST;
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                   "org.freedesktop.DBus.Error.Spawn.ChildExited"))
                return ctl_fail(r, "laminad is not available (%s); check that it is installed and can start", msg);
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE) &&
            c && c->snapshotter)
                return ctl_fail(r, "no snapshotter %s here; see laminactl snapshotters", QUOTE(c->snapshotter));
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE) &&
            c && c->path)
                return ctl_fail(r, "laminad's default snapshotter is not available here; choose one with -s "
                                "(see laminactl snapshotters)");
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
                return ctl_fail(r, "%s; run laminactl from a terminal with a polkit agent, or ask an administrator "
                                "to grant you access (see the laminactl(1) manual)", msg);
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT))
                return ctl_fail(r, "laminad did not answer in time (%s); try again, or check laminad's log", msg);
        return ctl_fail(r, "%s", msg);
}

static int new_call(Ctl *c, const char *path, const char *iface, const char *member, sd_bus_message **ret) {
        int r = sd_bus_message_new_method_call(c->bus, ret, LAMINA_BUS_NAME, path, iface, member);

        return r < 0 ? ctl_fail(r, "cannot build the %s call: %s", member, strerror(-r)) : 0;
}

int ctl_new_call(Ctl *c, const char *member, sd_bus_message **ret) {
        int r = ctl_resolve(c);

        if (r < 0)
                return r;
        return new_call(c, c->path, LAMINA_SNAPSHOTTER_IFACE, member, ret);
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        sd_bus_message **reply = userdata;

        *reply = sd_bus_message_ref(m);
        return 0;
}

/* Unlike sd_bus_call(), which first waits for the reply to Hello, m goes out right behind
 * Hello: a one-shot command waits for one round trip less. Signals reach their matches
 * meanwhile; an interruption does not end the wait (the call goes on in laminad anyway). */
int ctl_send_wait(Ctl *c, sd_bus_message *m, uint64_t timeout, sd_bus_message **ret) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_async(c->bus, &slot, m, on_reply, &reply, timeout);
        if (r < 0)
                return ctl_fail(r, "cannot send %s: %s", sd_bus_message_get_member(m), strerror(-r));
        while (!reply) {
                r = sd_bus_process(c->bus, NULL);
                if (r < 0)
                        return ctl_fail(r, "lost the connection to laminad: %s", strerror(-r));
                if (r > 0)
                        continue;
                r = sd_bus_wait(c->bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        return ctl_fail(r, "lost the connection to laminad: %s", strerror(-r));
        }
        *ret = reply;
        return 0;
}

/* ctl_send_wait(), with a D-Bus error returned as a negative errno (error set). */
static int send_checked(Ctl *c, sd_bus_message *m, uint64_t timeout, sd_bus_error *error, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = ctl_send_wait(c, m, timeout, &reply);
        if (r < 0)
                return r;
        if (sd_bus_message_is_method_error(reply, NULL))
                return sd_bus_error_copy(error, sd_bus_message_get_error(reply));
        if (ret)
                *ret = TAKE_PTR(reply);
        return 0;
}

int ctl_send(Ctl *c, sd_bus_message *m, uint64_t timeout, sd_bus_message **reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = send_checked(c, m, timeout, &error, reply);
        if (r < 0 && sd_bus_error_is_set(&error))
                return ctl_bus_error(c, &error, r);
        return r;
}

static int vcall(Ctl *c, const char *path, const char *iface, const char *member, uint64_t timeout,
                 sd_bus_message **reply, const char *types, va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = new_call(c, path, iface, member, &m);
        if (r < 0)
                return r;
        if (types) {
                r = sd_bus_message_appendv(m, types, ap);
                if (r < 0)
                        return ctl_bus_append_error(r);
        }
        return ctl_send(c, m, timeout, reply);
}

/* vcall() on the snapshotter object, which --snapshotter and --user name. */
static int vcall_snapshotter(Ctl *c, const char *iface, const char *member, uint64_t timeout, sd_bus_message **reply,
                             const char *types, va_list ap) {
        int r = ctl_resolve(c);

        return r < 0 ? r : vcall(c, c->path, iface, member, timeout, reply, types, ap);
}

int ctl_call(Ctl *c, const char *member, uint64_t timeout, sd_bus_message **reply, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = vcall_snapshotter(c, LAMINA_SNAPSHOTTER_IFACE, member, timeout, reply, types, ap);
        va_end(ap);
        return r;
}

int ctl_call_images(Ctl *c, const char *member, sd_bus_message **reply, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = vcall_snapshotter(c, LAMINA_IMAGES_IFACE, member, CALL_TIMEOUT_DEFAULT, reply, types, ap);
        va_end(ap);
        return r;
}

int ctl_call_manager(Ctl *c, const char *member, sd_bus_message **reply, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = vcall(c, LAMINA_MANAGER_PATH, LAMINA_MANAGER_IFACE, member, CALL_TIMEOUT_DEFAULT, reply, types, ap);
        va_end(ap);
        return r;
}

int ctl_get_manager_string(Ctl *c, const char *property, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_get_property_string(c->bus, LAMINA_BUS_NAME, LAMINA_MANAGER_PATH, LAMINA_MANAGER_IFACE,
                                       property, &error, ret);
        return r < 0 ? ctl_bus_error(NULL, &error, r) : 0;
}

int ctl_append_labels(sd_bus_message *m, char *const *pairs) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        for (char *const *p = pairs; p && p[0]; p += 2) {
                r = sd_bus_message_append(m, "{ss}", p[0], p[1]);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

void ctl_info_clear(CtlInfo *i) {
        free(i->labels);
        *i = (CtlInfo) {};
}

static int read_labels(sd_bus_message *m, const char ***ret) {
        _cleanup_free_ const char **l = NULL;
        size_t n = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        for (;;) {
                const char *k, *v, **nl;

                r = sd_bus_message_read(m, "{ss}", &k, &v);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                nl = realloc(l, (n + 3) * sizeof(char *));
                if (!nl)
                        return -ENOMEM;
                l = nl;
                l[n++] = k;
                l[n++] = v;
                l[n] = NULL;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

/* Reads one (sssa{ss}ttu); returns 0 at the end of an enclosing array. */
int ctl_info_read(sd_bus_message *m, CtlInfo *ret) {
        CtlInfo i = {};
        int r;

        r = sd_bus_message_enter_container(m, 'r', "sssa{ss}ttu");
        if (r <= 0)
                return r;
        r = sd_bus_message_read(m, "sss", &i.name, &i.parent, &i.kind);
        if (r >= 0)
                r = read_labels(m, &i.labels);
        if (r >= 0)
                r = sd_bus_message_read(m, "ttu", &i.created, &i.updated, &i.owner);
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                ctl_info_clear(&i);
                return r;
        }
        *ret = i;
        return 1;
}

int ctl_stat(Ctl *c, const char *key, bool quiet_missing, sd_bus_message **reply, CtlInfo *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = ctl_new_call(c, "Stat", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", key);
        if (r < 0)
                return ctl_bus_append_error(r);
        r = send_checked(c, m, CALL_TIMEOUT_DEFAULT, &error, reply);
        if (r < 0) {
                if (quiet_missing && sd_bus_error_has_name(&error, "org.lamina.snapshot1.Error.NotFound"))
                        return -ENOENT;
                return sd_bus_error_is_set(&error) ? ctl_bus_error(c, &error, r) : r;
        }
        r = ctl_info_read(*reply, ret);
        return r < 0 ? ctl_bus_parse_error(r) : 0;
}

int ctl_mount(Ctl *c, const char *key, const char *target, char *const *options, char **ret_path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *path;
        int r;

        r = ctl_new_call(c, "Mount", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", key, target ?: "");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) options);
        if (r < 0)
                return ctl_bus_append_error(r);
        r = ctl_send(c, m, CALL_TIMEOUT_DEFAULT, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &path);
        if (r < 0)
                return ctl_bus_parse_error(r);
        *ret_path = strdup(path);
        return *ret_path ? 0 : -ENOMEM;
}

int ctl_unmount(Ctl *c, const char *key) {
        return ctl_call(c, "Unmount", CALL_TIMEOUT_DEFAULT, NULL, "s", key);
}

int ctl_unmount_released(Ctl *c, const char *key) {
        useconds_t wait = 20000;

        /* At most ~10 s: 20, 40, ... 640 ms, then 640 ms steps. */
        for (unsigned attempt = 0;; attempt++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                int r;

                r = ctl_new_call(c, "Unmount", &m);
                if (r < 0)
                        return r;
                r = sd_bus_message_append(m, "s", key);
                if (r < 0)
                        return ctl_bus_append_error(r);
                r = send_checked(c, m, CALL_TIMEOUT_DEFAULT, &error, &reply);
                if (r >= 0)
                        return 0;
                if (!sd_bus_error_has_name(&error, "org.lamina.snapshot1.Error.Busy") || attempt >= 20)
                        return sd_bus_error_is_set(&error) ? ctl_bus_error(c, &error, r) : r;
                (void) usleep(wait);
                wait = wait * 2 < 640000u ? wait * 2 : 640000u;
        }
}

int ctl_remove(Ctl *c, const char *key) {
        return ctl_call(c, "Remove", CALL_TIMEOUT_DEFAULT, NULL, "s", key);
}
