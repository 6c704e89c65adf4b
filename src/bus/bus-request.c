/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "bus-error.h"
#include "bus-request.h"
#include "bus-track.h"
#include "bus-util.h"
#include "strutil.h"

/* The key and the target as polkit details carry them (rules and the prompt's $(key) and
 * $(target)): at most BUS_POLKIT_KEY_MAX (BUS_POLKIT_TARGET_MAX) characters from a small set,
 * so that they can neither rewrite the authentication prompt nor make polkitd hold
 * megabytes. One not shown as it is carries a "?", which no detail shown as it is has: a
 * rule that matches a key (or target) exactly matches that one alone. */
#define BUS_POLKIT_KEY_MAX 64u
#define BUS_POLKIT_TARGET_MAX 128u

BusRequest *bus_request_free(BusRequest *req) {
        if (!req)
                return NULL;
        free(req->key);
        free(req->parent);
        free(req->name);
        free(req->target);
        labels_clear(&req->labels);
        strv_free(req->strv);
        safe_close(req->layer_fd);
        free(req->path);
        safe_close(req->userns_fd);
        bus_track_job_end(req->track);
        free(req->expected_diff_id);
        free(req->media_type);
        free(req->cursor);
        free(req->config);
        mount_spec_list_clear(&req->mounts);
        snapshot_info_list_clear(&req->infos);
        free(req->next_cursor);
        core_image_list_clear(&req->images);
        strv_free(req->removed);
        free(req);
        return NULL;
}

void bus_request_free_void(void *req) {
        bus_request_free(req);
}

int bus_read_checked_key(sd_bus_message *m, const char *what, bool may_be_empty, char **ret,
                         sd_bus_error *error) {
        Error e = ERROR_NULL;
        const char *s;
        char *copy;
        int r;

        r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        if (!(may_be_empty && isempty(s))) {
                r = core_validate_key(what, s, &e);
                if (r < 0)
                        return bus_error_from_core(error, r, &e);
        }
        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        *ret = copy;
        return 0;
}

int bus_read_key(sd_bus_message *m, BusRequest *req, sd_bus_error *error) {
        return bus_read_checked_key(m, "key", false, &req->key, error);
}

static const BusOption *option_find(const BusOption *options, const char *name) {
        for (const BusOption *o = options; o->name; o++)
                if (streq(o->name, name))
                        return o;
        return NULL;
}

static int option_unknown(const char *method, const BusOption *options, const char *name, sd_bus_error *error) {
        char list[256] = "";
        size_t n = 0;

        for (const BusOption *o = options; o->name; o++)
                n++;
        for (size_t i = 0; i < n; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
                         options[i].name);
        return bus_error_setf(error, EINVAL, "unknown %s option %s; use %s", method, LOG_KEY(name), list);
}

static int option_read_value(sd_bus_message *m, const char *method, const BusOption *o, sd_bus_error *error) {
        const char *value;
        int b, r;

        if (o->type == 'b') {
                r = sd_bus_message_read(m, "v", "b", &b);
                if (r == -ENXIO)
                        return bus_error_setf(error, EINVAL, "%s option %s must be a boolean (b)", method, o->name);
                if (r >= 0)
                        *(bool *) o->slot = b;
                return r;
        }
        assert(o->type == 's');
        r = sd_bus_message_read(m, "v", "s", &value);
        if (r == -ENXIO)
                return bus_error_setf(error, EINVAL, "%s option %s must be a string (s)", method, o->name);
        if (r < 0)
                return r;
        if (strlen(value) > BUS_OPTION_MAX)
                return bus_error_setf(error, EINVAL, "%s option %s is longer than %u bytes", method, o->name,
                                      BUS_OPTION_MAX);
        free(*(char **) o->slot);
        *(char **) o->slot = strdup(value);
        return *(char **) o->slot ? 0 : -ENOMEM;
}

