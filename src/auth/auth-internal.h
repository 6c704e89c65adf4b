/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

/* The parts of auth.c that need no bus, exposed for the unit tests. */

#define AUTH_POLKIT_SERVICE "org.freedesktop.PolicyKit1"
#define AUTH_POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define AUTH_POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"

/* CheckAuthorization flag: polkit may ask the user through an agent. */
#define AUTH_POLKIT_ALLOW_USER_INTERACTION 1u

/* Pending polkit queries at most; more would run into dbus-daemon's per-connection
 * limit on outstanding replies (128 on the stock system bus). */
#define AUTH_QUERIES_MAX 100u
/* Of which one user may hold this many, so that no user can keep the others waiting. */
#define AUTH_QUERIES_PER_UID 16u

/* Whether a user with mine checks pending gets one more, pending of max being taken: a fair
 * share of the slots. One user holds at most min(AUTH_QUERIES_PER_UID, max / 4) of them, and
 * the last max / 4 are kept for users with none pending, so that a few users whose agents
 * never answer cannot lock the others out. 0, or -EUSERS (over the user's share) or -EBUSY
 * (no slot left for it). */
int auth_admit(size_t mine, size_t pending, size_t max);
size_t auth_share_per_uid(size_t max);

/* A person typing a password needs longer than sd-bus's default 25 s. */
#define AUTH_INTERACTIVE_TIMEOUT_USEC (5ull * 60 * 1000 * 1000)

/* polkit's answer (is_authorized, is_challenge) for a call that did or did not allow
 * interaction, as auth_check() returns it: 1, or a negative errno with error set.
 * what says what the call wants ("prepare \"k\""), for the message. */
int auth_decision(const char *what, const char *action, bool authorized, bool challenge,
                  bool interactive, sd_bus_error *error);

/* A failed CheckAuthorization call (polkit absent, timed out, refused): always a denial,
 * -EACCES with error set. from_polkit: polkitd sent the error (rather than the bus). */
int auth_polkit_failure(const char *what, const char *action, const sd_bus_error *failure,
                        bool from_polkit, sd_bus_error *error);

/* Appends details (NULL-terminated key, value pairs; NULL for none) as a{ss}. */
int auth_append_details(sd_bus_message *m, const char *const *details);
