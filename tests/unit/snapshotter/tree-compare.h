/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Asserts that two trees are identical in what a native snapshot must keep: per entry
 * type, mode bits, owner, size, content, symlink target, device number, mtime to the
 * nanosecond, every xattr, and hardlink groups (two names share a source inode exactly
 * when they share a destination inode). The roots are compared too. */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "test-util.h"

typedef struct InoPair {
        ino_t src, dst;
} InoPair;

typedef struct TreeCompare {
        InoPair pairs[256];
        size_t n_pairs;
        size_t n_entries;
} TreeCompare;

static inline void compare_link_group(TreeCompare *tc, const struct stat *a, const struct stat *b) {
        for (size_t i = 0; i < tc->n_pairs; i++)
                if (tc->pairs[i].src == a->st_ino || tc->pairs[i].dst == b->st_ino) {
                        ASSERT_TRUE(tc->pairs[i].src == a->st_ino && tc->pairs[i].dst == b->st_ino);
                        return;
                }
        ASSERT_TRUE(tc->n_pairs < ELEMENTSOF(tc->pairs));
        tc->pairs[tc->n_pairs++] = (InoPair) { a->st_ino, b->st_ino };
}

/* Sorted, NUL-separated names and values of the xattrs of path (not followed). */
static inline char *xattr_dump(const char *path) {
        char names[4096], *out = calloc(1, 65536);
        ssize_t n = llistxattr(path, names, sizeof names);
        size_t used = 0;
        const char *sorted[64];
        size_t k = 0;

        ASSERT_TRUE(out);
        if (n < 0 && errno == EOPNOTSUPP)
                return out;
        ASSERT_TRUE(n >= 0);
        for (const char *p = names; p < names + n; p += strlen(p) + 1) {
                ASSERT_TRUE(k < ELEMENTSOF(sorted));
                sorted[k++] = p;
        }
        for (size_t i = 0; i < k; i++)
                for (size_t j = i + 1; j < k; j++)
                        if (strcmp(sorted[j], sorted[i]) < 0) {
                                const char *t = sorted[i];
                                sorted[i] = sorted[j];
                                sorted[j] = t;
                        }
        for (size_t i = 0; i < k; i++) {
                char value[4096];
                ssize_t v = lgetxattr(path, sorted[i], value, sizeof value);
                ASSERT_TRUE(v >= 0);
                used += (size_t) snprintf(out + used, 65536 - used, "%s=", sorted[i]);
                ASSERT_TRUE(used + (size_t) v + 2 < 65536);
                for (ssize_t c = 0; c < v; c++)
                        used += (size_t) snprintf(out + used, 65536 - used, "%02x", (unsigned char) value[c]);
                out[used++] = ';';
        }
        return out;
}

static inline char *file_content(const char *path, off_t size) {
        char *buf = malloc((size_t) size + 1);
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        off_t done = 0;

        ASSERT_TRUE(buf && fd >= 0);
        while (done < size) {
                ssize_t n = read(fd, buf + done, (size_t) (size - done));
                ASSERT_TRUE(n > 0);
                done += n;
        }
        close(fd);
        return buf;
}

static inline void compare_entry(TreeCompare *tc, const char *a, const char *b);

static inline void compare_dir(TreeCompare *tc, const char *a, const char *b) {
        DIR *da = opendir(a), *db = opendir(b);
        struct dirent *de;
        size_t na = 0, nb = 0;

        ASSERT_TRUE(da && db);
        while ((de = readdir(da))) {
                char pa[4096], pb[4096];
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                snprintf(pa, sizeof pa, "%s/%s", a, de->d_name);
                snprintf(pb, sizeof pb, "%s/%s", b, de->d_name);
                compare_entry(tc, pa, pb);
                na++;
        }
        while ((de = readdir(db)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        nb++;
        if (na != nb)
                fprintf(stderr, "%s has %zu entries, %s has %zu\n", a, na, b, nb);
        ASSERT_TRUE(na == nb);
        closedir(da);
        closedir(db);
}

static inline void compare_entry(TreeCompare *tc, const char *a, const char *b) {
        struct stat sa, sb;
        char *xa, *xb;

        ASSERT_OK(lstat(a, &sa));
        if (lstat(b, &sb) < 0) {
                fprintf(stderr, "%s is missing in the copy\n", b);
                ASSERT_TRUE(false);
        }
        tc->n_entries++;
        if (sa.st_mode != sb.st_mode || sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid ||
            (!S_ISDIR(sa.st_mode) && sa.st_size != sb.st_size) || sa.st_rdev != sb.st_rdev ||
            sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec ||
            (!S_ISDIR(sa.st_mode) && sa.st_nlink != sb.st_nlink)) {
                fprintf(stderr, "%s: mode %o/%o owner %u:%u/%u:%u size %lld/%lld mtime %lld.%09ld/%lld.%09ld nlink %lu/%lu\n",
                        b, sa.st_mode, sb.st_mode, sa.st_uid, sa.st_gid, sb.st_uid, sb.st_gid,
                        (long long) sa.st_size, (long long) sb.st_size, (long long) sa.st_mtim.tv_sec,
                        sa.st_mtim.tv_nsec, (long long) sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec,
                        (unsigned long) sa.st_nlink, (unsigned long) sb.st_nlink);
                ASSERT_TRUE(false);
        }
        xa = xattr_dump(a);
        xb = xattr_dump(b);
        ASSERT_STREQ(xa, xb);
        free(xa);
        free(xb);
        if (!S_ISDIR(sa.st_mode) && sa.st_nlink > 1)
                compare_link_group(tc, &sa, &sb);

        if (S_ISDIR(sa.st_mode))
                compare_dir(tc, a, b);
        else if (S_ISREG(sa.st_mode)) {
                char *ca = file_content(a, sa.st_size), *cb = file_content(b, sb.st_size);
                ASSERT_TRUE(memcmp(ca, cb, (size_t) sa.st_size) == 0);
                free(ca);
                free(cb);
        } else if (S_ISLNK(sa.st_mode)) {
                char ta[4096] = {}, tb[4096] = {};
                ASSERT_TRUE(readlink(a, ta, sizeof ta - 1) >= 0);
                ASSERT_TRUE(readlink(b, tb, sizeof tb - 1) >= 0);
                ASSERT_STREQ(ta, tb);
        }
}

/* Returns the number of entries compared (roots included). */
static inline size_t compare_trees(const char *a, const char *b) {
        TreeCompare *tc = calloc(1, sizeof *tc);
        size_t n;

        ASSERT_TRUE(tc);
        compare_entry(tc, a, b);
        n = tc->n_entries;
        free(tc);
        return n;
}
