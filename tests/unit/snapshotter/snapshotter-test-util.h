/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strutil.h"
#include "test-util.h"

/* Runs the cases in a child process, then removes `dir` whatever happened (an assertion
 * aborts the child, and atexit handlers would not run). Returns the child's exit code. */
static inline int test_run_forked(const TestCase *cases, size_t n, const char *dir) {
        int status;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                int r = test_run_all(cases, n);
                fflush(NULL);
                _exit(r);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        test_rm_rf(dir);
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        fprintf(stderr, "test child died (status 0x%x)\n", status);
        return EXIT_FAILURE;
}
