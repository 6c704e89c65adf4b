/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <systemd/sd-daemon.h>

#include "ctl-escape.h"
#include "ctl-output.h"
#include "ctl-rootless.h"
#include "ctl.h"
#include "strutil.h"

/* Splits "a,b,c" into a strv; NULL or "" gives an empty list. */
static int split_options(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *copy = NULL;
        char *saveptr = NULL;

        if (!isempty(s)) {
                copy = strdup(s);
                if (!copy)
                        return -ENOMEM;
                for (char *o = strtok_r(copy, ",", &saveptr); o; o = strtok_r(NULL, ",", &saveptr))
                        if (strv_extend(&l, o) < 0)
                                return -ENOMEM;
        }
        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int print_mounted(const char *key, const char *path) {
        if (arg_json != JSON_OFF)
                return json_print_object("key", 's', key, "path", 's', path, NULL);
        ctl_print_escaped(path);
        putchar('\n');
        return 0;
}

int verb_mount(Ctl *c, int argc, char **argv) {
        _cleanup_strv_free_ char **options = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        if (split_options(arg_mount_options, &options) < 0)
                return ctl_fail(-ENOMEM, "out of memory");
        r = ctl_mount(c, argv[0], argc > 1 ? argv[1] : NULL, options, &path);
        if (r < 0)
                return r;
        return print_mounted(argv[0], path);
}

int verb_umount(Ctl *c, int argc, char **argv) {
        if (arg_force)
                return ctl_call(c, "UnmountWithOptions", CALL_TIMEOUT_DEFAULT, NULL, "sas", argv[0], 1, "force");
        return ctl_unmount(c, argv[0]);
}

int verb_list_mounts(Ctl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(listing_done) Listing out = {};
        const char *key, *path;
        uint32_t owner;
        uint64_t since;
        int r;

        r = ctl_call(c, "ListMounts", CALL_TIMEOUT_DEFAULT, &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(ssut)");
        if (r < 0)
                return ctl_bus_parse_error(r);
        r = listing_begin(&out, 4, "KEY", "PATH", "OWNER", "MOUNTED");
        if (r < 0)
                return ctl_fail(r, "out of memory");
        while ((r = sd_bus_message_read(reply, "(ssut)", &key, &path, &owner, &since)) > 0) {
                if (listing_is_json()) {
                        json_object *o = json_object_new_object();

                        json_add_string(&o, "key", key);
                        json_add_string(&o, "path", path);
                        json_add_uint(&o, "owner", owner);
                        json_add_uint(&o, "mounted", since);
                        r = json_stream_add(&out.json, o);
                } else
                        r = table_add_row(&out.table, key, path, FORMAT_OWNER(owner), FORMAT_TIMESTAMP(since));
                if (r < 0)
                        return ctl_fail(r, "out of memory");
        }
        if (r < 0)
                return ctl_bus_parse_error(r);
        listing_end(&out, "mount", "mounts");
        return 0;
}

/* nspawn registers with machined and asks systemd for a scope; neither exists everywhere. */
static bool machined_available(Ctl *c) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int has = 0;

        if (sd_bus_call_method(c->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", NULL, &reply, "s", "org.freedesktop.machine1") < 0)
                return false;
        return sd_bus_message_read(reply, "b", &has) >= 0 && has;
}

/* nspawn refuses machine names that are not host names; it then derives one from the path. */
static bool machine_name_is_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= 64 && s[0] != '-' && s[0] != '.' &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") == n;
}

static int nspawn_argv(Ctl *c, const char *key, const char *path, const RunConfig *rc, char ***ret) {
        _cleanup_strv_free_ char **a = NULL;
        bool ok;

        ok = strv_extend(&a, "systemd-nspawn") >= 0 && strv_extend(&a, "-D") >= 0 && strv_extend(&a, path) >= 0;
        if (ok && machine_name_is_valid(key))
                ok = strv_extend(&a, "--machine") >= 0 && strv_extend(&a, key) >= 0;
        /* Without a terminal on both ends, a pty would only turn "\n" into "\r\n". */
        if (ok && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)))
                ok = strv_extend(&a, "--console=pipe") >= 0;
        if (ok && arg_boot)
                ok = strv_extend(&a, "--boot") >= 0;
        if (ok && arg_quiet)
                ok = strv_extend(&a, "--quiet") >= 0;
        if (ok && !machined_available(c))
                ok = strv_extend(&a, "--register=no") >= 0;
        if (ok && sd_booted() <= 0)
                ok = strv_extend(&a, "--keep-unit") >= 0;
        if (ok)
                ok = run_config_nspawn_options(rc, arg_boot, &a) >= 0;
        /* The caller's options after the image's: a later --setenv of the same name wins. */
        for (char **p = arg_nspawn; ok && p && *p; p++)
                ok = strv_extend(&a, *p) >= 0;
        if (ok)
                ok = strv_extend(&a, "--") >= 0;
        if (ok && arg_boot)
                for (char **p = arg_command; ok && p && *p; p++)
                        ok = strv_extend(&a, *p) >= 0;
        else if (ok)
                ok = run_config_command(rc, arg_command, &a) >= 0;
        if (!ok)
                return -ENOMEM;
        *ret = TAKE_PTR(a);
        return 0;
}

