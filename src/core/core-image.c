/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "core-internal.h"
#include "log.h"
#include "strutil.h"

/* Images: names (many per image, "name:tag" like other tools) for a top snapshot plus the
 * image's OCI config, per namespace like snapshots. A caller sees its own images and root's;
 * a name can point to the caller's own committed snapshot or to root's. */

void core_image_clear(CoreImage *i) {
        free(i->name);
        free(i->top);
        free(i->config);
        *i = (CoreImage) {};
}

void core_image_list_clear(CoreImageList *l) {
        for (size_t i = 0; i < l->n; i++)
                core_image_clear(l->items + i);
        free(l->items);
        *l = (CoreImageList) {};
}

/* A reference as podman, docker and skopeo write them: [registry/]path[:tag][@digest]. */
int core_image_validate_name(const char *name, Error *e) {
        static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@+";
        size_t n = strlen(name);

        if (n == 0)
                return error_setf(e, EINVAL, "image names must not be empty");
        if (n > STORE_IMAGE_NAME_MAX)
                return error_setf(e, EINVAL, "image name %s is longer than %d bytes", QUOTE(name), STORE_IMAGE_NAME_MAX);
        if (strspn(name, allowed) != n || !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                                                  name[0]))
                return error_setf(e, EINVAL,
                                  "image name %s is not a reference like name:tag (letters, digits and . _ - / : @ +, "
                                  "starting with a letter or digit)",
                                  QUOTE(name));
        return 0;
}

static int image_from_record(const ImageRecord *r, CoreImage *ret) {
        CoreImage i = {
                .owner = r->owner,
                .top_owner = r->top_owner,
                .created_usec = r->created_usec,
                .updated_usec = r->updated_usec,
                .name = strdup(r->name),
                .top = strdup(r->top),
                .config = r->config ? strdup(r->config) : NULL,
        };

        if (!i.name || !i.top || (r->config && !i.config)) {
                core_image_clear(&i);
                return -ENOMEM;
        }
        core_image_clear(ret);
        *ret = i;
        return 0;
}

/* The caller's own image, else root's; NotFound names it. */
static int image_lookup_visible(StoreTxn *t, uid_t ns, const char *name, ImageRecord *ret, Error *e) {
        int r;

        r = store_image_get(t, ns, name, ret);
        if (r == -ENOENT && ns != 0)
                r = store_image_get(t, 0, name, ret);
        if (r == -ENOENT)
                return error_setf(e, ENOENT, "image %s does not exist", QUOTE(name));
        if (r < 0)
                return error_set_errno(e, -r, "cannot read the record of image %s", QUOTE(name));
        return 0;
}

int core_image_get(CoreSnapshotter *s, uid_t ns, const char *name, CoreImage *ret, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(image_record_clear) ImageRecord rec = {};
        int r;

        r = core_image_validate_name(name, e);
        if (r < 0)
                return r;
        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        r = image_lookup_visible(t, ns, name, &rec, e);
        if (r < 0)
                return r;
        r = image_from_record(&rec, ret);
        return r < 0 ? error_from_errno(e, r, "out of memory") : 0;
}

static int list_one(const ImageRecord *rec, void *userdata) {
        CoreImageList *l = userdata;
        CoreImage *items;

        items = realloc(l->items, (l->n + 1) * sizeof(CoreImage));
        if (!items)
                return -ENOMEM;
        l->items = items;
        items[l->n] = (CoreImage) {};
        if (image_from_record(rec, items + l->n) < 0)
                return -ENOMEM;
        l->n++;
        return 0;
}

int core_image_list(CoreSnapshotter *s, uid_t ns, CoreImageList *ret, Error *e) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(core_image_list_clear) CoreImageList l = {};
        int r;

        r = core_read_begin(s, &t, e);
        if (r < 0)
                return r;
        /* Root's images, then the caller's: two key ranges, whatever other users named. */
        r = store_image_walk_owner(t, 0, list_one, &l);
        if (r >= 0 && ns != 0)
                r = store_image_walk_owner(t, ns, list_one, &l);
        if (r < 0)
                return error_set_errno(e, -r, "cannot list the images of snapshotter %s", s->name);
        core_image_list_clear(ret);
        *ret = l;
        l = (CoreImageList) {};
        return 0;
}

typedef struct ImageCreateArgs {
        uid_t ns;
        const char *name;
        const char *top;    /* Create: a snapshot key */
        const char *source; /* Tag: an image name */
        const char *config;
        uint64_t flags;     /* CORE_IMAGE_NO_REPLACE */
} ImageCreateArgs;

/* About the bytes a record of name takes (its value holds top and config). */
static uint64_t image_record_bytes(const char *name, const ImageRecord *rec) {
        return 64 + strlen(name) + strlen(rec->top) + (rec->config ? strlen(rec->config) : 0);
}

/* A user's 1024 names could each keep a config of 1 MiB: 1 GiB of metadata that every
 * user's writes share. At most CORE_IMAGE_BYTES_PER_USER_MAX, counting what replacing old
 * (may be NULL) gives back. */
