/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bus-error.h"
#include "bus-track.h"
#include "bus.h"
#include "fair-share.h"
#include "log.h"
#include "strutil.h"

typedef struct Transient {
        struct Transient *next;
        BusSnapshotter *snapshotter;
        uid_t ns;
        char *key;
} Transient;

/* One unique name with Applies running or transient snapshots. */
typedef struct Tracked {
        struct Tracked *next;
        BusTracks *tracks;
        char *name;
        uid_t uid;
        sd_bus_track *track; /* NULL once the name is gone */
        sd_event_source *sweep; /* removing its transient snapshots, one per loop iteration */
        BusTrackJob *jobs;
        Transient *transients;
        size_t n_transients;
        bool gone;
} Tracked;

struct BusTrackJob {
        BusTrackJob *next;
        Tracked *owner;
        int cancel_fd;
};

struct BusTracks {
        sd_bus *bus;
        Tracked *list;
};

static Transient *transient_free(Transient *x) {
        Transient *next = x->next;

        free(x->key);
        free(x);
        return next;
}

static void tracked_free(Tracked *t) {
        for (Tracked **p = &t->tracks->list; *p; p = &(*p)->next)
                if (*p == t) {
                        *p = t->next;
                        break;
                }
        assert(!t->jobs);
        while (t->transients)
                t->transients = transient_free(t->transients);
        if (t->track) {
                (void) sd_bus_track_set_userdata(t->track, NULL);
                sd_bus_track_unref(t->track);
        }
        sd_event_source_disable_unref(t->sweep);
        free(t->name);
        free(t);
}

/* Watchers and snapshot objects learn of it as of a Remove ("su": key, ns). */
static void emit_removed(BusSnapshotter *s, uid_t ns, ...) {
        va_list ap;

        va_start(ap, ns);
        bus_watchers_emitv(s->context->watchers, s, "Removed", ns, NULL, "su", ap);
        va_end(ap);
}

/* Removes one transient snapshot of a name that has gone. One that is busy or mounted stays
 * (logged). */
static void tracked_sweep_one(Tracked *t) {
        Transient *x = t->transients;
        const char *sn = core_snapshotter_name(x->snapshotter->core);
        Error e = ERROR_NULL;
        int r;

        r = core_remove_transient(x->snapshotter->core, x->ns, x->key, t->name, &e);
        if (r >= 0) {
                log_info("%s: ns %u: removed transient snapshot %s: %s, which made it, left the bus", sn,
                         (unsigned) x->ns, QUOTE(x->key), t->name);
                emit_removed(x->snapshotter, x->ns, x->key, (uint32_t) x->ns);
        } else if (r != -ENOENT && r != -ESRCH)
                log_warning("%s: ns %u: cannot remove transient snapshot %s of %s, which left the bus: %s", sn,
                            (unsigned) x->ns, QUOTE(x->key), t->name, e.message);
        t->transients = transient_free(x);
        t->n_transients--;
}

static int on_sweep(sd_event_source *source, void *userdata) {
        Tracked *t = userdata;

        if (t->transients)
                tracked_sweep_one(t);
        if (!t->transients)
                tracked_free(t); /* and this source with it */
        return 0;
}

/* The name has gone and none of its Applies runs: its transient snapshots go, one per
 * iteration of the loop, taking turns with calls (a connection may hold many), then t. */
static void tracked_sweep(Tracked *t) {
        sd_event *event = sd_bus_get_event(t->tracks->bus);

        if (t->transients && event && sd_event_add_defer(event, &t->sweep, on_sweep, t) >= 0) {
                /* A defer source fires once unless switched on. */
                if (sd_event_source_set_enabled(t->sweep, SD_EVENT_ON) >= 0) {
                        (void) sd_event_source_set_description(t->sweep, "transient-sweep");
                        return;
                }
                t->sweep = sd_event_source_disable_unref(t->sweep);
        }
        while (t->transients)
                tracked_sweep_one(t);
        tracked_free(t);
}

