/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ctl-import.h"
#include "ctl-output.h"
#include "ctl.h"
#include "strutil.h"

/* Imports an image: an OCI image layout (https://github.com/opencontainers/image-spec,
 * image-layout.md: index.json → manifest → config) or what docker save writes (manifest.json →
 * config), each as a directory or a tar archive (ctl-image.h). The config's rootfs.diff_ids give
 * one committed snapshot per layer named by its chain ID, then laminad names the top one as the
 * image, with its config (org.lamina.snapshot1.Images). */

#define JSON_BLOB_MAX (4u * 1024u * 1024u)
#define INDEX_DEPTH_MAX 4
#define MEDIA_TYPE_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_TYPE_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

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

/* "blobs/sha256/<hex>" for a digest; prints why not when it is no sha256 digest. */
static int blob_path(const char *digest, char **ret) {
        if (!digest_is_sha256(digest))
                return ctl_fail(-EINVAL, "the image refers to %s, which is not a sha256 digest",
                                digest ? QUOTE(digest) : "nothing");
        *ret = strdup_printf("blobs/sha256/%s", digest + 7);
        return *ret ? 0 : ctl_fail(-ENOMEM, "out of memory");
}

/* docker save names files by their digest: "<hex>.json", "sha256:<hex>" or "blobs/sha256/<hex>". */
static bool digest_from_name(const char *path, char ret[static 7 + 64 + 1]) {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        size_t n;

        if (strncmp(base, "sha256:", 7) == 0)
                base += 7;
        n = strlen(base);
        if ((n != 64 && !(n == 64 + 5 && streq(base + 64, ".json"))) || strspn(base, "0123456789abcdef") != 64)
                return false;
        snprintf(ret, 7 + 64 + 1, "sha256:%.64s", base);
        return true;
}

/* Reads and parses a JSON file of the image; a digest, when given, is verified. A missing file
 * is -ENOENT, printed unless optional. */
static int image_read_json(ImageSource *src, const char *what, const char *path, const char *digest, json_type type,
                           bool optional, json_object **ret) {
        _cleanup_free_ char *text = NULL;
        enum json_tokener_error jerr;
        char actual[7 + 64 + 1];
        size_t len = 0;
        int r;

        r = image_source_read(src, path, JSON_BLOB_MAX, &text, &len);
        if (r == -ENOENT && !optional)
                return ctl_fail(r, "the image's %s (%s) is missing; is the image complete?", what, path);
        if (r < 0)
                return r;
        if (digest) {
                r = sha256_hex(text, len, actual);
                if (r < 0)
                        return ctl_fail(r, "cannot compute a sha256 digest");
                if (!streq(actual, digest))
                        return ctl_fail(-EBADMSG, "the image's %s %s is corrupt (its digest is %s)", what, digest, actual);
        }
        *ret = json_tokener_parse_verbose(text, &jerr);
        if (!*ret || !json_object_is_type(*ret, type)) {
                if (*ret)
                        json_object_put(*ret);
                *ret = NULL;
                return ctl_fail(-EBADMSG, "the image's %s is not a JSON %s%s%s", what,
                                type == json_type_array ? "array" : "object",
                                jerr != json_tokener_success ? ": " : "",
                                jerr != json_tokener_success ? json_tokener_error_desc(jerr) : "");
        }
        return 0;
}

