/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What an interrupted import leaves behind (active import-PID-… snapshots) and its removal, by
 * the next import and by cleanup. Apart from ctl-import.c so that laminactl itself, which runs
 * cleanup, does not link what import needs (libarchive, libcrypto: see laminactl.c). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl-output.h"
#include "ctl.h"
#include "strutil.h"

static uid_t self_uid(void) {
        return arg_have_user ? arg_user : geteuid();
}

/* Whether the laminactl that made import-PID-… is gone: no process PID, or one that is not
 * laminactl (the PID was reused). laminactl-image, which runs the import in the same process
 * after laminactl exec'd it, names itself laminactl (laminactl.c). */
static bool import_owner_gone(const char *key) {
        _cleanup_free_ char *path = NULL;
        char comm[32] = "";
        unsigned long pid;
        ssize_t n;
        char *end;
        int fd;

        errno = 0;
        pid = strtoul(key + strlen("import-"), &end, 10);
        if (errno != 0 || end == key + strlen("import-") || *end != '-' || pid == 0 || pid > INT32_MAX)
                return false;
        if ((pid_t) pid == getpid())
                return false;
        path = strdup_printf("/proc/%lu/comm", pid);
        if (!path)
                return false;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT;
        n = read(fd, comm, sizeof comm - 1);
        (void) close(fd);
        if (n < 0)
                return false;
        comm[n] = 0;
        return !streq(comm, "laminactl\n");
}

static int self_name(Ctl *c, const char **ret) {
        int r = sd_bus_get_unique_name(c->bus, ret);

        return r < 0 ? ctl_fail(r, "cannot tell this connection's bus name: %s", strerror(-r)) : 0;
}

int ctl_prepare_import(Ctl *c, const char *key, const char *parent) {
        const char *self;
        int r;

        r = self_name(c, &self);
        if (r < 0)
                return r;
        return ctl_call(c, "Prepare", CALL_TIMEOUT_DEFAULT, NULL, "ssa{ss}", key, parent ?: "", 1,
                        "org.lamina.transient", self);
}

int ctl_prepare_import_rebase(Ctl *c, const char *key, sd_bus_error *error) {
        const char *self;
        int r;

        r = self_name(c, &self);
        if (r < 0)
                return r;
        return sd_bus_call_method(c->bus, LAMINA_BUS_NAME, c->path, LAMINA_SNAPSHOTTER_IFACE, "PrepareWithOptions",
                                  error, NULL, "ssa{ss}a{sv}", key, "", 1, "org.lamina.transient", self, 1, "rebase",
                                  "b", 1);
}

/* Left by a laminactl whose daemon stopped before it noticed the connection go, or that is
 * older than transient snapshots. */
int ctl_remove_stale_imports(Ctl *c) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uid_t self = self_uid();
        int r;

        r = ctl_call(c, "List", CALL_TIMEOUT_DEFAULT, &reply, "as", 1, "kind==active,name~=^import-[0-9]+-");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(sssa{ss}ttu)");
        if (r < 0)
                return ctl_bus_parse_error(r);
        for (;;) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(ctl_info_clear) CtlInfo info = {};

                r = ctl_info_read(reply, &info);
                if (r < 0)
                        return ctl_bus_parse_error(r);
                if (r == 0)
                        return 0;
                if (info.owner != self || !import_owner_gone(info.name))
                        continue;
                /* Busy: an Apply into it still runs; the next import or cleanup tries again. */
                r = sd_bus_call_method(c->bus, LAMINA_BUS_NAME, c->path, LAMINA_SNAPSHOTTER_IFACE, "Remove",
                                       &error, NULL, "s", info.name);
                if (r >= 0 && !arg_quiet && arg_json == JSON_OFF)
                        log_info("Removed %s, left behind by an interrupted import.", info.name);
        }
}