static void tracked_gone(Tracked *t) {
        t->gone = true;
        for (BusTrackJob *j = t->jobs; j; j = j->next)
                (void) eventfd_write(j->cancel_fd, 1);
        if (!t->jobs)
                tracked_sweep(t);
}

static int on_name_gone(sd_bus_track *track, void *userdata) {
        Tracked *t = userdata;

        if (!t)
                return 1;
        /* When laminad itself loses the bus, every tracked name "vanishes": its callers did
         * not leave, so their Applies run to the end off the bus (as laminad's exit on a
         * lost bus promises), and their transient snapshots stay for the next start. */
        if (sd_bus_is_open(sd_bus_track_get_bus(track)) <= 0) {
                log_debug("%s: laminad lost the bus; not treating it as gone", t->name);
                return 1;
        }
        log_debug("%s left the bus", t->name);
        t->track = sd_bus_track_unref(t->track); /* the dispatcher holds its own reference */
        tracked_gone(t);
        return 1; /* not 0: that would dispatch this again */
}

/* The entry of m's sender, made (and its name tracked) if needed. -ENXIO: the sender has no
 * unique name or has gone already. */
static Tracked *tracked_find(BusTracks *ts, const char *name) {
        for (Tracked *t = ts->list; t; t = t->next)
                if (streq(t->name, name))
                        return t;
        return NULL;
}

static int tracked_get(BusTracks *ts, const char *sender, uid_t uid, Tracked **ret) {
        Tracked *t;
        int r;

        if (!sender || sender[0] != ':')
                return -ENXIO;
        t = tracked_find(ts, sender);
        if (t) {
                *ret = t;
                return 0;
        }
        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->tracks = ts;
        t->uid = uid;
        t->name = strdup(sender);
        if (!t->name) {
                free(t);
                return -ENOMEM;
        }
        t->next = ts->list;
        ts->list = t;
        r = sd_bus_track_new(ts->bus, &t->track, on_name_gone, t);
        if (r >= 0)
                /* Asks the bus whether the name still exists (one round trip per connection). */
                r = sd_bus_track_add_name(t->track, sender);
        if (r < 0) {
                tracked_free(t);
                return r == -ENOMEM ? r : -ENXIO;
        }
        *ret = t;
        return 0;
}

int bus_tracks_new(sd_bus *bus, BusTracks **ret) {
        BusTracks *t = calloc(1, sizeof *t);

        if (!t)
                return -ENOMEM;
        t->bus = bus;
        *ret = t;
        return 0;
}

BusTracks *bus_tracks_free(BusTracks *ts) {
        if (!ts)
                return NULL;
        /* Only at exit, after the jobs: nothing is removed, the names are just let go. */
        while (ts->list) {
                Tracked *t = ts->list;

                while (t->jobs) {
                        BusTrackJob *j = t->jobs;

                        t->jobs = j->next;
                        j->owner = NULL;
                }
                tracked_free(t);
        }
        free(ts);
        return NULL;
}

bool bus_tracks_any(const BusTracks *ts) {
        return ts && ts->list;
}

int bus_track_job(BusTracks *ts, sd_bus_message *m, uid_t uid, BusTrackJob **ret) {
        _cleanup_free_ BusTrackJob *j = calloc(1, sizeof *j);
        Tracked *t = NULL;
        int r;

        if (!j)
                return -ENOMEM;
        j->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (j->cancel_fd < 0)
                return -errno;
        r = tracked_get(ts, sd_bus_message_get_sender(m), uid, &t);
        if (r >= 0 && t->gone)
                r = -ENXIO; /* its snapshots are being removed; the job must not hold on to t */
        if (r == -ENXIO)
                /* Gone before it started (a polkit check may have waited): it stops at once. */
                (void) eventfd_write(j->cancel_fd, 1);
        if (r < 0) {
                if (r != -ENXIO)
                        log_warning_errno(r, "cannot watch %s, the caller of an Apply; it runs to its end even "
                                          "if the caller leaves: %m", sd_bus_message_get_sender(m));
                *ret = TAKE_PTR(j);
                return 0;
        }
        j->owner = t;
        j->next = t->jobs;
        t->jobs = j;
        *ret = TAKE_PTR(j);
        return 0;
}

