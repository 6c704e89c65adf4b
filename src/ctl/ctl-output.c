/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "ctl-escape.h"
#include "ctl-output.h"
#include "strutil.h"

const char *format_owner(char buf[static FORMAT_OWNER_MAX], uint32_t uid) {
        struct passwd *pw = getpwuid(uid);

        if (pw)
                return pw->pw_name;
        snprintf(buf, FORMAT_OWNER_MAX, "%" PRIu32, uid);
        return buf;
}

const char *format_bytes(char buf[static FORMAT_BYTES_MAX], uint64_t bytes) {
        static const char suffixes[] = "KMGTPE";
        uint64_t factor = 1024;

        if (bytes < 1024) {
                snprintf(buf, FORMAT_BYTES_MAX, "%" PRIu64 "B", bytes);
                return buf;
        }
        for (size_t i = 0; i < sizeof suffixes - 1; i++, factor *= 1024)
                if (i == sizeof suffixes - 2 || bytes / factor < 1024) {
                        snprintf(buf, FORMAT_BYTES_MAX, "%" PRIu64 ".%" PRIu64 "%c", bytes / factor,
                                 (bytes % factor) * 10 / factor, suffixes[i]);
                        break;
                }
        return buf;
}

const char *format_timestamp(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;

        if (usec == 0 || !localtime_r(&t, &tm) ||
            strftime(buf, FORMAT_TIMESTAMP_MAX, "%a %Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                snprintf(buf, FORMAT_TIMESTAMP_MAX, "n/a");
        return buf;
}

/* JSON */

json_object *json_string(const char *s) {
        _cleanup_free_ char *fixed = NULL;

        if (!utf8_is_valid(s)) {
                fixed = utf8_replace_invalid(s);
                if (!fixed)
                        return NULL;
        }
        return json_object_new_string(fixed ?: s);
}

json_object *json_strv(char *const *l) {
        json_object *a = json_object_new_array();

        for (char *const *i = l; i && *i; i++)
                json_append(&a, json_string(*i));
        return a;
}

json_object *json_labels(const char *const *pairs) {
        json_object *o = json_object_new_object();

        for (const char *const *p = pairs; p && p[0]; p += 2)
                json_add_string(&o, p[0], p[1]);
        return o;
}

static void json_fail(json_object **o) {
        json_object_put(*o);
        *o = NULL;
}

/* v (taken) under key; a NULL v is null when null is set, else a value that could not be made. */
static void json_add_value(json_object **o, const char *key, json_object *v, bool null) {
        _cleanup_json_ json_object *value = v;

        if (!*o)
                return;

        bool valid = utf8_is_valid(key);
        _cleanup_free_ char *fixed = valid ? NULL : utf8_replace_invalid(key);

        if ((!value && !null) || (!valid && !fixed) || json_object_object_add(*o, fixed ?: key, value) < 0) {
                json_fail(o);
                return;
        }
        TAKE_PTR(value);
}

void json_add(json_object **o, const char *key, json_object *v) {
        json_add_value(o, key, v, false);
}

void json_add_null(json_object **o, const char *key) {
        json_add_value(o, key, NULL, true);
}

void json_add_string(json_object **o, const char *key, const char *s) {
        json_add_value(o, key, s ? json_string(s) : NULL, !s);
}

void json_add_uint(json_object **o, const char *key, uint64_t v) {
        json_add(o, key, json_object_new_uint64(v));
}

void json_add_bool(json_object **o, const char *key, bool v) {
        json_add(o, key, json_object_new_boolean(v));
}

void json_append(json_object **a, json_object *v) {
        _cleanup_json_ json_object *value = v;

        if (!*a)
                return;
        if (!value || json_object_array_add(*a, value) < 0) {
                json_fail(a);
                return;
        }
        TAKE_PTR(value);
}

/* The text of o, with invisible characters escaped (ctl-escape.h); NULL when out of memory. */
static char *json_text(json_object *o, JsonMode mode) {
        int flags = JSON_C_TO_STRING_NOSLASHESCAPE;
        const char *text;

        flags |= mode == JSON_PRETTY ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN;
        text = json_object_to_json_string_ext(o, flags);
        return text ? ctl_escape_json(text) : NULL;
}

int json_print(json_object *o, JsonMode mode) {
        _cleanup_json_ json_object *doc = o;
        _cleanup_free_ char *text = doc ? json_text(doc, mode) : NULL;

        if (!text)
                return ctl_fail(-ENOMEM, "out of memory");
        puts(text);
        return 0;
}

int json_print_object(const char *key, ...) {
        json_object *o = json_object_new_object();
        va_list ap;

        va_start(ap, key);
        for (const char *k = key; k; k = va_arg(ap, const char *))
                if (va_arg(ap, int) == 's')
                        json_add_string(&o, k, va_arg(ap, const char *));
                else
                        json_add_uint(&o, k, va_arg(ap, uint64_t));
        va_end(ap);
        return json_print(o, arg_json);
}

void json_stream_begin(JsonStream *s) {
        *s = (JsonStream) {};
        fputc('[', stdout);
}

int json_stream_add(JsonStream *s, json_object *o) {
        _cleanup_json_ json_object *element = o;
        _cleanup_free_ char *text = element ? json_text(element, arg_json) : NULL;

        if (!text)
                return -ENOMEM;
        if (s->n++ > 0)
                fputc(',', stdout);
        if (arg_json != JSON_PRETTY) {
                fputs(text, stdout);
                return 0;
        }
        /* json-c printed the element at depth 0; in the array it stands one level deeper: two
         * more spaces after every newline (newlines inside strings are escaped). */
        for (const char *line = text, *nl; line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                fputs("\n  ", stdout);
                fwrite(line, 1, nl ? (size_t) (nl - line) : strlen(line), stdout);
        }
        return 0;
}

void json_stream_end(JsonStream *s) {
        fputs(arg_json == JSON_PRETTY ? "\n]\n" : "]\n", stdout);
}

/* Whether stdout was a terminal before the pager took it over; cached on first use. */
static bool stdout_on_tty(void) {
        static int cached = -1;

        if (cached < 0)
                cached = isatty(STDOUT_FILENO);
        return cached;
}

/* Tables */

/* A table of n_columns, with the header strings in ap. */
static int table_newv(Table *t, size_t n_columns, va_list ap) {
        *t = (Table) { .n_columns = n_columns, .cells = calloc(n_columns, sizeof(char *)) };
        if (!t->cells)
                return -ENOMEM;
        t->n_cells = n_columns;
        for (size_t i = 0; i < n_columns; i++) {
                t->cells[i] = strdup(va_arg(ap, const char *));
                if (!t->cells[i])
                        return -ENOMEM;
        }
        return 0;
}

static void table_done(Table *t) {
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        *t = (Table) {};
}

int table_add_row(Table *t, ...) {
        char **cells = realloc(t->cells, (t->n_cells + t->n_columns) * sizeof(char *));
        va_list ap;
        int r = 0;

        if (!cells)
                return -ENOMEM;
        t->cells = cells;
        va_start(ap, t);
        for (size_t i = 0; i < t->n_columns; i++) {
                const char *s = va_arg(ap, const char *);

                cells[t->n_cells] = ctl_escape(s ?: "-");
                if (!cells[t->n_cells])
                        r = -ENOMEM;
                t->n_cells++;
        }
        va_end(ap);
        return r;
}

size_t table_rows(const Table *t) {
        return t->n_cells / t->n_columns - 1;
}

/* Display width of UTF-8 text, counting code points. */
static size_t text_width(const char *s) {
        size_t n = 0;

        for (; *s; s++)
                if (((unsigned char) *s & 0xC0) != 0x80)
                        n++;
        return n;
}

void table_print(const Table *t) {
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));
        bool highlight = stdout_on_tty() && !getenv("NO_COLOR");

        if (!width)
                return;
        for (size_t i = 0; i < t->n_cells; i++) {
                size_t w = text_width(t->cells[i]);

                if (w > width[i % t->n_columns])
                        width[i % t->n_columns] = w;
        }
        for (size_t i = arg_legend ? 0 : t->n_columns; i < t->n_cells; i++) {
                size_t col = i % t->n_columns;
                bool last = col == t->n_columns - 1;

                if (i < t->n_columns && highlight)
                        fputs("\x1b[1m", stdout);
                fputs(t->cells[i], stdout);
                if (i < t->n_columns && highlight)
                        fputs("\x1b[0m", stdout);
                if (last)
                        fputc('\n', stdout);
                else
                        printf("%*s", (int) (width[col] - text_width(t->cells[i]) + 1), "");
        }
}

