/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-error.h"
#include "bus-objects.h"
#include "bus-watch.h"
#include "bus.h"
#include "fair-share.h"
#include "log.h"

/* A connection known to the monitor: it watches (Watch, or a GetManagedObjects that was
 * answered), it has GetManagedObjects calls running, or it muted the signals of its own calls
 * (Mute). */
typedef struct Watcher {
        BusWatchers *owner;
        char *name; /* unique bus name */
        uid_t uid;
        bool watching;
        unsigned pending; /* GetManagedObjects calls running */
        bool muted;
        sd_bus_track *track;
} Watcher;

struct BusWatchers {
        sd_bus *bus;
        sd_bus_slot *slot;
        Watcher *items[BUS_WATCHERS_MAX];
        size_t n;
        size_t n_listening; /* items that get the signals */
};

/* Whether w gets the signals: it watches, or it waits for a listing, which must not miss a
 * change made after the listing was read. */
static bool watcher_listens(const Watcher *w) {
        return w->watching || w->pending > 0;
}

static Watcher *watcher_free(Watcher *w) {
        if (!w)
                return NULL;
        sd_bus_track_unref(w->track);
        free(w->name);
        free(w);
        return NULL;
}

static size_t watchers_find(const BusWatchers *ws, const char *name) {
        for (size_t i = 0; i < ws->n; i++)
                if (streq(ws->items[i]->name, name))
                        return i;
        return SIZE_MAX;
}

static void watchers_drop(BusWatchers *ws, size_t i) {
        Watcher *w = ws->items[i];

        ws->items[i] = ws->items[--ws->n];
        if (watcher_listens(w))
                ws->n_listening--;
        log_debug("monitor: %s (uid %u) is gone", w->name, (unsigned) w->uid);
        watcher_free(w);
}

/* After a change of items[i], which listened before or not: counts it, and forgets the
 * connection when nothing is left. */
static void watchers_changed(BusWatchers *ws, size_t i, bool listened) {
        Watcher *w = ws->items[i];

        if (listened && !watcher_listens(w))
                ws->n_listening--;
        else if (!listened && watcher_listens(w))
                ws->n_listening++;
        if (!watcher_listens(w) && !w->muted)
                watchers_drop(ws, i);
}

/* Clears what Unwatch or Unmute ends. */
static void watchers_clear(BusWatchers *ws, const char *name, bool watching, bool muted) {
        size_t i = name ? watchers_find(ws, name) : SIZE_MAX;
        bool listened;

        if (i == SIZE_MAX)
                return;
        listened = watcher_listens(ws->items[i]);
        if (watching)
                ws->items[i]->watching = false;
        if (muted)
                ws->items[i]->muted = false;
        watchers_changed(ws, i, listened);
}

/* The watcher's connection left the bus: forget it (which frees t; sd-bus holds its own
 * reference while calling this). */
static int on_watcher_gone(sd_bus_track *t, void *userdata) {
        Watcher *w = userdata;
        BusWatchers *ws = w->owner;

        for (size_t i = 0; i < ws->n; i++)
                if (ws->items[i] == w) {
                        watchers_drop(ws, i);
                        break;
                }
        return 0;
}

int bus_watchers_admit(uid_t uid, size_t mine, size_t taken) {
        if (uid == 0)
                return taken >= BUS_WATCHERS_MAX ? -EBUSY : 0;
        return fair_share_admit(mine, taken, BUS_WATCHERS_MAX - BUS_WATCHERS_ROOT_RESERVE, BUS_WATCHERS_PER_UID);
}

static int watchers_check_limits(BusWatchers *ws, uid_t uid, sd_bus_error *error) {
        size_t mine = 0;
        int r;

        for (size_t i = 0; i < ws->n; i++)
                if (ws->items[i]->uid == uid)
                        mine++;
        r = bus_watchers_admit(uid, mine, ws->n);
        if (r == -EUSERS)
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "uid %u already has %zu watchers or muted connections (at most %zu "
                                         "per user); end one first",
                                         (unsigned) uid, mine,
                                         fair_share_per_user(BUS_WATCHERS_MAX - BUS_WATCHERS_ROOT_RESERVE,
                                                             BUS_WATCHERS_PER_UID));
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "%zu connections watch or muted already; try again later", ws->n);
        return 0;
}

/* The index of the entry of the caller of m (uid), made when it has none. */
static int watchers_enter(BusWatchers *ws, sd_bus_message *m, uid_t uid, size_t *ret, sd_bus_error *error) {
        const char *sender = sd_bus_message_get_sender(m);
        size_t i;
        Watcher *w;
        int r;

        if (!sender)
                return bus_error_setf(error, EINVAL, "only connections through the bus can watch or mute");
        i = watchers_find(ws, sender);
        if (i != SIZE_MAX) {
                *ret = i;
                return 0;
        }
        r = watchers_check_limits(ws, uid, error);
        if (r < 0)
                return r;

        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->owner = ws;
        w->uid = uid;
        w->name = strdup(sender);
        r = w->name ? sd_bus_track_new(ws->bus, &w->track, on_watcher_gone, w) : -ENOMEM;
        if (r >= 0)
                r = sd_bus_track_add_sender(w->track, m);
        if (r < 0) {
                watcher_free(w);
                return r;
        }
        *ret = ws->n;
        ws->items[ws->n++] = w;
        return 0;
}

/* Adds delta to the GetManagedObjects calls items[i] waits for, and makes it a watcher if watch. */
static void watchers_update(BusWatchers *ws, size_t i, int delta, bool watch) {
        Watcher *w = ws->items[i];
        bool listened = watcher_listens(w);

        assert(delta >= 0 || w->pending > 0);
        w->pending += delta;
        if (watch && !w->watching) {
                w->watching = true;
                log_debug("monitor: %s (uid %u) watches", w->name, (unsigned) w->uid);
        }
        watchers_changed(ws, i, listened);
}

