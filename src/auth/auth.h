/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "macro.h"

/* Asynchronous polkit checks in systemd's style (bus-polkit.c): a method handler calls
 * auth_check() before changing anything. It returns 1 when the caller is authorized
 * (root, by euid, is never asked), 0 when a polkit query is now pending (the handler
 * returns 1 at once; the message is re-dispatched when polkit answers, and the
 * handler runs again from the start), or a negative errno with error set
 * (AccessDenied, InteractiveAuthorizationRequired, LimitsExceeded). A handler may ask
 * about several actions in turn (mount-own, then mount-anywhere); each is asked once
 * per call. The bus must be attached to an sd-event loop at normal priority.
 * Denials: polkit says no or wants authentication the call did not allow, polkit is not
 * on the bus, or the caller's euid is unknown (or only known from /proc). */

typedef struct AuthRegistry AuthRegistry;

int auth_registry_new(AuthRegistry **ret);
AuthRegistry *auth_registry_free(AuthRegistry *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(AuthRegistry *, auth_registry_free);
/* Number of queries in flight (the daemon does not exit on idle while > 0). */
size_t auth_registry_pending(AuthRegistry *r);
/* cb runs whenever the last pending query is done (not from auth_registry_free()). */
void auth_registry_set_on_idle(AuthRegistry *r, void (*cb)(void *userdata), void *userdata);

/* Pending checks at most (clamped to AUTH_QUERIES_PER_UID..AUTH_QUERIES_MAX): every
 * pending call keeps its message, with the fds it carries. */
void auth_registry_set_max(AuthRegistry *r, size_t max);

/* A call whose check is pending (auth_check() returned 0) may leave data with it: the
 * re-dispatched call takes it back with auth_take_data() (NULL when there is none), so it
 * need not read its message again. Data still attached when the check ends is freed with
 * free_data. */
int auth_set_data(AuthRegistry *r, sd_bus_message *m, void *data, void (*free_data)(void *data));
void *auth_take_data(AuthRegistry *r, sd_bus_message *m);

/* details: NULL-terminated key, value, key, value, … (snapshotter, key, verb). */
int auth_check(sd_bus_message *m, const char *action, const char *const *details,
               AuthRegistry *r, sd_bus_error *error);

/* The caller's euid as the bus reports it, remembered per unique bus name; fails
 * (deny) when it cannot be had without augmentation. */
int auth_caller_uid(AuthRegistry *r, sd_bus_message *m, uid_t *ret);

/* The caller's groups (its gid and supplementary groups) as the bus daemon recorded them
 * when it connected, for looking something up as the caller: asks the bus daemon about the
 * connection sender (the caller's unique name), whose uid must be uid (from
 * auth_caller_uid), and returns at once. done runs on the bus's event loop when it
 * answered: r 0 and the groups (the callee owns gids, at least one), or a negative errno
 * (deny) when the daemon did not tell them, told another uid or failed; -ECONNRESET when
 * the bus went before it answered.
 * At most AUTH_GROUPS_PENDING_MAX lookups are pending, a fair share of them per uid
 * (fair-share.h): -EUSERS or -EBUSY (done is not called) beyond. */
typedef void (*AuthGroupsDone)(int r, gid_t *gids, size_t n, void *userdata);
int auth_caller_groups_async(sd_bus *bus, const char *sender, uid_t uid, AuthGroupsDone done, void *userdata);
/* Below dbus-daemon's per-connection limit on outstanding replies (128 on the stock system
 * bus) together with the pending polkit checks (AUTH_QUERIES_MAX). */
#define AUTH_GROUPS_PENDING_MAX 16u
#define AUTH_GROUPS_PENDING_PER_UID 4u
/* Lookups waiting for the bus daemon (laminad does not exit on idle meanwhile). */
size_t auth_groups_pending(void);
