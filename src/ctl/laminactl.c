/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "config.h"
#include "ctl-help.h"
#include "ctl-output.h"
#include "ctl.h"
#include "strutil.h"

const char *arg_snapshotter = NULL;
uid_t arg_user = 0;
bool arg_have_user = false;
JsonMode arg_json = JSON_OFF;
bool arg_legend = true;
bool arg_pager = true;
bool arg_quiet = false;
bool arg_mount = false;
const char *arg_target = NULL;
bool arg_bytes = false;
const char *arg_mount_options = NULL;
const char *arg_name = NULL;
bool arg_rm = false;
bool arg_force = false;
bool arg_no_replace = false;
const char *arg_commit = NULL;
bool arg_boot = false;
bool arg_rootless = false;
bool arg_list_keys = false;
bool arg_diff = false;
char **arg_command = NULL;
char **arg_nspawn = NULL;

/* Options that only some verbs take; a verb lists the ones it accepts. */
typedef enum VerbOption {
        OPT_MOUNT = 1 << 0,
        OPT_TARGET = 1 << 1,
        OPT_BYTES = 1 << 2,
        OPT_OPTIONS = 1 << 3,
        OPT_NAME = 1 << 4,
        OPT_RM = 1 << 5,
        OPT_COMMIT = 1 << 6,
        OPT_BOOT = 1 << 7,
        OPT_LIST_KEYS = 1 << 8,
        OPT_COMMAND = 1 << 9, /* "-- COMMAND…" is a command, not more arguments */
        OPT_NSPAWN = 1 << 10, /* run: options passed on to systemd-nspawn */
        OPT_FORCE = 1 << 11,
        OPT_DIFF = 1 << 12,
        OPT_ROOTLESS = 1 << 13,
        OPT_NO_REPLACE = 1 << 14,
} VerbOption;

typedef struct Verb {
        const char *name;
        int min_args, max_args; /* positional arguments after the verb; -1 = any */
        unsigned options;
        int (*run)(Ctl *c, int argc, char **argv);
        bool may_ask; /* may need polkit to ask for a password */
} Verb;

/* The image commands run in laminactl-image: the same command line, exec'd, in a build of this
 * file that also links libarchive and libcrypto, which laminactl does not load (meson.build). */
#if LAMINACTL_IMAGE
#  define IMAGE_VERB(f) f
#else
#  define IMAGE_VERB(f) NULL
#endif

static const Verb verbs[] = {
        { "ls",           0, -1, OPT_LIST_KEYS,                     verb_ls },
        { "list",         0, -1, OPT_LIST_KEYS,                     verb_ls },
        { "info",         1, 1,  0,                                 verb_info },
        { "tree",         0, 0,  0,                                 verb_tree },
        { "prepare",      1, 2,  OPT_MOUNT | OPT_TARGET,            verb_prepare, true },
        { "view",         1, 2,  OPT_MOUNT | OPT_TARGET,            verb_view, true },
        { "commit",       2, 2,  0,                                 verb_commit, true },
        { "rm",           1, -1, 0,                                 verb_rm, true },
        { "remove",       1, -1, 0,                                 verb_rm, true },
        { "mounts",       1, 2,  0,                                 verb_mounts },
        { "usage",        0, -1, OPT_BYTES,                         verb_usage },
        { "df",           0, 0,  OPT_BYTES,                         verb_df },
        { "label",        1, -1, 0,                                 verb_label, true },
        { "mount",        1, 2,  OPT_OPTIONS,                       verb_mount, true },
        { "umount",       1, 1,  OPT_FORCE,                         verb_umount, true },
        { "unmount",      1, 1,  OPT_FORCE,                         verb_umount, true },
        { "list-mounts",  0, 0,  0,                                 verb_list_mounts },
        { "apply",        2, 2,  0,                                 verb_apply, true },
        { "import",       1, 1,  OPT_NAME | OPT_NO_REPLACE,         IMAGE_VERB(verb_import), true },
        { "cleanup",      0, 0,  0,                                 verb_cleanup, true },
        { "snapshotters", 0, 0,  0,                                 verb_snapshotters },
        { "monitor",      0, 0,  0,                                 verb_monitor },
        { "run",          1, 1,  OPT_NAME | OPT_RM | OPT_COMMIT | OPT_BOOT | OPT_COMMAND | OPT_NSPAWN | OPT_ROOTLESS, verb_run, true },
        { "import-tar",   1, 1,  OPT_NAME | OPT_NO_REPLACE,         IMAGE_VERB(verb_import_tar), true },
        { "export",       1, 2,  OPT_DIFF,                          IMAGE_VERB(verb_export), true },
        { "images",       0, 0,  0,                                 verb_images },
        { "tag",          2, -1, 0,                                 verb_tag, true },
        { "untag",        1, -1, 0,                                 verb_untag, true },
        { "rmi",          1, -1, 0,                                 verb_rmi, true },
};

