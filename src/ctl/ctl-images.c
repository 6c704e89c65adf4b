/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "ctl-output.h"
#include "ctl.h"
#include "strutil.h"

/* Images: laminad's org.lamina.snapshot1.Images (names for top snapshots plus configs). */

int ctl_resolve_image(Ctl *c, const char *name, char **ret_top, char **ret_config) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *m = NULL;
        _cleanup_(ctl_info_clear) CtlInfo info = {};
        const char *top, *config, *n;
        uint64_t created, updated;
        uint32_t owner;
        int r;

        r = ctl_stat(c, name, true, &reply, &info);
        if (r >= 0) {
                if (!streq(info.kind, "committed"))
                        return ctl_fail(-EINVAL, "snapshot %s is %s, not committed; commit it first (laminactl "
                                        "commit), or name an image", QUOTE(name), info.kind);
                *ret_top = strdup(name);
                if (ret_config)
                        *ret_config = NULL;
                return *ret_top ? 0 : -ENOMEM;
        }
        if (r != -ENOENT)
                return r;

        reply = sd_bus_message_unref(reply);
        r = sd_bus_message_new_method_call(c->bus, &m, LAMINA_BUS_NAME, c->path, LAMINA_IMAGES_IFACE, "GetImage");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", name);
        if (r < 0)
                return ctl_bus_append_error(r);
        r = sd_bus_call(c->bus, m, CALL_TIMEOUT_DEFAULT, &error, &reply);
        if (r < 0 && sd_bus_error_has_names(&error, "org.lamina.snapshot1.Error.NotFound",
                                            "org.lamina.snapshot1.Error.InvalidArgument"))
                return ctl_fail(-ENOENT, "no image or committed snapshot %s; see laminactl images and laminactl ls, "
                                "or import one with laminactl import", QUOTE(name));
        if (r < 0)
                return ctl_bus_error(c, &error, r);
        r = sd_bus_message_read(reply, "(ssttu)s", &n, &top, &created, &updated, &owner, &config);
        if (r < 0)
                return ctl_bus_parse_error(r);
        *ret_top = strdup(top);
        if (!*ret_top)
                return -ENOMEM;
        if (ret_config) {
                *ret_config = isempty(config) ? NULL : strdup(config);
                if (!isempty(config) && !*ret_config)
                        return -ENOMEM;
        }
        return 0;
}

int verb_images(Ctl *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(listing_done) Listing out = {};
        const char *name, *top;
        uint64_t created, updated;
        uint32_t owner;
        int r;

        r = ctl_call_images(c, "ListImages", &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(ssttu)");
        if (r < 0)
                return ctl_bus_parse_error(r);
        r = listing_begin(&out, 4, "NAME", "SNAPSHOT", "OWNER", "CREATED");
        if (r < 0)
                return ctl_fail(r, "out of memory");
        while ((r = sd_bus_message_read(reply, "(ssttu)", &name, &top, &created, &updated, &owner)) > 0) {
                if (listing_is_json()) {
                        jw_begin_object(&out.json);
                        jw_key(&out.json, "name");
                        jw_string(&out.json, name);
                        jw_key(&out.json, "snapshot");
                        jw_string(&out.json, top);
                        jw_key(&out.json, "owner");
                        jw_uint(&out.json, owner);
                        jw_key(&out.json, "created");
                        jw_uint(&out.json, created);
                        jw_key(&out.json, "updated");
                        jw_uint(&out.json, updated);
                        jw_end_object(&out.json);
                        continue;
                }
                if (table_add_row(&out.table, name, top, FORMAT_OWNER(owner), FORMAT_TIMESTAMP(created)) < 0)
                        return ctl_fail(-ENOMEM, "out of memory");
        }
        if (r < 0)
                return ctl_bus_parse_error(r);
        listing_end(&out, "image", "images");
        return 0;
}

int verb_tag(Ctl *c, int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                int r = ctl_call_images(c, "TagImage", NULL, "ss", argv[0], argv[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int verb_untag(Ctl *c, int argc, char **argv) {
        for (int i = 0; i < argc; i++) {
                int r = ctl_call_images(c, "UntagImage", NULL, "s", argv[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int verb_rmi(Ctl *c, int argc, char **argv) {
        for (int i = 0; i < argc; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                _cleanup_strv_free_ char **removed = NULL;
                int r;

                r = ctl_call_images(c, "RemoveImage", &reply, "s", argv[i]);
                if (r < 0)
                        return r;
                r = sd_bus_message_read_strv(reply, &removed);
                if (r < 0)
                        return ctl_bus_parse_error(r);
                if (arg_json != JSON_OFF) {
                        JsonWriter j;

                        jw_init(&j, stdout, arg_json);
                        jw_begin_object(&j);
                        jw_key(&j, "name");
                        jw_string(&j, argv[i]);
                        jw_key(&j, "removed");
                        jw_begin_array(&j);
                        for (char **s = removed; s && *s; s++)
                                jw_string(&j, *s);
                        jw_end_array(&j);
                        jw_end_object(&j);
                        jw_finish(&j);
                } else if (!arg_quiet)
                        printf("Removed image %s (%zu layer%s freed).\n", argv[i], strv_length(removed),
                               strv_length(removed) == 1 ? "" : "s");
        }
        return 0;
}