int bus_track_job_cancel_fd(const BusTrackJob *j) {
        return j ? j->cancel_fd : 0;
}

BusTrackJob *bus_track_job_end(BusTrackJob *j) {
        Tracked *t;

        if (!j)
                return NULL;
        t = j->owner;
        if (t) {
                for (BusTrackJob **p = &t->jobs; *p; p = &(*p)->next)
                        if (*p == j) {
                                *p = j->next;
                                break;
                        }
                if (!t->jobs && t->gone)
                        tracked_sweep(t);
                else if (!t->jobs && t->n_transients == 0)
                        tracked_free(t);
        }
        safe_close(j->cancel_fd);
        free(j);
        return NULL;
}

/* Whether x is still a transient snapshot of t (not committed, removed or relabelled since). */
static bool transient_holds(const Tracked *t, const Transient *x) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        const char *v;

        if (core_stat(x->snapshotter->core, x->ns, x->key, &info, NULL) < 0)
                return false;
        v = labels_get(&info.labels, CORE_LABEL_TRANSIENT);
        return info.kind != SNAPSHOT_COMMITTED && v && streq(v, t->name);
}

/* Drops the entries of t that no longer name a transient snapshot. */
static void tracked_prune(Tracked *t) {
        for (Transient **p = &t->transients; *p;) {
                if (transient_holds(t, *p)) {
                        p = &(*p)->next;
                        continue;
                }
                *p = transient_free(*p);
                t->n_transients--;
        }
}

/* Connections of uid that hold transient snapshots, and of everyone. */
static void count_holders(const BusTracks *ts, uid_t uid, size_t *ret_mine, size_t *ret_all) {
        size_t mine = 0, all = 0;

        for (const Tracked *t = ts->list; t; t = t->next) {
                if (t->n_transients == 0)
                        continue;
                all++;
                mine += t->uid == uid;
        }
        *ret_mine = mine;
        *ret_all = all;
}

int bus_track_transient_check(BusTracks *ts, sd_bus_message *m, uid_t uid, const char *value, sd_bus_error *error) {
        const char *sender = sd_bus_message_get_sender(m);
        Tracked *t;
        size_t mine, all;

        if (!value)
                return 0;
        if (!sender || !streq(value, sender))
                return bus_error_setf(error, EINVAL,
                                      "label " CORE_LABEL_TRANSIENT " must be your unique bus name (%s), not %s",
                                      sender ?: "none: a direct connection cannot make transient snapshots",
                                      QUOTE(value));
        t = tracked_find(ts, sender);
        if (t && t->n_transients >= BUS_TRANSIENT_PER_CONNECTION)
                tracked_prune(t);
        if (t && t->n_transients >= BUS_TRANSIENT_PER_CONNECTION)
                return bus_error_setf(error, EUSERS,
                                      "this connection holds %u transient snapshots already; commit or remove some first",
                                      BUS_TRANSIENT_PER_CONNECTION);
        if (t && t->n_transients > 0)
                return 1;
        count_holders(ts, uid, &mine, &all);
        if (fair_share_admit(mine, all, BUS_TRACKED_MAX, BUS_TRACKED_PER_UID) < 0)
                return bus_error_setf(error, EUSERS,
                                      "too many connections hold transient snapshots (%zu, %zu of them yours); "
                                      "try again when one has closed", all, mine);
        return 1;
}

/* Removes transient snapshot key of maker, which is gone (why). */
static int remove_left(BusSnapshotter *s, uid_t ns, const char *key, const char *maker, const char *why) {
        Error e = ERROR_NULL;
        int r;

        r = core_remove_transient(s->core, ns, key, maker, &e);
        if (r >= 0) {
                log_info("%s: ns %u: removed transient snapshot %s: %s, which made it, %s",
                         core_snapshotter_name(s->core), (unsigned) ns, QUOTE(key), maker, why);
                emit_removed(s, ns, key, (uint32_t) ns);
        }
        return r == -ENOENT || r == -ESRCH ? 0 : r;
}