static bool arg_help = false;

static const char *const option_names[] = {
        "--mount", "--target", "--bytes", "--options", "--name", "--rm", "--commit", "--boot", "--list-keys",
        "-- COMMAND", "systemd-nspawn options", "--force", "--diff", "--rootless", "--no-replace",
};

static int parse_uid(const char *s, uid_t *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end || s[0] == '-' || v >= UINT_MAX)
                return -EINVAL;
        *ret = (uid_t) v;
        return 0;
}

/* Keeps a systemd-nspawn option of run as nspawn spells it: "--name" or "--name=value". */
static int nspawn_option(const char *name, const char *value) {
        char *o = value ? strdup_printf("%s=%s", name, value) : strdup(name);

        return o ? strv_push(&arg_nspawn, o) : -ENOMEM;
}

/* parse_argv() result when --help or --version did all there was to do. */
#define ARGV_HANDLED (-1)

/* Returns 0 to go on, ARGV_HANDLED, or EXIT_USAGE. */
static int parse_argv(int argc, char **argv, unsigned *ret_options) {
        enum {
                ARG_VERSION = 0x100,
                ARG_USER,
                ARG_JSON,
                ARG_NO_LEGEND,
                ARG_NO_PAGER,
                ARG_MOUNT,
                ARG_NAME,
                ARG_RM,
                ARG_COMMIT,
                ARG_BOOT,
                ARG_LIST_KEYS,
                ARG_BIND,
                ARG_BIND_RO,
                ARG_PRIVATE_NETWORK,
                ARG_NETWORK_VETH,
                ARG_PRIVATE_USERS,
                ARG_DIFF,
                ARG_ROOTLESS,
                ARG_NO_REPLACE,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "snapshotter", required_argument, NULL, 's' },
                { "user", required_argument, NULL, ARG_USER },
                { "json", required_argument, NULL, ARG_JSON },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "no-pager", no_argument, NULL, ARG_NO_PAGER },
                { "quiet", no_argument, NULL, 'q' },
                { "mount", no_argument, NULL, ARG_MOUNT },
                { "target", required_argument, NULL, 't' },
                { "bytes", no_argument, NULL, 'b' },
                { "options", required_argument, NULL, 'o' },
                { "name", required_argument, NULL, ARG_NAME },
                { "rm", no_argument, NULL, ARG_RM },
                { "force", no_argument, NULL, 'f' },
                { "commit", required_argument, NULL, ARG_COMMIT },
                { "boot", no_argument, NULL, ARG_BOOT },
                { "rootless", no_argument, NULL, ARG_ROOTLESS },
                { "list-keys", no_argument, NULL, ARG_LIST_KEYS },
                { "bind", required_argument, NULL, ARG_BIND },
                { "bind-ro", required_argument, NULL, ARG_BIND_RO },
                { "setenv", required_argument, NULL, 'E' },
                { "private-network", no_argument, NULL, ARG_PRIVATE_NETWORK },
                { "network-veth", no_argument, NULL, ARG_NETWORK_VETH },
                { "private-users", optional_argument, NULL, ARG_PRIVATE_USERS },
                { "diff", no_argument, NULL, ARG_DIFF },
                { "no-replace", no_argument, NULL, ARG_NO_REPLACE },
                {}
        };
        unsigned seen = 0;
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hs:qt:bo:E:f", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        arg_help = true;
                        break;
                case ARG_VERSION:
                        printf("laminactl %s\n", LAMINA_VERSION);
                        return ARGV_HANDLED;
                case 's':
                        arg_snapshotter = optarg;
                        break;
                case ARG_USER:
                        if (parse_uid(optarg, &arg_user) < 0)
                                return ctl_usage_error("--user needs a numeric uid, not %s", optarg);
                        arg_have_user = true;
                        break;
                case ARG_JSON:
                        if (streq(optarg, "pretty"))
                                arg_json = JSON_PRETTY;
                        else if (streq(optarg, "short"))
                                arg_json = JSON_SHORT;
                        else
                                return ctl_usage_error("--json takes \"pretty\" or \"short\", not \"%s\"", optarg);
                        break;
                case ARG_NO_LEGEND:
                        arg_legend = false;
                        break;
                case ARG_NO_PAGER:
                        arg_pager = false;
                        break;
                case 'q':
                        arg_quiet = true;
                        break;
                case ARG_MOUNT:
                        arg_mount = true;
                        seen |= OPT_MOUNT;
                        break;
                case 't':
                        arg_target = optarg;
                        arg_mount = true;
                        seen |= OPT_TARGET;
                        break;
                case 'b':
                        arg_bytes = true;
                        seen |= OPT_BYTES;
                        break;
                case 'o':
                        arg_mount_options = optarg;
                        seen |= OPT_OPTIONS;
                        break;
                case ARG_NAME:
                        arg_name = optarg;
                        seen |= OPT_NAME;
                        break;
                case ARG_RM:
                        arg_rm = true;
                        seen |= OPT_RM;
                        break;
                case 'f':
                        arg_force = true;
                        seen |= OPT_FORCE;
                        break;
                case ARG_COMMIT:
                        arg_commit = optarg;
                        seen |= OPT_COMMIT;
                        break;
                case ARG_BOOT:
                        arg_boot = true;
                        seen |= OPT_BOOT;
                        break;
                case ARG_ROOTLESS:
                        arg_rootless = true;
                        seen |= OPT_ROOTLESS;
                        break;
                case ARG_NO_REPLACE:
                        arg_no_replace = true;
                        seen |= OPT_NO_REPLACE;
                        break;
                case ARG_DIFF:
                        arg_diff = true;
                        seen |= OPT_DIFF;
                        break;
                case ARG_LIST_KEYS:
                        arg_list_keys = true;
                        seen |= OPT_LIST_KEYS;
                        break;
                case ARG_BIND:
                case ARG_BIND_RO:
                case 'E':
                case ARG_PRIVATE_NETWORK:
                case ARG_NETWORK_VETH:
                case ARG_PRIVATE_USERS: {
                        static const struct {
                                int c;
                                const char *name;
                        } nspawn[] = {
                                { ARG_BIND, "--bind" },
                                { ARG_BIND_RO, "--bind-ro" },
                                { 'E', "--setenv" },
                                { ARG_PRIVATE_NETWORK, "--private-network" },
                                { ARG_NETWORK_VETH, "--network-veth" },
                                { ARG_PRIVATE_USERS, "--private-users" },
                        };

                        for (size_t i = 0; i < ELEMENTSOF(nspawn); i++)
                                if (nspawn[i].c == c && nspawn_option(nspawn[i].name, optarg) < 0)
                                        return ctl_usage_error("out of memory");
                        seen |= OPT_NSPAWN;
                        break;
                }
                case ':':
                        return ctl_usage_error("option %s needs an argument", argv[optind - 1]);
                default:
                        return ctl_usage_error("unknown option %s", argv[optind - 1]);
                }
        if (arg_rm && arg_commit)
                return ctl_usage_error("--rm and --commit exclude each other");
        if (arg_rootless && (seen & (OPT_BOOT | OPT_NSPAWN)))
                return ctl_usage_error("--rootless runs without systemd-nspawn: --boot and nspawn's options do not apply");
        if (arg_rootless && arg_have_user)
                return ctl_usage_error("--rootless runs in your own user namespace, on your own snapshots: leave out --user");
        *ret_options = seen;
        return 0;
}

