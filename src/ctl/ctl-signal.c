/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"

/* Commands that create something they must not leave half made (import) catch SIGINT, SIGTERM
 * and SIGHUP: the first one asks them to stop at the next step and remove what they made; a
 * second one ends laminactl at once (a later import or cleanup removes what it left). */

static volatile sig_atomic_t interrupted = 0;

static void on_signal(int sig) {
        static const char msg[] = "\nlaminactl: interrupted; removing what this command made (once more to quit now)\n";

        if (interrupted) {
                (void) signal(sig, SIG_DFL);
                (void) raise(sig);
                return;
        }
        interrupted = sig;
        (void) !write(STDERR_FILENO, msg, sizeof msg - 1);
}

int ctl_interrupt_catch(void) {
        /* No SA_RESTART: blocking calls return EINTR, and the loops look at the flag. */
        struct sigaction sa = { .sa_handler = on_signal };

        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGHUP, &sa, NULL) < 0)
                return ctl_fail(-errno, "cannot catch signals: %m");
        return 0;
}

int ctl_interrupted(void) {
        return interrupted;
}

static volatile pid_t child_pid = 0;

static void forward_signal(int sig) {
        if (child_pid > 0)
                (void) kill(child_pid, sig);
}

int ctl_fork_and_wait(int (*child)(void *userdata), void *userdata) {
        struct sigaction ignore = { .sa_handler = SIG_IGN }, forward = { .sa_handler = forward_signal };
        struct sigaction old_int, old_quit, old_term, old_hup;
        int status = 0;
        pid_t pid;

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                _exit(child(userdata));
        child_pid = pid;
        sigaction(SIGINT, &ignore, &old_int);
        sigaction(SIGQUIT, &ignore, &old_quit);
        sigaction(SIGTERM, &forward, &old_term);
        sigaction(SIGHUP, &forward, &old_hup);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        child_pid = 0;
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGHUP, &old_hup, NULL);

        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
}
