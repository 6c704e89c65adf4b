/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <string.h>

#include "ctl-escape.h"
#include "ctl-output.h"
#include "ctl.h"
#include "strutil.h"

/* All snapshots List returns, in its order; strings point into *reply. */
typedef struct InfoList {
        sd_bus_message *reply;
        CtlInfo *items;
        size_t n;
} InfoList;

static void info_list_done(InfoList *l) {
        for (size_t i = 0; i < l->n; i++)
                ctl_info_clear(l->items + i);
        free(l->items);
        sd_bus_message_unref(l->reply);
        *l = (InfoList) {};
}

static int list_snapshots(Ctl *c, char **filters, InfoList *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(info_list_done) InfoList l = {};
        int r;

        r = ctl_new_call(c, "List", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(m, filters);
        if (r < 0)
                return ctl_bus_append_error(r);
        r = ctl_send(c, m, CALL_TIMEOUT_DEFAULT, &l.reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(l.reply, 'a', "(sssa{ss}ttu)");
        if (r < 0)
                return ctl_bus_parse_error(r);
        for (;;) {
                CtlInfo *items = realloc(l.items, (l.n + 1) * sizeof(CtlInfo));

                if (!items)
                        return -ENOMEM;
                l.items = items;
                r = ctl_info_read(l.reply, l.items + l.n);
                if (r < 0)
                        return ctl_bus_parse_error(r);
                if (r == 0)
                        break;
                l.n++;
        }
        *ret = l;
        l = (InfoList) {};
        return 0;
}

static json_object *info_json(const CtlInfo *i) {
        json_object *o = json_object_new_object();

        json_add_string(&o, "name", i->name);
        json_add_string(&o, "parent", isempty(i->parent) ? NULL : i->parent);
        json_add_string(&o, "kind", i->kind);
        json_add(&o, "labels", json_labels(i->labels));
        json_add_uint(&o, "created", i->created);
        json_add_uint(&o, "updated", i->updated);
        json_add_uint(&o, "owner", i->owner);
        return o;
}

int verb_ls(Ctl *c, int argc, char **argv) {
        _cleanup_(info_list_done) InfoList l = {};
        _cleanup_(listing_done) Listing out = {};
        int r;

        r = list_snapshots(c, argv, &l);
        if (r < 0)
                return r;

        if (arg_list_keys) {
                for (size_t i = 0; i < l.n; i++) {
                        ctl_print_escaped(l.items[i].name);
                        putchar('\n');
                }
                return 0;
        }
        r = listing_begin(&out, 4, "KEY", "PARENT", "KIND", "OWNER");
        for (size_t i = 0; r >= 0 && i < l.n; i++)
                if (listing_is_json())
                        r = json_stream_add(&out.json, info_json(l.items + i));
                else
                        r = table_add_row(&out.table, l.items[i].name,
                                          isempty(l.items[i].parent) ? NULL : l.items[i].parent, l.items[i].kind,
                                          FORMAT_OWNER(l.items[i].owner));
        if (r < 0)
                return ctl_fail(r, "out of memory");
        listing_end(&out, "snapshot", "snapshots");
        return 0;
}

int verb_info(Ctl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(ctl_info_clear) CtlInfo info = {};
        int r;

        r = ctl_stat(c, argv[0], false, &reply, &info);
        if (r < 0)
                return r;
        /* Like `ctr snapshots info`: JSON is the human format too. */
        return json_print(info_json(&info), arg_json == JSON_SHORT ? JSON_SHORT : JSON_PRETTY);
}

/* Tree: nodes sorted by name; each knows its parent's index (or SIZE_MAX). */
typedef struct Node {
        const CtlInfo *info;
        size_t parent;
} Node;

static int node_compare(const void *a, const void *b) {
        return strcmp(((const Node *) a)->info->name, ((const Node *) b)->info->name);
}

static size_t node_find(const Node *nodes, size_t n, const char *name) {
        Node key = { .info = &(CtlInfo) { .name = name } };
        const Node *hit = bsearch(&key, nodes, n, sizeof(Node), node_compare);

        return hit ? (size_t) (hit - nodes) : SIZE_MAX;
}

static void tree_print(const Node *nodes, size_t n, size_t node, unsigned level) {
        if (level == 0)
                putchar(' ');
        else
                printf("%*s\\_ ", (int) (level * 2), "");
        ctl_print_escaped(nodes[node].info->name);
        putchar('\n');
        for (size_t i = 0; i < n; i++)
                if (nodes[i].parent == node)
                        tree_print(nodes, n, i, level + 1);
}

/* {"name", "kind", "children": [...]} */
static json_object *tree_json(const Node *nodes, size_t n, size_t node) {
        json_object *o = json_object_new_object(), *children = json_object_new_array();

        for (size_t i = 0; i < n; i++)
                if (nodes[i].parent == node)
                        json_append(&children, tree_json(nodes, n, i));
        json_add_string(&o, "name", nodes[node].info->name);
        json_add_string(&o, "kind", nodes[node].info->kind);
        json_add(&o, "children", children);
        return o;
}

int verb_tree(Ctl *c, int argc, char **argv) {
        _cleanup_(info_list_done) InfoList l = {};
        _cleanup_free_ Node *nodes = NULL;
        JsonStream roots;
        int r = 0;

        r = list_snapshots(c, NULL, &l);
        if (r < 0)
                return r;
        nodes = calloc(l.n + 1, sizeof(Node));
        if (!nodes)
                return ctl_fail(-ENOMEM, "out of memory");
        for (size_t i = 0; i < l.n; i++)
                nodes[i].info = l.items + i;
        qsort(nodes, l.n, sizeof(Node), node_compare);
        for (size_t i = 0; i < l.n; i++)
                nodes[i].parent = isempty(nodes[i].info->parent) ? SIZE_MAX
                                                                 : node_find(nodes, l.n, nodes[i].info->parent);

        pager_open();
        if (arg_json != JSON_OFF)
                json_stream_begin(&roots);
        /* Parents missing from the list (e.g. another user's) make their children roots. */
        for (size_t i = 0; r >= 0 && i < l.n; i++)
                if (nodes[i].parent != SIZE_MAX)
                        continue;
                else if (arg_json != JSON_OFF)
                        r = json_stream_add(&roots, tree_json(nodes, l.n, i));
                else
                        tree_print(nodes, l.n, i, 0);
        if (r < 0)
                return ctl_fail(r, "out of memory");
        if (arg_json != JSON_OFF)
                json_stream_end(&roots);
        return 0;
}

/* Prints a(ssas) as mount(8) command lines, or as JSON. */
static int print_mounts(sd_bus_message *reply, const char *target) {
        _cleanup_free_ char *qtarget = shell_quote(target);
        JsonStream mounts;
        int r;

        if (!qtarget)
                return ctl_fail(-ENOMEM, "out of memory");
        r = sd_bus_message_enter_container(reply, 'a', "(ssas)");
        if (r < 0)
                return ctl_bus_parse_error(r);
        if (arg_json != JSON_OFF)
                json_stream_begin(&mounts);
        for (;;) {
                _cleanup_strv_free_ char **options = NULL;
                _cleanup_free_ char *joined = NULL, *qtype = NULL, *qsource = NULL, *qoptions = NULL;
                const char *type, *source;

                r = sd_bus_message_enter_container(reply, 'r', "ssas");
                if (r < 0)
                        return ctl_bus_parse_error(r);
                if (r == 0)
                        break;
                r = sd_bus_message_read(reply, "ss", &type, &source);
                if (r >= 0)
                        r = sd_bus_message_read_strv(reply, &options);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return ctl_bus_parse_error(r);

                if (arg_json != JSON_OFF) {
                        json_object *o = json_object_new_object();

                        json_add_string(&o, "type", type);
                        json_add_string(&o, "source", source);
                        json_add(&o, "options", json_strv(options));
                        if (json_stream_add(&mounts, o) < 0)
                                return ctl_fail(-ENOMEM, "out of memory");
                        continue;
                }
                joined = strv_join(options, ",");
                qtype = shell_quote(type);
                qsource = shell_quote(source);
                qoptions = joined ? shell_quote(joined) : NULL;
                if (!qtype || !qsource || !qoptions)
                        return ctl_fail(-ENOMEM, "out of memory");
                printf("mount -t %s %s %s", qtype, qsource, qtarget);
                if (!isempty(joined))
                        printf(" -o %s", qoptions);
                putchar('\n');
        }
        if (arg_json != JSON_OFF)
                json_stream_end(&mounts);
        return 0;
}

/* Prepare or View, optionally followed by Mount; a failed mount removes the new snapshot. */
static int create_snapshot(Ctl *c, const char *method, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL, *top = NULL;
        const char *key = argv[0], *parent = argc > 1 ? argv[1] : "";
        int r;

        /* PARENT may name an image: its top snapshot is the parent. */
        if (!isempty(parent)) {
                r = ctl_resolve_image(c, parent, &top, NULL);
                if (r < 0)
                        return r;
                parent = top;
        }
        r = ctl_new_call(c, method, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", key, parent);
        if (r >= 0)
                r = ctl_append_labels(m, NULL);
        if (r < 0)
                return ctl_bus_append_error(r);
        r = ctl_send(c, m, CALL_TIMEOUT_DEFAULT, &reply);
        if (r < 0)
                return r;

        if (!arg_mount)
                return arg_json != JSON_OFF ? print_mounts(reply, "TARGET") : 0;

        r = ctl_mount(c, key, arg_target, NULL, &path);
        if (r < 0) {
                if (ctl_remove(c, key) >= 0 && !arg_quiet)
                        log_info("laminactl: removed %s again because it could not be mounted", QUOTE(key));
                return r;
        }
        return print_mounted(key, path);
}

int verb_prepare(Ctl *c, int argc, char **argv) {
        return create_snapshot(c, "Prepare", argc, argv);
}

int verb_view(Ctl *c, int argc, char **argv) {
        return create_snapshot(c, "View", argc, argv);
}

int verb_commit(Ctl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = ctl_new_call(c, "Commit", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", argv[0], argv[1]);
        if (r >= 0)
                r = ctl_append_labels(m, NULL);
        if (r < 0)
                return ctl_bus_append_error(r);
        return ctl_send(c, m, CALL_TIMEOUT_LONG, NULL);
}

#define REPORT_FREED_TIMEOUT_USEC (5ULL * 1000 * 1000)

/* After Removes: waits a few seconds for laminad to free their data (Cleanup of the own
 * namespace, never asking for a password) and says what was freed, or that freeing goes
 * on in the background. Prints nothing with --quiet or --json. */
static void ctl_report_freed(Ctl *c) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t freed;
        int r;

        if (arg_quiet || arg_json != JSON_OFF)
                return;
        r = ctl_new_call(c, "Cleanup", &m);
        if (r < 0)
                return;
        r = sd_bus_message_set_allow_interactive_authorization(m, false);
        if (r >= 0)
                r = sd_bus_call(c->bus, m, REPORT_FREED_TIMEOUT_USEC, &error, &reply);
        if (r >= 0 && sd_bus_message_read(reply, "t", &freed) > 0)
                printf("Freed %s.\n", FORMAT_BYTES(freed));
        else if (r == -ETIMEDOUT || sd_bus_error_has_name(&error, SD_BUS_ERROR_NO_REPLY))
                printf("Freeing the data continues in the background.\n");
        else
                printf("The data is freed in the background.\n");
}

int verb_rm(Ctl *c, int argc, char **argv) {
        /* Like `ctr snapshots rm`: stop at the first failure, so the order can be relied on. */
        for (int i = 0; i < argc; i++) {
                int r = ctl_remove(c, argv[i]);

                if (r < 0)
                        return r;
        }
        ctl_report_freed(c);
        return 0;
}

int verb_mounts(Ctl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = ctl_call(c, "Mounts", CALL_TIMEOUT_DEFAULT, &reply, "s", argv[0]);
        if (r < 0)
                return r;
        return print_mounts(reply, argc > 1 ? argv[1] : "TARGET");
}

static int usage_one(Ctl *c, const char *key, uint64_t *size, uint64_t *inodes) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = ctl_call(c, "Usage", CALL_TIMEOUT_LONG, &reply, "s", key);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "tt", size, inodes);
        return r < 0 ? ctl_bus_parse_error(r) : 0;
}

int verb_usage(Ctl *c, int argc, char **argv) {
        _cleanup_(info_list_done) InfoList l = {};
        _cleanup_strv_free_ char **keys = NULL;
        _cleanup_(listing_done) Listing out = {};
        int r;

        if (argc == 0) {
                r = list_snapshots(c, NULL, &l);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < l.n; i++)
                        if (strv_extend(&keys, l.items[i].name) < 0)
                                return ctl_fail(-ENOMEM, "out of memory");
                argv = keys;
                argc = (int) l.n;
        }

        r = listing_begin(&out, 3, "KEY", "SIZE", "INODES");
        if (r < 0)
                return ctl_fail(r, "out of memory");
        for (int i = 0; i < argc; i++) {
                char size_buf[32], inodes_buf[32];
                uint64_t size, inodes;

                r = usage_one(c, argv[i], &size, &inodes);
                if (r < 0)
                        return r;
                if (listing_is_json()) {
                        json_object *o = json_object_new_object();

                        json_add_string(&o, "name", argv[i]);
                        json_add_uint(&o, "size", size);
                        json_add_uint(&o, "inodes", inodes);
                        if (json_stream_add(&out.json, o) < 0)
                                return ctl_fail(-ENOMEM, "out of memory");
                        continue;
                }
                if (arg_bytes)
                        snprintf(size_buf, sizeof size_buf, "%" PRIu64, size);
                else
                        format_bytes(size_buf, size);
                snprintf(inodes_buf, sizeof inodes_buf, "%" PRIu64, inodes);
                if (table_add_row(&out.table, argv[i], size_buf, inodes_buf) < 0)
                        return ctl_fail(-ENOMEM, "out of memory");
        }
        listing_end(&out, "snapshot", "snapshots");
        return 0;
}

