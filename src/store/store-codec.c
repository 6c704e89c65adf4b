/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Byte encoding of records and index keys. Only this file knows the record layout. */

#include <endian.h>
#include <gcrypt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "store-internal.h"

static bool kind_is_valid(SnapshotKind k) {
        return k == SNAPSHOT_VIEW || k == SNAPSHOT_ACTIVE || k == SNAPSHOT_COMMITTED;
}

/* --- encoding --- */

void buf_done(Buf *b) {
        free(b->data);
}

static void buf_put(Buf *b, const void *p, size_t n) {
        if (b->oom)
                return;
        if (GREEDY_REALLOC(b->data, b->cap, b->n + n, 64) < 0) {
                b->oom = true;
                return;
        }
        memcpy(b->data + b->n, p, n);
        b->n += n;
}

void buf_put_u8(Buf *b, uint8_t v) {
        buf_put(b, &v, 1);
}

void buf_put_u32(Buf *b, uint32_t v) {
        v = htole32(v);
        buf_put(b, &v, sizeof v);
}

void buf_put_u64(Buf *b, uint64_t v) {
        v = htole64(v);
        buf_put(b, &v, sizeof v);
}

void buf_put_str(Buf *b, const char *s, size_t n) {
        buf_put_u32(b, (uint32_t) n);
        buf_put(b, s, n);
}

static const void *reader_take(Reader *r, size_t n) {
        const void *p = r->p;

        if (r->bad || r->left < n) {
                r->bad = true;
                return NULL;
        }
        r->p += n;
        r->left -= n;
        return p;
}

uint8_t reader_u8(Reader *r) {
        const uint8_t *p = reader_take(r, 1);
        return p ? *p : 0;
}

uint32_t reader_u32(Reader *r) {
        const void *p = reader_take(r, sizeof(uint32_t));
        uint32_t v = 0;

        if (p)
                memcpy(&v, p, sizeof v);
        return le32toh(v);
}

uint64_t reader_u64(Reader *r) {
        const void *p = reader_take(r, sizeof(uint64_t));
        uint64_t v = 0;

        if (p)
                memcpy(&v, p, sizeof v);
        return le64toh(v);
}

const char *reader_str(Reader *r, size_t *ret_len) {
        *ret_len = reader_u32(r);
        return reader_take(r, *ret_len);
}

/* NULL with r->bad for a string that is cut or holds a NUL (damaged), NULL alone when out of
 * memory. */
char *reader_strdup(Reader *r) {
        size_t n;
        const char *s = reader_str(r, &n);

        if (s && memchr(s, 0, n))
                r->bad = true;
        return r->bad ? NULL : strndup(s, n);
}

/* --- keys --- */

IdKey id_key(uint64_t id) {
        IdKey k;
        uint64_t be = htobe64(id);

        memcpy(k.b, &be, sizeof be);
        return k;
}

uint64_t id_from_val(const MDB_val *v) {
        uint64_t be;

        if (v->mv_size != sizeof be)
                return 0;
        memcpy(&be, v->mv_data, sizeof be);
        return be64toh(be);
}

ChildKey child_key(uint64_t parent, uint64_t child) {
        ChildKey k;
        IdKey p = id_key(parent), c = id_key(child);

        memcpy(k.b, p.b, 8);
        memcpy(k.b + 8, c.b, 8);
        return k;
}

/* SHA-256 from libgcrypt, which libsystemd already maps into every process of ours: libcrypto
 * would add ~1.4 MiB to laminad's idle RSS for this one hash (bench/README.md). The digest is
 * the same, so keys on disk do not change. gcry_check_version() is the documented first call
 * (it initializes the library); once, from whichever thread comes first. */
static bool gcrypt_ok;

static void gcrypt_init(void) {
        gcrypt_ok = gcry_check_version(NULL) != NULL;
}