void print_footer(size_t n, const char *singular, const char *plural) {
        if (!arg_legend)
                return;
        if (n == 0)
                printf("No %s.\n", plural);
        else
                printf("\n%zu %s listed.\n", n, n == 1 ? singular : plural);
}

int listing_begin(Listing *l, size_t n_columns, ...) {
        va_list ap;
        int r;

        *l = (Listing) {};
        pager_open();
        if (listing_is_json()) {
                json_stream_begin(&l->json);
                return 0;
        }
        va_start(ap, n_columns);
        r = table_newv(&l->table, n_columns, ap);
        va_end(ap);
        return r;
}

void listing_end(Listing *l, const char *singular, const char *plural) {
        if (listing_is_json()) {
                json_stream_end(&l->json);
                return;
        }
        if (table_rows(&l->table) > 0)
                table_print(&l->table);
        print_footer(table_rows(&l->table), singular, plural);
}

void listing_done(Listing *l) {
        table_done(&l->table);
}

char *shell_quote(const char *s) {
        static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-";
        char *q, *p;

        if (*s && strspn(s, safe) == strlen(s))
                return strdup(s);
        p = q = malloc(strlen(s) * 4 + 3);
        if (!q)
                return NULL;
        *p++ = '\'';
        for (; *s; s++)
                if (*s == '\'')
                        p = stpcpy(p, "'\\''");
                else
                        *p++ = *s;
        *p++ = '\'';
        *p = 0;
        return q;
}

