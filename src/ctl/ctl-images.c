/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "ctl-output.h"
#include "ctl.h"
#include "strutil.h"

/* Images: laminad's org.lamina.snapshot1.Images (names for top snapshots plus configs). */

/* GetImage: the caller's image name, else root's (*ret_owner says whose); -ENOENT, unprinted,
 * when neither has it. The strings live in *ret_reply. */
static int image_get(Ctl *c, const char *name, sd_bus_message **ret_reply, const char **ret_top,
                     const char **ret_config, uint32_t *ret_owner) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *m = NULL;
        uint64_t created, updated;
        const char *n;
        int r;

        r = ctl_resolve(c);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(c->bus, &m, LAMINA_BUS_NAME, c->path, LAMINA_IMAGES_IFACE, "GetImage");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", name);
        if (r < 0)
                return ctl_bus_append_error(r);
        r = sd_bus_call(c->bus, m, CALL_TIMEOUT_DEFAULT, &error, &reply);
        /* An invalid name names no image (CreateImage says why it is invalid). */
        if (r < 0 && sd_bus_error_has_names(&error, "org.lamina.snapshot1.Error.NotFound",
                                            "org.lamina.snapshot1.Error.InvalidArgument"))
                return -ENOENT;
        if (r < 0)
                return ctl_bus_error(c, &error, r);
        r = sd_bus_message_read(reply, "(ssttu)s", &n, ret_top, &created, &updated, ret_owner, ret_config);
        if (r < 0)
                return ctl_bus_parse_error(r);
        *ret_reply = TAKE_PTR(reply);
        return 0;
}

int ctl_resolve_image(Ctl *c, const char *name, char **ret_top, char **ret_config) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(ctl_info_clear) CtlInfo info = {};
        const char *top, *config;
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
        r = image_get(c, name, &reply, &top, &config, &owner);
        if (r == -ENOENT)
                return ctl_fail(-ENOENT, "no image or committed snapshot %s; see laminactl images and laminactl ls, "
                                "or import one with laminactl import", QUOTE(name));
        if (r < 0)
                return r;
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

int ctl_image_replaces(Ctl *c, const char *name, const char *top, const char *config, char **ret_old_top) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *old_top, *old_config;
        uint32_t owner;
        int r;

        r = image_get(c, name, &reply, &old_top, &old_config, &owner);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        /* Root's image of that name stays; the caller's own one moves. */
        if (owner != (arg_have_user ? arg_user : geteuid()) || (streq(old_top, top) && streq(old_config, config)))
                return 0;
        if (arg_no_replace)
                return ctl_fail(-EEXIST, "image %s stands for another image already (snapshot %s); give another "
                                "name with --name, or leave out --no-replace to move it", QUOTE(name), old_top);
        if (ret_old_top && !(*ret_old_top = strdup(old_top)))
                return ctl_fail(-ENOMEM, "out of memory");
        return 1;
}

int ctl_create_image(Ctl *c, const char *name, const char *top, const char *config, char **ret_replaced) {
        _cleanup_free_ char *old = NULL;
        int r;

        r = ctl_image_replaces(c, name, top, config, &old);
        if (r < 0)
                return r;
        /* --no-replace: laminad looks again as it writes the name, so that a name made since
         * (by another import) stays and this one fails (AlreadyExists). */
        if (arg_no_replace)
                r = ctl_call_images(c, "CreateImageWithOptions", NULL, "sssa{sv}", name, top, config, 1, "replace",
                                    "b", 0);
        else
                r = ctl_call_images(c, "CreateImage", NULL, "sss", name, top, config);
        if (r < 0)
                return r;
        /* An archive from elsewhere decides its own name: whoever runs the image by that name
         * later gets this one. */
        if (old && streq(old, top))
                ctl_warn("image %s already stood for snapshot %s; it has this image's config now", name, top);
        else if (old)
                ctl_warn("image %s moved: it stood for snapshot %s, now for %s", name, old, top);
        *ret_replaced = TAKE_PTR(old);
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
                        json_object *o = json_object_new_object();

                        json_add_string(&o, "name", name);
                        json_add_string(&o, "snapshot", top);
                        json_add_uint(&o, "owner", owner);
                        json_add_uint(&o, "created", created);
                        json_add_uint(&o, "updated", updated);
                        r = json_stream_add(&out.json, o);
                } else
                        r = table_add_row(&out.table, name, top, FORMAT_OWNER(owner), FORMAT_TIMESTAMP(created));
                if (r < 0)
                        return ctl_fail(r, "out of memory");
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
                        json_object *o = json_object_new_object();

                        json_add_string(&o, "name", argv[i]);
                        json_add(&o, "removed", json_strv(removed));
                        r = json_print(o, arg_json);
                        if (r < 0)
                                return r;
                } else if (!arg_quiet)
                        printf("Removed image %s (%zu layer%s freed).\n", argv[i], strv_length(removed),
                               strv_length(removed) == 1 ? "" : "s");
        }
        return 0;
}