/* "K=V" sets, "K=" deletes, bare "K" sets "true" — `ctr snapshots label`. */
static int label_update(Ctl *c, const char *key, int argc, char **argv, sd_bus_message **reply) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_strv_free_ char **pairs = NULL, **fieldpaths = NULL;
        int r;

        for (int i = 0; i < argc; i++) {
                const char *eq = strchr(argv[i], '=');
                _cleanup_free_ char *k = eq ? strndup(argv[i], (size_t) (eq - argv[i])) : strdup(argv[i]);
                _cleanup_free_ char *fieldpath = k ? strdup_printf("labels.%s", k) : NULL;

                if (!fieldpath || strv_extend(&pairs, k) < 0 || strv_extend(&pairs, eq ? eq + 1 : "true") < 0 ||
                    strv_push(&fieldpaths, fieldpath) < 0)
                        return ctl_fail(-ENOMEM, "out of memory");
                fieldpath = NULL; /* owned by fieldpaths now */
        }

        r = ctl_new_call(c, "Update", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", key);
        if (r >= 0)
                r = ctl_append_labels(m, pairs);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, fieldpaths);
        if (r < 0)
                return ctl_bus_append_error(r);
        return ctl_send(c, m, CALL_TIMEOUT_DEFAULT, reply);
}