int bus_read_options(sd_bus_message *m, const char *method, const BusOption *options, sd_bus_error *error) {
        const char *name;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const BusOption *o;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                o = option_find(options, name);
                if (!o)
                        return option_unknown(method, options, name, error);
                r = option_read_value(m, method, o, error);
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

int bus_read_labels(sd_bus_message *m, Labels *ret, sd_bus_error *error) {
        _cleanup_(labels_clear) Labels read = LABELS_NULL; /* unsorted, as sent */
        size_t allocated = 0, total = 0;
        const char *key, *value;
        Error e = ERROR_NULL;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "{ss}", &key, &value)) > 0) {
                size_t pair = strlen(key) + strlen(value);

                /* Limits first, so a huge array costs no more than its first pair too many. */
                if (isempty(key))
                        return bus_error_setf(error, EINVAL, "label keys must not be empty");
                if (pair > LABEL_PAIR_MAX)
                        return bus_error_setf(error, EINVAL,
                                              "label %s: key and value are %zu bytes, more than the limit of %u; "
                                              "shorten it",
                                              LOG_KEY(key), pair, LABEL_PAIR_MAX);
                total += pair;
                if (total > LABELS_TOTAL_MAX)
                        return bus_error_setf(error, EINVAL,
                                              "the labels of one call may have %u bytes in all; drop some",
                                              LABELS_TOTAL_MAX);
                if (GREEDY_REALLOC(read.items, allocated, read.n + 1, 16) < 0)
                        return -ENOMEM;
                read.items[read.n] = (Label) { .key = strdup(key), .value = strdup(value) };
                if (!read.items[read.n].key || !read.items[read.n].value) {
                        free(read.items[read.n].key);
                        free(read.items[read.n].value);
                        return -ENOMEM;
                }
                read.n++;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        r = labels_build(TAKE_PTR(read.items), read.n, ret);
        read.n = 0;
        if (r < 0)
                return r;
        r = labels_validate(ret, &e);
        if (r < 0) {
                labels_clear(ret);
                return bus_error_from_core(error, r, &e);
        }
        return 0;
}

