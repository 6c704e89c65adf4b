/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A caller of MountFd for the tests, run as an unprivileged user:
 *   mount-fd-run OBJECT KEY OPTIONS hold CMD...        keeps the fd (in $MOUNT_FD) and runs CMD
 *   mount-fd-run OBJECT KEY OPTIONS attach DIR CMD...  attaches it on DIR in a new user and mount
 *                                                      namespace (its uid and gid as 0) and runs CMD
 *   mount-fd-run OBJECT KEY OPTIONS mount              Mount (MountWithUserNamespace) instead, by
 *                                                      laminad in its directory; prints the path
 * OPTIONS: comma-separated mount options, "-" for none; "userns=fd:N" or "userns=PATH" among
 * them calls MountFdWithUserNamespace with that user namespace (fd N inherited, or PATH
 * opened). A D-Bus error is printed as "error NAME: MESSAGE" with exit status 3. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "macro.h"

static int die(const char *what) {
        fprintf(stderr, "mount-fd-run: %s: %s\n", what, strerror(errno));
        return 2;
}

static int write_file(const char *path, const char *content) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -1;
        n = write(fd, content, strlen(content));
        close(fd);
        return n == (ssize_t) strlen(content) ? 0 : -1;
}

/* ret NULL: Mount(WithUserNamespace) with no target, the path printed. */
static int get_mount_fd(const char *object, const char *key, char *options, int *ret) {
        /* Freed on every way out (LeakSanitizer runs at exit in a sanitizer build). */
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_close_ int userns_fd = -EBADF;
        const char *userns = strstr(options, "userns=");
        int fd = -1, r;

        if (userns) {
                userns += strlen("userns=");
                userns_fd = strncmp(userns, "fd:", 3) == 0 ? fcntl(atoi(userns + 3), F_DUPFD_CLOEXEC, 3)
                                                           : open(userns, O_RDONLY | O_CLOEXEC);
                if (userns_fd < 0)
                        return die(userns);
        }
        r = sd_bus_open_system(&bus);
        if (r < 0)
                return errno = -r, die("connecting to the system bus");
        r = sd_bus_message_new_method_call(bus, &m, "org.lamina.snapshot1", object, "org.lamina.snapshot1.Snapshotter",
                                           !ret ? (userns ? "MountWithUserNamespace" : "Mount")
                                                : (userns ? "MountFdWithUserNamespace" : "MountFd"));
        if (r >= 0)
                r = sd_bus_message_append(m, "s", key);
        if (r >= 0 && !ret)
                r = sd_bus_message_append(m, "s", "");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "s");
        for (char *o = strcmp(options, "-") ? strtok(options, ",") : NULL; r >= 0 && o; o = strtok(NULL, ","))
                if (strncmp(o, "userns=", 7) != 0)
                        r = sd_bus_message_append(m, "s", o);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0 && userns)
                r = sd_bus_message_append(m, "h", userns_fd);
        if (r < 0)
                return errno = -r, die("building the call");
        r = sd_bus_call(bus, m, 120 * 1000000ULL, &error, &reply);
        if (r < 0) {
                const char *name = strrchr(error.name ?: "", '.');
                printf("error %s: %s\n", name ? name + 1 : error.name, error.message);
                return 3;
        }
        if (!ret) {
                const char *path;

                r = sd_bus_message_read(reply, "s", &path);
                if (r < 0)
                        return errno = -r, die("reading the reply");
                printf("%s\n", path);
        } else {
                r = sd_bus_message_read(reply, "h", &fd);
                if (r < 0)
                        return errno = -r, die("reading the reply");
                *ret = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (*ret < 0)
                        return die("dup");
        }
        return 0;
}

int main(int argc, char **argv) {
        char map[64], num[16];
        uid_t uid = getuid();
        gid_t gid = getgid();
        int fd = -1, r;

        if (argc == 5 && !strcmp(argv[4], "mount"))
                return get_mount_fd(argv[1], argv[2], argv[3], NULL);
        if (argc < 6 || (strcmp(argv[4], "hold") && strcmp(argv[4], "attach")) ||
            (!strcmp(argv[4], "attach") && argc < 7)) {
                fprintf(stderr, "usage: mount-fd-run OBJECT KEY OPTIONS hold CMD... | attach DIR CMD... | mount\n");
                return 2;
        }
        r = get_mount_fd(argv[1], argv[2], argv[3], &fd);
        if (r != 0)
                return r;

        if (!strcmp(argv[4], "hold")) {
                if (fcntl(fd, F_SETFD, 0) < 0)
                        return die("clearing FD_CLOEXEC");
                snprintf(num, sizeof num, "%d", fd);
                if (setenv("MOUNT_FD", num, 1) < 0)
                        return die("setenv");
                execvp(argv[5], argv + 5);
                return die(argv[5]);
        }

        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                return die("unshare");
        if (write_file("/proc/self/setgroups", "deny") < 0)
                return die("writing setgroups");
        snprintf(map, sizeof map, "0 %u 1", (unsigned) uid);
        if (write_file("/proc/self/uid_map", map) < 0)
                return die("writing uid_map");
        snprintf(map, sizeof map, "0 %u 1", (unsigned) gid);
        if (write_file("/proc/self/gid_map", map) < 0)
                return die("writing gid_map");
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return die("making / private");
        if (move_mount(fd, "", AT_FDCWD, argv[5], MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return die("move_mount");
        close(fd);
        execvp(argv[6], argv + 6);
        return die(argv[6]);
}
