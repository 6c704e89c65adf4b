/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-escape.h"
#include "strutil.h"

/* Printable by utf8_printable_char_len(), yet a terminal shows nothing for them or they
 * reorder the text around them (Unicode's format characters that matter in names: "abc"
 * and "a\u200Bbc" look alike, U+202E shows "exe.txt" as "txt.exe"). */
static bool char_is_invisible(uint32_t cp) {
        static const struct {
                uint32_t first, last;
        } ranges[] = {
                { 0x00AD, 0x00AD },   /* soft hyphen */
                { 0x061C, 0x061C },   /* Arabic letter mark */
                { 0x180E, 0x180E },   /* Mongolian vowel separator */
                { 0x200B, 0x200F },   /* zero-width space, joiners, LRM, RLM */
                { 0x2028, 0x202E },   /* line and paragraph separators, bidi embeddings and overrides */
                { 0x2060, 0x206F },   /* word joiner, invisible operators, bidi isolates, deprecated formats */
                { 0xFEFF, 0xFEFF },   /* zero-width no-break space (BOM) */
                { 0xFFF9, 0xFFFB },   /* interlinear annotations */
                { 0xE0000, 0xE007F }, /* tags */
        };

        for (size_t i = 0; i < ELEMENTSOF(ranges); i++)
                if (cp >= ranges[i].first && cp <= ranges[i].last)
                        return true;
        return false;
}

static bool char_is_shown(const char *s, uint32_t *ret_cp, size_t *ret_len) {
        size_t len = utf8_char_len(s, ret_cp);

        *ret_len = len;
        return len > 0 && utf8_printable_char_len(s) == len && !char_is_invisible(*ret_cp);
}

size_t ctl_escape_char(const char *s, char out[static 4], size_t *ret_written) {
        uint32_t cp;
        size_t len;

        if (*s == 0 || char_is_shown(s, &cp, &len))
                return utf8_escape_char(s, out, ret_written);
        /* Its first byte alone: the bytes after it are no UTF-8 character on their own. */
        out[0] = '\\';
        out[1] = 'x';
        out[2] = "0123456789abcdef"[(unsigned char) *s >> 4];
        out[3] = "0123456789abcdef"[(unsigned char) *s & 0xF];
        *ret_written = 4;
        return 1;
}

char *ctl_escape(const char *s) {
        char *escaped = malloc(strlen(s) * 4 + 1), *p = escaped;

        if (!escaped)
                return NULL;
        for (size_t written; *s; p += written)
                s += ctl_escape_char(s, p, &written);
        *p = 0;
        return escaped;
}

void ctl_print_escaped(const char *s) {
        char out[4];

        for (size_t written; *s;) {
                s += ctl_escape_char(s, out, &written);
                fwrite(out, 1, written, stdout);
        }
}

char *ctl_escape_json(const char *text) {
        /* at most 6 bytes ("\u007f") for each byte of text */
        char *escaped = malloc(strlen(text) * 6 + 1), *p = escaped;

        if (!escaped)
                return NULL;
        for (size_t len; *text; text += len) {
                uint32_t cp = 0;

                /* json-c escaped the C0 controls inside strings: those left are its own
                 * newlines; a stray byte cannot be (strings were made UTF-8), it stays. */
                if (char_is_shown(text, &cp, &len) || len == 0 || cp < 0x7F) {
                        len = len ?: 1;
                        p = mempcpy(p, text, len);
                } else if (cp < 0x10000)
                        p += sprintf(p, "\\u%04x", (unsigned) cp);
                else
                        p += sprintf(p, "\\u%04x\\u%04x", (unsigned) (0xD800 + ((cp - 0x10000) >> 10)),
                                     (unsigned) (0xDC00 + ((cp - 0x10000) & 0x3FF)));
        }
        *p = 0;
        return escaped;
}