static int read_strv_into(sd_bus_message *m, const char *what, StrvBuilder *b, sd_bus_error *error) {
        size_t total = 0;
        const char *s;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "s");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "s", &s)) > 0) {
                total += strlen(s);
                if (b->n >= BUS_STRV_MAX || total > BUS_STRV_BYTES_MAX)
                        return bus_error_setf(error, EINVAL,
                                              "at most %u %s of %u bytes in all may be given; use fewer",
                                              BUS_STRV_MAX, what, BUS_STRV_BYTES_MAX);
                r = strv_builder_extend(b, s);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

int bus_read_strv(sd_bus_message *m, const char *what, char ***ret, sd_bus_error *error) {
        StrvBuilder b = {};
        int r;

        r = read_strv_into(m, what, &b, error);
        if (r < 0) {
                strv_free(b.l);
                return r;
        }
        *ret = b.l;
        return 0;
}

static int object_namespace(BusSnapshotter *s, sd_bus_message *m, uid_t caller, uid_t *ret) {
        const char *path = sd_bus_message_get_path(m);

        /* BUS_DEFAULT_PATH is registered for the default snapshotter only. */
        if (streq(path, s->path) || streq(path, BUS_DEFAULT_PATH)) {
                *ret = caller;
                return 0;
        }
        /* The find callbacks let only <user_path>/<uid> and BUS_DEFAULT_USER_PATH/<uid> through. */
        if (bus_parse_user_path(s->user_path, path, ret) >= 0)
                return 0;
        return bus_parse_user_path(BUS_DEFAULT_USER_PATH, path, ret);
}

/* buf: max + 1 bytes. Any other byte becomes "?"; a longer value is cut to max - 4
 * characters followed by "?...". */
static const char *polkit_detail(const char *value, size_t max, char *buf) {
        static const char safe[] = " ._-:/@+=,~#%";
        size_t n = 0;

        for (const char *c = value; *c && n < max; c++)
                buf[n++] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                                           strchr(safe, *c) ? *c : '?';
        if (strlen(value) > max)
                memcpy(buf + max - 4, "?...", 4);
        buf[n] = 0;
        return buf;
}

/* Asks whether the caller holds action (details: snapshotter, verb, key). Returns 1 to
 * go on, 0 when a decision is pending, or a negative errno. */
static int bus_request_verify(const BusRequest *req, sd_bus_message *m, const char *action,
                              sd_bus_error *error) {
        char key[BUS_POLKIT_KEY_MAX + 1], name[BUS_POLKIT_KEY_MAX + 1], target[BUS_POLKIT_TARGET_MAX + 1],
                namespace[sizeof("4294967295")];
        const char *details[13] = {
                "snapshotter", core_snapshotter_name(req->snapshotter->core),
                "verb", req->verb,
                "namespace", namespace,
        };
        size_t n = 6;
        int r;

        /* Whose snapshots: a rule on a key alone would grant it in every namespace. */
        snprintf(namespace, sizeof namespace, "%u", (unsigned) req->ns);
        if (req->key) {
                details[n++] = "key";
                details[n++] = polkit_detail(req->key, BUS_POLKIT_KEY_MAX, key);
        }
        /* The name a call gives (Commit's, TagImage's new one): part of what it changes. */
        if (req->name) {
                details[n++] = "name";
                details[n++] = polkit_detail(req->name, BUS_POLKIT_KEY_MAX, name);
        }
        /* What a caller-chosen mount would cover is what an administrator is asked about. */
        if (!isempty(req->target)) {
                details[n++] = "target";
                details[n++] = polkit_detail(req->target, BUS_POLKIT_TARGET_MAX, target);
        }

        r = bus_verify(req->snapshotter->context, m, action, details, error);
        if (r < 0)
                log_request(req, LOG_NOTICE, ": %s denied", action);
        return r;
}

int bus_request_begin(BusSnapshotter *s, sd_bus_message *m, const char *verb, const char *own_action,
                      bus_read_fn read, BusRequest **ret, sd_bus_error *error) {
        _cleanup_(bus_request_freep) BusRequest *req = NULL;
        AuthRegistry *auth = s->context->auth;
        const char *actions[2];
        int r;

        req = auth_take_data(auth, m);
        if (!req) {
                req = calloc(1, sizeof *req);
                if (!req)
                        return -ENOMEM;
                *req = (BusRequest) { .snapshotter = s, .verb = verb, .layer_fd = -EBADF, .userns_fd = -EBADF };

                r = bus_caller_uid(s->context, m, &req->caller, error);
                if (r < 0)
                        return r;
                r = object_namespace(s, m, req->caller, &req->ns);
                if (r < 0)
                        return bus_error_setf(error, EINVAL, "invalid object path %s", sd_bus_message_get_path(m));
                if (read) {
                        r = read(m, req, error);
                        if (r < 0)
                                return r;
                }
        }

        actions[0] = req->ns != req->caller ? BUS_ACTION_MANAGE : own_action;
        actions[1] = req->extra_action;
        for (size_t i = 0; i < ELEMENTSOF(actions); i++) {
                if (!actions[i])
                        continue;
                r = bus_request_verify(req, m, actions[i], error);
                if (r < 0)
                        return r;
                if (r == 0) {
                        /* Pending: the request waits with the check. */
                        r = auth_set_data(auth, m, req, bus_request_free_void);
                        if (r < 0)
                                return r;
                        TAKE_PTR(req);
                        return 1;
                }
        }

        *ret = TAKE_PTR(req);
        return 0;
}

int bus_request_fail(const BusRequest *req, int r, const Error *e, sd_bus_error *error) {
        r = bus_error_from_core(error, r, e);
        log_request(req, LOG_INFO, ": %s: %s", error->name, error->message);
        return r;
}

/* Sends the signal to the caller alone (unless it muted the signals of its own calls). */
static int emit_to_caller(const BusRequest *req, const char *sender, const char *member, const char *types,
                          va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *signal = NULL;
        sd_bus *bus = req->snapshotter->context->bus;
        va_list aq;
        int r;

        if (bus_watchers_muted(req->snapshotter->context->watchers, sender))
                return 0;
        r = sd_bus_message_new_signal(bus, &signal, req->snapshotter->path, BUS_SNAPSHOTTER_INTERFACE, member);
        if (r >= 0 && sender) /* no sender: a direct connection, whose peer is the caller */
                r = sd_bus_message_set_destination(signal, sender);
        if (r >= 0) {
                va_copy(aq, ap);
                r = sd_bus_message_appendv(signal, types, aq);
                va_end(aq);
        }
        if (r >= 0)
                r = sd_bus_send(bus, signal, NULL);
        return r;
}

/* Never broadcast: a broadcast on the system bus reaches every connection, and the keys,
 * names and paths of one user's namespace are nobody else's business (and root's active
 * snapshots are not visible to users either). The caller is the one authorized for the
 * namespace; watchers of the namespace's uid and root's watchers get a copy (bus-watch.c).
 * Sent after the reply (ApplyProgress: while the call runs), so the caller reads the reply
 * first, then the signal: the bus keeps the order of one sender's messages. */
void bus_request_emit(const BusRequest *req, sd_bus_message *m, const char *member, const char *types, ...) {
        const char *sender = sd_bus_message_get_sender(m);
        va_list ap;
        int r;

        va_start(ap, types);
        r = emit_to_caller(req, sender, member, types, ap);
        va_end(ap);
        if (r < 0)
                log_warning_errno(r, "%s: failed to send %s: %m", core_snapshotter_name(req->snapshotter->core),
                                  member);

        va_start(ap, types);
        bus_watchers_emitv(req->snapshotter->context->watchers, req->snapshotter, member, req->ns, sender, types, ap);
        va_end(ap);
}
