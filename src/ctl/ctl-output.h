/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "ctl.h"

/* "512B", "4.0K", "1.5M": base 1024, one decimal, like systemd's format_bytes(). */
#define FORMAT_BYTES_MAX 16
const char *format_bytes(char buf[static FORMAT_BYTES_MAX], uint64_t bytes);
#define FORMAT_BYTES(b) format_bytes((char[FORMAT_BYTES_MAX]) {}, (b))
/* "Fri 2026-11-28 08:20:31 UTC" in local time; "n/a" for 0. */
#define FORMAT_TIMESTAMP_MAX 64
const char *format_timestamp(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec);
#define FORMAT_TIMESTAMP(u) format_timestamp((char[FORMAT_TIMESTAMP_MAX]) {}, (u))

/* The user name of uid, or the number when it has none. */
#define FORMAT_OWNER_MAX 16
const char *format_owner(char buf[static FORMAT_OWNER_MAX], uint32_t uid);
#define FORMAT_OWNER(u) format_owner((char[FORMAT_OWNER_MAX]) {}, (u))

/* JSON output; json-c writes it (--json=short: one line; pretty: indented by two spaces per level).
 * Building: each json_add_*() adds "key": value to the object *o and json_append() a value to
 * the array *a; when that fails (out of memory) it frees *o and sets it to NULL, and on a NULL
 * *o it does nothing, so a caller adds every field and checks once (json_print() and
 * json_stream_add() take NULL as out of memory). Strings and keys that are not UTF-8 get U+FFFD
 * for each stray byte, so the output is always valid JSON. */
DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);
#define _cleanup_json_ _cleanup_(json_object_putp)

json_object *json_string(const char *s);
json_object *json_strv(char *const *l);
/* {"k": "v", …} from a key, value, …, NULL array (NULL: {}). */
json_object *json_labels(const char *const *pairs);
/* v is taken; NULL v means it could not be made. */
void json_add(json_object **o, const char *key, json_object *v);
void json_append(json_object **a, json_object *v);
void json_add_null(json_object **o, const char *key);
void json_add_string(json_object **o, const char *key, const char *s); /* NULL s: null */
void json_add_uint(json_object **o, const char *key, uint64_t v);
void json_add_bool(json_object **o, const char *key, bool v);

/* Prints o (taken) as one document in mode and a newline; NULL o: prints "out of memory" and
 * returns -ENOMEM. */
int json_print(json_object *o, JsonMode mode);
/* json_print() in --json's mode of an object from NULL-terminated triples:
 * "key", 's', const char *value  or  "key", 'u', uint64_t value. */
int json_print_object(const char *key, ...);

/* A JSON array in --json's mode printed one element at a time, so that a listing of 100 000
 * snapshots is never one tree in memory; the output is what json-c prints for the whole array. */
typedef struct JsonStream {
        size_t n; /* elements printed */
} JsonStream;

void json_stream_begin(JsonStream *s);
/* Prints o (taken) as the next element; NULL o: -ENOMEM, nothing printed. */
int json_stream_add(JsonStream *s, json_object *o);
/* Closes the array, with a newline. */
void json_stream_end(JsonStream *s);

/* A column-aligned table with a header legend. */
typedef struct Table {
        size_t n_columns;
        char **cells; /* row-major, header row first */
        size_t n_cells;
} Table;

/* Adds one row of exactly n_columns strings (copied, escaped: ctl-escape.h; NULL prints as "-"). */
int table_add_row(Table *t, ...);
size_t table_rows(const Table *t); /* without the header */
/* Prints the header (unless --no-legend) and the rows. */
void table_print(const Table *t);
/* "\nN what listed." or "No what." unless --no-legend. */
void print_footer(size_t n, const char *singular, const char *plural);

/* A listing in the chosen format: a JSON array (the caller adds one object per row with
 * json_stream_add(&.json, …)) or a table (the caller adds rows to .table) with legend and footer. */
typedef struct Listing {
        JsonStream json;
        Table table;
} Listing;

static inline bool listing_is_json(void) {
        return arg_json != JSON_OFF;
}
/* Opens the pager and starts the JSON array, or makes the table with these headers. */
int listing_begin(Listing *l, size_t n_columns, ...);
/* Closes the JSON array, or prints the table and "N <plural> listed.". */
void listing_end(Listing *l, const char *singular, const char *plural);
void listing_done(Listing *l);

/* Shell-quotes s when it holds characters a shell would interpret. */
char *shell_quote(const char *s);

/* Pipes stdout through $PAGER/less when it is a TTY and --no-pager is not set. */
void pager_open(void);
void pager_close(void);