static int check_bytes_per_user(const StoreOwnerTotals *held, const char *name, const ImageRecord *rec,
                                const ImageRecord *old, uid_t ns, Error *e) {
        uint64_t add = image_record_bytes(name, rec), back = old ? image_record_bytes(name, old) : 0;

        if (held->image_bytes + add > CORE_IMAGE_BYTES_PER_USER_MAX + back)
                return error_setf(e, EDQUOT,
                                  "cannot name image %s: the image records of uid %u would take more than %u MiB (each name keeps its image's config), the limit per user; untag or remove some first",
                                  QUOTE(name), (unsigned) ns, CORE_IMAGE_BYTES_PER_USER_MAX / 1024u / 1024u);
        return 0;
}

static int create_in_txn(StoreTxn *t, void *userdata, Error *e) {
        _cleanup_(snapshot_info_clear) SnapshotInfo top = {};
        _cleanup_(image_record_clear) ImageRecord src = {}, old = {};
        ImageCreateArgs *a = userdata;
        ImageRecord rec = { .owner = a->ns, .name = (char *) a->name, .config = (char *) a->config };
        uint64_t now = now_usec();
        int r;

        if (a->source) {
                r = image_lookup_visible(t, a->ns, a->source, &src, e);
                if (r < 0)
                        return r;
                rec.top = src.top;
                rec.top_owner = src.top_owner;
                rec.config = src.config;
        } else {
                r = core_lookup_visible(t, a->ns, a->top, &top, e);
                if (r < 0)
                        return r;
                if (top.kind != SNAPSHOT_COMMITTED)
                        return error_setf(e, EWRONGKIND, "snapshot %s is %s; an image names a committed snapshot",
                                          QUOTE(a->top), snapshot_kind_to_string(top.kind));
                rec.top = (char *) a->top;
                rec.top_owner = top.owner;
        }
        r = store_image_get(t, a->ns, a->name, &old);
        if (r < 0 && r != -ENOENT)
                return error_set_errno(e, -r, "cannot read the record of image %s", QUOTE(a->name));
        if (r >= 0 && (a->flags & CORE_IMAGE_NO_REPLACE) &&
            (!streq(old.top, rec.top) || old.top_owner != rec.top_owner || !streq(old.config ?: "", rec.config ?: "")))
                return error_setf(e, EEXIST, "image %s stands for another image already (snapshot %s); give another "
                                  "name, or create it without no-replace to move the name",
                                  QUOTE(a->name), QUOTE(old.top));
        if (a->ns != 0) {
                StoreOwnerTotals held;
                int k = store_owner_totals(t, a->ns, &held, e);

                if (k < 0)
                        return k;
                if (r == -ENOENT && held.images >= CORE_IMAGES_PER_USER_MAX)
                        return error_setf(e, EDQUOT, "cannot name image %s: uid %u already names %u images, the limit "
                                          "per user; untag or remove some first",
                                          QUOTE(a->name), (unsigned) a->ns, CORE_IMAGES_PER_USER_MAX);
                k = check_bytes_per_user(&held, a->name, &rec, r >= 0 ? &old : NULL, a->ns, e);
                if (k < 0)
                        return k;
        }
        rec.created_usec = r >= 0 ? old.created_usec : now;
        rec.updated_usec = now;
        r = store_image_put(t, &rec);
        if (r < 0)
                return error_set_errno(e, -r, "cannot write the record of image %s", QUOTE(a->name));
        return 0;
}

int core_image_create(CoreSnapshotter *s, uid_t ns, const char *name, const char *top, const char *config,
                      uint64_t flags, Error *e) {
        int r;

        r = core_image_validate_name(name, e);
        if (r < 0)
                return r;
        r = core_validate_key("top snapshot", top, e);
        if (r < 0)
                return r;
        if (strlen(config) > CORE_IMAGE_CONFIG_MAX)
                return error_setf(e, EINVAL, "the config of image %s is larger than %u bytes", QUOTE(name),
                                  CORE_IMAGE_CONFIG_MAX);
        return store_write(s->store, create_in_txn, &(ImageCreateArgs) { ns, name, top, NULL, config, flags }, e);
}

int core_image_tag(CoreSnapshotter *s, uid_t ns, const char *source, const char *name, Error *e) {
        int r;

        r = core_image_validate_name(source, e);
        if (r < 0)
                return r;
        r = core_image_validate_name(name, e);
        if (r < 0)
                return r;
        return store_write(s->store, create_in_txn, &(ImageCreateArgs) { ns, name, NULL, source, NULL, 0 }, e);
}

typedef struct ImageUntagArgs {
        uid_t ns;
        const char *name;
        ImageRecord *ret;
} ImageUntagArgs;

