/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "macro.h"

/* Callers that leave the bus (exit, are killed, lose their connection) while laminad works
 * for them: their Applies are cancelled (the unpack helper is killed), and the snapshots they
 * made transient (label org.lamina.transient = their unique name, at Prepare or View) are
 * removed once none of their Applies runs any more. One sd_bus_track per unique name that has
 * either; unique names are never reused on a bus. Loop thread only. */

typedef struct BusTracks BusTracks;
typedef struct BusTrackJob BusTrackJob;
typedef struct BusSnapshotter BusSnapshotter;

/* A connection holds at most this many transient snapshots at a time. Each connection
 * watched costs laminad a match rule on the bus (dbus-daemon allows 512 per connection,
 * shared with the watchers and pending polkit checks): at most BUS_TRACKED_MAX connections
 * hold transient snapshots, fairly shared among uids (fair-share.h, at most
 * BUS_TRACKED_PER_UID each); Applies, at most the job slots, come on top. */
#define BUS_TRANSIENT_PER_CONNECTION 64u
#define BUS_TRACKED_MAX 128u
#define BUS_TRACKED_PER_UID 16u

int bus_tracks_new(sd_bus *bus, BusTracks **ret);
BusTracks *bus_tracks_free(BusTracks *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(BusTracks *, bus_tracks_free);
/* Whether some connection still has transient snapshots or Applies: no idle exit then. */
bool bus_tracks_any(const BusTracks *t);

/* Registers an Apply of uid's for m's sender; *ret carries an eventfd that becomes readable
 * when the sender leaves (already, if it has). When the bus refuses to watch the sender, the
 * Apply runs unwatched (logged). */
int bus_track_job(BusTracks *t, sd_bus_message *m, uid_t uid, BusTrackJob **ret);
int bus_track_job_cancel_fd(const BusTrackJob *j);
/* The Apply has ended; its sender's transient snapshots go now if it left meanwhile. */
BusTrackJob *bus_track_job_end(BusTrackJob *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(BusTrackJob *, bus_track_job_end);

/* Checks the label org.lamina.transient of a Prepare or View by uid: absent (0), or the
 * sender's unique name with room for one more (1); else InvalidArgument or LimitsExceeded. */
int bus_track_transient_check(BusTracks *t, sd_bus_message *m, uid_t uid, const char *value, sd_bus_error *error);
/* After the Prepare or View made it: key in ns of s goes when m's sender goes (at once if
 * it has gone already). */
int bus_track_transient(BusTracks *t, sd_bus_message *m, uid_t uid, BusSnapshotter *s, uid_t ns, const char *key);
/* At start: whether laminad last ran on this bus (dbus-daemon makes a new ID each time it
 * starts: after a reboot or its restart, unique names start again), by the bus ID recorded
 * in state_dir; records this bus's. *ret_same is set once the answer is known, also when
 * recording this bus's ID then fails (a negative errno). */
int bus_tracks_same_bus(sd_bus *bus, const char *state_dir, bool *ret_same);
/* At start: the transient snapshots of s that laminad left when it stopped go now if their
 * maker has left the bus (one round trip per maker) or was on another bus (same_bus
 * false), else when it does. */
int bus_tracks_recover(BusTracks *t, BusSnapshotter *s, bool same_bus);
