/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "ctl-output.h"
#include "ctl.h"
#include "strutil.h"

/* Imports an OCI image layout (https://github.com/opencontainers/image-spec, image-layout.md):
 * index.json → manifest → config's rootfs.diff_ids, one committed snapshot per layer named by
 * its chain ID, then the org.lamina.image label on the top one. */

#define JSON_BLOB_MAX (4u * 1024u * 1024u)
#define INDEX_DEPTH_MAX 4
#define MEDIA_TYPE_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_TYPE_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

static void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

static const char *json_get_string(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static json_object *json_get_array(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
                return NULL;
        return v;
}

static bool digest_is_sha256(const char *d) {
        return d && strncmp(d, "sha256:", 7) == 0 && strlen(d) == 7 + 64 &&
               strspn(d + 7, "0123456789abcdef") == 64;
}

static int sha256_hex(const void *data, size_t n, char ret[static 7 + 64 + 1]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;

        if (!EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) || len != 32)
                return -EIO;
        strcpy(ret, "sha256:");
        for (unsigned i = 0; i < len; i++)
                sprintf(ret + 7 + 2 * i, "%02x", md[i]);
        return 0;
}

/* Opens a file of the layout without leaving it. */
static int layout_open(int dfd, const char *path) {
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };

        return RET_NERRNO((int) syscall(SYS_openat2, dfd, path, &how, sizeof how));
}

static int layout_open_blob(int dfd, const char *digest) {
        _cleanup_free_ char *path = NULL;

        if (!digest_is_sha256(digest))
                return ctl_fail(-EINVAL, "the image refers to %s, which is not a sha256 digest",
                                digest ? QUOTE(digest) : "nothing");
        path = strdup_printf("blobs/sha256/%s", digest + 7);
        if (!path)
                return -ENOMEM;
        int fd = layout_open(dfd, path);
        if (fd < 0)
                return ctl_fail(fd, "cannot open blob %s of the image: %m; is the layout complete?", digest);
        return fd;
}

static int read_all(int fd, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = malloc(JSON_BLOB_MAX + 1);
        size_t n = 0;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf + n, JSON_BLOB_MAX + 1 - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > JSON_BLOB_MAX)
                        return -EFBIG;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

/* Reads and parses a JSON file of the layout; a digest, when given, is verified. */
static int layout_read_json(int dfd, const char *what, const char *path, const char *digest, json_object **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *text = NULL;
        enum json_tokener_error jerr;
        char actual[7 + 64 + 1];
        size_t len = 0;
        int r;

        fd = digest ? layout_open_blob(dfd, digest) : layout_open(dfd, path);
        if (fd < 0)
                return digest ? fd : ctl_fail(fd, "cannot open %s: %m; is this an OCI image layout directory?", path);
        r = read_all(fd, &text, &len);
        if (r < 0)
                return ctl_fail(r, "cannot read the image's %s: %s", what, strerror(-r));
        if (digest) {
                r = sha256_hex(text, len, actual);
                if (r < 0)
                        return ctl_fail(r, "cannot compute a sha256 digest");
                if (!streq(actual, digest))
                        return ctl_fail(-EBADMSG, "the image's %s %s is corrupt (its digest is %s)", what, digest, actual);
        }
        *ret = json_tokener_parse_verbose(text, &jerr);
        if (!*ret || !json_object_is_type(*ret, json_type_object)) {
                if (*ret)
                        json_object_put(*ret);
                return ctl_fail(-EBADMSG, "the image's %s is not a JSON object%s%s", what,
                                jerr != json_tokener_success ? ": " : "",
                                jerr != json_tokener_success ? json_tokener_error_desc(jerr) : "");
        }
        return 0;
}

