/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* A streaming JSON writer: commas, indentation and string escaping are done here. */
typedef struct JsonWriter {
        FILE *f;
        bool pretty;
        unsigned depth;
        bool first;     /* no element written yet at this depth */
        bool after_key; /* the next value completes a "key": pair */
} JsonWriter;

void jw_init(JsonWriter *j, FILE *f, JsonMode mode);
void jw_begin_object(JsonWriter *j);
void jw_begin_array(JsonWriter *j);
void jw_end_object(JsonWriter *j);
void jw_end_array(JsonWriter *j);
void jw_key(JsonWriter *j, const char *key);
void jw_string(JsonWriter *j, const char *s);
void jw_uint(JsonWriter *j, uint64_t v);
void jw_bool(JsonWriter *j, bool v);
void jw_null(JsonWriter *j);
/* Ends the document with a newline. */
void jw_finish(JsonWriter *j);
/* Prints one JSON document {…} to stdout in --json's mode from NULL-terminated triples:
 * "key", 's', const char *value  or  "key", 'u', uint64_t value. */
void json_print_object(const char *key, ...);
/* Writes {"k": "v", …} from a key, value, …, NULL array. */
void jw_labels(JsonWriter *j, const char *const *pairs);

/* A column-aligned table with a header legend. */
typedef struct Table {
        size_t n_columns;
        char **cells; /* row-major, header row first */
        size_t n_cells;
} Table;

int table_new(Table *t, size_t n_columns, ...); /* header strings */
int table_newv(Table *t, size_t n_columns, va_list ap);
void table_done(Table *t);
/* Adds one row of exactly n_columns strings (copied; NULL prints as "-"). */
int table_add_row(Table *t, ...);
size_t table_rows(const Table *t); /* without the header */
/* Prints the header (unless --no-legend) and the rows. */
void table_print(const Table *t);
/* "\nN what listed." or "No what." unless --no-legend. */
void print_footer(size_t n, const char *singular, const char *plural);

/* A listing in the chosen format: a JSON array (the caller writes one object per row into
 * .json) or a table (the caller adds rows to .table) with legend and footer. */
typedef struct Listing {
        JsonWriter json;
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
