/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* What laminactl prints may hold what others wrote: another user's keys and labels (root
 * lists them), an image's paths and names. A terminal must show it as it is: control
 * characters, bytes that are not UTF-8, and the characters that show as nothing or reorder
 * the text around them (bidi controls U+202A–U+202E and U+2066–U+2069, zero-width U+200B–
 * U+200F, U+FEFF, …) are written as "\xNN" for each of their bytes. */

/* The escaped form of the character s starts with (itself, or "\xNN" for its first byte),
 * to out, its length to *ret_written; returns how many bytes of s it stands for (0 at the
 * terminating NUL). */
size_t ctl_escape_char(const char *s, char out[static 4], size_t *ret_written);
/* A copy of s with every such character escaped; NULL when out of memory. */
char *ctl_escape(const char *s);
/* Writes s escaped to stdout. */
void ctl_print_escaped(const char *s);
/* A copy of JSON text with those characters (and C1 controls, DEL) written as "\uXXXX":
 * the same JSON value, shown as it is. NULL when out of memory. */
char *ctl_escape_json(const char *text);
