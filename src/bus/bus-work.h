/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "bus-request.h"

/* The calls whose cost grows with the caller's data run as jobs on worker threads
 * (bus-job.c), never on the loop: Usage, Commit, Cleanup and Apply (in BusContext.jobs),
 * List (in BusContext.queries), and Prepare/View when they copy their parent. */

/* A List reply stays below this (dbus-daemon drops messages over 32 MiB, and with them
 * the connection of whoever sent it); a ListPage reply below BUS_PAGE_BYTES_MAX. */
#define BUS_LIST_BYTES_MAX (16u * 1024u * 1024u)
#define BUS_PAGE_BYTES_MAX (4u * 1024u * 1024u)
#define BUS_PAGE_ITEMS_MAX 10000u
/* Snapshots a ListPage reads per namespace, kept by its filters or not: a filter that keeps
 * almost nothing costs a page of reading, and the reply a cursor to go on from. */
#define BUS_PAGE_READ_MAX (2u * BUS_PAGE_ITEMS_MAX)
/* CPU time the ~= patterns of a List may take (whose caller then pages), and of a page in
 * each namespace it reads (which then ends early, with a next page): a worker is no user's
 * for longer, whatever its patterns and labels. */
#define BUS_LIST_FILTER_CPU_USEC (5u * 1000u * 1000u)
#define BUS_PAGE_FILTER_CPU_USEC (1u * 1000u * 1000u)

/* Runs req as a job of the caller's on a worker, ops with req as their data; takes req
 * (also when it fails). _query: among the queries (List and other reads), not the slow
 * jobs. */
int bus_work_start(sd_bus_message *m, const BusJobOps *ops, BusRequest *req, sd_bus_error *error);
int bus_work_start_query(sd_bus_message *m, const BusJobOps *ops, BusRequest *req, sd_bus_error *error);

/* BusJobOps.failed for a job whose data is its BusRequest: logs the error. */
void bus_work_failed(void *data, const sd_bus_error *error);

/* Prepare or View of an authorized request (takes req). */
int bus_work_create(sd_bus_message *m, BusRequest *req, SnapshotKind kind, sd_bus_error *error);

int bus_method_usage(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_commit(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_commit_with_options(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_cleanup(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_apply(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_list(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_list_page(sd_bus_message *m, void *userdata, sd_bus_error *error);
