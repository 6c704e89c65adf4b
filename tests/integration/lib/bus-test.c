/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "bus-test.h"
#include "strutil.h"

/* Apply and Commit of big trees are slow; never the 25 s default (API.md). */
#define BT_CALL_TIMEOUT_USEC (600ULL * 1000 * 1000)

void info_list_clear(InfoList *l) {
        for (size_t i = 0; i < l->n; i++)
                snapshot_info_clear(&l->items[i]);
        free(l->items);
        *l = (InfoList) {};
}

const SnapshotInfo *info_list_find(const InfoList *l, const char *name) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->items[i].name, name))
                        return &l->items[i];
        return NULL;
}

int bt_set_path(BusTest *t, const char *path) {
        char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        free(t->path);
        t->path = p;
        return 0;
}

int bt_open(BusTest *t, const char *snapshotter) {
        _cleanup_free_ char *path = NULL;
        int r;

        *t = (BusTest) { .error = SD_BUS_ERROR_NULL };
        r = sd_bus_open_system(&t->bus);
        if (r < 0)
                return r;
        path = strdup_printf(BT_MANAGER_PATH "/%s", snapshotter);
        if (!path)
                return -ENOMEM;
        t->path = TAKE_PTR(path);
        return 0;
}

void bt_close(BusTest *t) {
        sd_bus_error_free(&t->error);
        t->bus = sd_bus_flush_close_unref(t->bus);
        free(t->path);
        t->path = NULL;
}

static int bt_new_call(BusTest *t, const char *member, sd_bus_message **ret) {
        sd_bus_error_free(&t->error);
        return sd_bus_message_new_method_call(t->bus, ret, BT_SERVICE, t->path,
                                              BT_SNAPSHOTTER_IFACE, member);
}

static int bt_send(BusTest *t, sd_bus_message *m, sd_bus_message **ret_reply) {
        return sd_bus_call(t->bus, m, BT_CALL_TIMEOUT_USEC, &t->error, ret_reply);
}

int bt_call(BusTest *t, const char *path, const char *iface, const char *member,
            sd_bus_message **ret_reply, const char *types, ...) {
        sd_bus_message *m = NULL;
        va_list ap;
        int r;

        sd_bus_error_free(&t->error);
        r = sd_bus_message_new_method_call(t->bus, &m, BT_SERVICE, path ?: t->path, iface, member);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = types ? sd_bus_message_appendv(m, types, ap) : 0;
        va_end(ap);
        if (r >= 0)
                r = bt_send(t, m, ret_reply);
        sd_bus_message_unref(m);
        return r;
}

static int append_labels(sd_bus_message *m, const Labels *labels) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        for (size_t i = 0; labels && i < labels->n; i++) {
                r = sd_bus_message_append(m, "{ss}", labels->items[i].key, labels->items[i].value);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

static int read_labels(sd_bus_message *m, Labels *ret) {
        const char *k, *v;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "{ss}", &k, &v)) > 0) {
                r = labels_set(ret, k, v);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* (sssa{ss}ttu) */
static int read_info(sd_bus_message *m, SnapshotInfo *ret) {
        const char *name, *parent, *kind;
        uint64_t created, updated;
        uint32_t owner;
        int r, k;

        r = sd_bus_message_enter_container(m, 'r', "sssa{ss}ttu");
        if (r <= 0)
                return r;
        r = sd_bus_message_read(m, "sss", &name, &parent, &kind);
        if (r < 0)
                return r;
        k = snapshot_kind_from_string(kind);
        if (k < 0)
                return -EBADMSG;
        *ret = (SnapshotInfo) { .kind = k };
        ret->name = strdup(name);
        ret->parent = isempty(parent) ? NULL : strdup(parent);
        if (!ret->name || (!isempty(parent) && !ret->parent))
                return -ENOMEM;
        r = read_labels(m, &ret->labels);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "ttu", &created, &updated, &owner);
        if (r < 0)
                return r;
        ret->created_usec = created;
        ret->updated_usec = updated;
        ret->owner = owner;
        r = sd_bus_message_exit_container(m);
        return r < 0 ? r : 1;
}