static bool platform_matches(json_object *descriptor) {
#if defined(__x86_64__)
        static const char arch[] = "amd64";
#elif defined(__aarch64__)
        static const char arch[] = "arm64";
#else
        static const char arch[] = "";
#endif
        json_object *platform;
        const char *os, *a;

        if (!json_object_object_get_ex(descriptor, "platform", &platform))
                return true;
        os = json_get_string(platform, "os");
        a = json_get_string(platform, "architecture");
        return (!os || streq(os, "linux")) && (!a || streq(a, arch));
}

static const char *descriptor_ref_name(json_object *descriptor) {
        json_object *annotations;

        if (!json_object_object_get_ex(descriptor, "annotations", &annotations))
                return NULL;
        return json_get_string(annotations, ANNOTATION_REF_NAME);
}

/* Picks the manifest named `name` if one is, else the first one for this platform. */
static json_object *index_pick(json_object *index, const char *name) {
        json_object *manifests = json_get_array(index, "manifests"), *fallback = NULL;
        size_t n = manifests ? json_object_array_length(manifests) : 0;

        for (size_t i = 0; i < n; i++) {
                json_object *d = json_object_array_get_idx(manifests, i);
                const char *ref = descriptor_ref_name(d);

                if (name && ref && streq(ref, name))
                        return d;
                if (!fallback && platform_matches(d))
                        fallback = d;
        }
        return fallback;
}

/* Follows index.json (and nested indexes) to an image manifest. */
static int load_manifest(int dfd, const char *name, json_object **ret_manifest, char **ret_ref) {
        _cleanup_json_ json_object *index = NULL;
        _cleanup_free_ char *ref = NULL;
        int r;

        r = layout_read_json(dfd, "index", "index.json", NULL, &index);
        if (r < 0)
                return r;
        for (unsigned depth = 0; depth < INDEX_DEPTH_MAX; depth++) {
                json_object *d = index_pick(index, depth == 0 ? name : NULL);
                _cleanup_json_ json_object *next = NULL;
                const char *media_type;

                if (!d)
                        return ctl_fail(-ENOENT, "the image index lists no manifest for linux on this architecture");
                if (!ref && descriptor_ref_name(d)) {
                        ref = strdup(descriptor_ref_name(d));
                        if (!ref)
                                return -ENOMEM;
                }
                r = layout_read_json(dfd, "manifest", NULL, json_get_string(d, "digest"), &next);
                if (r < 0)
                        return r;
                media_type = json_get_string(next, "mediaType") ?: json_get_string(d, "mediaType");
                json_object_put(index);
                index = TAKE_PTR(next);
                if (!media_type || (!streq(media_type, MEDIA_TYPE_INDEX) && !streq(media_type, MEDIA_TYPE_DOCKER_LIST))) {
                        *ret_manifest = TAKE_PTR(index);
                        *ret_ref = TAKE_PTR(ref);
                        return 0;
                }
        }
        return ctl_fail(-ELOOP, "the image's indexes nest deeper than %d levels", INDEX_DEPTH_MAX);
}

typedef struct Layer {
        const char *blob;    /* digest of the (possibly compressed) blob */
        const char *diff_id; /* digest of the uncompressed tar */
        char chain_id[7 + 64 + 1];
} Layer;

/* chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)). */
static int compute_chain_ids(Layer *layers, size_t n) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *s = NULL;

                if (i == 0) {
                        strcpy(layers[0].chain_id, layers[0].diff_id);
                        continue;
                }
                s = strdup_printf("%s %s", layers[i - 1].chain_id, layers[i].diff_id);
                if (!s || sha256_hex(s, strlen(s), layers[i].chain_id) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int load_layers(int dfd, json_object *manifest, json_object **ret_config, Layer **ret, size_t *ret_n) {
        _cleanup_json_ json_object *config = NULL;
        _cleanup_free_ Layer *layers = NULL;
        json_object *blobs, *diff_ids, *rootfs, *cd;
        size_t n;
        int r;

        if (!json_object_object_get_ex(manifest, "config", &cd))
                return ctl_fail(-EBADMSG, "the image manifest has no config");
        r = layout_read_json(dfd, "config", NULL, json_get_string(cd, "digest"), &config);
        if (r < 0)
                return r;
        blobs = json_get_array(manifest, "layers");
        diff_ids = json_object_object_get_ex(config, "rootfs", &rootfs) ? json_get_array(rootfs, "diff_ids") : NULL;
        if (!blobs || !diff_ids || json_object_array_length(blobs) != json_object_array_length(diff_ids))
                return ctl_fail(-EBADMSG, "the image's manifest layers and config rootfs.diff_ids do not match");
        n = json_object_array_length(blobs);
        if (n == 0)
                return ctl_fail(-EBADMSG, "the image has no layers");
        layers = calloc(n, sizeof(Layer));
        if (!layers)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *d = json_object_array_get_idx(diff_ids, i);

                layers[i].blob = json_get_string(json_object_array_get_idx(blobs, i), "digest");
                layers[i].diff_id = json_object_is_type(d, json_type_string) ? json_object_get_string(d) : NULL;
                if (!digest_is_sha256(layers[i].blob) || !digest_is_sha256(layers[i].diff_id))
                        return ctl_fail(-EBADMSG, "layer %zu of the image has no sha256 digest or diff ID", i + 1);
        }
        r = compute_chain_ids(layers, n);
        if (r < 0)
                return ctl_fail(r, "cannot compute chain IDs");
        *ret_config = TAKE_PTR(config);
        *ret = TAKE_PTR(layers);
        *ret_n = n;
        return 0;
}

/* Prepare on parent, Apply the blob, Commit as the chain ID; the active key never outlives a failure. */
static int import_layer(Ctl *c, int dfd, const Layer *l, const char *parent, const char *label) {
        _cleanup_free_ char *key = strdup_printf("import-%d-%.19s", (int) getpid(), l->chain_id + 7);
        _cleanup_close_ int fd = -EBADF;
        uint64_t bytes, entries;
        int r;

        if (!key)
                return -ENOMEM;
        fd = layout_open_blob(dfd, l->blob);
        if (fd < 0)
                return fd;
        r = ctl_call(c, "Prepare", CALL_TIMEOUT_DEFAULT, NULL, "ssa{ss}", key, parent ?: "", 0);
        if (r < 0)
                return r;
        r = ctl_apply(c, key, fd, l->diff_id, label, NULL, &bytes, &entries);
        if (r >= 0)
                r = ctl_call(c, "Commit", CALL_TIMEOUT_LONG, NULL, "ssa{ss}", l->chain_id, key, 0);
        if (r < 0)
                (void) ctl_remove(c, key);
        return r;
}

static bool has_image_label(const char *const *labels, const char *ref) {
        for (const char *const *p = labels; p && p[0]; p += 2)
                if (streq(p[0], LAMINA_IMAGE_LABEL) && streq(p[1], ref))
                        return true;
        return false;
}

/* Moves the image label: off the caller's other snapshots that carry it, onto top. When
 * every layer was root's already, top is root's, and so is naming it. */
static int label_image(Ctl *c, const char *top, const char *ref) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *top_reply = NULL, *reply = NULL;
        _cleanup_(ctl_info_clear) CtlInfo top_info = {};
        uid_t self = arg_have_user ? arg_user : geteuid();
        const char *fieldpath = "labels." LAMINA_IMAGE_LABEL;
        int r;

        r = ctl_stat(c, top, false, &top_reply, &top_info);
        if (r < 0)
                return r;
        if (top_info.owner != self) {
                if (!has_image_label(top_info.labels, ref) && !arg_quiet)
                        log_notice("laminactl: the image is root's snapshot %s, which only root can name %s; "
                                   "run it by its snapshot name", top, QUOTE(ref));
                return 0;
        }

        r = ctl_call(c, "List", CALL_TIMEOUT_DEFAULT, &reply, "as", 1, "labels.\"" LAMINA_IMAGE_LABEL "\"");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(sssa{ss}ttu)");
        if (r < 0)
                return ctl_bus_parse_error(r);
        for (;;) {
                _cleanup_(ctl_info_clear) CtlInfo info = {};

                r = ctl_info_read(reply, &info);
                if (r < 0)
                        return ctl_bus_parse_error(r);
                if (r == 0)
                        break;
                if (info.owner != self || streq(info.name, top) || !has_image_label(info.labels, ref))
                        continue;
                r = ctl_call(c, "Update", CALL_TIMEOUT_DEFAULT, NULL, "sa{ss}as", info.name, 1,
                             LAMINA_IMAGE_LABEL, "", 1, fieldpath);
                if (r < 0)
                        return r;
        }
        return ctl_call(c, "Update", CALL_TIMEOUT_DEFAULT, NULL, "sa{ss}as", top, 1, LAMINA_IMAGE_LABEL, ref, 1,
                        fieldpath);
}

