/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The test programs of the core with the btrfs backend: a loop-backed btrfs made for the
 * test, mounted at fsdir (the state directory in it) only in the test's private mount
 * namespace, the loop device detached at the end whatever happened. */
#pragma once

#include <inttypes.h>
#include <linux/btrfs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "btrfs-util.h"
#include "core/core-test-util.h"
#include "snapshotter-test-util.h"

static char *workdir, *fsdir, *state_dir;
static char loopdev[64];

static inline Core *core_on_btrfs(void) {
        return test_core_new(fsdir, 0); /* state in <fs>/state */
}

static inline void mount_test_fs(void) {
        ASSERT_TRUE(test_enter_private_mount_ns());
        ASSERT_OK(mkdir(fsdir, 0755));
        ASSERT_OK(mount(loopdev, fsdir, "btrfs", 0, NULL) < 0 ? -errno : 0);
}

static inline bool kernel_has_btrfs(void) {
        FILE *f;
        char line[128];
        bool found = false;

        (void) !system("modprobe btrfs >/dev/null 2>&1");
        f = fopen("/proc/filesystems", "re");
        if (!f)
                return false;
        while (!found && fgets(line, sizeof line, f))
                found = streq(line, "\tbtrfs\n");
        fclose(f);
        return found;
}

/* Attaches image to a free loop device with autoclear, so it goes away on the last
 * close even if this program is killed. Returns the loop fd (kept open until the end). */
static inline int loop_attach(const char *image) {
        int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        int img, r = -1;

        if (ctl < 0)
                return -errno;
        img = open(image, O_RDWR | O_CLOEXEC);
        ASSERT_TRUE(img >= 0);
        for (int attempt = 0; attempt < 16 && r < 0; attempt++) {
                struct loop_config config = {
                        .fd = (uint32_t) img,
                        .info.lo_flags = LO_FLAGS_AUTOCLEAR,
                };
                int n = ioctl(ctl, LOOP_CTL_GET_FREE), fd;

                if (n < 0) {
                        r = -errno;
                        break;
                }
                snprintf(loopdev, sizeof loopdev, "/dev/loop%d", n);
                fd = open(loopdev, O_RDWR | O_CLOEXEC);
                if (fd < 0) {
                        r = -errno;
                        continue;
                }
                if (ioctl(fd, LOOP_CONFIGURE, &config) < 0) {
                        r = -errno;
                        close(fd);
                        continue; /* taken by someone else meanwhile */
                }
                r = fd;
        }
        close(img);
        close(ctl);
        return r;
}

static inline int make_image(const char *image) {
        char *cmd = strdup_printf("mkfs.btrfs -q -f '%s' >/dev/null", image);
        int fd = open(image, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), r;

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(ftruncate(fd, 512 * 1024 * 1024));
        ASSERT_OK(close(fd));
        r = system(cmd);
        free(cmd);
        return r == 0 ? 0 : -EIO;
}

static const TestCase *btrfs_cases;
static size_t n_btrfs_cases;

static inline void btrfs_run_cases(void) {
        mount_test_fs();
        test_run_all(btrfs_cases, n_btrfs_cases);
}

/* main() of a btrfs test program: skips without root or btrfs, runs cases on a new btrfs. */
static inline int btrfs_test_main(const TestCase *cases, size_t n) {
        static const TestCase child[] = { { "mount the test filesystem and run", btrfs_run_cases } };
        char *image;
        int loop_fd, r;

        btrfs_cases = cases;
        n_btrfs_cases = n;

        if (geteuid() != 0) {
                fprintf(stderr, "skipping: btrfs tests make a filesystem and mount it, which needs root\n");
                return EXIT_TEST_SKIP;
        }
        if (!kernel_has_btrfs()) {
                fprintf(stderr, "skipping: this kernel has no btrfs (not in /proc/filesystems after modprobe btrfs)\n");
                return EXIT_TEST_SKIP;
        }

        workdir = test_mkdtemp();
        fsdir = strdup_printf("%s/fs", workdir);
        state_dir = strdup_printf("%s/state", fsdir);
        image = strdup_printf("%s/btrfs.img", workdir);
        if (make_image(image) < 0) {
                test_rm_rf(workdir);
                fprintf(stderr, "mkfs.btrfs failed (is btrfs-progs installed?)\n");
                return EXIT_FAILURE;
        }
        loop_fd = loop_attach(image);
        if (loop_fd < 0) {
                test_rm_rf(workdir);
                fprintf(stderr, "skipping: no loop device available: %s\n", strerror(-loop_fd));
                return EXIT_TEST_SKIP;
        }

        /* The child mounts in its own namespace; the mount dies with it. */
        r = test_run_forked(child, 1, workdir);
        if (ioctl(loop_fd, LOOP_CLR_FD) < 0 && errno != ENXIO)
                fprintf(stderr, "detaching %s: %m (autoclear will when it is free)\n", loopdev);
        close(loop_fd);
        free(image);
        return r;
}