/* Pager */

static pid_t pager_pid = 0;

/* Run with privileges someone else gave (sudo, pkexec, set-user-ID): that one may be allowed
 * laminactl alone, and a pager's shell command ("!" in less and more) would be a root shell
 * (CVE-2023-26604 in systemd's tools). Then only less runs, in its secure mode, never a
 * command of the invoker's environment. */
static bool pager_secure(void) {
        return geteuid() != getuid() || getenv("SUDO_UID") || getenv("PKEXEC_UID");
}

/* The pager the user chose, or NULL for less. */
static const char *pager_chosen(void) {
        return pager_secure() ? NULL : getenv("LAMINA_PAGER") ?: getenv("PAGER");
}

static _noreturn_ void pager_run(void) {
        const char *pager = pager_chosen();
        char buf[4096];
        ssize_t n;

        (void) setenv("LESS", "FRSXMK", 0);
        if (pager_secure())
                (void) setenv("LESSSECURE", "1", 1);
        if (pager)
                execlp("sh", "sh", "-c", pager, (char *) NULL);
        execlp("less", "less", (char *) NULL);
        if (!pager_secure())
                execlp("more", "more", (char *) NULL);
        /* No pager at all: copy through so nothing is lost. */
        while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0)
                if (write(STDOUT_FILENO, buf, (size_t) n) != n)
                        break;
        _exit(EXIT_SUCCESS);
}

void pager_open(void) {
        const char *pager = pager_chosen();
        int fd[2];

        if (!arg_pager || pager_pid > 0 || !stdout_on_tty())
                return;
        if (pager && (isempty(pager) || streq(pager, "cat")))
                return;
        if (pipe2(fd, O_CLOEXEC) < 0)
                return;
        fflush(stdout);
        pager_pid = fork();
        if (pager_pid < 0) {
                pager_pid = 0;
                (void) safe_close(fd[0]);
                (void) safe_close(fd[1]);
                return;
        }
        if (pager_pid == 0) {
                if (dup2(fd[0], STDIN_FILENO) < 0)
                        _exit(EXIT_FAILURE);
                pager_run();
        }
        if (dup2(fd[1], STDOUT_FILENO) < 0)
                log_warning("laminactl: cannot start the pager: %m");
        (void) safe_close(fd[0]);
        (void) safe_close(fd[1]);
}

void pager_close(void) {
        if (pager_pid <= 0)
                return;
        fflush(stdout);
        (void) fclose(stdout);
        (void) waitpid(pager_pid, NULL, 0);
        pager_pid = 0;
}
