/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"
#include "strutil.h"

/* What `run` takes from an image's OCI config (image-spec config.md, "config"): Entrypoint,
 * Cmd, Env, WorkingDir and User, as systemd-nspawn options and the command line. */

void run_config_done(RunConfig *rc) {
        strv_free(rc->entrypoint);
        strv_free(rc->cmd);
        strv_free(rc->env);
        free(rc->working_dir);
        free(rc->user);
        *rc = (RunConfig) {};
}

/* A JSON array of strings; anything else is no value (NULL). */
static int string_array(json_object *o, const char *key, char ***ret) {
        json_object *a;

        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
                return 0;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *v = json_object_array_get_idx(a, i);

                if (!json_object_is_type(v, json_type_string))
                        return ctl_fail(-EBADMSG, "the image config's %s holds something other than strings", key);
                if (strv_extend(ret, json_object_get_string(v)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int string_value(json_object *o, const char *key, char **ret) {
        json_object *v;

        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string) ||
            isempty(json_object_get_string(v)))
                return 0;
        *ret = strdup(json_object_get_string(v));
        return *ret ? 0 : -ENOMEM;
}

int run_config_parse(const char *json, RunConfig *ret) {
        _cleanup_(run_config_done) RunConfig rc = {};
        json_object *top, *config;
        int r;

        if (isempty(json)) {
                *ret = rc;
                return 0;
        }
        top = json_tokener_parse(json);
        if (!top || !json_object_is_type(top, json_type_object)) {
                if (top)
                        json_object_put(top);
                return ctl_fail(-EBADMSG, "the image's config is not a JSON object");
        }
        if (json_object_object_get_ex(top, "config", &config) && json_object_is_type(config, json_type_object)) {
                r = string_array(config, "Entrypoint", &rc.entrypoint);
                if (r >= 0)
                        r = string_array(config, "Cmd", &rc.cmd);
                if (r >= 0)
                        r = string_array(config, "Env", &rc.env);
                if (r >= 0)
                        r = string_value(config, "WorkingDir", &rc.working_dir);
                if (r >= 0)
                        r = string_value(config, "User", &rc.user);
                if (r < 0) {
                        json_object_put(top);
                        return r == -ENOMEM ? ctl_fail(r, "out of memory") : r;
                }
        }
        json_object_put(top);
        *ret = rc;
        rc = (RunConfig) {};
        return 0;
}

int run_config_nspawn_options(const RunConfig *rc, bool boot, char ***argv) {
        for (char **e = rc->env; e && *e; e++) {
                _cleanup_free_ char *o = NULL;

                if (!strchr(*e, '='))
                        continue; /* "NAME" alone passes the host's value in Docker; not ours */
                o = strdup_printf("--setenv=%s", *e);
                if (!o || strv_push(argv, TAKE_PTR(o)) < 0)
                        return -ENOMEM;
        }
        if (boot)
                return 0; /* init runs as root in / */
        if (rc->working_dir) {
                _cleanup_free_ char *o = strdup_printf("--chdir=%s", rc->working_dir);

                if (!o || strv_push(argv, TAKE_PTR(o)) < 0)
                        return -ENOMEM;
        }
        if (rc->user) {
                /* nspawn takes a user of the container's user database, no group. */
                _cleanup_free_ char *o = strdup_printf("--user=%.*s", (int) strcspn(rc->user, ":"), rc->user);

                if (!o || strv_push(argv, TAKE_PTR(o)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int run_config_command(const RunConfig *rc, char *const *args, char ***argv) {
        /* As docker run: the arguments given replace Cmd, after the Entrypoint. */
        char *const *tail = args && args[0] ? args : rc->cmd;

        for (char **p = rc->entrypoint; p && *p; p++)
                if (strv_extend(argv, *p) < 0)
                        return -ENOMEM;
        for (char *const *p = tail; p && *p; p++)
                if (strv_extend(argv, *p) < 0)
                        return -ENOMEM;
        return 0;
}
