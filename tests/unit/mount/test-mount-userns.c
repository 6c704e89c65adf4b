/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mount_userns_check: a user namespace fd a caller passes for an idmapped mount. Namespaces
 * are made here by children with a chosen owner (their euid at unshare) and maps written by
 * root, as newuidmap would write them. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mount-api.h"
#include "test-util.h"

#define OWNER 54321

typedef struct Ns {
        pid_t pid;
        int fd;
} Ns;

static int write_proc_raw(pid_t pid, const char *file, const char *text) {
        char path[64];
        int fd, ok;

        snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, file);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        ok = write(fd, text, strlen(text)) == (ssize_t) strlen(text);
        close(fd);
        return ok ? 0 : -1;
}

/* Written by root of the namespace in_fd (>= 0: the parent of pid's), else by host root. */
static void write_proc(int in_fd, pid_t pid, const char *file, const char *text) {
        pid_t w;
        int status;

        if (in_fd < 0) {
                ASSERT_OK(write_proc_raw(pid, file, text));
                return;
        }
        w = fork();
        ASSERT_TRUE(w >= 0);
        if (w == 0)
                _exit(setns(in_fd, CLONE_NEWUSER) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0 ||
                      write_proc_raw(pid, file, text) < 0);
        ASSERT_TRUE(waitpid(w, &status, 0) == w && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A child with euid owner that unshares a user namespace (inside parent_fd's, if >= 0)
 * and waits; uid_map/gid_map written when given. */
static Ns ns_new(uid_t owner, int parent_fd, const char *uid_map, const char *gid_map) {
        int pipefd[2];
        char c;
        Ns ns;

        ASSERT_OK(pipe2(pipefd, O_CLOEXEC));
        ns.pid = fork();
        ASSERT_TRUE(ns.pid >= 0);
        if (ns.pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (parent_fd >= 0 && (setns(parent_fd, CLONE_NEWUSER) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
                        _exit(1);
                if (parent_fd < 0 && setresuid(owner, owner, owner) < 0)
                        _exit(1);
                /* after the uid change: so that root of parent_fd's may open its /proc files */
                if (prctl(PR_SET_DUMPABLE, 1) < 0 || unshare(CLONE_NEWUSER) < 0)
                        _exit(1);
                (void) write(pipefd[1], "x", 1);
                for (;;)
                        pause();
        }
        close(pipefd[1]);
        ASSERT_TRUE(read(pipefd[0], &c, 1) == 1);
        close(pipefd[0]);
        if (uid_map)
                write_proc(parent_fd, ns.pid, "uid_map", uid_map);
        if (gid_map)
                write_proc(parent_fd, ns.pid, "gid_map", gid_map);
        {
                char path[64];
                snprintf(path, sizeof path, "/proc/%d/ns/user", (int) ns.pid);
                ASSERT_TRUE((ns.fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
        }
        return ns;
}

static void ns_done(Ns *ns) {
        kill(ns->pid, SIGKILL);
        waitpid(ns->pid, NULL, 0);
        close(ns->fd);
}

static const MountEntitlement ent = {
        .uid = OWNER, .gid = OWNER - 1,
        .subuid = { { 200000, 65536 }, { 400000, 10 } }, .n_subuid = 2,
        .subgid = { { 500000, 65536 } }, .n_subgid = 1,
};

static int check(int fd, const MountEntitlement *e_, MountIdmapping *m, Error *e) {
        *e = ERROR_NULL;
        m->userns_fd = -EBADF;
        return mount_userns_check(fd, e_, m, e);
}

TEST(entitled_map_is_taken_with_its_id_0) {
        Ns ns = ns_new(OWNER, -1, "0 54321 1\n1 200000 65536\n70000 400002 5\n", "0 54320 1\n1 500000 1000\n");
        MountIdmapping m;
        Error e;

        ASSERT_OK(check(ns.fd, &ent, &m, &e));
        ASSERT_TRUE(m.userns_fd >= 0 && m.userns_fd != ns.fd);
        ASSERT_TRUE(m.uid == OWNER && m.gid == OWNER - 1);
        close(m.userns_fd);
        ns_done(&ns);

        /* without image id 0: the first mapped host id */
        ns = ns_new(OWNER, -1, "5 200005 10\n", "5 500005 10\n");
        ASSERT_OK(check(ns.fd, &ent, &m, &e));
        ASSERT_TRUE(m.uid == 200005 && m.gid == 500005);
        close(m.userns_fd);
        ns_done(&ns);
}

TEST(ids_not_entitled_are_refused_naming_them) {
        static const char *uid_maps[] = { "0 54322 1\n", "0 54321 1\n1 200000 65537\n", "0 0 1\n", "0 399999 2\n" };
        MountIdmapping m;
        Error e;

        for (size_t i = 0; i < ELEMENTSOF(uid_maps); i++) {
                Ns ns = ns_new(OWNER, -1, uid_maps[i], "0 54320 1\n");
                ASSERT_ERR(check(ns.fd, &ent, &m, &e), EPERM);
                ASSERT_TRUE(e.code == EPERM && !e.internal && strstr(e.message, "host uids"));
                ns_done(&ns);
        }
        Ns ns = ns_new(OWNER, -1, "0 54321 1\n", "0 0 1\n"); /* host root's group */
        ASSERT_ERR(check(ns.fd, &ent, &m, &e), EPERM);
        ASSERT_TRUE(strstr(e.message, "host gids 0-0"));
        ns_done(&ns);
        /* root may map anything */
        ns = ns_new(OWNER, -1, "0 0 1\n", "0 0 1\n");
        ASSERT_OK(check(ns.fd, NULL, &m, &e));
        close(m.userns_fd);
        ns_done(&ns);
}

TEST(someone_elses_namespace_is_refused) {
        Ns ns = ns_new(OWNER + 1, -1, "0 54321 1\n", "0 54320 1\n");
        MountIdmapping m;
        Error e;

        ASSERT_ERR(check(ns.fd, &ent, &m, &e), EPERM);
        ASSERT_TRUE(strstr(e.message, "belongs to uid 54322, not to the caller (uid 54321)"));
        ns_done(&ns);
}

/* The caller's namespace nested in someone else's: refused, though its own owner is the
 * caller as that namespace sees it... */
TEST(nested_in_someone_elses_is_refused) {
        Ns outer = ns_new(OWNER + 1, -1, "0 54321 1\n", "0 54320 1\n");
        Ns inner = ns_new(0, outer.fd, "0 0 1\n", NULL);
        MountIdmapping m;
        Error e;

        /* inner's owner is host uid 54321 (outer's 0) but outer is 54322's */
        ASSERT_ERR(check(inner.fd, &ent, &m, &e), EPERM);
        ASSERT_TRUE(strstr(e.message, "nested in one of uid 54322"));
        ns_done(&inner);
        ns_done(&outer);

        /* ...and taken when the whole chain is the caller's */
        outer = ns_new(OWNER, -1, "0 54321 1\n1 200000 65536\n", "0 54320 1\n1 500000 65536\n");
        inner = ns_new(0, outer.fd, "0 0 1\n1 1 1000\n", NULL);
        write_proc(outer.fd, inner.pid, "gid_map", "0 0 1\n1 1 1000\n");
        ASSERT_OK(check(inner.fd, &ent, &m, &e));
        ASSERT_TRUE(m.uid == OWNER && m.gid == OWNER - 1);
        close(m.userns_fd);
        ns_done(&inner);
        ns_done(&outer);
}

TEST(what_is_no_user_namespace_is_refused) {
        MountIdmapping m;
        Error e;
        int fd;

        ASSERT_TRUE((fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) >= 0);
        ASSERT_ERR(check(fd, &ent, &m, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "is a mount namespace"));
        close(fd);
        ASSERT_TRUE((fd = open("/proc/self/ns/user", O_PATH | O_CLOEXEC)) >= 0);
        ASSERT_ERR(check(fd, &ent, &m, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "O_PATH"));
        close(fd);
        ASSERT_TRUE((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
        ASSERT_ERR(check(fd, &ent, &m, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "not a namespace"));
        close(fd);
        ASSERT_TRUE((fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC)) >= 0);
        ASSERT_ERR(check(fd, &ent, &m, &e), EPERM);
        ASSERT_TRUE(strstr(e.message, "the host's"));
        ASSERT_ERR(check(fd, NULL, &m, &e), EINVAL);
        close(fd);

        Ns ns = ns_new(OWNER, -1, NULL, NULL); /* maps nothing yet */
        ASSERT_ERR(check(ns.fd, &ent, &m, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "maps no uids"));
        ns_done(&ns);
}

/* The capabilities laminad.service leaves laminad (CapabilityBoundingSet=): no
 * CAP_SYS_PTRACE, so nothing of a child that is not dumpable beyond its maps. */
static int caps_of_the_service(void) {
        static const int caps[] = { CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_CHOWN,
                                    CAP_FSETID, CAP_MKNOD, CAP_SETFCAP, CAP_SYS_CHROOT, CAP_SETPCAP, CAP_SETUID,
                                    CAP_SETGID, CAP_KILL };
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};

        for (size_t i = 0; i < ELEMENTSOF(caps); i++)
                d[caps[i] / 32].effective |= 1u << (caps[i] % 32);
        d[0].permitted = d[0].effective;
        d[1].permitted = d[1].effective;
        return (int) syscall(SYS_capset, &h, d);
}

/* A namespace laminad makes (mount_userns_new) is read back as mapped by mount_userns_check,
 * both with only the service's capabilities. */
TEST(new_namespace_reads_back_with_the_services_capabilities) {
        int status;
        pid_t pid = fork();

        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                MountIdmap map = { .uid = { { 0, OWNER, 1 }, { 1, 200000, 65536 } }, .n_uid = 2,
                                   .gid = { { 0, OWNER - 1, 1 } }, .n_gid = 1 };
                MountIdmapping m;
                Error e;
                int fd = -EBADF;

                if (caps_of_the_service() < 0 || mount_userns_new(&map, &fd) < 0 || check(fd, NULL, &m, &e) < 0)
                        _exit(1);
                _exit(m.uid == OWNER && m.gid == OWNER - 1 ? 0 : 2);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
        static const TestCase cases[] = {
                TEST_ENTRY(entitled_map_is_taken_with_its_id_0),
                TEST_ENTRY(ids_not_entitled_are_refused_naming_them),
                TEST_ENTRY(someone_elses_namespace_is_refused),
                TEST_ENTRY(nested_in_someone_elses_is_refused),
                TEST_ENTRY(what_is_no_user_namespace_is_refused),
                TEST_ENTRY(new_namespace_reads_back_with_the_services_capabilities),
        };

        if (geteuid() != 0)
                return 77;
        return test_run_all(cases, ELEMENTSOF(cases));
}
