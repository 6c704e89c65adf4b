/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "auth-internal.h"
#include "auth.h"
#include "error.h"
#include "fair-share.h"
#include "log.h"
#include "macro.h"
#include "strutil.h"

/* polkit's answer for one action of a call. */
typedef struct AuthResult {
        char *action;
        int r;              /* 1, or a negative errno with error set */
        sd_bus_error error;
        struct AuthResult *next;
} AuthResult;

/* The polkit checks of one method call. While CheckAuthorization is in flight, slot is
 * set and the call waits here unanswered: only such checks take the caller's slots. When
 * polkit answers, the result is kept and the call is put back into the bus's read queue; its
 * handler runs again from the start and now gets the answer from auth_check(), which then
 * has a defer source at normal priority free the query once the handler has returned (it
 * runs in a later iteration of the loop). Until then an idle-priority one would, for a call
 * whose handler does not ask again; a loop that is never idle never runs it, which is why
 * the normal-priority one does the work (after a busy loop's other sources, not after idle). */
typedef struct AuthQuery {
        AuthRegistry *registry;
        sd_bus_message *request;
        sd_bus_slot *slot;       /* CheckAuthorization in flight */
        sd_bus_slot *watch;      /* the caller's disconnect, during an interactive check */
        sd_event_source *defer;  /* frees the query after the re-dispatch (idle, then normal priority) */
        char *action;            /* the action polkit is asked about */
        char *what;              /* "prepare "key"", for messages */
        bool interactive;
        uid_t uid;
        char cancel_id[32];
        AuthResult *results;
        void *data; /* the caller's parsed request, kept across the wait */
        void (*free_data)(void *data);
        struct AuthQuery *prev, *next;
} AuthQuery;

/* Unique bus names are never reused while the bus runs, and a connection's euid is fixed
 * when it connects: so a caller's uid, once read, holds for every later call from it. */
#define UID_CACHE_SIZE 256

typedef struct UidCacheEntry {
        char *sender;
        uid_t uid;
} UidCacheEntry;

struct AuthRegistry {
        UidCacheEntry uid_cache[UID_CACHE_SIZE];
        size_t uid_cache_next; /* round-robin replacement */
        AuthQuery *queries;
        size_t n_queries;
        size_t max_queries;
        uint64_t n_checks; /* makes cancellation ids unique */
        bool freeing;
        void (*on_idle)(void *userdata);
        void *on_idle_userdata;
};

static AuthResult *auth_result_free(AuthResult *res) {
        AuthResult *next = res->next;

        free(res->action);
        sd_bus_error_free(&res->error);
        free(res);
        return next;
}

static AuthQuery *auth_query_free(AuthQuery *q) {
        AuthRegistry *reg;

        if (!q)
                return NULL;
        reg = q->registry;

        if (q->prev)
                q->prev->next = q->next;
        else
                reg->queries = q->next;
        if (q->next)
                q->next->prev = q->prev;
        reg->n_queries--;

        sd_bus_slot_unref(q->slot);
        sd_bus_slot_unref(q->watch);
        sd_event_source_disable_unref(q->defer);
        sd_bus_message_unref(q->request);
        while (q->results)
                q->results = auth_result_free(q->results);
        if (q->data && q->free_data)
                q->free_data(q->data);
        free(q->action);
        free(q->what);
        free(q);
        if (reg->n_queries == 0 && reg->on_idle && !reg->freeing)
                reg->on_idle(reg->on_idle_userdata);
        return NULL;
}

static const char *details_lookup(const char *const *details, const char *key) {
        for (; details && details[0]; details += 2) {
                assert(details[1]);
                if (streq(details[0], key))
                        return details[1];
        }
        return NULL;
}

/* "prepare "k"" or "cleanup": what the call wants, for messages and logs. */
static char *auth_describe(const char *const *details) {
        const char *verb = details_lookup(details, "verb"), *key = details_lookup(details, "key");

        if (!key)
                return strdup(verb ?: "call");
        return strdup_printf("%s %s", verb ?: "use", QUOTE(key));
}

static int auth_query_new(AuthRegistry *reg, sd_bus_message *m, uid_t uid, AuthQuery **ret) {
        AuthQuery *q;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->registry = reg;
        q->request = sd_bus_message_ref(m);
        q->uid = uid;
        q->next = reg->queries;
        if (q->next)
                q->next->prev = q;
        reg->queries = q;
        reg->n_queries++;
        *ret = q;
        return 0;
}

static AuthQuery *auth_registry_find(AuthRegistry *reg, sd_bus_message *m) {
        /* The query holds a reference on m, so no other message can have its address. */
        for (AuthQuery *q = reg->queries; q; q = q->next)
                if (q->request == m)
                        return q;
        return NULL;
}