static int import_all(Ctl *c, int dfd, const Layer *layers, size_t n, size_t *ret_new) {
        size_t created = 0;

        for (size_t i = 0; i < n; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                _cleanup_(ctl_info_clear) CtlInfo info = {};
                _cleanup_free_ char *label = strdup_printf("layer %zu/%zu", i + 1, n);
                int r;

                if (!label)
                        return -ENOMEM;
                r = ctl_stat(c, layers[i].chain_id, true, &reply, &info);
                if (r >= 0 && !streq(info.kind, "committed"))
                        return ctl_fail(-EEXIST, "snapshot %s exists but is %s; remove it and import again",
                                        layers[i].chain_id, info.kind);
                if (r >= 0) {
                        if (!arg_quiet && arg_json == JSON_OFF)
                                log_info("%s %s: already present", label, layers[i].chain_id);
                        continue;
                }
                if (r != -ENOENT)
                        return r;
                r = import_layer(c, dfd, layers + i, i > 0 ? layers[i - 1].chain_id : NULL, label);
                if (r < 0)
                        return r;
                created++;
                if (!arg_quiet && arg_json == JSON_OFF)
                        log_info("%s %s: imported", label, layers[i].chain_id);
        }
        *ret_new = created;
        return 0;
}

static char *default_ref(const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        char *slash;

        if (!copy)
                return NULL;
        while ((slash = strrchr(copy, '/')) && slash != copy && slash[1] == 0)
                *slash = 0;
        slash = strrchr(copy, '/');
        return strdup(slash ? slash + 1 : copy);
}

int verb_import(Ctl *c, int argc, char **argv) {
        _cleanup_json_ json_object *manifest = NULL, *config = NULL;
        _cleanup_free_ char *ref = NULL;
        _cleanup_free_ Layer *layers = NULL;
        _cleanup_close_ int dfd = -EBADF;
        const char *top, *name;
        size_t n = 0, created = 0;
        int r;

        dfd = open(argv[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return ctl_fail(-errno, "cannot open %s: %m; give the directory of an OCI image layout", argv[0]);
        r = load_manifest(dfd, arg_name, &manifest, &ref);
        if (r < 0)
                return r;
        r = load_layers(dfd, manifest, &config, &layers, &n);
        if (r < 0)
                return r;
        if (!arg_name && !ref)
                ref = default_ref(argv[0]);
        name = arg_name ?: ref;
        if (isempty(name))
                return ctl_fail(-EINVAL, "cannot tell the image's name; give one with --name");

        r = import_all(c, dfd, layers, n, &created);
        if (r < 0)
                return r;
        top = layers[n - 1].chain_id;
        r = label_image(c, top, name);
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF)
                json_print_object("name", 's', name, "snapshot", 's', top, "layers", 'u', (uint64_t) n,
                                  "imported", 'u', (uint64_t) created, NULL);
        else if (!arg_quiet)
                printf("Imported %s as %s (%zu layer%s, %zu new).\n", name, top, n, n == 1 ? "" : "s", created);
        return 0;
}