int store_sha256(const void *data, size_t len, uint8_t ret[static 32]) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;

        if (pthread_once(&once, gcrypt_init) != 0 || !gcrypt_ok)
                return -EIO;
        gcry_md_hash_buffer(GCRY_MD_SHA256, ret, data, len);
        return 0;
}

int name_key(uid_t owner, const char *name, size_t len, NameKey *ret) {
        uint32_t be = htobe32((uint32_t) owner);
        int r;

        memcpy(ret->b, &be, OWNER_LEN);
        if (len <= NAME_PREFIX_MAX) {
                memcpy(ret->b + OWNER_LEN, name, len);
                ret->n = OWNER_LEN + len;
                return 0;
        }
        memcpy(ret->b + OWNER_LEN, name, NAME_PREFIX_MAX);
        r = store_sha256(name, len, ret->b + NAME_GROUP_LEN);
        if (r < 0)
                return r;
        ret->n = NAME_KEY_LONG;
        return 0;
}

/* --- records --- */

int record_encode(const Record *rec, const Labels *labels, Buf *b) {
        uint32_t n = 0;

        for (size_t i = 0; labels && i < labels->n; i++)
                if (!isempty(labels->items[i].value))
                        n++;

        buf_put_u8(b, RECORD_VERSION);
        buf_put_u8(b, (uint8_t) rec->kind);
        buf_put_u32(b, (uint32_t) rec->owner);
        buf_put_u64(b, rec->parent_id);
        buf_put_u64(b, rec->created_usec);
        buf_put_u64(b, rec->updated_usec);
        buf_put_u64(b, rec->size);
        buf_put_u64(b, rec->inodes);
        buf_put_str(b, rec->name, rec->name_len);
        buf_put_u32(b, n);
        for (size_t i = 0; labels && i < labels->n; i++) {
                const Label *l = labels->items + i;
                if (isempty(l->value))
                        continue;
                buf_put_str(b, l->key, strlen(l->key));
                buf_put_str(b, l->value, strlen(l->value));
        }
        return b->oom ? -ENOMEM : 0;
}

int record_decode(uint64_t id, const MDB_val *v, Record *ret) {
        Reader r = { .p = v->mv_data, .left = v->mv_size };
        Record rec = { .id = id };

        if (reader_u8(&r) != RECORD_VERSION)
                return -EBADMSG;
        rec.kind = reader_u8(&r);
        rec.owner = reader_u32(&r);
        rec.parent_id = reader_u64(&r);
        rec.created_usec = reader_u64(&r);
        rec.updated_usec = reader_u64(&r);
        rec.size = reader_u64(&r);
        rec.inodes = reader_u64(&r);
        rec.name = reader_str(&r, &rec.name_len);
        rec.n_labels = reader_u32(&r);
        rec.labels = r;
        if (rec.n_labels > r.left / (2 * sizeof(uint32_t)))
                return -EBADMSG;
        /* A parent's ID is smaller than its child's, except where the child was prepared
         * without it and attached at Commit (a rebase, store_attach_parent()); record_chain()
         * bounds the walk up a chain. */
        if (r.bad || rec.name_len == 0 || memchr(rec.name, 0, rec.name_len) || rec.parent_id == id ||
            !kind_is_valid(rec.kind))
                return -EBADMSG;
        *ret = rec;
        return 0;
}

int labels_decode(const Record *rec, Labels *ret) {
        Reader r = rec->labels;
        Labels l = LABELS_NULL;

        l.items = calloc(rec->n_labels ?: 1, sizeof(Label));
        if (!l.items)
                return -ENOMEM;
        for (uint32_t i = 0; i < rec->n_labels; i++) {
                Label *item = l.items + l.n;
                item->key = reader_strdup(&r);
                item->value = reader_strdup(&r);
                if (!item->key || !item->value) {
                        free(item->key);
                        free(item->value);
                        labels_clear(&l);
                        return r.bad ? -EBADMSG : -ENOMEM;
                }
                l.n++;
        }
        labels_clear(ret);
        *ret = l;
        return 0;
}