/* 0 if action was not decided for this call yet. */
static int auth_query_result(AuthQuery *q, const char *action, sd_bus_error *error) {
        for (AuthResult *res = q->results; res; res = res->next) {
                if (!streq(res->action, action))
                        continue;
                if (res->r < 0)
                        (void) sd_bus_error_copy(error, &res->error);
                return res->r;
        }
        return 0;
}

int auth_decision(const char *what, const char *action, bool authorized, bool challenge,
                  bool interactive, sd_bus_error *error) {
        if (authorized)
                return 1;
        if (challenge && !interactive)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                         "%s needs authentication (%s); call again allowing interactive "
                                         "authorization, with a polkit agent running",
                                         what, action);
        if (challenge)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "%s needs authentication (%s) and none succeeded; "
                                         "run a polkit agent or ask an administrator",
                                         what, action);
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "not authorized to %s (%s); ask an administrator to grant it",
                                 what, action);
}

int auth_polkit_failure(const char *what, const char *action, const sd_bus_error *failure,
                        bool from_polkit, sd_bus_error *error) {
        /* polkitd itself says NameHasNoOwner when the caller left before it was looked up. */
        if (!from_polkit &&
            sd_bus_error_has_names(failure, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                  "cannot %s: polkit is not running to authorize %s; "
                                  "start polkitd or call as root",
                                  what, action);
        else
                sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                  "cannot %s: polkit did not decide on %s (%s: %s); try again",
                                  what, action, failure->name, failure->message ?: "");
        return -EACCES;
}

int auth_append_details(sd_bus_message *m, const char *const *details) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        for (; details && details[0]; details += 2) {
                assert(details[1]);
                r = sd_bus_message_append(m, "{ss}", details[0], details[1]);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

/* Reads polkit's reply into a result for the action that was asked about. */
static int auth_query_record(AuthQuery *q, sd_bus_message *reply) {
        const sd_bus_error *failure = sd_bus_message_get_error(reply);
        AuthResult *res;
        int authorized, challenge, r;

        res = calloc(1, sizeof(*res));
        if (!res)
                return -ENOMEM;
        res->action = TAKE_PTR(q->action);
        res->error = SD_BUS_ERROR_NULL;

        if (failure) {
                /* Errors the bus or sd-bus made up come from org.freedesktop.DBus. */
                const char *sender = sd_bus_message_get_sender(reply);
                bool from_polkit = sender && sender[0] == ':';

                res->r = auth_polkit_failure(q->what, res->action, failure, from_polkit, &res->error);
        } else {
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0)
                        res->r = sd_bus_error_setf(&res->error, SD_BUS_ERROR_ACCESS_DENIED,
                                                   "cannot %s: polkit's answer on %s is unreadable (%s)",
                                                   q->what, res->action, strerror(-r));
                else
                        res->r = auth_decision(q->what, res->action, authorized, challenge,
                                               q->interactive, &res->error);
        }

        if (res->r > 0)
                log_debug("polkit: uid %u %s: %s authorized", (unsigned) q->uid, q->what, res->action);
        else
                log_info("polkit: uid %u %s: %s denied: %s", (unsigned) q->uid, q->what, res->action,
                         res->error.message);
        res->next = q->results;
        q->results = res;
        return 0;
}

static int auth_query_defer_free_cb(sd_event_source *s, void *userdata) {
        auth_query_free(userdata);
        return 0;
}

static int auth_query_defer_free(AuthQuery *q) {
        sd_event *event = sd_bus_get_event(sd_bus_message_get_bus(q->request));
        int r;

        assert(!q->defer);
        if (!event)
                return -ENXIO;
        r = sd_event_add_defer(event, &q->defer, auth_query_defer_free_cb, q);
        if (r < 0)
                return r;
        return sd_event_source_set_priority(q->defer, SD_EVENT_PRIORITY_IDLE);
}

static int auth_query_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        AuthQuery *q = userdata;
        sd_bus *bus = sd_bus_message_get_bus(q->request);
        int r;

        q->slot = sd_bus_slot_unref(q->slot);
        q->watch = sd_bus_slot_unref(q->watch);

        r = auth_query_record(q, reply);
        if (r >= 0)
                r = auth_query_defer_free(q);
        if (r >= 0)
                r = sd_bus_message_rewind(q->request, true);
        if (r >= 0)
                r = sd_bus_enqueue_for_read(bus, q->request);
        if (r < 0) {
                log_error_errno(r, "polkit: cannot resume the call after polkit answered: %m");
                (void) sd_bus_reply_method_errno(q->request, r, NULL);
                auth_query_free(q);
        }
        return 0;
}

