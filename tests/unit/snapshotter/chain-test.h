/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One Prepare/Commit/View chain through the core for a full-tree backend (native, btrfs),
 * checking contents through the mounts the core returns, Usage, the daemon's own Mount,
 * Remove and Cleanup. Call it inside a private mount namespace. The backend-specific
 * hooks see every returned mount list and the state just before the removals. */

#include <dirent.h>
#include <sys/mount.h>

#include "core/core-test-util.h"

typedef struct ChainHooks {
        /* After each Prepare/View; key is "l1", "l2", "l3" (active), "v1", "v2", "v0" (views). */
        void (*check_mounts)(CoreSnapshotter *s, const char *key, SnapshotKind kind, const MountSpecList *m);
        /* With c1, c2 (committed), l3 (active) and v0, v1, v2 (views) all present. */
        void (*before_remove)(CoreSnapshotter *s);
} ChainHooks;

typedef struct Chain {
        CoreSnapshotter *s;
        const ChainHooks *hooks;
        char *mnt;
} Chain;

static inline void chain_create(Chain *c, SnapshotKind kind, const char *key, const char *parent) {
        MountSpecList m = {};
        Error e = ERROR_NULL;

        if (kind == SNAPSHOT_ACTIVE)
                ASSERT_OK(core_prepare(c->s, 0, key, parent, NULL, &m, &e));
        else
                ASSERT_OK(core_view(c->s, 0, key, parent, NULL, &m, &e));
        ASSERT_TRUE(m.n == 1);
        if (c->hooks->check_mounts)
                c->hooks->check_mounts(c->s, key, kind, &m);
        mount_spec_list_clear(&m);
}

/* Mounts what Mounts(key) returns at c->mnt. */
static inline void chain_mount(Chain *c, const char *key) {
        MountSpecList m = {};
        Error e = ERROR_NULL;

        ASSERT_OK(core_mounts(c->s, 0, key, &m, &e));
        ASSERT_TRUE(m.n == 1);
        test_mount_spec(&m.items[0], c->mnt);
        mount_spec_list_clear(&m);
}

static inline void chain_umount(Chain *c) {
        ASSERT_OK(umount2(c->mnt, 0) < 0 ? -errno : 0);
}

static inline void chain_commit(Chain *c, const char *name, const char *key) {
        Error e = ERROR_NULL;
        ASSERT_OK(core_commit(c->s, 0, name, key, NULL, &e));
}

static inline void chain_remove(Chain *c, const char *key) {
        Error e = ERROR_NULL;
        ASSERT_OK(core_remove(c->s, 0, key, &e));
}

static inline void assert_content(const char *dir, const char *name, const char *expected) {
        char *got = test_read_file(dir, name);

        if (!expected) {
                ASSERT_TRUE(!got);
                return;
        }
        ASSERT_STREQ(got, expected);
        free(got);
}

