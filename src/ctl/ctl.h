/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

#include "error.h"
#include "log.h"
#include "macro.h"

#define LAMINA_BUS_NAME "org.lamina.snapshot1"
#define LAMINA_MANAGER_PATH "/org/lamina/snapshot1"
/* The default snapshotter answers here too: no DefaultSnapshotter round trip per command. */
#define LAMINA_DEFAULT_PATH LAMINA_MANAGER_PATH "/default"
#define LAMINA_MANAGER_IFACE "org.lamina.snapshot1.Manager"
#define LAMINA_SNAPSHOTTER_IFACE "org.lamina.snapshot1.Snapshotter"
#define LAMINA_IMAGES_IFACE "org.lamina.snapshot1.Images"

/* Timeouts: ordinary calls keep sd-bus' default; calls that walk or write whole trees
 * (Commit, Usage, Apply, Cleanup) wait as long as the daemon works. */
#define CALL_TIMEOUT_DEFAULT 0
#define CALL_TIMEOUT_LONG UINT64_MAX

#define EXIT_USAGE 2

typedef enum JsonMode {
        JSON_OFF,
        JSON_SHORT,
        JSON_PRETTY,
} JsonMode;

/* Command line, systemd-style globals. */
extern const char *arg_snapshotter;
extern uid_t arg_user;
extern bool arg_have_user;
extern JsonMode arg_json;
extern bool arg_legend;
extern bool arg_pager;
extern bool arg_quiet;
extern bool arg_mount;
extern const char *arg_target;
extern bool arg_bytes;
extern const char *arg_mount_options;
extern const char *arg_name;
extern bool arg_rm;
extern bool arg_force;
extern bool arg_no_replace; /* import, import-tar: refuse to move an existing image name */
extern const char *arg_commit;
extern bool arg_boot;
extern bool arg_rootless; /* run: ctl-rootless.c instead of systemd-nspawn */
extern bool arg_list_keys;
extern bool arg_diff;
extern char **arg_command;
extern char **arg_nspawn; /* run: options passed to systemd-nspawn as they are */

/* Prints "laminactl: <message>" and returns r (negative errno), for `return ctl_fail(r, …)`. */
int ctl_fail(int r, const char *fmt, ...) _printf_(2, 3);
/* Prints "laminactl: <message>" as a warning; escaped like ctl_fail()'s. */
void ctl_warn(const char *fmt, ...) _printf_(1, 2);
/* Whether ctl_fail() printed anything: a failure nobody described still gets one line. */
bool ctl_failure_printed(void);
/* Prints a usage error and returns EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...) _printf_(1, 2);

/* The connection plus the snapshotter object the command acts on. */
typedef struct Ctl {
        sd_bus *bus;
        char *snapshotter; /* resolved name */
        char *path;        /* object path, with /user/<uid> for --user */
        pid_t agent_pid;   /* pkttyagent we started, or 0 */
} Ctl;

int ctl_open(Ctl *c);
void ctl_close(Ctl *c); /* also ends the polkit agent */
/* Starts pkttyagent for this connection when a password could be asked on this terminal. */
void ctl_polkit_agent_open(Ctl *c);

/* Sets c->path: --snapshotter, $LAMINA_SNAPSHOTTER or the daemon's default, plus --user. */
int ctl_resolve(Ctl *c);
/* A method call on the snapshotter object, to be filled and passed to ctl_send(). */
int ctl_new_call(Ctl *c, const char *member, sd_bus_message **ret);
/* Sends; on failure prints the daemon's message and returns a negative errno. */
int ctl_send(Ctl *c, sd_bus_message *m, uint64_t timeout, sd_bus_message **reply);
/* Sends m and runs the connection until its reply or error message arrives (*ret). */
int ctl_send_wait(Ctl *c, sd_bus_message *m, uint64_t timeout, sd_bus_message **ret);
/* ctl_new_call + append + ctl_send for plain argument lists. */
int ctl_call(Ctl *c, const char *member, uint64_t timeout, sd_bus_message **reply, const char *types, ...);
/* Same on the Images interface of the snapshotter object. */
int ctl_call_images(Ctl *c, const char *member, sd_bus_message **reply, const char *types, ...);
/* Same on the manager object. */
int ctl_call_manager(Ctl *c, const char *member, sd_bus_message **reply, const char *types, ...);
int ctl_get_manager_string(Ctl *c, const char *property, char **ret);
/* Prints a failed call's error the way every command does; returns a negative errno. */
int ctl_bus_error(Ctl *c, const sd_bus_error *error, int r);
int ctl_bus_parse_error(int r);
/* For arguments sd-bus refused to put into a message (not UTF-8, or out of memory). */
int ctl_bus_append_error(int r);