static int untag_in_txn(StoreTxn *t, void *userdata, Error *e) {
        ImageUntagArgs *a = userdata;
        int r;

        r = store_image_get(t, a->ns, a->name, a->ret);
        if (r == -ENOENT && a->ns != 0 && store_image_get(t, 0, a->name, a->ret) >= 0)
                return error_setf(e, ENOENT, "image %s belongs to root (its images are shared with every user); "
                                  "only root can untag or remove it",
                                  QUOTE(a->name));
        if (r == -ENOENT)
                return error_setf(e, ENOENT, "image %s does not exist", QUOTE(a->name));
        if (r >= 0)
                r = store_image_delete(t, a->ns, a->name);
        if (r < 0)
                return error_set_errno(e, -r, "cannot remove the record of image %s", QUOTE(a->name));
        return 0;
}

int core_image_untag(CoreSnapshotter *s, uid_t ns, const char *name, Error *e) {
        _cleanup_(image_record_clear) ImageRecord rec = {};
        int r;

        r = core_image_validate_name(name, e);
        if (r < 0)
                return r;
        return store_write_freeing(s->store, untag_in_txn, &(ImageUntagArgs) { ns, name, &rec }, e);
}

typedef struct TopsArgs {
        uid_t owner;
        char **tops;
        size_t n, allocated;
} TopsArgs;

static int collect_top(const ImageRecord *rec, void *userdata) {
        TopsArgs *a = userdata;

        if (rec->top_owner != a->owner)
                return 0;
        if (GREEDY_REALLOC(a->tops, a->allocated, a->n + 2, 16) < 0)
                return -ENOMEM;
        a->tops[a->n] = strdup(rec->top);
        if (!a->tops[a->n])
                return -ENOMEM;
        a->tops[++a->n] = NULL;
        return 0;
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The tops of owner's snapshots that images name, sorted: one walk, so that removing an image
 * costs one pass over the images whatever its number of layers. A user's snapshots can only
 * be named in the user's own namespace (a name points to the namespace's own top or root's):
 * only root's are looked for in every namespace, so a user's RemoveImage never costs a walk of
 * other users' images. */
static int named_tops(CoreSnapshotter *s, uid_t owner, char ***ret, size_t *ret_n) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        TopsArgs a = { .owner = owner };
        int r;

        r = core_read_begin(s, &t, NULL);
        if (r >= 0)
                r = owner == 0 ? store_image_walk(t, collect_top, &a) : store_image_walk_owner(t, owner, collect_top, &a);
        if (r < 0) {
                strv_free(a.tops);
                return r;
        }
        if (a.n > 1)
                qsort(a.tops, a.n, sizeof(char *), compare_strings);
        *ret = a.tops;
        *ret_n = a.n;
        return 0;
}

/* Whether layer key of ns may go: one of ns's committed snapshots that no image names (tops).
 * On success *ret_parent is its parent ("" for none). */
static int layer_is_free(CoreSnapshotter *s, uid_t ns, const char *key, char **tops, size_t n_tops,
                         char **ret_parent) {
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        int r;

        if (n_tops > 0 && bsearch(&key, tops, n_tops, sizeof(char *), compare_strings))
                return 0;
        r = core_read_begin(s, &t, NULL);
        if (r < 0)
                return r;
        r = store_get_info(t, ns, key, &info, NULL);
        if (r < 0 || info.kind != SNAPSHOT_COMMITTED)
                return 0;
        *ret_parent = strdup(info.parent ?: "");
        return *ret_parent ? 1 : -ENOMEM;
}

int core_image_remove(CoreSnapshotter *s, uid_t ns, const char *name, char ***ret_removed, Error *e) {
        _cleanup_(image_record_clear) ImageRecord rec = {};
        _cleanup_strv_free_ char **removed = NULL, **tops = NULL;
        _cleanup_free_ char *layer = NULL;
        size_t n_tops = 0;
        int r;

        r = core_image_validate_name(name, e);
        if (r < 0)
                return r;
        r = store_write_freeing(s->store, untag_in_txn, &(ImageUntagArgs) { ns, name, &rec }, e);
        if (r < 0)
                return r;

        /* Then the layers from the top down, as long as they are the caller's, no image names
         * them and nothing is built on them (Remove refuses a parent, a mounted or a busy one). */
        if (rec.top_owner == ns && !(layer = strdup(rec.top)))
                return error_from_errno(e, -ENOMEM, "out of memory");
        if (layer) {
                r = named_tops(s, ns, &tops, &n_tops);
                if (r < 0)
                        return error_from_errno(e, r, "cannot read the image records");
        }
        while (!isempty(layer)) {
                _cleanup_free_ char *parent = NULL;

                r = layer_is_free(s, ns, layer, tops, n_tops, &parent);
                if (r < 0)
                        return error_from_errno(e, r, "cannot read the metadata");
                if (r == 0 || core_remove(s, ns, layer, NULL) < 0)
                        break;
                log_debug("%s: image %s: removed layer %s", s->name, name, layer);
                r = strv_push(&removed, TAKE_PTR(layer));
                if (r < 0)
                        return error_from_errno(e, r, "out of memory");
                layer = TAKE_PTR(parent);
        }
        if (ret_removed)
                *ret_removed = TAKE_PTR(removed);
        return 0;
}