int bus_watchers_begin_pending(BusWatchers *ws, sd_bus_message *m, uid_t uid, sd_bus_error *error) {
        size_t i;
        int r;

        r = watchers_enter(ws, m, uid, &i, error);
        if (r < 0)
                return r;
        watchers_update(ws, i, +1, false);
        return 0;
}

void bus_watchers_end_pending(BusWatchers *ws, const char *name, bool answered) {
        size_t i = watchers_find(ws, name);

        if (i != SIZE_MAX) /* else the connection left */
                watchers_update(ws, i, -1, answered);
}

bool bus_watchers_muted(const BusWatchers *ws, const char *name) {
        size_t i;

        if (!ws || !name)
                return false;
        i = watchers_find(ws, name);
        return i != SIZE_MAX && ws->items[i]->muted;
}

static int method_watch(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusContext *c = userdata;
        size_t i;
        uid_t uid;
        int r;

        r = bus_caller_uid(c, m, &uid, error);
        if (r >= 0)
                r = watchers_enter(c->watchers, m, uid, &i, error);
        if (r < 0)
                return r;
        watchers_update(c->watchers, i, 0, true);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_unwatch(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusContext *c = userdata;

        watchers_clear(c->watchers, sd_bus_message_get_sender(m), true, false);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_mute(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusContext *c = userdata;
        Watcher *w;
        size_t i;
        uid_t uid;
        int r;

        r = bus_caller_uid(c, m, &uid, error);
        if (r >= 0)
                r = watchers_enter(c->watchers, m, uid, &i, error);
        if (r < 0)
                return r;
        w = c->watchers->items[i];
        if (!w->muted)
                log_debug("monitor: %s (uid %u) muted the signals of its own calls", w->name, (unsigned) uid);
        w->muted = true;
        return sd_bus_reply_method_return(m, NULL);
}

static int method_unmute(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusContext *c = userdata;

        watchers_clear(c->watchers, sd_bus_message_get_sender(m), false, true);
        return sd_bus_reply_method_return(m, NULL);
}

/* Every error a caller gets is a documented name (bus_error_ensure()). */
BUS_DEFINE_METHOD(safe_watch, method_watch)
BUS_DEFINE_METHOD(safe_unwatch, method_unwatch)
BUS_DEFINE_METHOD(safe_mute, method_mute)
BUS_DEFINE_METHOD(safe_unmute, method_unmute)

static const sd_bus_vtable bus_monitor_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Watch", "", "", safe_watch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Unwatch", "", "", safe_unwatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Mute", "", "", safe_mute, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Unmute", "", "", safe_unmute, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int bus_watchers_register(BusContext *c) {
        BusWatchers *ws;
        int r;

        ws = calloc(1, sizeof *ws);
        if (!ws)
                return -ENOMEM;
        ws->bus = sd_bus_ref(c->bus);
        c->watchers = ws;
        r = sd_bus_add_object_vtable(c->bus, &ws->slot, BUS_PATH, BUS_MONITOR_INTERFACE, bus_monitor_vtable, c);
        if (r < 0)
                return log_error_errno(r, "failed to register %s on %s: %m", BUS_MONITOR_INTERFACE, BUS_PATH);
        return 0;
}

BusWatchers *bus_watchers_free(BusWatchers *ws) {
        if (!ws)
                return NULL;
        for (size_t i = 0; i < ws->n; i++)
                watcher_free(ws->items[i]);
        sd_bus_slot_unref(ws->slot);
        sd_bus_unref(ws->bus);
        free(ws);
        return NULL;
}

bool bus_watchers_any(const BusWatchers *ws) {
        return ws && ws->n_listening > 0;
}

bool bus_watchers_hold(const BusWatchers *ws) {
        return ws && ws->n > 0;
}

void bus_watchers_send(BusWatchers *ws, uid_t ns, const char *except, const char *path, const char *interface,
                       const char *member, bus_signal_fill_fn fill, void *userdata) {
        if (!ws)
                return;
        for (size_t i = 0; i < ws->n; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *signal = NULL;
                const Watcher *w = ws->items[i];
                int r;

                if (!watcher_listens(w) || (w->uid != ns && w->uid != 0) || (except && streq(w->name, except)))
                        continue;
                r = sd_bus_message_new_signal(ws->bus, &signal, path, interface, member);
                if (r >= 0)
                        r = sd_bus_message_set_destination(signal, w->name);
                if (r >= 0)
                        r = fill(signal, userdata);
                if (r >= 0)
                        r = sd_bus_send(ws->bus, signal, NULL);
                if (r < 0)
                        log_warning_errno(r, "monitor: failed to send %s to %s: %m", member, w->name);
        }
}

typedef struct VaArgs {
        const char *types;
        va_list *ap;
} VaArgs;

static int fill_va(sd_bus_message *signal, void *userdata) {
        VaArgs *a = userdata;
        va_list aq;
        int r;

        va_copy(aq, *a->ap);
        r = sd_bus_message_appendv(signal, a->types, aq);
        va_end(aq);
        return r;
}

void bus_watchers_emitv(BusWatchers *ws, BusSnapshotter *s, const char *member, uid_t ns, const char *except,
                        const char *types, va_list ap) {
        va_list aq;

        if (!bus_watchers_any(ws))
                return;
        va_copy(aq, ap);
        bus_watchers_send(ws, ns, except, s->path, BUS_SNAPSHOTTER_INTERFACE, member, fill_va,
                          &(VaArgs) { types, &aq });
        va_end(aq);
        va_copy(aq, ap);
        bus_objects_changed(s, member, ns, types, aq);
        va_end(aq);
}