/* The caller went away while polkit may be asking a person on its behalf: withdraw. */
static int auth_query_caller_gone(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        AuthQuery *q = userdata;
        const char *name, *old_owner, *new_owner;
        int r;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !isempty(new_owner))
                return 0;
        q->watch = sd_bus_slot_unref(q->watch);
        if (!q->slot)
                return 0;

        log_info("polkit: caller %s of %s left; cancelling the check", name, q->what);
        r = sd_bus_call_method_async(sd_bus_message_get_bus(q->request), NULL, AUTH_POLKIT_SERVICE,
                                     AUTH_POLKIT_PATH, AUTH_POLKIT_INTERFACE, "CancelCheckAuthorization",
                                     NULL, NULL, "s", q->cancel_id);
        if (r < 0)
                log_warning_errno(r, "polkit: cannot cancel the check of %s: %m", q->what);
        return 0;
}

/* Without this, sd-bus would close the whole connection when AddMatch fails. */
static int auth_query_watch_installed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        AuthQuery *q = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e) {
                log_warning("polkit: cannot watch the caller of %s: %s", q->what, e->message ?: e->name);
                q->watch = sd_bus_slot_unref(q->watch);
        }
        return 0;
}

static int auth_query_watch_caller(AuthQuery *q, const char *sender) {
        _cleanup_free_ char *match = NULL;

        match = strdup_printf("type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                              "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='%s'",
                              sender);
        if (!match)
                return -ENOMEM;
        return sd_bus_add_match_async(sd_bus_message_get_bus(q->request), &q->watch, match,
                                      auth_query_caller_gone, auth_query_watch_installed, q);
}

/* Sends CheckAuthorization for action; q must have no check in flight. */
static int auth_query_start(AuthQuery *q, const char *action, const char *const *details) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_free_ char *a = NULL, *what = NULL;
        sd_bus *bus = sd_bus_message_get_bus(q->request);
        const char *sender = sd_bus_message_get_sender(q->request);
        int r;

        assert(!q->slot);

        if (!sender)
                return -EBADMSG;
        if (!sd_bus_get_event(bus))
                return -ENXIO; /* the re-dispatch needs the bus on an event loop */
        a = strdup(action);
        what = auth_describe(details);
        if (!a || !what)
                return -ENOMEM;
        q->interactive = sd_bus_message_get_allow_interactive_authorization(q->request) > 0;
        snprintf(q->cancel_id, sizeof(q->cancel_id), "lamina-%" PRIu64, ++q->registry->n_checks);

        r = sd_bus_message_new_method_call(bus, &call, AUTH_POLKIT_SERVICE, AUTH_POLKIT_PATH,
                                           AUTH_POLKIT_INTERFACE, "CheckAuthorization");
        if (r < 0)
                return r;
        r = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s", sender, action);
        if (r < 0)
                return r;
        r = auth_append_details(call, details);
        if (r < 0)
                return r;
        r = sd_bus_message_append(call, "us", q->interactive ? AUTH_POLKIT_ALLOW_USER_INTERACTION : 0,
                                  q->cancel_id);
        if (r < 0)
                return r;
        r = sd_bus_call_async(bus, &q->slot, call, auth_query_reply, q,
                              q->interactive ? AUTH_INTERACTIVE_TIMEOUT_USEC : 0);
        if (r < 0)
                return r;
        if (q->interactive) {
                r = auth_query_watch_caller(q, sender);
                if (r < 0)
                        log_warning_errno(r, "polkit: cannot watch caller %s: %m", sender);
        }

        free(q->action);
        q->action = TAKE_PTR(a);
        free(q->what);
        q->what = TAKE_PTR(what);
        /* A query that is asked again lives on until the next re-dispatch. */
        q->defer = sd_event_source_disable_unref(q->defer);
        log_debug("polkit: uid %u %s: asking about %s%s", (unsigned) q->uid, q->what, action,
                  q->interactive ? " (interactive)" : "");
        return 0;
}

static int caller_uid_from_bus(sd_bus_message *m, uid_t *ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uint64_t augmented;
        int r;

        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
        if (r < 0)
                return r;
        /* The bus records the euid at connect time; one read from /proc instead could be
         * raced by the caller (exec of a setuid binary), so it does not count. */
        augmented = sd_bus_creds_get_augmented_mask(creds);
        if (augmented & SD_BUS_CREDS_EUID)
                return -EPERM;
        return sd_bus_creds_get_euid(creds, ret);
}

int auth_caller_uid(AuthRegistry *reg, sd_bus_message *m, uid_t *ret) {
        const char *sender = sd_bus_message_get_sender(m);
        UidCacheEntry *slot;
        int r;

        assert(reg);
        assert(m);
        assert(ret);

        if (sender && sender[0] == ':')
                for (size_t i = 0; i < UID_CACHE_SIZE; i++)
                        if (reg->uid_cache[i].sender && streq(reg->uid_cache[i].sender, sender)) {
                                *ret = reg->uid_cache[i].uid;
                                return 0;
                        }

        r = caller_uid_from_bus(m, ret);
        if (r < 0 || !sender || sender[0] != ':')
                return r;

        slot = &reg->uid_cache[reg->uid_cache_next];
        reg->uid_cache_next = (reg->uid_cache_next + 1) % UID_CACHE_SIZE;
        free(slot->sender);
        slot->sender = strdup(sender); /* NULL on ENOMEM: then the next call just asks again */
        slot->uid = *ret;
        return 0;
}