/* key in ns of s goes when maker (a unique name) goes, at once if it has gone already. */
static int track_transient(BusTracks *ts, const char *maker, uid_t uid, BusSnapshotter *s, uid_t ns, const char *key) {
        _cleanup_free_ Transient *x = calloc(1, sizeof *x);
        Tracked *t = NULL;
        int r;

        if (!x || !(x->key = strdup(key)))
                return -ENOMEM;
        x->snapshotter = s;
        x->ns = ns;
        r = tracked_get(ts, maker, uid, &t);
        if (r == -ENXIO) {
                /* Gone while it was being made (or while laminad did not run). */
                free(x->key);
                return remove_left(s, ns, key, maker, "has left the bus");
        }
        if (r < 0) {
                free(x->key);
                return log_warning_errno(r, "%s: ns %u: cannot watch the maker of transient snapshot %s: %m",
                                         core_snapshotter_name(s->core), (unsigned) ns, QUOTE(key));
        }
        x->next = t->transients;
        t->transients = TAKE_PTR(x);
        t->n_transients++;
        return 0;
}

int bus_track_transient(BusTracks *ts, sd_bus_message *m, uid_t uid, BusSnapshotter *s, uid_t ns, const char *key) {
        return track_transient(ts, sd_bus_message_get_sender(m), uid, s, ns, key);
}

/* The file in the state directory that names the bus laminad last ran on. */
#define BUS_ID_FILE "bus-id"

int bus_tracks_same_bus(sd_bus *bus, const char *state_dir, bool *ret_same) {
        _cleanup_close_ int dir_fd = -EBADF, fd = -EBADF;
        char now[SD_ID128_STRING_MAX], before[SD_ID128_STRING_MAX] = "";
        sd_id128_t id;
        ssize_t n;
        int r;

        r = sd_bus_get_bus_id(bus, &id);
        if (r < 0)
                return r;
        sd_id128_to_string(id, now);
        dir_fd = open(state_dir, O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return -errno;
        fd = openat(dir_fd, BUS_ID_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
                n = read(fd, before, sizeof before - 1);
                before[n > 0 ? n : 0] = 0;
                *ret_same = streq(before, now);
        } else if (errno == ENOENT)
                *ret_same = true; /* no record (a version without it ran): the names decide */
        else
                return -errno;
        /* Known from here on, also when this bus's ID cannot be recorded (a full disk):
         * another bus stays another. */
        if (fd >= 0 && *ret_same)
                return 0;
        fd = safe_close(fd);
        fd = openat(dir_fd, BUS_ID_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        n = write(fd, now, strlen(now));
        if (n < 0)
                return -errno;
        return n == (ssize_t) strlen(now) ? 0 : -EIO;
}

int bus_tracks_recover(BusTracks *ts, BusSnapshotter *s, bool same_bus) {
        _cleanup_(snapshot_info_list_clear) SnapshotInfoList l = {};
        Error e = ERROR_NULL;
        int r;

        r = core_list_transient(s->core, &l, &e);
        if (r < 0)
                return log_warning_errno(r, "%s: cannot list the transient snapshots left from before: %s",
                                         core_snapshotter_name(s->core), e.message);
        for (size_t i = 0; i < l.n; i++) {
                const char *maker = labels_get(&l.items[i].labels, CORE_LABEL_TRANSIENT);

                if (!maker)
                        continue;
                /* Unique names start again on a new bus (after a reboot or a restart of
                 * dbus-daemon): there, another connection may have the maker's name, and
                 * the maker is gone anyway. */
                if (same_bus)
                        r = track_transient(ts, maker, l.items[i].owner, s, l.items[i].owner, l.items[i].name);
                else
                        r = remove_left(s, l.items[i].owner, l.items[i].name, maker, "was on another bus");
                if (r < 0)
                        log_warning_errno(r, "%s: ns %u: cannot look after transient snapshot %s: %m",
                                          core_snapshotter_name(s->core), (unsigned) l.items[i].owner,
                                          QUOTE(l.items[i].name));
        }
        return 0;
}