static int read_info_owned(sd_bus_message *m, SnapshotInfo *ret) {
        SnapshotInfo i = {};
        int r;

        r = read_info(m, &i);
        if (r <= 0) {
                snapshot_info_clear(&i);
                return r < 0 ? r : -EBADMSG;
        }
        if (ret)
                *ret = i;
        else
                snapshot_info_clear(&i);
        return 0;
}

/* a(ssas) */
static int read_mounts(sd_bus_message *m, MountSpecList *ret) {
        const char *type, *source;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(ssas)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'r', "ssas")) > 0) {
                char **options = NULL;

                r = sd_bus_message_read(m, "ss", &type, &source);
                if (r < 0)
                        return r;
                r = sd_bus_message_read_strv(m, &options);
                if (r < 0)
                        return r;
                r = ret ? mount_spec_list_add(ret, type, source, options) : (strv_free(options), 0);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

int bt_stat(BusTest *t, const char *key, SnapshotInfo *ret) {
        sd_bus_message *reply = NULL;
        int r;

        r = bt_call(t, NULL, BT_SNAPSHOTTER_IFACE, "Stat", &reply, "s", key);
        if (r >= 0)
                r = read_info_owned(reply, ret);
        sd_bus_message_unref(reply);
        return r;
}

int bt_update(BusTest *t, const char *key, const Labels *labels, char *const *fieldpaths,
              SnapshotInfo *ret) {
        sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = bt_new_call(t, "Update", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", key);
        if (r >= 0)
                r = append_labels(m, labels);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) fieldpaths);
        if (r >= 0)
                r = bt_send(t, m, &reply);
        if (r >= 0)
                r = read_info_owned(reply, ret);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        return r;
}

int bt_usage(BusTest *t, const char *key, uint64_t *ret_size, uint64_t *ret_inodes) {
        sd_bus_message *reply = NULL;
        uint64_t size, inodes;
        int r;

        r = bt_call(t, NULL, BT_SNAPSHOTTER_IFACE, "Usage", &reply, "s", key);
        if (r >= 0)
                r = sd_bus_message_read(reply, "tt", &size, &inodes);
        sd_bus_message_unref(reply);
        if (r < 0)
                return r;
        *ret_size = size;
        *ret_inodes = inodes;
        return 0;
}

int bt_mounts(BusTest *t, const char *key, MountSpecList *ret) {
        sd_bus_message *reply = NULL;
        int r;

        r = bt_call(t, NULL, BT_SNAPSHOTTER_IFACE, "Mounts", &reply, "s", key);
        if (r >= 0)
                r = read_mounts(reply, ret);
        sd_bus_message_unref(reply);
        return r;
}

