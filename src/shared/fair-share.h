/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* A fair share of max slots among users, so that a few users cannot lock the others out:
 * one user holds at most min(cap, max / 4) of them (at least 1), and the last max / 4 are
 * kept for users holding none. Used for pending polkit checks (auth_admit) and watchers
 * (bus-watch.c). */

size_t fair_share_per_user(size_t max, size_t cap);

/* Whether a user holding mine slots gets one more, taken of max being in use: 0, -EUSERS
 * (over the user's share) or -EBUSY (no slot left for it). */
int fair_share_admit(size_t mine, size_t taken, size_t max, size_t cap);
