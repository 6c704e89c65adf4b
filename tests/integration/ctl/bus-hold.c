/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An LD_PRELOAD shim that holds one D-Bus message of the process it is loaded into, so that
 * a test acts at that moment (test-ctl-import-unanswered.sh):
 *
 *   LAMINA_HOLD_CALL=DIR    (laminactl) a CreateImage or CreateImageWithOptions call waits
 *                           before it goes out;
 *   LAMINA_HOLD_ANSWER=DIR  (laminad) the answer (method return or error) it sends after a
 *                           CreateImage call came in waits before it goes out: the image is
 *                           written, the caller has no answer yet.
 *
 * Only while DIR exists, once per process: the shim makes DIR/held and waits until DIR/go
 * exists (at most 120 s, then the message goes anyway). sd-bus sends each message with one
 * sendmsg() whose first iovec is the header (its byte 1 the message type, its fields the
 * member) and reads with recvmsg(). */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MEMBER "CreateImage"
#define TYPE_METHOD_CALL 1
#define TYPE_METHOD_RETURN 2
#define TYPE_ERROR 3

static bool held, answer_armed;

static bool names_member(const void *p, size_t n) {
        return p && memmem(p, n, MEMBER, strlen(MEMBER));
}

static bool dir_exists(const char *dir) {
        return dir && access(dir, F_OK) == 0;
}

/* Makes DIR/held, then waits for DIR/go (at most 120 s). */
static void hold(const char *dir) {
        char path[PATH_MAX];
        int fd;

        held = true;
        snprintf(path, sizeof path, "%s/held", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
                close(fd);
        snprintf(path, sizeof path, "%s/go", dir);
        for (int i = 0; i < 1200 && access(path, F_OK) < 0; i++)
                (void) poll(NULL, 0, 100);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
        static ssize_t (*real)(int, const struct msghdr *, int);
        const char *call_dir = getenv("LAMINA_HOLD_CALL"), *answer_dir = getenv("LAMINA_HOLD_ANSWER");

        if (!real)
                real = (ssize_t (*)(int, const struct msghdr *, int)) dlsym(RTLD_NEXT, "sendmsg");
        if (!held && msg->msg_iovlen > 0 && msg->msg_iov[0].iov_len >= 2) {
                const struct iovec *header = &msg->msg_iov[0];
                unsigned char type = ((const unsigned char *) header->iov_base)[1];

                if (type == TYPE_METHOD_CALL && dir_exists(call_dir) &&
                    names_member(header->iov_base, header->iov_len))
                        hold(call_dir);
                else if ((type == TYPE_METHOD_RETURN || type == TYPE_ERROR) && answer_armed &&
                         dir_exists(answer_dir))
                        hold(answer_dir);
        }
        return real(fd, msg, flags);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
        static ssize_t (*real)(int, struct msghdr *, int);
        ssize_t n;

        if (!real)
                real = (ssize_t (*)(int, struct msghdr *, int)) dlsym(RTLD_NEXT, "recvmsg");
        n = real(fd, msg, flags);
        if (n > 0 && !held && getenv("LAMINA_HOLD_ANSWER")) {
                size_t left = (size_t) n;

                for (size_t i = 0; i < msg->msg_iovlen && left > 0; i++) {
                        size_t len = msg->msg_iov[i].iov_len < left ? msg->msg_iov[i].iov_len : left;

                        answer_armed = answer_armed || names_member(msg->msg_iov[i].iov_base, len);
                        left -= len;
                }
        }
        return n;
}
