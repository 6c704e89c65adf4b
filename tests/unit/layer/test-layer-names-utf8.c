/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Non-ASCII names in every tar dialect (pax, GNU, ustar, v7), as the tools write them:
 * pax "path"/"linkpath" records in UTF-8 (Go's archive/tar: buildah, podman, docker),
 * raw bytes in the header fields (GNU tar, ustar, v7). The headers are written here byte
 * by byte, so no library's idea of the locale shapes them. Needs root (chown). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer-fs.h"
#include "layer-test-util.h"
#include "layer.h"

#define CERT "NetLock_Arany_=Class_Gold=_F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.crt"
#define DIRN "ca-certificates-\xc3\xa9t\xc3\xa9"
#define LINK "l\xc3\xa9n"

static char base_dir[] = "/tmp/lamina-test-utf8-XXXXXX";

typedef enum Dialect { PAX, GNU, USTAR, V7 } Dialect;

static const char *const dialect_names[] = { "pax", "GNU", "ustar", "v7" };

typedef struct Raw {
        int fd;
        Dialect dialect;
} Raw;

static void put_octal(char *field, size_t size, uint64_t v) {
        snprintf(field, size, "%0*llo", (int) size - 1, (unsigned long long) v);
}

static void write_block(Raw *w, const void *p, size_t n) {
        static const char zeros[512];

        ASSERT_TRUE(write(w->fd, p, n) == (ssize_t) n);
        if (n % 512)
                ASSERT_TRUE(write(w->fd, zeros, 512 - n % 512) == (ssize_t) (512 - n % 512));
}

/* One 512-byte header; name and link are copied into their fields as bytes. */
static void write_header(Raw *w, char type, const char *name, const char *link, uint64_t size, unsigned mode) {
        char h[512] = {};
        unsigned sum = 0;

        ASSERT_TRUE(strlen(name) < 100 && strlen(link ?: "") < 100);
        memcpy(h, name, strlen(name));
        put_octal(h + 100, 8, mode);
        put_octal(h + 108, 8, 0);
        put_octal(h + 116, 8, 0);
        put_octal(h + 124, 12, size);
        put_octal(h + 136, 12, 1700000000);
        h[156] = type;
        if (link)
                memcpy(h + 157, link, strlen(link));
        switch (w->dialect) {
        case PAX:
        case USTAR:
                memcpy(h + 257, "ustar\0" "00", 8);
                break;
        case GNU:
                memcpy(h + 257, "ustar  \0", 8);
                break;
        case V7: /* no magic; only '0'-'7' types existed, '0' may be NUL */
                break;
        }
        memset(h + 148, ' ', 8);
        for (size_t i = 0; i < sizeof h; i++)
                sum += (unsigned char) h[i];
        snprintf(h + 148, 8, "%06o", sum);
        write_block(w, h, sizeof h);
}

static void add_pax_record(char *buf, size_t *len, const char *key, const char *value) {
        size_t body = strlen(key) + strlen(value) + 3, n = body + 1;

        /* The length counts its own digits. */
        while (snprintf(NULL, 0, "%zu", n) + body != n)
                n++;
        *len += (size_t) sprintf(buf + *len, "%zu %s=%s\n", n, key, value);
}

/* One entry. pax puts the real name (and link) in an 'x' record, with an ASCII stand-in
 * in the header, as Go does; the others carry the bytes in the header itself. */
static void write_entry(Raw *w, char type, const char *name, const char *link, const char *data, unsigned mode) {
        size_t size = data ? strlen(data) : 0;

        if (w->dialect == PAX) {
                char rec[1024];
                size_t len = 0;

                add_pax_record(rec, &len, "path", name);
                if (link)
                        add_pax_record(rec, &len, "linkpath", link);
                write_header(w, 'x', "PaxHeaders/entry", NULL, len, 0644);
                write_block(w, rec, len);
                write_header(w, type, "ascii-stand-in", link ? "ascii-link" : NULL, size, mode);
        } else
                write_header(w, type, name, link, size, mode);
        if (size > 0)
                write_block(w, data, size);
}

/* A layer with a directory, a file, a symlink and a hardlink, all with non-ASCII names. */
static int layer_new(Dialect d) {
        Raw w = { .fd = memfd_create("layer", MFD_CLOEXEC), .dialect = d };
        static const char end[1024];

        ASSERT_TRUE(w.fd >= 0);
        /* v7 had no type for directories: a regular entry whose name ends in '/'. (Nor
         * for symlinks, but readers take '2' from v7 headers as one, as GNU tar does.) */
        write_entry(&w, d == V7 ? '\0' : '5', DIRN "/", NULL, NULL, 0755);
        write_entry(&w, '0', DIRN "/" CERT, NULL, "certificate\n", 0644);
        write_entry(&w, '2', DIRN "/" LINK, CERT, NULL, 0777);
        write_entry(&w, '1', DIRN "/hard-" CERT, DIRN "/" CERT, NULL, 0644);
        ASSERT_TRUE(write(w.fd, end, sizeof end) == (ssize_t) sizeof end);
        ASSERT_TRUE(lseek(w.fd, 0, SEEK_SET) == 0);
        return w.fd;
}

static void check_dialect(Dialect d) {
        LayerApplyOptions o = { .overlay_whiteouts = true };
        LayerApplyResult res;
        Error e = ERROR_NULL;
        char target[512], buf[64], link[64];
        struct stat st, st2;
        int fd = layer_new(d), dir, f;
        ssize_t n;

        snprintf(target, sizeof target, "%s/%s", base_dir, dialect_names[d]);
        ASSERT_OK(mkdir(target, 0755));
        dir = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(dir >= 0);

        if (layer_apply(fd, dir, &o, &res, &e) < 0) {
                fprintf(stderr, "%s: %s\n", dialect_names[d], e.message);
                ASSERT_TRUE(false);
        }
        ASSERT_TRUE(res.entries == 4);

        f = openat(dir, DIRN "/" CERT, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        ASSERT_TRUE(f >= 0);
        n = read(f, buf, sizeof buf);
        ASSERT_TRUE(n == 12 && memcmp(buf, "certificate\n", 12) == 0);
        ASSERT_OK(fstat(f, &st));
        close(f);
        n = readlinkat(dir, DIRN "/" LINK, link, sizeof link - 1);
        ASSERT_TRUE(n > 0);
        link[n] = 0;
        ASSERT_STREQ(link, CERT);
        ASSERT_OK(fstatat(dir, DIRN "/hard-" CERT, &st2, AT_SYMLINK_NOFOLLOW));
        ASSERT_TRUE(st.st_ino == st2.st_ino && st.st_nlink == 2);
        close(dir);
        close(fd);
        printf("# %s: %s applied\n", dialect_names[d], DIRN "/" CERT);
}

TEST(pax_utf8_names) {
        check_dialect(PAX);
}

TEST(gnu_utf8_names) {
        check_dialect(GNU);
}

TEST(ustar_utf8_names) {
        check_dialect(USTAR);
}

TEST(v7_utf8_names) {
        check_dialect(V7);
}

/* A pax name that is not UTF-8 (and no hdrcharset=BINARY): libarchive warns that it
 * cannot decode it; the layer is refused with that entry named, not the one before. */
TEST(pax_name_not_utf8_names_the_entry) {
        Raw w = { .fd = memfd_create("layer", MFD_CLOEXEC), .dialect = PAX };
        static const char end[1024];
        LayerApplyOptions o = {};
        LayerApplyResult res;
        Error e = ERROR_NULL;
        char target[512];
        int dir;

        ASSERT_TRUE(w.fd >= 0);
        write_entry(&w, '0', "first-entry", NULL, "x", 0644);
        write_entry(&w, '0', "latin1-\xe9t\xe9", NULL, "x", 0644);
        ASSERT_TRUE(write(w.fd, end, sizeof end) == (ssize_t) sizeof end);
        ASSERT_TRUE(lseek(w.fd, 0, SEEK_SET) == 0);

        snprintf(target, sizeof target, "%s/not-utf8", base_dir);
        ASSERT_OK(mkdir(target, 0755));
        dir = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(dir >= 0);
        ASSERT_ERR(layer_apply(w.fd, dir, &o, &res, &e), EINVAL);
        printf("# refused: %s\n", e.message);
        ASSERT_TRUE(strstr(e.message, "latin1-"));
        ASSERT_TRUE(!strstr(e.message, "first-entry"));
        ASSERT_TRUE(faccessat(dir, "first-entry", F_OK, AT_SYMLINK_NOFOLLOW) < 0); /* nothing applied */
        close(dir);
        close(w.fd);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(pax_utf8_names),
                TEST_ENTRY(gnu_utf8_names),
                TEST_ENTRY(ustar_utf8_names),
                TEST_ENTRY(v7_utf8_names),
                TEST_ENTRY(pax_name_not_utf8_names_the_entry),
        };

        return layer_test_run_all(base_dir, "chown", cases, ELEMENTSOF(cases));
}
