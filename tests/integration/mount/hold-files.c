/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hold-files N: holds at least N open files (of /dev/null, in no mount a test looks at) as
 * the user it runs as, in as many child processes as its soft RLIMIT_NOFILE needs; prints
 * "ready TOTAL" once all of them hold theirs, then lives until it is killed (its children
 * die with it). Exit status 1 when a child could not. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static void child(pid_t parent, unsigned long n, int ready) {
        int null;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(1);
        null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0)
                _exit(1);
        for (unsigned long k = 1; k < n; k++)
                if (dup(null) < 0)
                        _exit(1);
        if (write(ready, "x", 1) != 1)
                _exit(1);
        close(ready); /* a failed sibling then ends the parent's read */
        for (;;)
                pause();
}

int main(int argc, char **argv) {
        unsigned long want, per, n_children;
        struct rlimit rl;
        int ready[2];
        pid_t self = getpid();
        char c;

        if (argc != 2 || (want = strtoul(argv[1], NULL, 10)) == 0) {
                fprintf(stderr, "usage: hold-files N\n");
                return 2;
        }
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 64) {
                fprintf(stderr, "hold-files: the open files limit is too low\n");
                return 2;
        }
        per = rl.rlim_cur - 16; /* stdio, the pipe, what the caller passed */
        n_children = (want + per - 1) / per;
        if (pipe(ready) < 0) {
                fprintf(stderr, "hold-files: pipe: %s\n", strerror(errno));
                return 2;
        }
        for (unsigned long i = 0; i < n_children; i++) {
                pid_t pid = fork();

                if (pid < 0) {
                        fprintf(stderr, "hold-files: fork: %s\n", strerror(errno));
                        return 1;
                }
                if (pid == 0) {
                        close(ready[0]);
                        child(self, per, ready[1]);
                }
        }
        close(ready[1]);
        for (unsigned long i = 0; i < n_children; i++)
                if (read(ready[0], &c, 1) != 1) {
                        fprintf(stderr, "hold-files: a child could not open its files\n");
                        return 1;
                }
        printf("ready %lu\n", n_children * per);
        fflush(stdout);
        for (;;)
                pause();
}