static inline int try_write(const char *dir, const char *name) {
        char *p = strdup_printf("%s/%s", dir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        int r = fd < 0 ? -errno : 0;

        if (fd >= 0) {
                close(fd);
                (void) unlink(p);
        }
        free(p);
        return r;
}

static inline size_t dir_entries(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;
        size_t n = 0;

        ASSERT_TRUE(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

/* Layer 1: a, d/x, d/y (hardlink), s -> a, mode 0710 on d, owner 7:8 on a. */
static inline void chain_layer1(Chain *c) {
        char *p;

        chain_create(c, SNAPSHOT_ACTIVE, "l1", NULL);
        chain_mount(c, "l1");
        ASSERT_TRUE((dir_entries(c->mnt)) == 0);
        test_write_file(c->mnt, "a", "one\n");
        p = strdup_printf("%s/d", c->mnt);
        ASSERT_OK(mkdir(p, 0710));
        free(p);
        test_write_file(c->mnt, "d/x", "ex\n");
        p = strdup_printf("%s/d/x", c->mnt);
        char *q = strdup_printf("%s/d/y", c->mnt);
        ASSERT_OK(link(p, q));
        free(p);
        free(q);
        p = strdup_printf("%s/s", c->mnt);
        ASSERT_OK(symlink("a", p));
        free(p);
        p = strdup_printf("%s/a", c->mnt);
        ASSERT_OK(chown(p, 7, 8));
        free(p);
        chain_umount(c);
        chain_commit(c, "c1", "l1");
}

/* Layer 2 on c1: sees layer 1, then a -> "two", new b, d/x removed. */
static inline void chain_layer2(Chain *c) {
        struct stat st;
        char *p;

        chain_create(c, SNAPSHOT_ACTIVE, "l2", "c1");
        chain_mount(c, "l2");
        assert_content(c->mnt, "a", "one\n");
        assert_content(c->mnt, "d/y", "ex\n");
        p = strdup_printf("%s/a", c->mnt);
        ASSERT_OK(lstat(p, &st));
        ASSERT_TRUE(st.st_uid == 7 && st.st_gid == 8);
        free(p);
        p = strdup_printf("%s/d/x", c->mnt);
        ASSERT_OK(lstat(p, &st));
        ASSERT_TRUE(st.st_nlink == 2); /* the hardlink survived the copy */
        ASSERT_OK(unlink(p));
        free(p);
        test_write_file(c->mnt, "a", "two\n");
        test_write_file(c->mnt, "b", "bee\n");
        chain_umount(c);
        chain_commit(c, "c2", "l2");
}

static inline void chain_views(Chain *c) {
        struct stat st;
        char *p;

        chain_create(c, SNAPSHOT_VIEW, "v2", "c2");
        chain_mount(c, "v2");
        assert_content(c->mnt, "a", "two\n");
        assert_content(c->mnt, "b", "bee\n");
        assert_content(c->mnt, "d/x", NULL);
        assert_content(c->mnt, "d/y", "ex\n");
        p = strdup_printf("%s/d", c->mnt);
        ASSERT_OK(lstat(p, &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0710);
        free(p);
        ASSERT_ERR(try_write(c->mnt, "new"), EROFS);
        chain_umount(c);

        /* The parent kept its own content. */
        chain_create(c, SNAPSHOT_VIEW, "v1", "c1");
        chain_mount(c, "v1");
        assert_content(c->mnt, "a", "one\n");
        assert_content(c->mnt, "b", NULL);
        assert_content(c->mnt, "d/x", "ex\n");
        assert_content(c->mnt, "s", "one\n"); /* through the symlink */
        chain_umount(c);

        chain_create(c, SNAPSHOT_VIEW, "v0", NULL);
        chain_mount(c, "v0");
        ASSERT_TRUE(dir_entries(c->mnt) == 0);
        ASSERT_OK(stat(c->mnt, &st));
        ASSERT_TRUE((st.st_mode & 07777) == 0755);
        ASSERT_ERR(try_write(c->mnt, "new"), EROFS);
        chain_umount(c);
}

/* An active on c2 with 1 MiB more; Usage of active, committed and view. */
/* A 1 MiB file at path, of 4 KiB blocks of letters. */
static inline void write_one_mib(const char *path) {
        FILE *f = fopen(path, "we");

        ASSERT_TRUE(f);
        for (int i = 0; i < 256; i++) {
                char block[4096];
                memset(block, 'a' + i % 26, sizeof block);
                ASSERT_TRUE(fwrite(block, 1, sizeof block, f) == sizeof block);
        }
        ASSERT_TRUE(fclose(f) == 0);
}

static inline void chain_usage(Chain *c) {
        uint64_t size, inodes, size2, inodes2;
        Error e = ERROR_NULL;
        char *p;

        chain_create(c, SNAPSHOT_ACTIVE, "l3", "c2");
        chain_mount(c, "l3");
        p = strdup_printf("%s/big", c->mnt);
        write_one_mib(p);
        free(p);
        chain_umount(c);

        ASSERT_OK(core_usage(c->s, 0, "c2", &size2, &inodes2, &e));
        /* root, a, b, d, d/y, s: a full tree, hardlinks counted once */
        ASSERT_TRUE(inodes2 == 6);
        ASSERT_TRUE(size2 > 0);
        ASSERT_OK(core_usage(c->s, 0, "l3", &size, &inodes, &e));
        ASSERT_TRUE(inodes == inodes2 + 1);
        ASSERT_TRUE(size >= size2 + 1024 * 1024);
        ASSERT_OK(core_usage(c->s, 0, "v2", &size, &inodes, &e));
        ASSERT_TRUE(size == 0 && inodes == 0);
}

/* The daemon's own Mount: read-only for a view, writable for an active. */
static inline void chain_daemon_mount(Chain *c) {
        CoreMountOptions o = {};
        Error e = ERROR_NULL;
        char *path = NULL;

        ASSERT_OK(core_mount(c->s, 0, "v2", c->mnt, &o, &path, &e));
        assert_content(path, "b", "bee\n");
        ASSERT_ERR(try_write(path, "new"), EROFS);
        free(path);
        ASSERT_OK(core_unmount(c->s, 0, "v2", false, NULL, &e));

        ASSERT_OK(core_mount(c->s, 0, "l3", NULL, &o, &path, &e));
        assert_content(path, "a", "two\n");
        ASSERT_OK(try_write(path, "new"));
        free(path);
        ASSERT_OK(core_unmount(c->s, 0, "l3", false, NULL, &e));
}

static inline void chain_remove_all(Chain *c, const char *state_dir) {
        char *snapshots = strdup_printf("%s/%s/snapshots", state_dir, core_snapshotter_name(c->s));
        uint64_t reclaimed = 0;
        Error e = ERROR_NULL;

        ASSERT_ERR(core_remove(c->s, 0, "c1", &e), ENOTEMPTY);
        for (const char *const *k = (const char *const[]) { "l3", "v0", "v1", "v2", "c2", "c1", NULL }; *k; k++)
                chain_remove(c, *k);
        /* Remove frees the data in the background, without a Cleanup (bounded wait: 60 s). */
        ASSERT_EVENTUALLY(dir_entries(snapshots) == 0);
        e = ERROR_NULL;
        /* Cleanup reports what root's Removes freed since its last Cleanup. */
        ASSERT_OK(core_cleanup(c->s, 0, &reclaimed, &e));
        ASSERT_TRUE(reclaimed >= 1024 * 1024);
        ASSERT_OK(core_cleanup(c->s, 0, &reclaimed, &e));
        ASSERT_TRUE(reclaimed == 0);
        free(snapshots);
}

static inline void chain_run(CoreSnapshotter *s, const char *state_dir, const char *workdir,
                             const ChainHooks *hooks) {
        Chain c = { .s = s, .hooks = hooks, .mnt = strdup_printf("%s/mnt", workdir) };

        ASSERT_TRUE(c.mnt);
        (void) mkdir(c.mnt, 0755);
        chain_layer1(&c);
        chain_layer2(&c);
        chain_views(&c);
        chain_usage(&c);
        chain_daemon_mount(&c);
        if (hooks->before_remove)
                hooks->before_remove(s);
        chain_remove_all(&c, state_dir);
        free(c.mnt);
}

/* Writes a tar of the files "path=content" (content "" for an empty file; a path ending
 * in "/" is a directory) to workdir/<name>.tar and opens it. */
static inline int make_layer(const char *workdir, const char *name, const char *const *files) {
        char *dir = strdup_printf("%s/%s.d", workdir, name), *tar = strdup_printf("%s/%s.tar", workdir, name);
        char *cmd;
        int fd;

        ASSERT_OK(mkdir(dir, 0755));
        for (const char *const *f = files; *f; f++) {
                const char *eq = strchr(*f, '=');
                char *path = eq ? strndup(*f, (size_t) (eq - *f)) : strdup(*f);
                if (path[strlen(path) - 1] == '/') {
                        char *p = strdup_printf("%s/%s", dir, path);
                        ASSERT_OK(mkdir(p, 0755));
                        free(p);
                } else
                        test_write_file(dir, path, eq ? eq + 1 : "");
                free(path);
        }
        cmd = strdup_printf("tar --numeric-owner -C '%s' -cf '%s' .", dir, tar);
        ASSERT_TRUE(system(cmd) == 0);
        fd = open(tar, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        free(cmd);
        free(dir);
        free(tar);
        return fd;
}

static inline void apply_layer(CoreSnapshotter *s, const char *key, int fd) {
        CoreApplyOptions o = { .allow_devices = true };
        CoreApplyResult res = {};
        Error e = ERROR_NULL;

        if (core_apply(s, 0, key, fd, &o, &res, &e) < 0) {
                fprintf(stderr, "apply to %s: %s\n", key, e.message);
                ASSERT_TRUE(false);
        }
        ASSERT_TRUE(strncmp(res.diff_id, "sha256:", 7) == 0 && res.entries > 0);
        close(fd);
}

/* Apply on a full-tree backend: OCI whiteouts delete from the copy of the parent and are
 * not stored (layered = false). */
static inline void apply_run(CoreSnapshotter *s, const char *workdir) {
        static const char *const layer1[] = { "a=one\n", "keep=k\n", "d/", "d/x=ex\n", NULL };
        static const char *const layer2[] = { ".wh.a", "d/", "d/.wh..wh..opq", "d/new=n\n", "b=bee\n", NULL };
        Chain c = { .s = s, .hooks = &(ChainHooks) {}, .mnt = strdup_printf("%s/amnt", workdir) };
        Error e = ERROR_NULL;
        uint64_t reclaimed;

        ASSERT_OK(mkdir(c.mnt, 0755));
        chain_create(&c, SNAPSHOT_ACTIVE, "al1", NULL);
        apply_layer(s, "al1", make_layer(workdir, "layer1", layer1));
        chain_commit(&c, "ac1", "al1");
        chain_create(&c, SNAPSHOT_ACTIVE, "al2", "ac1");
        apply_layer(s, "al2", make_layer(workdir, "layer2", layer2));
        chain_commit(&c, "ac2", "al2");

        chain_create(&c, SNAPSHOT_VIEW, "av", "ac2");
        chain_mount(&c, "av");
        assert_content(c.mnt, "a", NULL);
        assert_content(c.mnt, ".wh.a", NULL);
        assert_content(c.mnt, "keep", "k\n");
        assert_content(c.mnt, "b", "bee\n");
        assert_content(c.mnt, "d/new", "n\n");
        assert_content(c.mnt, "d/x", NULL);
        assert_content(c.mnt, "d/.wh..wh..opq", NULL);
        chain_umount(&c);

        for (const char *const *k = (const char *const[]) { "av", "ac2", "ac1", NULL }; *k; k++)
                chain_remove(&c, *k);
        ASSERT_OK(core_cleanup(s, 0, &reclaimed, &e));
        free(c.mnt);
}
