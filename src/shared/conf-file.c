/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf-file.h"
#include "strutil.h"

static char *strip(char *s) {
        char *end;

        s += strspn(s, " \t");
        end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                *--end = 0;
        return s;
}

/* Letters, digits, '-', '_', '.' and the characters in extra; not empty. */
static bool name_is_valid(const char *s, const char *extra) {
        if (!s[0])
                return false;
        for (; *s; s++)
                if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
                      *s == '-' || *s == '_' || *s == '.' || strchr(extra, *s)))
                        return false;
        return true;
}

/* One line (NUL-terminated, without its newline). section holds the current section name. */
static int parse_line(const char *path, unsigned line, char *text, char section[static CONF_LINE_MAX],
                      conf_item_fn fn, void *userdata, Error *e) {
        Error item = ERROR_NULL;
        char *l = strip(text), *eq, *key, *value;
        int r;

        if (!l[0] || l[0] == '#' || l[0] == ';')
                return 0;
        if (l[0] == '[') {
                size_t n = strlen(l);

                if (l[n - 1] != ']')
                        return error_setf(e, EINVAL, "%s:%u: a section header must end with ']'", path, line);
                l[n - 1] = 0;
                l = strip(l + 1);
                if (!name_is_valid(l, ":/"))
                        return error_setf(e, EINVAL, "%s:%u: invalid section name", path, line);
                strcpy(section, l); /* shorter than the line */
                return 0;
        }
        eq = strchr(l, '=');
        if (!eq)
                return error_setf(e, EINVAL, "%s:%u: expected \"Key=Value\", a \"[Section]\" or a comment", path, line);
        *eq = 0;
        key = strip(l);
        value = strip(eq + 1);
        if (!name_is_valid(key, ""))
                return error_setf(e, EINVAL, "%s:%u: invalid key name", path, line);
        if (!section[0])
                return error_setf(e, EINVAL, "%s:%u: %s= comes before any [Section]", path, line, key);
        r = fn(section, key, value, userdata, &item);
        if (r < 0)
                return error_setf(e, -r, "%s:%u: %s", path, line,
                                  item.code ? item.message : "invalid setting");
        return 0;
}

static int parse_fd(int fd, const char *path, conf_item_fn fn, void *userdata, Error *e) {
        _cleanup_free_ char *data = NULL, *section = NULL;
        struct stat st;
        size_t n = 0;
        unsigned line = 0;

        if (fstat(fd, &st) < 0)
                return error_set_errno(e, errno, "cannot read %s", path);
        if (!S_ISREG(st.st_mode))
                return error_setf(e, EINVAL, "%s is not a regular file", path);
        if (st.st_size > (off_t) CONF_FILE_MAX)
                return error_setf(e, EINVAL, "%s is larger than %u bytes", path, CONF_FILE_MAX);
        data = malloc(CONF_FILE_MAX + 1);
        section = calloc(1, CONF_LINE_MAX);
        if (!data || !section)
                return error_set_errno(e, ENOMEM, "cannot read %s", path);
        for (;;) {
                ssize_t k = read(fd, data + n, CONF_FILE_MAX + 1 - n);

                if (k < 0)
                        return error_set_errno(e, errno, "cannot read %s", path);
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > CONF_FILE_MAX)
                        return error_setf(e, EINVAL, "%s is larger than %u bytes", path, CONF_FILE_MAX);
        }
        data[n] = 0;
        if (strlen(data) != n)
                return error_setf(e, EINVAL, "%s contains a NUL byte", path);

        for (char *p = data;;) {
                char *nl = strchr(p, '\n');
                int r;

                line++;
                if (nl)
                        *nl = 0;
                if (strlen(p) >= CONF_LINE_MAX)
                        return error_setf(e, EINVAL, "%s:%u: the line is longer than %u bytes", path, line,
                                          CONF_LINE_MAX - 1);
                r = parse_line(path, line, p, section, fn, userdata, e);
                if (r < 0)
                        return r;
                if (!nl)
                        break;
                p = nl + 1;
        }
        return 0;
}

/* Reads path; a missing file is no error (returns 0 having called fn for nothing). */
static int conf_parse_file(const char *path, conf_item_fn fn, void *userdata, Error *e) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT ? 0 : error_set_errno(e, errno, "cannot open %s", path);
        return parse_fd(fd, path, fn, userdata, e);
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool is_dropin_name(const char *name) {
        size_t n = strlen(name);

        return name[0] != '.' && n > 5 && streq(name + n - 5, ".conf");
}

int conf_parse_with_dropins(const char *path, conf_item_fn fn, void *userdata, Error *e) {
        _cleanup_free_ char *dir_path = NULL;
        _cleanup_strv_free_ char **names = NULL;
        StrvBuilder b = {};
        DIR *d;
        struct dirent *de;
        int r;

        r = conf_parse_file(path, fn, userdata, e);
        if (r < 0)
                return r;

        dir_path = strdup_printf("%s.d", path);
        if (!dir_path)
                return error_set_errno(e, ENOMEM, "cannot read %s.d", path);
        d = opendir(dir_path);
        if (!d)
                return errno == ENOENT ? 0 : error_set_errno(e, errno, "cannot open %s", dir_path);
        r = 0;
        while (r >= 0 && (errno = 0, de = readdir(d))) {
                if (!is_dropin_name(de->d_name))
                        continue;
                if (b.n >= CONF_DROPINS_MAX)
                        r = error_setf(e, EINVAL, "%s holds more than %u drop-ins", dir_path, CONF_DROPINS_MAX);
                else
                        r = strv_builder_extend(&b, de->d_name);
        }
        if (r >= 0 && errno != 0)
                r = -errno;
        closedir(d);
        names = b.l;
        if (r < 0)
                return error_set_errno(e, -r, "cannot list %s", dir_path);
        if (b.n > 0)
                qsort(names, b.n, sizeof(char *), compare_names);

        for (size_t i = 0; i < b.n; i++) {
                _cleanup_close_ int fd = -EBADF;
                _cleanup_free_ char *p = strdup_printf("%s/%s", dir_path, names[i]);
                struct stat st;

                if (!p)
                        return error_set_errno(e, ENOMEM, "cannot read %s", dir_path);
                /* The administrator's directory: symlinks are followed, as systemd does. */
                fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0)
                        return error_set_errno(e, errno, "cannot open %s", p);
                /* Like systemd, a drop-in that is not a regular file is skipped: a
                 * directory named x.conf, or a symlink to /dev/null that masks one. */
                if (fstat(fd, &st) < 0)
                        return error_set_errno(e, errno, "cannot read %s", p);
                if (!S_ISREG(st.st_mode))
                        continue;
                r = parse_fd(fd, p, fn, userdata, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

int conf_parse_size(const char *s, uint64_t *ret) {
        static const char suffixes[] = "KMGTPE";
        unsigned long long v;
        const char *sfx;
        char *end;
        unsigned shift = 0;

        if (streq(s, "infinity")) {
                *ret = UINT64_MAX;
                return 0;
        }
        if (s[0] < '0' || s[0] > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -EINVAL;
        if (*end) {
                if (end[1] || !(sfx = strchr(suffixes, *end)))
                        return -EINVAL;
                shift = 10 * (unsigned) (sfx - suffixes + 1);
                if (v > (UINT64_MAX >> shift))
                        return -EINVAL;
        }
        *ret = (uint64_t) v << shift;
        return 0;
}