/* Appends a{ss} from a NULL-terminated key, value, key, value… array (may be NULL). */
int ctl_append_labels(sd_bus_message *m, char *const *pairs);

/* One snapshot as Stat and List return it; strings point into the reply message. */
typedef struct CtlInfo {
        const char *name;
        const char *parent; /* "" = none */
        const char *kind;
        const char **labels; /* key, value, …, NULL; owned */
        uint64_t created, updated;
        uint32_t owner;
} CtlInfo;

void ctl_info_clear(CtlInfo *i);
int ctl_info_read(sd_bus_message *m, CtlInfo *ret);
/* Stat; returns -ENOENT quietly when the daemon says NotFound and quiet_missing is set. */
int ctl_stat(Ctl *c, const char *key, bool quiet_missing, sd_bus_message **reply, CtlInfo *ret);

/* Mount(key, target, options) and Unmount(key). */
int ctl_mount(Ctl *c, const char *key, const char *target, char *const *options, char **ret_path);
int ctl_unmount(Ctl *c, const char *key);
/* Unmount of a mount whose holders have all ended (a container that exited): laminad may
 * count it in use a moment longer (its look through /proc is bounded in time and takes a
 * search it had to cut short as in use; the kernel drops the mounts of an exited process's
 * namespace from a work queue, later under load), so Busy is asked again for about 10 s
 * before it is reported. */
int ctl_unmount_released(Ctl *c, const char *key);
/* Prints where a snapshot was mounted: the path, or {"key", "path"} as JSON. */
int print_mounted(const char *key, const char *path);
int ctl_remove(Ctl *c, const char *key);

/* One Apply call: a layer tar read from fd into active snapshot key. */
typedef struct ApplyArgs {
        const char *key;
        int fd;
        const char *expected_diff_id; /* NULL = don't check */
        const char *label;            /* of the progress bar; NULL = the key */
        uint64_t size;                /* what fd will give, when the daemon cannot tell (a pipe); 0 = unknown */
        sd_bus_error *ret_error;      /* if set, the daemon's error is stored here, not printed */
} ApplyArgs;

/* The Apply call of key, reading fd, to be sent. */
int ctl_apply_message(Ctl *c, const char *key, int fd, const char *expected_diff_id, sd_bus_message **ret);
/* Apply with a progress bar on a TTY; diff_id may be NULL. */
int ctl_apply(Ctl *c, const ApplyArgs *args, char **ret_diff_id, uint64_t *ret_bytes, uint64_t *ret_entries);

/* SIGINT, SIGTERM and SIGHUP set a flag instead of ending laminactl (a second one does end it);
 * ctl_interrupted() returns the signal, or 0. */
int ctl_interrupt_catch(void);
int ctl_interrupted(void);
/* Runs child(userdata) in a forked process and returns its exit status (128 + signal when
 * killed), or a negative errno when it cannot fork. Meanwhile SIGINT and SIGQUIT are ignored
 * (the terminal sends them to the child too) and SIGTERM and SIGHUP passed on to it. */
int ctl_fork_and_wait(int (*child)(void *userdata), void *userdata);

/* What a parent or an image argument names: a committed snapshot (itself; *ret_config NULL)
 * or an image (its top snapshot and config). ret_config may be NULL. */
