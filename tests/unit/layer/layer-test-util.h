/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Building layers for tests: tars written by libarchive into a memfd, and helpers that
 * look at directory trees. */

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-util.h"

typedef struct TarItem {
        const char *name;
        unsigned type;     /* AE_IFREG (0 = AE_IFREG), AE_IFDIR, AE_IFLNK, AE_IFCHR, ... */
        unsigned mode;     /* 0: 0644 (0755 for directories) */
        const char *data;  /* regular file contents */
        size_t size;       /* 0: strlen(data); a larger size pads with 'x' */
        const char *link;  /* symlink target */
        const char *hardlink;
        int64_t uid, gid;
        time_t mtime;
        const char *xattr[4]; /* name, value, name, value */
        unsigned rmajor, rminor;
} TarItem;

/* A tar of items in format (ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, _GNUTAR, _ZIP, ...) through
 * filter (ARCHIVE_FILTER_NONE, _GZIP, _ZSTD), in a memfd at offset 0. */
static inline int tar_build(int format, int filter, const TarItem *items, size_t n) {
        struct archive *a = archive_write_new();
        int fd = memfd_create("layer", 0);

        ASSERT_TRUE(a && fd >= 0);
        ASSERT_TRUE(archive_write_set_format(a, format) == ARCHIVE_OK);
        ASSERT_TRUE(archive_write_add_filter(a, filter) == ARCHIVE_OK);
        ASSERT_TRUE(archive_write_open_fd(a, fd) == ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                const TarItem *it = &items[i];
                struct archive_entry *ae = archive_entry_new();
                unsigned type = it->type ?: AE_IFREG;
                size_t len = it->data ? strlen(it->data) : 0, size = it->size ?: len;

                archive_entry_set_pathname(ae, it->name);
                archive_entry_set_filetype(ae, type);
                archive_entry_set_perm(ae, it->mode ?: (type == AE_IFDIR ? 0755 : 0644));
                archive_entry_set_uid(ae, it->uid);
                archive_entry_set_gid(ae, it->gid);
                archive_entry_set_mtime(ae, it->mtime ?: 1700000000, 0);
                if (it->link)
                        archive_entry_set_symlink(ae, it->link);
                if (it->hardlink)
                        archive_entry_set_hardlink(ae, it->hardlink);
                if (type == AE_IFCHR || type == AE_IFBLK) {
                        archive_entry_set_rdevmajor(ae, it->rmajor);
                        archive_entry_set_rdevminor(ae, it->rminor);
                }
                for (size_t x = 0; x < 4 && it->xattr[x]; x += 2)
                        archive_entry_xattr_add_entry(ae, it->xattr[x], it->xattr[x + 1], strlen(it->xattr[x + 1]));
                if (type == AE_IFREG && !it->hardlink)
                        archive_entry_set_size(ae, (la_int64_t) size);
                ASSERT_TRUE(archive_write_header(a, ae) == ARCHIVE_OK);
                if (type == AE_IFREG && !it->hardlink && size > 0) {
                        char *buf = malloc(size);
                        ASSERT_TRUE(buf);
                        memset(buf, 'x', size);
                        memcpy(buf, it->data ?: "", len);
                        ASSERT_TRUE(archive_write_data(a, buf, size) == (la_ssize_t) size);
                        free(buf);
                }
                archive_entry_free(ae);
        }
        ASSERT_TRUE(archive_write_close(a) == ARCHIVE_OK);
        archive_write_free(a);
        ASSERT_TRUE(lseek(fd, 0, SEEK_SET) == 0);
        return fd;
}

/* "sha256:<hex>" of everything in fd (from offset 0); rewinds it. */
static inline void fd_sha256(int fd, char out[7 + 64 + 1], uint64_t *ret_size) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        unsigned char d[32], buf[65536];
        uint64_t size = 0;
        unsigned len;
        ssize_t n;

        ASSERT_TRUE(lseek(fd, 0, SEEK_SET) == 0);
        ASSERT_TRUE(EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1);
        while ((n = read(fd, buf, sizeof buf)) > 0) {
                ASSERT_TRUE(EVP_DigestUpdate(c, buf, (size_t) n) == 1);
                size += (uint64_t) n;
        }
        ASSERT_TRUE(n == 0);
        ASSERT_TRUE(EVP_DigestFinal_ex(c, d, &len) == 1);
        EVP_MD_CTX_free(c);
        strcpy(out, "sha256:");
        for (unsigned i = 0; i < 32; i++)
                sprintf(out + 7 + 2 * i, "%02x", d[i]);
        ASSERT_TRUE(lseek(fd, 0, SEEK_SET) == 0);
        if (ret_size)
                *ret_size = size;
}

/* A listing of a tree (names, types, modes, owners, sizes, mtimes, link targets, file
 * contents), to prove that a refused call changed nothing. Caller frees. */
static inline char *tree_listing(const char *dir) {
        char cmd[1024], *out = NULL;
        size_t n = 0;
        FILE *f, *m = open_memstream(&out, &n);
        int c;

        snprintf(cmd, sizeof cmd,
                 "cd '%s' && find . -printf '%%p %%y %%m %%U %%G %%s %%T@ %%l\\n' | sort && "
                 "find . -type f -exec sha256sum {} + | sort",
                 dir);
        f = popen(cmd, "r");
        ASSERT_TRUE(f && m);
        while ((c = fgetc(f)) != EOF)
                fputc(c, m);
        ASSERT_TRUE(pclose(f) == 0);
        fclose(m);
        return out;
}

/* The scratch directory of a layer test (layer_test_run_all()), removed when a failing
 * case aborts too. */
static const char *layer_test_dir;

static inline void layer_test_cleanup_on_abort(int sig) {
        test_rm_rf(layer_test_dir);
        signal(sig, SIG_DFL);
        raise(sig);
}

/* Runs the cases as root in a new scratch directory made from dir_template (which then
 * names it), removed afterwards; skips when not root, saying what layer_apply needs it
 * for. */
static inline int layer_test_run_all(char *dir_template, const char *why_root, const TestCase *cases, size_t n) {
        int r;

        if (geteuid() != 0) {
                fprintf(stderr, "layer_apply needs root (%s)\n", why_root);
                return EXIT_TEST_SKIP;
        }
        ASSERT_TRUE(mkdtemp(dir_template));
        layer_test_dir = dir_template;
        signal(SIGABRT, layer_test_cleanup_on_abort);
        r = test_run_all(cases, n);
        test_rm_rf(dir_template);
        return r;
}

/* Runs fn in a child process that writes a layer into write_fd, and closes the parent's
 * copy so the reader sees the end. A process, not a thread: the parser sandbox is made
 * with a raw clone(), and a thread holding a libc lock at that moment would leave the
 * child stuck on it. */
static inline pid_t feeder_start(void *(*fn)(void *), void *userdata, int write_fd) {
        pid_t pid = fork();

        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                fn(userdata);
                _exit(0);
        }
        close(write_fd);
        return pid;
}

static inline void feeder_wait(pid_t pid) {
        int status;

        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
