/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <sys/utsname.h>

#include "ctl.h"
#include "ctl-output.h"
#include "strutil.h"

/* import-tar: a plain root file system tar (what machinectl export-tar, podman export or tar
 * -C ROOT -c . write; compressed or not) becomes a one-layer image: Apply into a new active
 * snapshot, Commit as the layer's chain ID (for one layer, its diff ID), and an image whose
 * config says just that. The archive reaches laminad as it is, so a pipe works too. */

static const char *oci_architecture(void) {
#if defined(__x86_64__)
        return "amd64";
#elif defined(__aarch64__)
        return "arm64";
#else
        static struct utsname u;
        return uname(&u) >= 0 ? u.machine : "unknown";
#endif
}

/* The image config (image-spec config.md) of the one layer. */
static json_object *image_config(char *diff_id) {
        json_object *config = json_object_new_object(), *rootfs = json_object_new_object();

        json_add_string(&rootfs, "type", "layers");
        json_add(&rootfs, "diff_ids", json_strv((char *[]) { diff_id, NULL }));
        json_add_string(&config, "architecture", oci_architecture());
        json_add_string(&config, "os", "linux");
        json_add(&config, "config", json_object_new_object());
        json_add(&config, "rootfs", rootfs);
        return config;
}

int verb_import_tar(Ctl *c, int argc, char **argv) {
        _cleanup_free_ char *key = NULL, *diff_id = NULL, *fallback = NULL, *replaced = NULL;
        _cleanup_json_ json_object *config = NULL;
        const char *config_text;
        _cleanup_close_ int fd = -EBADF;
        const char *name;
        uint64_t bytes, entries;
        bool from_stdin = streq(argv[0], "-");
        int r, made;

        if (!arg_name && (from_stdin || !(fallback = ctl_default_ref(argv[0]))))
                return from_stdin ? ctl_fail(-EINVAL, "give the image's name with --name when reading standard input")
                                  : ctl_fail(-ENOMEM, "out of memory");
        name = arg_name ?: fallback;
        r = ctl_interrupt_catch();
        if (r < 0)
                return r;
        fd = from_stdin ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3) : open(argv[0], O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return ctl_fail(-errno, "cannot open %s: %m", from_stdin ? "standard input" : argv[0]);
        r = ctl_remove_stale_imports(c);
        if (r < 0)
                return r;

        key = strdup_printf("import-%d-tar", (int) getpid());
        if (!key)
                return -ENOMEM;
        r = ctl_prepare_import(c, key, NULL);
        if (r < 0)
                return r;
        r = ctl_apply(c, &(ApplyArgs) { .key = key, .fd = fd, .label = name }, &diff_id, &bytes, &entries);
        fd = safe_close(fd);
        if (r >= 0 && ctl_interrupted())
                r = -EINTR;
        made = r >= 0 ? ctl_commit_layer(c, diff_id, key) : r;
        if (made != 0)
                (void) ctl_remove(c, key);
        if (made < 0 && ctl_interrupted()) {
                (void) ctl_fail(-EINTR, "interrupted; the import was taken back");
                return 128 + ctl_interrupted();
        }
        if (made < 0)
                return made;

        config = image_config(diff_id);
        config_text = config ? json_object_to_json_string_ext(config, JSON_C_TO_STRING_PLAIN) : NULL;
        if (!config_text)
                return ctl_fail(-ENOMEM, "out of memory");
        r = ctl_create_image(c, name, diff_id, config_text, &replaced);
        /* Only a name refused (--no-replace) takes back the layer this import made: a
         * CreateImage without an answer (laminad stopped or killed) may have made the
         * image, and removing its top then would leave a name for nothing. */
        if (r == -EEXIST && made == 0)
                (void) ctl_remove(c, diff_id);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF)
                return json_print_object("name", 's', name, "snapshot", 's', diff_id, "imported", 'u',
                                         (uint64_t) (made == 0), "bytes", 'u', bytes, "entries", 'u', entries,
                                         "replaced", 's', replaced, NULL);
        if (!arg_quiet)
                printf("Imported %s as %s (%s, %s).\n", name, diff_id, FORMAT_BYTES(bytes),
                       made == 0 ? "new" : "already present");
        return 0;
}