int ctl_resolve_image(Ctl *c, const char *name, char **ret_top, char **ret_config);
/* 1 when the caller has an image name that stands for another snapshot or config than top
 * and config (*ret_old_top, if not NULL: its snapshot); 0 when it has none or the same. With
 * --no-replace the first is refused (-EEXIST, printed). */
int ctl_image_replaces(Ctl *c, const char *name, const char *top, const char *config, char **ret_old_top);
/* CreateImage of name for top with config, after ctl_image_replaces(): a name that stood for
 * another image moves, and a warning names the image and its old and new snapshots
 * (*ret_replaced: the old one, else NULL). With --no-replace the name does not move, also when
 * it is made between that check and the CreateImage (laminad checks as it writes). */
int ctl_create_image(Ctl *c, const char *name, const char *top, const char *config, char **ret_replaced);

/* Commit of a layer as its chain ID; 0 when it made it, 1 when another import committed it
 * first (the daemon says AlreadyExists and the chain ID is a committed snapshot now: the same
 * content by definition). */
int ctl_commit_layer(Ctl *c, const char *chain_id, const char *key);
/* The last element of path, without a tar suffix: "/tmp/busybox.tar" is "busybox". */
char *ctl_default_ref(const char *path);

/* Removes the caller's active import-PID-… snapshots whose laminactl is gone. */
int ctl_remove_stale_imports(Ctl *c);
/* Prepare of an import's working snapshot, transient: laminad removes it (and cancels its
 * Apply) when this connection goes, also when laminactl is killed outright. */
int ctl_prepare_import(Ctl *c, const char *key, const char *parent);
/* The same without a parent, with the rebase option (PrepareWithOptions); the daemon's errors
 * are returned in error, not printed (NotSupported: a snapshotter that cannot rebase). */
int ctl_prepare_import_rebase(Ctl *c, const char *key, sd_bus_error *error);

/* What run takes from an image's OCI config (ctl-run-config.c). */
typedef struct RunConfig {
        char **entrypoint, **cmd, **env;
        char *working_dir, *user;
} RunConfig;
void run_config_done(RunConfig *rc);
/* json NULL or "": an empty config. */
int run_config_parse(const char *json, RunConfig *ret);
/* --setenv= for Env; unless boot, --chdir= for WorkingDir and --user= for User. */
int run_config_nspawn_options(const RunConfig *rc, bool boot, char ***argv);
/* Entrypoint, then args if any, else Cmd. */
int run_config_command(const RunConfig *rc, char *const *args, char ***argv);

/* Verbs. */
int verb_ls(Ctl *c, int argc, char **argv);
int verb_monitor(Ctl *c, int argc, char **argv);
int verb_info(Ctl *c, int argc, char **argv);
int verb_tree(Ctl *c, int argc, char **argv);
int verb_prepare(Ctl *c, int argc, char **argv);
int verb_view(Ctl *c, int argc, char **argv);
int verb_commit(Ctl *c, int argc, char **argv);
int verb_rm(Ctl *c, int argc, char **argv);
int verb_mounts(Ctl *c, int argc, char **argv);
int verb_usage(Ctl *c, int argc, char **argv);
int verb_df(Ctl *c, int argc, char **argv);
int verb_label(Ctl *c, int argc, char **argv);
int verb_cleanup(Ctl *c, int argc, char **argv);
int verb_snapshotters(Ctl *c, int argc, char **argv);
int verb_mount(Ctl *c, int argc, char **argv);
int verb_umount(Ctl *c, int argc, char **argv);
int verb_list_mounts(Ctl *c, int argc, char **argv);
int verb_apply(Ctl *c, int argc, char **argv);
int verb_import(Ctl *c, int argc, char **argv);
int verb_run(Ctl *c, int argc, char **argv);
int verb_images(Ctl *c, int argc, char **argv);
int verb_tag(Ctl *c, int argc, char **argv);
int verb_untag(Ctl *c, int argc, char **argv);
int verb_rmi(Ctl *c, int argc, char **argv);
int verb_import_tar(Ctl *c, int argc, char **argv);
int verb_export(Ctl *c, int argc, char **argv);
