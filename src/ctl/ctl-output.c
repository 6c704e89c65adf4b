/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

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

void jw_init(JsonWriter *j, FILE *f, JsonMode mode) {
        *j = (JsonWriter) { .f = f, .pretty = mode == JSON_PRETTY, .first = true };
}

static void jw_indent(JsonWriter *j) {
        if (!j->pretty)
                return;
        fputc('\n', j->f);
        for (unsigned i = 0; i < j->depth; i++)
                fputs("    ", j->f);
}

/* Separator and indentation before a value or key. */
static void jw_prefix(JsonWriter *j) {
        if (j->after_key) {
                j->after_key = false;
                return;
        }
        if (j->depth > 0) {
                if (!j->first)
                        fputc(',', j->f);
                jw_indent(j);
        }
        j->first = false;
}

static void jw_begin(JsonWriter *j, char c) {
        jw_prefix(j);
        fputc(c, j->f);
        j->depth++;
        j->first = true;
}

static void jw_end(JsonWriter *j, char c) {
        assert(j->depth > 0);
        j->depth--;
        if (!j->first)
                jw_indent(j);
        fputc(c, j->f);
        j->first = false;
}

void jw_begin_object(JsonWriter *j) {
        jw_begin(j, '{');
}

void jw_begin_array(JsonWriter *j) {
        jw_begin(j, '[');
}

void jw_end_object(JsonWriter *j) {
        jw_end(j, '}');
}

void jw_end_array(JsonWriter *j) {
        jw_end(j, ']');
}

static void jw_write_escaped(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                switch (*p) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                default:
                        if (*p < 0x20 || *p == 0x7f)
                                fprintf(f, "\\u%04x", *p);
                        else
                                fputc(*p, f);
                }
        fputc('"', f);
}

void jw_key(JsonWriter *j, const char *key) {
        jw_prefix(j);
        jw_write_escaped(j->f, key);
        fputs(j->pretty ? ": " : ":", j->f);
        j->after_key = true;
}

void jw_string(JsonWriter *j, const char *s) {
        jw_prefix(j);
        jw_write_escaped(j->f, s);
}

void jw_uint(JsonWriter *j, uint64_t v) {
        jw_prefix(j);
        fprintf(j->f, "%" PRIu64, v);
}

void jw_bool(JsonWriter *j, bool v) {
        jw_prefix(j);
        fputs(v ? "true" : "false", j->f);
}

void jw_null(JsonWriter *j) {
        jw_prefix(j);
        fputs("null", j->f);
}

void jw_finish(JsonWriter *j) {
        assert(j->depth == 0);
        fputc('\n', j->f);
}

void json_print_object(const char *key, ...) {
        JsonWriter j;
        va_list ap;

        jw_init(&j, stdout, arg_json);
        jw_begin_object(&j);
        va_start(ap, key);
        for (const char *k = key; k; k = va_arg(ap, const char *)) {
                jw_key(&j, k);
                if (va_arg(ap, int) == 's')
                        jw_string(&j, va_arg(ap, const char *));
                else
                        jw_uint(&j, va_arg(ap, uint64_t));
        }
        va_end(ap);
        jw_end_object(&j);
        jw_finish(&j);
}

void jw_labels(JsonWriter *j, const char *const *pairs) {
        jw_begin_object(j);
        for (const char *const *p = pairs; p && p[0]; p += 2) {
                jw_key(j, p[0]);
                jw_string(j, p[1]);
        }
        jw_end_object(j);
}

/* Whether stdout was a terminal before the pager took it over; cached on first use. */
static bool stdout_on_tty(void) {
        static int cached = -1;

        if (cached < 0)
                cached = isatty(STDOUT_FILENO);
        return cached;
}

/* Tables */

int table_newv(Table *t, size_t n_columns, va_list ap) {
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

int table_new(Table *t, size_t n_columns, ...) {
        va_list ap;
        int r;

        va_start(ap, n_columns);
        r = table_newv(t, n_columns, ap);
        va_end(ap);
        return r;
}

void table_done(Table *t) {
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

                cells[t->n_cells] = strdup(s ?: "-");
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
                jw_init(&l->json, stdout, arg_json);
                jw_begin_array(&l->json);
                return 0;
        }
        va_start(ap, n_columns);
        r = table_newv(&l->table, n_columns, ap);
        va_end(ap);
        return r;
}

void listing_end(Listing *l, const char *singular, const char *plural) {
        if (listing_is_json()) {
                jw_end_array(&l->json);
                jw_finish(&l->json);
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

static _noreturn_ void pager_run(void) {
        const char *pager = getenv("LAMINA_PAGER") ?: getenv("PAGER");
        char buf[4096];
        ssize_t n;

        (void) setenv("LESS", "FRSXMK", 0);
        if (pager)
                execlp("sh", "sh", "-c", pager, (char *) NULL);
        execlp("less", "less", (char *) NULL);
        execlp("more", "more", (char *) NULL);
        /* No pager at all: copy through so nothing is lost. */
        while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0)
                if (write(STDOUT_FILENO, buf, (size_t) n) != n)
                        break;
        _exit(EXIT_SUCCESS);
}

void pager_open(void) {
        const char *pager = getenv("LAMINA_PAGER") ?: getenv("PAGER");
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