static int exec_child(void *userdata) {
        char **argv = userdata;

        execvp(argv[0], argv);
        log_error("laminactl: cannot run %s: %m; install systemd-container", argv[0]);
        return 127;
}

/* Runs argv and returns its exit status; Ctrl-C reaches nspawn directly (same process group),
 * so laminactl only ignores it and stays to clean up. */
static int spawn_and_wait(char **argv) {
        int r = ctl_fork_and_wait(exec_child, argv);

        return r < 0 ? ctl_fail(r, "cannot start systemd-nspawn: %s", strerror(-r)) : r;
}

/* After the container: unmount, then remove or commit as asked. */
static int run_finish(Ctl *c, const char *key) {
        int r;

        r = ctl_unmount_released(c, key);
        if (r < 0)
                return r;
        if (arg_rm)
                return ctl_remove(c, key);
        if (arg_commit)
                return ctl_call(c, "Commit", CALL_TIMEOUT_LONG, NULL, "ssa{ss}", arg_commit, key, 0);
        if (!arg_quiet)
                log_info("laminactl: kept active snapshot %s; commit it with \"laminactl commit NAME %s\" "
                         "or remove it with \"laminactl rm %s\"", QUOTE(key), key, key);
        return 0;
}

int verb_run(Ctl *c, int argc, char **argv) {
        _cleanup_free_ char *parent = NULL, *key = NULL, *path = NULL, *config = NULL;
        _cleanup_(run_config_done) RunConfig rc = {};
        _cleanup_strv_free_ char **nspawn = NULL;
        int r, status;

        /* Ctrl-C before nspawn runs must not end laminactl with the snapshot made. */
        r = ctl_interrupt_catch();
        if (r < 0)
                return r;
        r = ctl_resolve_image(c, argv[0], &parent, &config);
        if (r < 0)
                return r;
        r = run_config_parse(config, &rc);
        if (r < 0)
                return r;
        key = arg_name ? strdup(arg_name) : strdup_printf("run-%d", (int) getpid());
        if (!key)
                return ctl_fail(-ENOMEM, "out of memory");

        r = ctl_call(c, "Prepare", CALL_TIMEOUT_DEFAULT, NULL, "ssa{ss}", key, parent, 0);
        if (r < 0)
                return r;
        if (arg_rootless) {
                status = rootless_run(c, key, &rc, arg_command);
                if (status < 0) { /* it never ran; a handed-out mount is released with our fd */
                        (void) ctl_remove(c, key);
                        return status == -EINTR ? 128 + ctl_interrupted() : status;
                }
                r = run_finish(c, key);
                return r < 0 ? r : status;
        }
        r = ctl_interrupted() ? -EINTR : ctl_mount(c, key, NULL, NULL, &path);
        if (r >= 0)
                r = nspawn_argv(c, key, path, &rc, &nspawn);
        if (r >= 0 && ctl_interrupted())
                r = -EINTR;
        if (r < 0) {
                if (path)
                        (void) ctl_unmount(c, key);
                (void) ctl_remove(c, key);
                if (r == -EINTR)
                        return 128 + ctl_interrupted();
                return r == -ENOMEM ? ctl_fail(r, "out of memory") : r;
        }

        status = spawn_and_wait(nspawn);
        r = run_finish(c, key);
        if (r < 0)
                return r;
        return status < 0 ? EXIT_FAILURE : status;
}