static const Verb *find_verb(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return verbs + i;
        return NULL;
}

static int check_verb_options(const Verb *v, unsigned seen) {
        unsigned bad = seen & ~v->options;

        for (size_t i = 0; i < ELEMENTSOF(option_names); i++)
                if (bad & (1u << i))
                        return ctl_usage_error("%s does not take %s", v->name, option_names[i]);
        return 0;
}

static int check_arg_count(const Verb *v, int n) {
        if (n < v->min_args)
                return ctl_usage_error("%s needs %s argument%s", v->name,
                                       v->min_args == 1 ? "an" : v->min_args == 2 ? "two" : "more",
                                       v->min_args == 1 ? "" : "s");
        if (v->max_args >= 0 && n > v->max_args)
                return ctl_usage_error("too many arguments for %s", v->name);
        return 0;
}

/* Runs the command line ARGV, untouched, in laminactl-image: next to this executable (a build
 * tree), else in libexecdir. Returns only on failure. */
static int exec_image_helper(char **argv) {
        _cleanup_free_ char *self = NULL, *sibling = NULL;
        const char *path = LAMINA_LIBEXECDIR "/laminactl-image";
        char *slash;

        self = realpath("/proc/self/exe", NULL);
        slash = self ? strrchr(self, '/') : NULL;
        if (slash) {
                *slash = 0;
                sibling = strdup_printf("%s/laminactl-image", self);
                if (sibling && access(sibling, X_OK) == 0)
                        path = sibling;
        }
        execv(path, argv);
        (void) ctl_fail(-errno, "cannot run %s: %s", path, strerror(errno));
        return EXIT_FAILURE;
}

