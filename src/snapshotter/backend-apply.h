/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "backend.h"

/* Apply, all or nothing, whatever is killed at whatever moment.
 *
 * A layer never goes into a snapshot's data directly. The core makes a clone of the data
 * (backend->clone_data) in a directory of its own on the same filesystem, applies the
 * layer to the clone, makes it durable, and swaps it with the data in one
 * renameat2(RENAME_EXCHANGE) (backend_exchange_data): before the swap the data is
 * untouched, after it the data is the whole result. Whatever then sits at the clone's
 * name is garbage either way: the unfinished clone, or the data it replaced. So recovery
 * after a crash needs no journal and no decision: it removes every entry of that
 * directory (backend->remove_clone), which can run in the background because nothing
 * refers to those entries any more. */

/* Swaps dir_fd/name with snapshot id's data atomically and durably. */
int backend_exchange_data(Backend *b, uint64_t id, int dir_fd, const char *name, Error *e);

/* Shared implementations of the clone ops for plain directory trees. */
/* A copy (copy_tree) of what open_data opens. */
int backend_clone_copy(Backend *b, uint64_t id, int dir_fd, const char *prefix, BackendCharge *charge,
                       char **ret_name, Error *e);
/* snapshots_fd and "<id>": the data is snapshots/<id> itself (native, btrfs). */
int backend_open_data_parent_id(Backend *b, uint64_t id, int *ret_fd, char ret_name[static 32], Error *e);
/* rm_rf_at(). */
int backend_remove_clone_tree(int dir_fd, const char *name);