static int bt_create(BusTest *t, const char *member, const char *key, const char *parent,
                     const Labels *labels, MountSpecList *ret) {
        sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = bt_new_call(t, member, &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", key, parent ?: "");
        if (r >= 0)
                r = append_labels(m, labels);
        if (r >= 0)
                r = bt_send(t, m, &reply);
        if (r >= 0)
                r = read_mounts(reply, ret);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        return r;
}

int bt_prepare(BusTest *t, const char *key, const char *parent, const Labels *labels,
               MountSpecList *ret) {
        return bt_create(t, "Prepare", key, parent, labels, ret);
}

int bt_view(BusTest *t, const char *key, const char *parent, const Labels *labels,
            MountSpecList *ret) {
        return bt_create(t, "View", key, parent, labels, ret);
}

int bt_commit(BusTest *t, const char *name, const char *key, const Labels *labels) {
        sd_bus_message *m = NULL;
        int r;

        r = bt_new_call(t, "Commit", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", name, key);
        if (r >= 0)
                r = append_labels(m, labels);
        if (r >= 0)
                r = bt_send(t, m, NULL);
        sd_bus_message_unref(m);
        return r;
}

int bt_remove(BusTest *t, const char *key) {
        return bt_call(t, NULL, BT_SNAPSHOTTER_IFACE, "Remove", NULL, "s", key);
}

static int info_list_append(InfoList *l, SnapshotInfo *i) {
        SnapshotInfo *items = realloc(l->items, (l->n + 1) * sizeof(SnapshotInfo));

        if (!items)
                return -ENOMEM;
        l->items = items;
        l->items[l->n++] = *i;
        *i = (SnapshotInfo) {};
        return 0;
}

static int read_infos(sd_bus_message *m, InfoList *ret) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(sssa{ss}ttu)");
        if (r < 0)
                return r;
        for (;;) {
                SnapshotInfo i = {};

                r = read_info(m, &i);
                if (r <= 0) {
                        snapshot_info_clear(&i);
                        break;
                }
                r = info_list_append(ret, &i);
                snapshot_info_clear(&i);
                if (r < 0)
                        break;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

int bt_list(BusTest *t, char *const *filters, InfoList *ret) {
        sd_bus_message *m = NULL, *reply = NULL;
        InfoList l = {};
        int r;

        r = bt_new_call(t, "List", &m);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) filters);
        if (r >= 0)
                r = bt_send(t, m, &reply);
        if (r >= 0)
                r = read_infos(reply, &l);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        if (r < 0 || !ret) {
                info_list_clear(&l);
                return r < 0 ? r : 0;
        }
        *ret = l;
        return 0;
}

int bt_cleanup(BusTest *t, uint64_t *ret_reclaimed) {
        sd_bus_message *reply = NULL;
        uint64_t reclaimed;
        int r;

        r = bt_call(t, NULL, BT_SNAPSHOTTER_IFACE, "Cleanup", &reply, NULL);
        if (r >= 0)
                r = sd_bus_message_read(reply, "t", &reclaimed);
        sd_bus_message_unref(reply);
        if (r >= 0 && ret_reclaimed)
                *ret_reclaimed = reclaimed;
        return r < 0 ? r : 0;
}

int bt_mount(BusTest *t, const char *key, const char *target, char *const *options,
             char **ret_path) {
        sd_bus_message *m = NULL, *reply = NULL;
        const char *path;
        int r;

        r = bt_new_call(t, "Mount", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", key, target ?: "");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) options);
        if (r >= 0)
                r = bt_send(t, m, &reply);
        if (r >= 0)
                r = sd_bus_message_read(reply, "s", &path);
        if (r >= 0 && ret_path) {
                *ret_path = strdup(path);
                if (!*ret_path)
                        r = -ENOMEM;
        }
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        return r < 0 ? r : 0;
}

int bt_unmount(BusTest *t, const char *key) {
        return bt_call(t, NULL, BT_SNAPSHOTTER_IFACE, "Unmount", NULL, "s", key);
}

int labels_from_pairs(Labels *ret, ...) {
        const char *k;
        va_list ap;
        int r = 0;

        va_start(ap, ret);
        while (r >= 0 && (k = va_arg(ap, const char *)))
                r = labels_set(ret, k, va_arg(ap, const char *));
        va_end(ap);
        return r;
}

int labels_gc_root(Labels *ret) {
        char buf[64];
        time_t now = time(NULL);
        struct tm tm;

        if (!gmtime_r(&now, &tm) || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EINVAL;
        return labels_set(ret, BT_GC_ROOT_LABEL, buf);
}

int bt_error_is(const BusTest *t, const char *name) {
        char full[256];

        if (!strchr(name, '.')) {
                snprintf(full, sizeof full, BT_ERROR_PREFIX "%s", name);
                name = full;
        }
        return sd_bus_error_has_name(&t->error, name);
}

const char *bt_error_string(const BusTest *t) {
        static char buf[2048];

        if (!sd_bus_error_is_set(&t->error))
                return "(no D-Bus error; a local failure)";
        snprintf(buf, sizeof buf, "%s: %s", t->error.name, t->error.message ?: "");
        return buf;
}

bool bt_case_selected(const char *name, int argc, char **argv) {
        if (argc <= 2)
                return true;
        for (int i = 2; i < argc; i++)
                if (streq(argv[i], name))
                        return true;
        return false;
}
