/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Subordinate id files (subuid(5), subgid(5)), as newuidmap(1) and newgidmap(1) read them:
 * for laminad's idmapped mounts and for laminactl's rootless containers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strutil.h"
#include "subid.h"

/* A line of a subordinate id file (subuid(5)): "name-or-id:start:count". *ret_count 0:
 * not for who. */
static int subid_line_parse(char *line, const char *name, uint32_t who, uint32_t *ret_start, uint32_t *ret_count) {
        char *owner = line, *start, *count, *end;
        unsigned long long s, c;

        *ret_count = 0;
        start = strchr(owner, ':');
        if (!start)
                return 0;
        *start++ = 0;
        count = strchr(start, ':');
        if (!count)
                return 0;
        *count++ = 0;
        count[strcspn(count, "\n")] = 0;
        if (!(name && streq(owner, name))) {
                unsigned long long id;

                errno = 0;
                id = strtoull(owner, &end, 10);
                if (errno || end == owner || *end || id != who)
                        return 0;
        }
        errno = 0;
        s = strtoull(start, &end, 10);
        if (errno || end == start || *end || start[0] == '-')
                return 0;
        c = strtoull(count, &end, 10);
        if (errno || end == count || *end || count[0] == '-')
                return 0;
        /* Never host root, never past the last valid id (UINT32_MAX is (uid_t) -1); c is
         * small, s anything up to 2^64 - 1: no sum that could wrap. */
        if (s == 0 || c == 0 || c > SUBID_COUNT_MAX || s > UINT32_MAX - c)
                return 0;
        *ret_start = (uint32_t) s;
        *ret_count = (uint32_t) c;
        return 0;
}

int subid_ranges(const char *path, const char *name, uint32_t who, SubidRange *ret, size_t max,
                 size_t *ret_n) {
        _cleanup_free_ char *line = NULL;
        size_t size = 0, n = 0;
        FILE *f;

        assert(path);
        assert(ret || max == 0);
        assert(ret_n);

        *ret_n = 0;
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? 0 : -errno;
        for (unsigned i = 0; n < max && i < SUBID_LINES_MAX && getline(&line, &size, f) >= 0; i++) {
                uint32_t start, count;

                (void) subid_line_parse(line, name, who, &start, &count);
                if (count > 0)
                        ret[n++] = (SubidRange) { .start = start, .count = count };
        }
        fclose(f);
        *ret_n = n;
        return 0;
}
