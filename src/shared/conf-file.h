/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "error.h"

/* systemd-style configuration files, read strictly: "[Section]" headers, "Key=Value" lines
 * (blanks around both trimmed), "#" and ";" comment lines, blank lines. Every other line,
 * a key before any section, a line over CONF_LINE_MAX bytes or a file over CONF_FILE_MAX
 * bytes is an error; so is whatever the item callback refuses. Errors are EINVAL with a
 * message "FILE:LINE: what is wrong". */

#define CONF_LINE_MAX 4096u
#define CONF_FILE_MAX (1024u * 1024u)
#define CONF_DROPINS_MAX 1024u

/* Takes one item; returns 0 or a negative errno with e saying what is wrong with the value
 * (without file and line: the parser puts them in front). */
typedef int (*conf_item_fn)(const char *section, const char *key, const char *value, void *userdata, Error *e);

/* Reads path, then every regular "*.conf" in the directory "<path>.d" in the byte order of
 * their names: a key set again later overrides the earlier value (systemd's drop-ins). A
 * missing file or directory is no error. */
int conf_parse_with_dropins(const char *path, conf_item_fn fn, void *userdata, Error *e);

/* A size: decimal digits with an optional binary suffix K, M, G, T, P or E (powers of 1024),
 * or "infinity" (UINT64_MAX); EINVAL for anything else or an overflow. */
int conf_parse_size(const char *s, uint64_t *ret);