int verb_label(Ctl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(ctl_info_clear) CtlInfo info = {};
        int r;

        if (argc == 1)
                r = ctl_stat(c, argv[0], false, &reply, &info);
        else {
                r = label_update(c, argv[0], argc - 1, argv + 1, &reply);
                if (r >= 0) {
                        r = ctl_info_read(reply, &info);
                        r = r < 0 ? ctl_bus_parse_error(r) : 0;
                }
        }
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF)
                return json_print(json_labels(info.labels), arg_json);
        for (const char **p = info.labels; p && p[0]; p += 2) {
                fputs(p == info.labels ? "" : ",", stdout);
                ctl_print_escaped(p[0]);
                putchar('=');
                ctl_print_escaped(p[1]);
        }
        if (info.labels && info.labels[0])
                putchar('\n');
        return 0;
}

int verb_cleanup(Ctl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint64_t reclaimed;
        int r;

        r = ctl_remove_stale_imports(c);
        if (r < 0)
                return r;
        r = ctl_call(c, "Cleanup", CALL_TIMEOUT_LONG, &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "t", &reclaimed);
        if (r < 0)
                return ctl_bus_parse_error(r);
        if (arg_json != JSON_OFF)
                return json_print_object("reclaimed", 'u', reclaimed, NULL);
        if (!arg_quiet)
                printf("Reclaimed %s.\n", FORMAT_BYTES(reclaimed));
        return 0;
}

int verb_snapshotters(Ctl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(listing_done) Listing out = {};
        _cleanup_free_ char *def = NULL;
        const char *name, *path;
        int r;

        r = ctl_get_manager_string(c, "DefaultSnapshotter", &def);
        if (r < 0)
                return r;
        r = ctl_call_manager(c, "ListSnapshotters", &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(so)");
        if (r < 0)
                return ctl_bus_parse_error(r);
        r = listing_begin(&out, 3, "NAME", "DEFAULT", "PATH");
        if (r < 0)
                return ctl_fail(r, "out of memory");
        while ((r = sd_bus_message_read(reply, "(so)", &name, &path)) > 0) {
                if (listing_is_json()) {
                        json_object *o = json_object_new_object();

                        json_add_string(&o, "name", name);
                        json_add_bool(&o, "default", streq(name, def));
                        json_add_string(&o, "path", path);
                        r = json_stream_add(&out.json, o);
                } else
                        r = table_add_row(&out.table, name, streq(name, def) ? "yes" : "no", path);
                if (r < 0)
                        return ctl_fail(r, "out of memory");
        }
        if (r < 0)
                return ctl_bus_parse_error(r);
        listing_end(&out, "snapshotter", "snapshotters");
        return 0;
}