/* ARGV is permuted by getopt; ORIG_ARGV is the command line as given, for laminactl-image. */
static int run(int argc, char **argv, char **orig_argv) {
        _cleanup_(ctl_close) Ctl c = {};
        _cleanup_free_ char **positional = NULL;
        char **trailing = NULL;
        unsigned seen = 0;
        const Verb *v;
        int n = 0, r;

        /* Everything after "--" is positional (or, for run, the container's command); keep it
         * away from getopt, which would permute it. */
        for (int i = 1; i < argc; i++)
                if (streq(argv[i], "--")) {
                        trailing = argv + i + 1;
                        argc = i;
                        break;
                }

        r = parse_argv(argc, argv, &seen);
        if (r != 0)
                return r == ARGV_HANDLED ? EXIT_SUCCESS : r;
        if (optind >= argc && arg_help) {
                ctl_help();
                return EXIT_SUCCESS;
        }
        if (optind >= argc)
                return ctl_usage_error("missing command");
        if (arg_help)
                return ctl_help_verb(argv[optind]);
        if (streq(argv[optind], "help")) {
                if (optind + 2 < argc)
                        return ctl_usage_error("too many arguments for help");
                if (optind + 1 >= argc) {
                        ctl_help();
                        return EXIT_SUCCESS;
                }
                return ctl_help_verb(argv[optind + 1]);
        }
        v = find_verb(argv[optind]);
        if (!v)
                return ctl_usage_error("unknown command \"%s\"", argv[optind]);
        r = check_verb_options(v, seen);
        if (r != 0)
                return r;

        positional = calloc((size_t) argc + strv_length(trailing) + 1, sizeof(char *));
        if (!positional) {
                (void) ctl_fail(-ENOMEM, "out of memory");
                return EXIT_FAILURE;
        }
        for (int i = optind + 1; i < argc; i++)
                positional[n++] = argv[i];
        if (trailing && (v->options & OPT_COMMAND))
                arg_command = trailing;
        else
                for (char **t = trailing; t && *t; t++)
                        positional[n++] = *t;
        r = check_arg_count(v, n);
        if (r != 0)
                return r;

        if (!v->run)
                return exec_image_helper(orig_argv);

        r = ctl_open(&c);
        if (r < 0)
                return EXIT_FAILURE;
        if (v->may_ask)
                ctl_polkit_agent_open(&c);
        r = v->run(&c, n, positional);
        fflush(stdout);
        if (r < 0) {
                if (!ctl_failure_printed())
                        (void) ctl_fail(r, "%s failed: %s", v->name, strerror(-r));
                return EXIT_FAILURE;
        }
        return r;
}

int main(int argc, char **argv) {
        _cleanup_free_ char **args = NULL;
        int r;

#if LAMINACTL_IMAGE
        /* An import's snapshots are named after this process, which must look like the
         * laminactl it was exec'd from to the import-owner check (ctl-import-stale.c). */
        (void) prctl(PR_SET_NAME, "laminactl");
#endif
        log_set_max_level(LOG_INFO);
        args = malloc(((size_t) argc + 1) * sizeof(char *));
        if (!args) {
                (void) ctl_fail(-ENOMEM, "out of memory");
                return EXIT_FAILURE;
        }
        memcpy(args, argv, ((size_t) argc + 1) * sizeof(char *));
        r = run(argc, args, argv);
        pager_close();
        return r;
}