size_t auth_share_per_uid(size_t max) {
        return fair_share_per_user(max, AUTH_QUERIES_PER_UID);
}

int auth_admit(size_t mine, size_t pending, size_t max) {
        return fair_share_admit(mine, pending, max, AUTH_QUERIES_PER_UID);
}

int auth_check(sd_bus_message *m, const char *action, const char *const *details, AuthRegistry *reg,
               sd_bus_error *error) {
        AuthQuery *q;
        uid_t uid;
        int r;

        assert(m);
        assert(action);
        assert(reg);

        q = auth_registry_find(reg, m);
        if (q && !q->slot && q->defer) {
                /* The re-dispatch: the query goes once this handler has returned, unless it
                 * asks about another action now (auth_query_start() keeps it then). */
                r = sd_event_source_set_priority(q->defer, SD_EVENT_PRIORITY_NORMAL);
                if (r < 0)
                        log_debug_errno(r, "polkit: cannot free the check of %s soon; when idle: %m", q->what);
        }
        if (q) {
                r = auth_query_result(q, action, error);
                if (r != 0)
                        return r;
                if (q->slot)
                        return 0; /* still waiting for polkit */
        }

        r = auth_caller_uid(reg, m, &uid);
        if (r < 0) {
                log_warning_errno(r, "polkit: cannot determine the user ID of caller %s: %m",
                                  sd_bus_message_get_sender(m) ?: "(none)");
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "cannot determine the caller's user ID (%s); refusing",
                                         strerror(-r));
        }
        if (uid == 0)
                return 1;

        if (!q) {
                size_t mine = 0, asking = 0;

                /* Only checks polkit has not answered count: an answered one is done. */
                for (AuthQuery *i = reg->queries; i; i = i->next) {
                        asking += !!i->slot;
                        mine += i->slot && i->uid == uid;
                }
                r = auth_admit(mine, asking, reg->max_queries);
                if (r == -EUSERS)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                                 "you have %zu authorization checks pending (at most %zu per user); "
                                                 "wait for their answers before calling again",
                                                 mine, auth_share_per_uid(reg->max_queries));
                if (r < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                                 "too many authorization checks are pending; try again later");
                r = auth_query_new(reg, m, uid, &q);
                if (r < 0)
                        return r;
        }
        r = auth_query_start(q, action, details);
        if (r < 0) {
                log_error_errno(r, "polkit: cannot ask about %s: %m", action);
                if (!q->results)
                        auth_query_free(q);
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "cannot ask polkit about %s (%s); refusing", action, strerror(-r));
        }
        return 0;
}

int auth_registry_new(AuthRegistry **ret) {
        AuthRegistry *reg;

        assert(ret);

        reg = calloc(1, sizeof(*reg));
        if (!reg)
                return -ENOMEM;
        reg->max_queries = AUTH_QUERIES_MAX;
        *ret = reg;
        return 0;
}

AuthRegistry *auth_registry_free(AuthRegistry *reg) {
        if (!reg)
                return NULL;
        reg->freeing = true;
        while (reg->queries)
                auth_query_free(reg->queries);
        for (size_t i = 0; i < UID_CACHE_SIZE; i++)
                free(reg->uid_cache[i].sender);
        free(reg);
        return NULL;
}

void auth_registry_set_max(AuthRegistry *reg, size_t max) {
        assert(reg);
        if (max < AUTH_QUERIES_PER_UID)
                max = AUTH_QUERIES_PER_UID;
        reg->max_queries = max < AUTH_QUERIES_MAX ? max : AUTH_QUERIES_MAX;
}

int auth_set_data(AuthRegistry *reg, sd_bus_message *m, void *data, void (*free_data)(void *data)) {
        AuthQuery *q = auth_registry_find(reg, m);

        if (!q)
                return -ENOENT;
        assert(!q->data);
        q->data = data;
        q->free_data = free_data;
        return 0;
}

void *auth_take_data(AuthRegistry *reg, sd_bus_message *m) {
        AuthQuery *q = auth_registry_find(reg, m);

        if (!q)
                return NULL;
        return TAKE_PTR(q->data);
}

size_t auth_registry_pending(AuthRegistry *reg) {
        return reg ? reg->n_queries : 0;
}

void auth_registry_set_on_idle(AuthRegistry *reg, void (*cb)(void *userdata), void *userdata) {
        assert(reg);
        reg->on_idle = cb;
        reg->on_idle_userdata = userdata;
}
