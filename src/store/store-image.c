/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Image records: a name in an owner's namespace → the image's top snapshot (a committed
 * snapshot of that owner or of root) and its OCI config, kept as the bytes the image
 * carried. Keyed by be32(owner) + name; image names are short (STORE_IMAGE_NAME_MAX), so
 * the key is the name itself, ordered by owner, then by name bytes. */

#include <endian.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

#define IMAGE_RECORD_VERSION 1

typedef struct ImageKey {
        uint8_t b[OWNER_LEN + STORE_IMAGE_NAME_MAX];
        size_t n;
} ImageKey;

static int image_key(uid_t owner, const char *name, ImageKey *ret) {
        size_t len = strlen(name);
        uint32_t o = htobe32((uint32_t) owner);

        if (len == 0 || len > STORE_IMAGE_NAME_MAX)
                return -EINVAL;
        memcpy(ret->b, &o, OWNER_LEN);
        memcpy(ret->b + OWNER_LEN, name, len);
        ret->n = OWNER_LEN + len;
        return 0;
}

void image_record_clear(ImageRecord *r) {
        free(r->name);
        free(r->top);
        free(r->config);
        *r = (ImageRecord) {};
}

/* Takes away what the record at k counts, if there is one. */
static int image_uncount(StoreTxn *t, uid_t owner, const ImageKey *k, OwnerChange *c) {
        MDB_val key = { .mv_size = k->n, .mv_data = (void *) k->b }, v;
        int r;

        r = db_get(t, t->store->images, k->b, k->n, &v);
        if (r < 0)
                return r;
        owner_change_image(owner, &key, &v, false, c);
        return 0;
}

int store_image_put(StoreTxn *t, const ImageRecord *img) {
        _cleanup_(buf_done) Buf b = {};
        OwnerChange change = {};
        MDB_val key, val;
        ImageKey k;
        int r;

        assert(t && t->write && img && img->name && img->top);

        r = image_key(img->owner, img->name, &k);
        if (r < 0)
                return r;
        buf_put_u8(&b, IMAGE_RECORD_VERSION);
        buf_put_u32(&b, (uint32_t) img->top_owner);
        buf_put_str(&b, img->top, strlen(img->top));
        buf_put_u64(&b, img->created_usec);
        buf_put_u64(&b, img->updated_usec);
        buf_put_str(&b, img->config ?: "", img->config ? strlen(img->config) : 0);
        if (b.oom)
                return -ENOMEM;
        r = image_uncount(t, img->owner, &k, &change);
        if (r < 0 && r != -ENOENT)
                return r;
        r = db_put(t, t->store->images, k.b, k.n, b.data, b.n, 0);
        if (r < 0)
                return r;
        key = (MDB_val) { .mv_size = k.n, .mv_data = k.b };
        val = (MDB_val) { .mv_size = b.n, .mv_data = b.data };
        owner_change_image(img->owner, &key, &val, true, &change);
        return owner_change_commit(t, &change);
}

/* with_config false: config stays NULL (a walk never copies the configs, up to 1 MiB each). */
static int image_record_decode(const MDB_val *key, const MDB_val *v, bool with_config, ImageRecord *ret) {
        _cleanup_(image_record_clear) ImageRecord img = {};
        Reader r = { .p = v->mv_data, .left = v->mv_size };
        uint32_t owner;

        if (key->mv_size <= OWNER_LEN || key->mv_size > OWNER_LEN + STORE_IMAGE_NAME_MAX)
                return -EBADMSG;
        memcpy(&owner, key->mv_data, OWNER_LEN);
        img.owner = (uid_t) be32toh(owner);
        img.name = strndup((const char *) key->mv_data + OWNER_LEN, key->mv_size - OWNER_LEN);
        if (!img.name)
                return -ENOMEM;
        if (reader_u8(&r) != IMAGE_RECORD_VERSION)
                return -EBADMSG;
        img.top_owner = reader_u32(&r);
        img.top = reader_strdup(&r);
        img.created_usec = reader_u64(&r);
        img.updated_usec = reader_u64(&r);
        if (with_config)
                img.config = reader_strdup(&r);
        if (r.bad || !img.top || (with_config && !img.config))
                return r.bad ? -EBADMSG : -ENOMEM;
        image_record_clear(ret);
        *ret = img;
        img = (ImageRecord) {};
        return 0;
}

int store_image_get(StoreTxn *t, uid_t owner, const char *name, ImageRecord *ret) {
        MDB_val key, v;
        ImageKey k;
        int r;

        assert(t && name && ret);

        r = image_key(owner, name, &k);
        if (r < 0)
                return r == -EINVAL ? -ENOENT : r;
        r = db_get(t, t->store->images, k.b, k.n, &v);
        if (r < 0)
                return r;
        key = (MDB_val) { .mv_size = k.n, .mv_data = k.b };
        return image_record_decode(&key, &v, true, ret);
}

int store_image_delete(StoreTxn *t, uid_t owner, const char *name) {
        OwnerChange change = {};
        ImageKey k;
        int r;

        assert(t && t->write && name);

        r = image_key(owner, name, &k);
        if (r < 0)
                return r == -EINVAL ? -ENOENT : r;
        r = image_uncount(t, owner, &k, &change);
        if (r >= 0)
                r = db_del(t, t->store->images, k.b, k.n, NULL, 0);
        if (r >= 0)
                r = owner_change_commit(t, &change);
        return r;
}

typedef struct ImageWalkArgs {
        store_image_walk_fn fn;
        void *userdata;
} ImageWalkArgs;

static int image_walk_one(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        _cleanup_(image_record_clear) ImageRecord img = {};
        ImageWalkArgs *a = userdata;
        int r;

        r = image_record_decode(key, val, false, &img);
        if (r < 0)
                return r;
        return a->fn(&img, a->userdata);
}

int store_image_walk(StoreTxn *t, store_image_walk_fn fn, void *userdata) {
        assert(t && fn);

        return db_each(t, t->store->images, image_walk_one, &(ImageWalkArgs) { fn, userdata }, NULL, NULL);
}

int store_image_walk_owner(StoreTxn *t, uid_t owner, store_image_walk_fn fn, void *userdata) {
        uint32_t be = htobe32((uint32_t) owner);

        assert(t && fn);

        return db_each_prefix(t, t->store->images, &be, sizeof be, image_walk_one, &(ImageWalkArgs) { fn, userdata },
                              NULL);
}