/* Reads a blob of an OCI layout by digest. */
static int image_read_blob_json(ImageSource *src, const char *what, const char *digest, json_object **ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = blob_path(digest, &path);
        if (r < 0)
                return r;
        return image_read_json(src, what, path, digest, json_type_object, false, ret);
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

/* Picks the manifest named `name` if one is, else the first one for this platform; *ret_named
 * counts the manifests that carry a name, none of which was `name`. */
static json_object *index_pick(json_object *index, const char *name, size_t *ret_named) {
        json_object *manifests = json_get_array(index, "manifests"), *fallback = NULL;
        size_t n = manifests ? json_object_array_length(manifests) : 0, named = 0;

        for (size_t i = 0; i < n; i++) {
                json_object *d = json_object_array_get_idx(manifests, i);
                const char *ref = descriptor_ref_name(d);

                if (name && ref && streq(ref, name))
                        return d;
                named += !!ref;
                if (!fallback && platform_matches(d))
                        fallback = d;
        }
        if (ret_named)
                *ret_named = named;
        return fallback;
}

/* Follows index.json (and nested indexes) to an image manifest. */
static int load_manifest(ImageSource *src, json_object *top, const char *name, json_object **ret_manifest,
                         char **ret_ref) {
        _cleanup_json_ json_object *index = json_object_get(top);
        _cleanup_free_ char *ref = NULL;
        int r;

        for (unsigned depth = 0; depth < INDEX_DEPTH_MAX; depth++) {
                size_t named = 0;
                json_object *d = index_pick(index, depth == 0 ? name : NULL, &named);
                _cleanup_json_ json_object *next = NULL;
                const char *media_type;

                if (!d)
                        return ctl_fail(-ENOENT, "the image index lists no manifest for linux on this architecture");
                /* With one image, --name names it; among several named ones it must choose. */
                if (depth == 0 && name && named > 1 && !(descriptor_ref_name(d) && streq(descriptor_ref_name(d), name)))
                        return ctl_fail(-ENOENT, "the index names %zu images and none %s; give one of their "
                                        "org.opencontainers.image.ref.name annotations with --name", named, QUOTE(name));
                if (!ref && descriptor_ref_name(d)) {
                        ref = strdup(descriptor_ref_name(d));
                        if (!ref)
                                return -ENOMEM;
                }
                r = image_read_blob_json(src, "manifest", json_get_string(d, "digest"), &next);
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

static void image_done(Image *img) {
        if (img->manifest)
                json_object_put(img->manifest);
        if (img->config)
                json_object_put(img->config);
        free(img->ref);
        strv_free(img->paths);
        free(img->layers);
        *img = (Image) {};
}

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

/* Reads the config at config_path and pairs img->paths with its rootfs.diff_ids. */
static int load_layers(ImageSource *src, Image *img, const char *config_path, const char *config_digest) {
        json_object *diff_ids, *rootfs;
        size_t n = strv_length(img->paths);
        int r;

        r = image_read_json(src, "config", config_path, config_digest, json_type_object, false, &img->config);
        if (r < 0)
                return r;
        diff_ids = json_object_object_get_ex(img->config, "rootfs", &rootfs) ? json_get_array(rootfs, "diff_ids") : NULL;
        if (!diff_ids || json_object_array_length(diff_ids) != n)
                return ctl_fail(-EBADMSG, "the image's manifest layers and config rootfs.diff_ids do not match");
        if (n == 0)
                return ctl_fail(-EBADMSG, "the image has no layers");
        img->layers = calloc(n, sizeof(Layer));
        if (!img->layers)
                return -ENOMEM;
        img->n = n;
        for (size_t i = 0; i < n; i++) {
                json_object *d = json_object_array_get_idx(diff_ids, i);

                img->layers[i].path = img->paths[i];
                img->layers[i].diff_id = json_object_is_type(d, json_type_string) ? json_object_get_string(d) : NULL;
                if (!digest_is_sha256(img->layers[i].diff_id))
                        return ctl_fail(-EBADMSG, "layer %zu of the image has no sha256 diff ID", i + 1);
        }
        r = compute_chain_ids(img->layers, n);
        return r < 0 ? ctl_fail(r, "cannot compute chain IDs") : 0;
}

/* An OCI image layout: index.json (already read) → manifest → config and layer blobs. */
static int load_oci(ImageSource *src, json_object *index, const char *name, Image *img) {
        _cleanup_free_ char *config_path = NULL;
        json_object *cd, *blobs;
        const char *config_digest;
        int r;

        r = load_manifest(src, index, name, &img->manifest, &img->ref);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(img->manifest, "config", &cd))
                return ctl_fail(-EBADMSG, "the image manifest has no config");
        config_digest = json_get_string(cd, "digest");
        r = blob_path(config_digest, &config_path);
        if (r < 0)
                return r;
        blobs = json_get_array(img->manifest, "layers");
        if (!blobs)
                return ctl_fail(-EBADMSG, "the image manifest has no layers");
        for (size_t i = 0; i < json_object_array_length(blobs); i++) {
                char *path;

                r = blob_path(json_get_string(json_object_array_get_idx(blobs, i), "digest"), &path);
                if (r < 0)
                        return r;
                if (strv_push(&img->paths, path) < 0)
                        return ctl_fail(-ENOMEM, "out of memory");
        }
        return load_layers(src, img, config_path, config_digest);
}

static bool docker_has_tag(json_object *entry, const char *name) {
        json_object *tags = json_get_array(entry, "RepoTags");

        for (size_t i = 0; name && tags && i < json_object_array_length(tags); i++) {
                json_object *t = json_object_array_get_idx(tags, i);

                if (json_object_is_type(t, json_type_string) && streq(json_object_get_string(t), name))
                        return true;
        }
        return false;
}

/* What docker save writes: manifest.json, [{"Config": PATH, "RepoTags": [REF...], "Layers": [PATH...]}, ...],
 * whose paths are files of the archive (older Docker: "<id>/layer.tar"; newer: OCI blobs). Takes
 * the image tagged name, else the first. */
static int load_docker(ImageSource *src, json_object *list, const char *name, Image *img) {
        json_object *entry = NULL, *tags, *layers;
        const char *config, *tag;
        char digest[7 + 64 + 1];

        for (size_t i = 0; !entry && i < json_object_array_length(list); i++)
                if (docker_has_tag(json_object_array_get_idx(list, i), name))
                        entry = json_object_array_get_idx(list, i);
        /* With one image, --name names it; among several it must choose one. */
        if (!entry && name && json_object_array_length(list) > 1)
                return ctl_fail(-ENOENT, "the archive holds %zu images and none is tagged %s; give one of its "
                                "RepoTags with --name", json_object_array_length(list), QUOTE(name));
        if (!entry)
                entry = json_object_array_get_idx(list, 0);
        if (!entry || !json_object_is_type(entry, json_type_object))
                return ctl_fail(-EBADMSG, "the image's manifest.json lists no image");
        img->manifest = json_object_get(list);

        config = json_get_string(entry, "Config");
        layers = json_get_array(entry, "Layers");
        if (!config || !layers)
                return ctl_fail(-EBADMSG, "the image's manifest.json has no Config or Layers");
        for (size_t i = 0; i < json_object_array_length(layers); i++) {
                json_object *l = json_object_array_get_idx(layers, i);

                if (!json_object_is_type(l, json_type_string))
                        return ctl_fail(-EBADMSG, "layer %zu in the image's manifest.json is not a path", i + 1);
                if (strv_extend(&img->paths, json_object_get_string(l)) < 0)
                        return ctl_fail(-ENOMEM, "out of memory");
        }
        tags = json_get_array(entry, "RepoTags");
        tag = tags ? json_object_get_string(json_object_array_get_idx(tags, 0)) : NULL;
        if (!isempty(tag) && !(img->ref = strdup(tag)))
                return ctl_fail(-ENOMEM, "out of memory");
        return load_layers(src, img, config, digest_from_name(config, digest) ? digest : NULL);
}

/* manifest.json first: newer docker save archives have an OCI index.json too, but only
 * manifest.json carries the image's full name. */
static int load_image(ImageSource *src, const char *name, Image *img) {
        _cleanup_json_ json_object *top = NULL;
        int r;

        r = image_read_json(src, "manifest.json", "manifest.json", NULL, json_type_array, true, &top);
        if (r >= 0)
                return load_docker(src, top, name, img);
        if (r != -ENOENT)
                return r;
        r = image_read_json(src, "index", "index.json", NULL, json_type_object, true, &top);
        if (r == -ENOENT)
                return ctl_fail(r, "%s has neither index.json nor manifest.json; give an OCI image layout or a "
                                "docker save archive", image_source_name(src));
        if (r < 0)
                return r;
        return load_oci(src, top, name, img);
}

char *ctl_default_ref(const char *path) {
        static const char *const suffixes[] = { ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.xz" };
        _cleanup_free_ char *copy = strdup(path);
        char *slash, *base;
        size_t n;

        if (!copy)
                return NULL;
        while ((slash = strrchr(copy, '/')) && slash != copy && slash[1] == 0)
                *slash = 0;
        slash = strrchr(copy, '/');
        base = slash ? slash + 1 : copy;
        n = strlen(base);
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t k = strlen(suffixes[i]);

                if (n > k && streq(base + n - k, suffixes[i])) {
                        base[n - k] = 0;
                        break;
                }
        }
        return strdup(base);
}

int verb_import(Ctl *c, int argc, char **argv) {
        _cleanup_(image_source_freep) ImageSource *src = NULL;
        _cleanup_(image_done) Image img = {};
        _cleanup_free_ char *fallback = NULL, *replaced = NULL;
        const char *top, *name, *config;
        size_t created = 0, rebased = 0;
        int r;

        r = ctl_interrupt_catch();
        if (r < 0)
                return r;
        r = image_source_open(argv[0], &src);
        if (r < 0)
                return r;
        r = load_image(src, arg_name, &img);
        if (r < 0)
                return r;
        if (!arg_name && !img.ref && !streq(argv[0], "-") && !(fallback = ctl_default_ref(argv[0])))
                return ctl_fail(-ENOMEM, "out of memory");
        name = arg_name ?: img.ref ?: fallback;
        if (isempty(name))
                return ctl_fail(-EINVAL, "cannot tell the image's name; give one with --name");
        top = img.layers[img.n - 1].chain_id;
        config = json_object_to_json_string_ext(img.config, JSON_C_TO_STRING_PLAIN);
        if (!config)
                return ctl_fail(-ENOMEM, "out of memory");
        /* Refused before anything is made; checked again at the end. */
        r = arg_no_replace ? ctl_image_replaces(c, name, top, config, NULL) : 0;
        if (r < 0)
                return r;

        r = ctl_remove_stale_imports(c);
        if (r < 0)
                return r;
        r = import_layers(c, src, &img, &created, &rebased);
        if (r < 0 && ctl_interrupted()) {
                (void) ctl_fail(r, "interrupted; the import was taken back");
                return 128 + ctl_interrupted();
        }
        if (r < 0)
                return r;
        /* Names the top snapshot in laminad, with the image's config. */
        r = ctl_create_image(c, name, top, config, &replaced);
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF)
                json_print_object("name", 's', name, "snapshot", 's', top, "layers", 'u', (uint64_t) img.n,
                                  "imported", 'u', (uint64_t) created, "rebased", 'u', (uint64_t) rebased,
                                  "replaced", 's', replaced, NULL);
        else if (!arg_quiet)
                printf("Imported %s as %s (%zu layer%s, %zu new).\n", name, top, img.n, img.n == 1 ? "" : "s",
                       created);
        return 0;
}
