/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The metadata store on LMDB.
 *
 * Named databases:
 *   meta      "next-id" -> u64: the next snapshot ID (IDs are never reused)
 *   records   be64(id) -> record (see record_encode())
 *   names     be32(owner) + name -> be64(id), or, for names longer than NAME_PREFIX_MAX,
 *             be32(owner) + the first NAME_PREFIX_MAX bytes + sha256(name). LMDB keys
 *             are limited to 511 bytes. Duplicates are allowed (MDB_DUPSORT) so that
 *             even a hash collision only costs a record comparison.
 *   children  be64(parent id) + be64(child id) -> "": "has children" is one seek.
 *   mounts    be64(snapshot id) -> mount record
 *
 * The key layout keeps the name index ordered by owner, then by name bytes, except
 * within a group of long names sharing their prefix, which walk sorts in memory.
 *
 * Growing the map (mdb_env_set_mapsize) needs no open transaction in the process, so
 * every transaction is counted and a grow waits until the count drops to zero while
 * new outermost transactions wait for the grow. A thread that already holds a
 * transaction never waits (its nested reads must not deadlock), and cannot grow. */
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "filter.h"
#include "log.h"
#include "store.h"

#define DEFAULT_MAP_SIZE ((size_t) 64 << 20)
#define GROW_THRESHOLD_PERCENT 70
#define WRITE_ATTEMPTS_MAX 32

#define OWNER_LEN 4
#define HASH_LEN 32
#define NAME_PREFIX_MAX 448
#define NAME_KEY_LONG (OWNER_LEN + NAME_PREFIX_MAX + HASH_LEN)
#define NAME_GROUP_LEN (OWNER_LEN + NAME_PREFIX_MAX)

#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define RECORD_VERSION 1
#define MOUNT_RECORD_VERSION 1
#define NEXT_ID_KEY "next-id"

struct Store {
        MDB_env *env;
        MDB_dbi meta, records, names, children, mounts;
        size_t page_size;

        pthread_mutex_t mutex;
        pthread_cond_t cond;
        unsigned active;   /* open transactions */
        bool grow_pending; /* a grow waits for active to drop to 0 */
};

struct StoreTxn {
        Store *store;
        MDB_txn *txn;
        bool write;
        bool map_full; /* an operation hit MDB_MAP_FULL: store_write() grows and reruns */
};

/* Transactions the calling thread holds open (in any store). */
static _Thread_local unsigned thread_txns;

/* --- errors --- */

static int errno_from_mdb(int rc) {
        switch (rc) {
        case 0:
                return 0;
        case MDB_NOTFOUND:
                return -ENOENT;
        case MDB_KEYEXIST:
                return -EEXIST;
        case MDB_MAP_FULL:
                return -ENOSPC;
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
        case MDB_INVALID:
                return -EBADMSG;
        case MDB_VERSION_MISMATCH:
                return -EPROTO;
        default:
                return rc > 0 ? -rc : -EIO;
        }
}

static int txn_result(StoreTxn *t, int rc) {
        if (rc == MDB_MAP_FULL)
                t->map_full = true;
        return errno_from_mdb(rc);
}

static int fail(Error *e, int r, const char *name) {
        return error_set_errno(e, r, "cannot access the metadata of snapshot %s", QUOTE(name));
}

static int not_found(Error *e, const char *name) {
        return error_setf(e, ENOENT, "snapshot %s does not exist; check the key with List", QUOTE(name));
}

static bool kind_is_valid(SnapshotKind k) {
        return k == SNAPSHOT_VIEW || k == SNAPSHOT_ACTIVE || k == SNAPSHOT_COMMITTED;
}

static const char *kind_phrase(SnapshotKind k) {
        return k == SNAPSHOT_VIEW ? "a view" : snapshot_kind_to_string(k);
}

/* --- locking and growing --- */

static void txn_enter(Store *s) {
        pthread_mutex_lock(&s->mutex);
        /* The grow waits for this thread's open transactions: never wait for it then. */
        while (s->grow_pending && thread_txns == 0)
                pthread_cond_wait(&s->cond, &s->mutex);
        s->active++;
        thread_txns++;
        pthread_mutex_unlock(&s->mutex);
}

static void txn_leave(Store *s) {
        pthread_mutex_lock(&s->mutex);
        assert(s->active > 0 && thread_txns > 0);
        s->active--;
        thread_txns--;
        if (s->active == 0)
                pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mutex);
}

static size_t map_size(Store *s) {
        MDB_envinfo info;

        (void) mdb_env_info(s->env, &info);
        return info.me_mapsize;
}

/* Doubles the map unless another thread grew it past `seen` meanwhile. seen == 0: adopt
 * the size another process set (MDB_MAP_RESIZED). */
static int store_grow(Store *s, size_t seen) {
        int rc = 0;

        if (thread_txns > 0)
                return -ENOSPC; /* we would wait for ourselves */

        pthread_mutex_lock(&s->mutex);
        while (s->grow_pending)
                pthread_cond_wait(&s->cond, &s->mutex);
        s->grow_pending = true;
        while (s->active > 0)
                pthread_cond_wait(&s->cond, &s->mutex);

        size_t now = map_size(s);
        if (seen == 0)
                rc = mdb_env_set_mapsize(s->env, 0);
        else if (now <= seen) {
                rc = mdb_env_set_mapsize(s->env, now * 2);
                if (rc == 0)
                        log_debug("metadata map grown from %zu to %zu bytes", now, now * 2);
        }

        s->grow_pending = false;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mutex);
        return errno_from_mdb(rc);
}

/* Grows before a write once the map is mostly used, so writes rarely have to rerun. */
static void store_maybe_grow(Store *s) {
        MDB_envinfo info;

        if (thread_txns > 0 || mdb_env_info(s->env, &info) != 0)
                return;
        if ((info.me_last_pgno + 1) * s->page_size * 100 >= info.me_mapsize * GROW_THRESHOLD_PERCENT)
                (void) store_grow(s, info.me_mapsize);
}

/* --- encoding --- */

typedef struct Buf {
        uint8_t *data;
        size_t n, cap;
        bool oom;
} Buf;

static void buf_done(Buf *b) {
        free(b->data);
}

static void buf_put(Buf *b, const void *p, size_t n) {
        if (b->oom)
                return;
        if (b->n + n > b->cap) {
                size_t cap = MAX(b->cap * 2, b->n + n + 64);
                uint8_t *d = realloc(b->data, cap);
                if (!d) {
                        b->oom = true;
                        return;
                }
                b->data = d;
                b->cap = cap;
        }
        memcpy(b->data + b->n, p, n);
        b->n += n;
}

static void buf_put_u8(Buf *b, uint8_t v) {
        buf_put(b, &v, 1);
}

static void buf_put_u32(Buf *b, uint32_t v) {
        v = htole32(v);
        buf_put(b, &v, sizeof v);
}

static void buf_put_u64(Buf *b, uint64_t v) {
        v = htole64(v);
        buf_put(b, &v, sizeof v);
}

static void buf_put_str(Buf *b, const char *s, size_t n) {
        buf_put_u32(b, (uint32_t) n);
        buf_put(b, s, n);
}

typedef struct Reader {
        const uint8_t *p;
        size_t left;
        bool bad;
} Reader;

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

static uint8_t reader_u8(Reader *r) {
        const uint8_t *p = reader_take(r, 1);
        return p ? *p : 0;
}

static uint32_t reader_u32(Reader *r) {
        const void *p = reader_take(r, sizeof(uint32_t));
        uint32_t v = 0;

        if (p)
                memcpy(&v, p, sizeof v);
        return le32toh(v);
}

static uint64_t reader_u64(Reader *r) {
        const void *p = reader_take(r, sizeof(uint64_t));
        uint64_t v = 0;

        if (p)
                memcpy(&v, p, sizeof v);
        return le64toh(v);
}

static const char *reader_str(Reader *r, size_t *ret_len) {
        *ret_len = reader_u32(r);
        return reader_take(r, *ret_len);
}

static char *reader_strdup(Reader *r) {
        size_t n;
        const char *s = reader_str(r, &n);

        return s && !memchr(s, 0, n) ? strndup(s, n) : NULL;
}

/* --- keys --- */

typedef struct IdKey {
        uint8_t b[8];
} IdKey;

static IdKey id_key(uint64_t id) {
        IdKey k;
        uint64_t be = htobe64(id);

        memcpy(k.b, &be, sizeof be);
        return k;
}

static uint64_t id_from_val(const MDB_val *v) {
        uint64_t be;

        if (v->mv_size != sizeof be)
                return 0;
        memcpy(&be, v->mv_data, sizeof be);
        return be64toh(be);
}

typedef struct ChildKey {
        uint8_t b[16];
} ChildKey;

static ChildKey child_key(uint64_t parent, uint64_t child) {
        ChildKey k;
        IdKey p = id_key(parent), c = id_key(child);

        memcpy(k.b, p.b, 8);
        memcpy(k.b + 8, c.b, 8);
        return k;
}

typedef struct NameKey {
        uint8_t b[NAME_KEY_LONG];
        size_t n;
} NameKey;

static int name_key(uid_t owner, const char *name, size_t len, NameKey *ret) {
        uint32_t be = htobe32((uint32_t) owner);

        memcpy(ret->b, &be, OWNER_LEN);
        if (len <= NAME_PREFIX_MAX) {
                memcpy(ret->b + OWNER_LEN, name, len);
                ret->n = OWNER_LEN + len;
                return 0;
        }
        memcpy(ret->b + OWNER_LEN, name, NAME_PREFIX_MAX);
        if (EVP_Digest(name, len, ret->b + NAME_GROUP_LEN, NULL, EVP_sha256(), NULL) != 1)
                return -EIO;
        ret->n = NAME_KEY_LONG;
        return 0;
}

/* --- raw database access --- */

static void cursor_closep(MDB_cursor **c) {
        if (*c)
                mdb_cursor_close(*c);
}
#define _cleanup_cursor_ _cleanup_(cursor_closep)

static int cursor_open(StoreTxn *t, MDB_dbi dbi, MDB_cursor **ret) {
        return txn_result(t, mdb_cursor_open(t->txn, dbi, ret));
}

typedef int (*db_each_fn)(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e);

/* Calls fn on every entry of dbi in key order, stopping at its first failure. Returns 0
 * or a negative errno (fn's or the cursor's); the number of entries visited in *ret_n. */
static int db_each(StoreTxn *t, MDB_dbi dbi, db_each_fn fn, void *userdata, size_t *ret_n, Error *e) {
        _cleanup_cursor_ MDB_cursor *c = NULL;
        MDB_val key, val;
        size_t n = 0;
        int r, rc;

        r = cursor_open(t, dbi, &c);
        if (r < 0)
                return r;
        for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &key, &val, MDB_NEXT), n++) {
                r = fn(t, &key, &val, userdata, e);
                if (r < 0)
                        return r;
        }
        if (rc != MDB_NOTFOUND)
                return txn_result(t, rc);
        if (ret_n)
                *ret_n = n;
        return 0;
}

static int db_get(StoreTxn *t, MDB_dbi dbi, const void *key, size_t klen, MDB_val *ret) {
        MDB_val k = { .mv_size = klen, .mv_data = (void *) key };

        return txn_result(t, mdb_get(t->txn, dbi, &k, ret));
}

static int db_put(StoreTxn *t, MDB_dbi dbi, const void *key, size_t klen, const void *data,
                  size_t dlen, unsigned flags) {
        MDB_val k = { .mv_size = klen, .mv_data = (void *) key };
        MDB_val v = { .mv_size = dlen, .mv_data = (void *) data };

        assert(t->write);
        return txn_result(t, mdb_put(t->txn, dbi, &k, &v, flags));
}

/* data NULL: all values of key. */
static int db_del(StoreTxn *t, MDB_dbi dbi, const void *key, size_t klen, const void *data, size_t dlen) {
        MDB_val k = { .mv_size = klen, .mv_data = (void *) key };
        MDB_val v = { .mv_size = dlen, .mv_data = (void *) data };

        assert(t->write);
        return txn_result(t, mdb_del(t->txn, dbi, &k, data ? &v : NULL));
}

static int read_next_id(StoreTxn *t, uint64_t *ret) {
        MDB_val v;
        uint64_t le;
        int r;

        r = db_get(t, t->store->meta, NEXT_ID_KEY, strlen(NEXT_ID_KEY), &v);
        if (r == -ENOENT) {
                *ret = 1;
                return 0;
        }
        if (r < 0)
                return r;
        if (v.mv_size != sizeof le)
                return -EBADMSG;
        memcpy(&le, v.mv_data, sizeof le);
        *ret = le64toh(le);
        return 0;
}

/* Takes the next ID; the counter lives in the database, so an aborted write gives it back. */
static int allocate_id(StoreTxn *t, uint64_t *ret) {
        uint64_t id, le;
        int r;

        r = read_next_id(t, &id);
        if (r < 0)
                return r;
        le = htole64(id + 1);
        r = db_put(t, t->store->meta, NEXT_ID_KEY, strlen(NEXT_ID_KEY), &le, sizeof le, 0);
        if (r < 0)
                return r;
        *ret = id;
        return 0;
}

/* --- records --- */

/* A decoded record; name and labels point into the database page, valid until the
 * transaction writes or ends. */
typedef struct Record {
        uint64_t id;
        uid_t owner;
        SnapshotKind kind;
        uint64_t parent_id; /* 0: none */
        uint64_t created_usec, updated_usec;
        uint64_t size, inodes;
        const char *name;
        size_t name_len;
        Reader labels;
        uint32_t n_labels;
} Record;

static int record_encode(const Record *rec, const Labels *labels, Buf *b) {
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

static int record_decode(uint64_t id, const MDB_val *v, Record *ret) {
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
        /* Parents are created before their children, so a parent's ID is always smaller:
         * chains end. */
        if (r.bad || rec.name_len == 0 || rec.parent_id >= id || !kind_is_valid(rec.kind))
                return -EBADMSG;
        *ret = rec;
        return 0;
}

static int labels_decode(const Record *rec, Labels *ret) {
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

static int record_get(StoreTxn *t, uint64_t id, Record *ret) {
        IdKey k = id_key(id);
        MDB_val v;
        int r;

        r = db_get(t, t->store->records, k.b, sizeof k.b, &v);
        if (r < 0)
                return r;
        return record_decode(id, &v, ret);
}

static int record_put(StoreTxn *t, const Record *rec, const Labels *labels) {
        _cleanup_(buf_done) Buf b = {};
        IdKey k = id_key(rec->id);
        int r;

        r = record_encode(rec, labels, &b);
        if (r < 0)
                return r;
        return db_put(t, t->store->records, k.b, sizeof k.b, b.data, b.n, 0);
}

static int name_index_change(StoreTxn *t, uid_t owner, const char *name, uint64_t id, bool add) {
        IdKey v = id_key(id);
        NameKey k;
        int r;

        r = name_key(owner, name, strlen(name), &k);
        if (r < 0)
                return r;
        if (add)
                return db_put(t, t->store->names, k.b, k.n, v.b, sizeof v.b, MDB_NODUPDATA);
        return db_del(t, t->store->names, k.b, k.n, v.b, sizeof v.b);
}

/* Finds (owner, name): -ENOENT if absent. */
static int lookup(StoreTxn *t, uid_t owner, const char *name, Record *ret) {
        _cleanup_cursor_ MDB_cursor *c = NULL;
        size_t len = strlen(name);
        NameKey k;
        MDB_val key, val;
        int r, rc;

        if (len == 0)
                return -ENOENT;
        r = name_key(owner, name, len, &k);
        if (r < 0)
                return r;
        r = cursor_open(t, t->store->names, &c);
        if (r < 0)
                return r;

        key = (MDB_val) { .mv_size = k.n, .mv_data = k.b };
        for (rc = mdb_cursor_get(c, &key, &val, MDB_SET); rc == 0;
             rc = mdb_cursor_get(c, &key, &val, MDB_NEXT_DUP)) {
                Record rec;

                r = record_get(t, id_from_val(&val), &rec);
                if (r < 0)
                        return r == -ENOENT ? -EBADMSG : r; /* the index points nowhere */
                if (rec.owner == owner && rec.name_len == len && memcmp(rec.name, name, len) == 0) {
                        *ret = rec;
                        return 0;
                }
        }
        return txn_result(t, rc);
}

/* lookup() with the error messages for the user. */
static int lookup_or_fail(StoreTxn *t, uid_t owner, const char *name, Record *ret, Error *e) {
        int r = lookup(t, owner, name, ret);

        if (r == -ENOENT)
                return not_found(e, name);
        if (r < 0)
                return fail(e, r, name);
        return 0;
}

/* Fails with EEXIST when (owner, name) is taken. */
static int check_name_free(StoreTxn *t, uid_t owner, const char *name, const char *hint, Error *e) {
        Record rec;
        int r = lookup(t, owner, name, &rec);

        if (r >= 0)
                return error_setf(e, EEXIST, "snapshot %s already exists; %s", QUOTE(name), hint);
        if (r != -ENOENT)
                return fail(e, r, name);
        return 0;
}

static int record_to_info(StoreTxn *t, const Record *rec, SnapshotInfo *ret) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {
                .id = rec->id,
                .owner = rec->owner,
                .kind = rec->kind,
                .created_usec = rec->created_usec,
                .updated_usec = rec->updated_usec,
                .size = rec->size,
                .inodes = rec->inodes,
        };
        int r;

        info.name = strndup(rec->name, rec->name_len);
        if (!info.name)
                return -ENOMEM;
        r = labels_decode(rec, &info.labels);
        if (r < 0)
                return r;
        if (rec->parent_id != 0) {
                Record parent;

                r = record_get(t, rec->parent_id, &parent);
                if (r < 0)
                        return r == -ENOENT ? -EBADMSG : r;
                info.parent = strndup(parent.name, parent.name_len);
                if (!info.parent)
                        return -ENOMEM;
                info.parent_owner = parent.owner;
        }
        snapshot_info_clear(ret);
        *ret = info;
        info = (SnapshotInfo) {};
        return 0;
}

static int record_chain(StoreTxn *t, const Record *rec, Snapshot *ret) {
        _cleanup_free_ uint64_t *ids = NULL;
        size_t n = 0, cap = 0;
        uint64_t parent = rec->parent_id;

        while (parent != 0) {
                Record p;
                int r;

                if (n == cap) {
                        uint64_t *a = realloc(ids, (cap = MAX(cap * 2, 8u)) * sizeof(uint64_t));
                        if (!a)
                                return -ENOMEM;
                        ids = a;
                }
                ids[n++] = parent;
                r = record_get(t, parent, &p);
                if (r < 0)
                        return r == -ENOENT ? -EBADMSG : r;
                parent = p.parent_id; /* decode ensures it is smaller: the loop ends */
        }
        snapshot_clear(ret);
        *ret = (Snapshot) { .id = rec->id, .kind = rec->kind, .parent_ids = TAKE_PTR(ids), .n_parents = n };
        return 0;
}

/* --- open, close, transactions --- */

static int open_databases(Store *s) {
        static const struct {
                const char *name;
                size_t offset;
                unsigned flags;
        } table[] = {
                { "meta", offsetof(Store, meta), 0 },
                { "records", offsetof(Store, records), 0 },
                { "names", offsetof(Store, names), MDB_DUPSORT | MDB_DUPFIXED },
                { "children", offsetof(Store, children), 0 },
                { "mounts", offsetof(Store, mounts), 0 },
        };
        MDB_txn *txn;
        int rc;

        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc != 0)
                return errno_from_mdb(rc);
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                rc = mdb_dbi_open(txn, table[i].name, table[i].flags | MDB_CREATE,
                                  (MDB_dbi *) ((uint8_t *) s + table[i].offset));
                if (rc != 0) {
                        mdb_txn_abort(txn);
                        return errno_from_mdb(rc);
                }
        }
        return errno_from_mdb(mdb_txn_commit(txn));
}

static int prepare_directory(const char *dir) {
        _cleanup_close_ int fd = -EBADF;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return RET_NERRNO(fchmod(fd, 0700));
}

int store_open(const char *dir, const StoreOptions *opts, Store **ret) {
        _cleanup_(store_freep) Store *s = NULL;
        size_t size = opts && opts->initial_map_size ? opts->initial_map_size : DEFAULT_MAP_SIZE;
        MDB_stat st;
        int r, rc, dead;

        assert(dir);
        assert(ret);

        r = prepare_directory(dir);
        if (r < 0)
                return log_debug_errno(r, "cannot prepare metadata directory %s: %m", dir);

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->mutex, NULL);
        pthread_cond_init(&s->cond, NULL);

        rc = mdb_env_create(&s->env);
        if (rc != 0)
                return errno_from_mdb(rc);
        rc = mdb_env_set_maxdbs(s->env, 8);
        if (rc == 0)
                rc = mdb_env_set_mapsize(s->env, size);
        if (rc == 0)
                /* MDB_NOTLS: read transactions may nest in one thread. */
                rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
        if (rc != 0)
                return log_debug_errno(errno_from_mdb(rc), "cannot open metadata in %s: %s", dir, mdb_strerror(rc));

        /* Reader slots of processes that died (crash, SIGKILL). */
        (void) mdb_reader_check(s->env, &dead);
        (void) mdb_env_stat(s->env, &st);
        s->page_size = st.ms_psize;

        r = open_databases(s);
        if (r < 0)
                return log_debug_errno(r, "cannot open metadata databases in %s: %m", dir);

        *ret = TAKE_PTR(s);
        return 0;
}

Store *store_free(Store *s) {
        if (!s)
                return NULL;
        assert(s->active == 0);
        if (s->env)
                mdb_env_close(s->env);
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->mutex);
        free(s);
        return NULL;
}

/* Begins a transaction, adopting a map another process grew. */
static int txn_begin(Store *s, unsigned flags, MDB_txn **ret) {
        for (unsigned attempt = 0;; attempt++) {
                int rc, r;

                txn_enter(s);
                rc = mdb_txn_begin(s->env, NULL, flags, ret);
                if (rc == 0)
                        return 0;
                txn_leave(s);
                if (rc != MDB_MAP_RESIZED || attempt > 0)
                        return errno_from_mdb(rc);
                r = store_grow(s, 0);
                if (r < 0)
                        return r;
        }
}

int store_read_begin(Store *s, StoreTxn **ret) {
        _cleanup_free_ StoreTxn *t = NULL;
        int r;

        assert(s);
        assert(ret);

        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        r = txn_begin(s, MDB_RDONLY, &t->txn);
        if (r < 0)
                return r;
        t->store = s;
        *ret = TAKE_PTR(t);
        return 0;
}

void store_read_end(StoreTxn *t) {
        if (!t)
                return;
        assert(!t->write);
        mdb_txn_abort(t->txn);
        txn_leave(t->store);
        free(t);
}

/* One attempt; *ret_map_full tells the caller to grow and retry. */
static int store_write_once(Store *s, store_write_fn fn, void *userdata, Error *e,
                            size_t *ret_seen, bool *ret_map_full) {
        StoreTxn t = { .store = s, .write = true };
        int r, rc;

        *ret_seen = map_size(s);
        r = txn_begin(s, 0, &t.txn);
        if (r < 0) {
                *ret_map_full = false;
                return error_set_errno(e, r, "cannot begin a metadata transaction");
        }

        r = fn(&t, userdata, e);
        if (r < 0 || t.map_full)
                mdb_txn_abort(t.txn);
        else {
                rc = mdb_txn_commit(t.txn);
                if (rc != 0)
                        r = error_set_errno(e, txn_result(&t, rc), "cannot commit a metadata transaction");
        }
        txn_leave(s);
        *ret_map_full = t.map_full;
        return r;
}

int store_write(Store *s, store_write_fn fn, void *userdata, Error *e) {
        Error saved = e ? *e : ERROR_NULL;
        int r = -ENOSPC;

        assert(s);
        assert(fn);

        for (unsigned attempt = 0; attempt < WRITE_ATTEMPTS_MAX; attempt++) {
                size_t seen;
                bool map_full;

                if (e)
                        *e = saved;
                store_maybe_grow(s);
                r = store_write_once(s, fn, userdata, e, &seen, &map_full);
                if (!map_full)
                        return r;
                r = store_grow(s, seen);
                if (r < 0)
                        break;
        }
        if (e)
                *e = saved;
        return error_set_errno(e, r, "the metadata database is full and cannot grow");
}

/* --- containerd's storage operations --- */

int store_create(StoreTxn *t, SnapshotKind kind, uid_t owner, const char *name,
                 uid_t parent_owner, const char *parent, const Labels *labels,
                 uint64_t now_usec, Snapshot *ret, Error *e) {
        Record p = {}, rec;
        uint64_t id;
        int r;

        assert(t && t->write);
        assert(name);

        if (kind != SNAPSHOT_ACTIVE && kind != SNAPSHOT_VIEW)
                return error_setf(e, EINVAL, "snapshot %s: only active snapshots and views can be created, not %s",
                                  QUOTE(name), snapshot_kind_to_string(kind));
        if (isempty(name))
                return error_setf(e, EINVAL, "snapshot keys must not be empty");

        /* The parent first: containerd reports a missing parent before a taken key. */
        if (!isempty(parent)) {
                r = lookup(t, parent_owner, parent, &p);
                if (r == -ENOENT)
                        return error_setf(e, ENOENT, "parent snapshot %s does not exist; check the name with List",
                                          QUOTE(parent));
                if (r < 0)
                        return fail(e, r, parent);
                if (p.kind != SNAPSHOT_COMMITTED)
                        return error_setf(e, EINVAL, "parent snapshot %s is %s, not committed; commit it first",
                                          QUOTE(parent), kind_phrase(p.kind));
        }
        r = check_name_free(t, owner, name, "remove it first or choose another key", e);
        if (r < 0)
                return r;

        r = allocate_id(t, &id);
        if (r < 0)
                return fail(e, r, name);
        rec = (Record) {
                .id = id,
                .owner = owner,
                .kind = kind,
                .parent_id = p.id,
                .created_usec = now_usec,
                .updated_usec = now_usec,
                .name = name,
                .name_len = strlen(name),
        };
        r = record_put(t, &rec, labels);
        if (r >= 0)
                r = name_index_change(t, owner, name, id, true);
        if (r >= 0 && p.id != 0) {
                ChildKey k = child_key(p.id, id);
                r = db_put(t, t->store->children, k.b, sizeof k.b, "", 0, 0);
        }
        if (r >= 0 && ret)
                r = record_chain(t, &rec, ret);
        if (r < 0)
                return fail(e, r, name);
        return 0;
}

int store_get_info(StoreTxn *t, uid_t owner, const char *name, SnapshotInfo *ret, Error *e) {
        Record rec;
        int r;

        assert(t && name && ret);

        r = lookup_or_fail(t, owner, name, &rec, e);
        if (r < 0)
                return r;
        r = record_to_info(t, &rec, ret);
        if (r < 0)
                return fail(e, r, name);
        return 0;
}

int store_get_info_by_id(StoreTxn *t, uint64_t id, SnapshotInfo *ret, Error *e) {
        Record rec;
        int r;

        assert(t && ret);

        r = record_get(t, id, &rec);
        if (r == -ENOENT)
                return error_setf(e, ENOENT, "snapshot with ID %" PRIu64 " does not exist", id);
        if (r >= 0)
                r = record_to_info(t, &rec, ret);
        if (r < 0)
                return error_set_errno(e, r, "cannot access the metadata of snapshot ID %" PRIu64, id);
        return 0;
}

static int get_chain(StoreTxn *t, uid_t owner, const char *name, bool committed_ok, Snapshot *ret, Error *e) {
        Record rec;
        int r;

        assert(t && name && ret);

        r = lookup_or_fail(t, owner, name, &rec, e);
        if (r < 0)
                return r;
        if (!committed_ok && rec.kind == SNAPSHOT_COMMITTED)
                return error_setf(e, EWRONGKIND, "snapshot %s is committed, not active or a view; create a view of it",
                                  QUOTE(name));
        r = record_chain(t, &rec, ret);
        if (r < 0)
                return fail(e, r, name);
        return 0;
}

int store_get_snapshot(StoreTxn *t, uid_t owner, const char *name, Snapshot *ret, Error *e) {
        return get_chain(t, owner, name, false, ret, e);
}

int store_get_chain(StoreTxn *t, uid_t owner, const char *name, Snapshot *ret, Error *e) {
        return get_chain(t, owner, name, true, ret, e);
}

static int apply_fieldpaths(Labels *l, const Labels *in, char *const *fieldpaths, const char *name, Error *e) {
        static const Labels none = LABELS_NULL;
        int r;

        if (!in)
                in = &none;
        if (!fieldpaths || !fieldpaths[0])
                return labels_copy(l, in);

        /* Check all first, so that a bad path changes nothing. */
        for (char *const *p = fieldpaths; *p; p++)
                if (!streq(*p, "labels") && (strncmp(*p, "labels.", 7) != 0 || (*p)[7] == 0))
                        return error_setf(e, EINVAL,
                                          "snapshot %s: cannot update %s; only \"labels\" and \"labels.<key>\" (a non-empty key) can be updated",
                                          QUOTE(name), QUOTE(*p));

        for (char *const *p = fieldpaths; *p; p++) {
                const char *key = *p + 7;

                if (streq(*p, "labels"))
                        r = labels_copy(l, in);
                else
                        r = labels_set(l, key, labels_get(in, key)); /* missing: deleted */
                if (r < 0)
                        return r;
        }
        return 0;
}

int store_update_info(StoreTxn *t, uid_t owner, const char *name, const Labels *labels,
                      char *const *fieldpaths, uint64_t now_usec, SnapshotInfo *ret, Error *e) {
        _cleanup_(labels_clear) Labels l = LABELS_NULL;
        Record rec;
        int r;

        assert(t && t->write);
        assert(name);

        r = lookup_or_fail(t, owner, name, &rec, e);
        if (r < 0)
                return r;
        r = labels_decode(&rec, &l);
        if (r < 0)
                return fail(e, r, name);
        r = apply_fieldpaths(&l, labels, fieldpaths, name, e);
        if (r < 0)
                return e && e->code ? r : fail(e, r, name);

        rec.updated_usec = now_usec;
        r = record_put(t, &rec, &l);
        if (r < 0)
                return fail(e, r, name);
        return ret ? store_get_info(t, owner, name, ret, e) : 0;
}

int store_commit_active(StoreTxn *t, uid_t owner, const char *key, const char *name,
                        uint64_t size, uint64_t inodes, const Labels *labels,
                        uint64_t now_usec, uint64_t *ret_id, Error *e) {
        Record rec;
        int r;

        assert(t && t->write);
        assert(key && name);

        if (isempty(name))
                return error_setf(e, EINVAL, "snapshot names must not be empty");
        /* Name first, even when name == key: containerd's order. */
        r = check_name_free(t, owner, name, "commit under another name or remove it first", e);
        if (r < 0)
                return r;
        r = lookup_or_fail(t, owner, key, &rec, e);
        if (r < 0)
                return r;
        if (rec.kind != SNAPSHOT_ACTIVE)
                return error_setf(e, EWRONGKIND, "snapshot %s is %s, not active; only active snapshots can be committed",
                                  QUOTE(key), kind_phrase(rec.kind));

        rec.kind = SNAPSHOT_COMMITTED;
        rec.name = name;
        rec.name_len = strlen(name);
        rec.created_usec = rec.updated_usec = now_usec;
        rec.size = size;
        rec.inodes = inodes;
        /* Same ID: the child links, keyed by ID, keep pointing at it. */
        r = record_put(t, &rec, labels);
        if (r >= 0)
                r = name_index_change(t, owner, key, rec.id, false);
        if (r >= 0)
                r = name_index_change(t, owner, name, rec.id, true);
        if (r < 0)
                return fail(e, r, key);
        if (ret_id)
                *ret_id = rec.id;
        return 0;
}

int store_count_children(StoreTxn *t, uint64_t id, size_t *ret) {
        _cleanup_cursor_ MDB_cursor *c = NULL;
        ChildKey k = child_key(id, 0);
        MDB_val key = { .mv_size = sizeof k.b, .mv_data = k.b }, val;
        size_t n = 0;
        int r, rc;

        assert(t && ret);

        r = cursor_open(t, t->store->children, &c);
        if (r < 0)
                return r;
        for (rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
             rc == 0 && key.mv_size == sizeof k.b && memcmp(key.mv_data, k.b, 8) == 0;
             rc = mdb_cursor_get(c, &key, &val, MDB_NEXT))
                n++;
        if (rc != 0 && rc != MDB_NOTFOUND)
                return txn_result(t, rc);
        *ret = n;
        return 0;
}

int store_remove(StoreTxn *t, uid_t owner, const char *name, uint64_t *ret_id,
                 SnapshotKind *ret_kind, Error *e) {
        Record rec;
        IdKey k;
        size_t n;
        int r;

        assert(t && t->write);
        assert(name);

        r = lookup_or_fail(t, owner, name, &rec, e);
        if (r < 0)
                return r;
        r = store_count_children(t, rec.id, &n);
        if (r < 0)
                return fail(e, r, name);
        if (n == 1)
                return error_setf(e, ENOTEMPTY, "snapshot %s has 1 child; remove it first", QUOTE(name));
        if (n > 1)
                return error_setf(e, ENOTEMPTY, "snapshot %s has %zu children; remove them first", QUOTE(name), n);

        if (ret_id)
                *ret_id = rec.id;
        if (ret_kind)
                *ret_kind = rec.kind;

        k = id_key(rec.id);
        r = 0;
        if (rec.parent_id != 0) {
                ChildKey ck = child_key(rec.parent_id, rec.id);
                r = db_del(t, t->store->children, ck.b, sizeof ck.b, NULL, 0);
        }
        if (r >= 0)
                r = name_index_change(t, owner, name, rec.id, false);
        if (r >= 0)
                r = db_del(t, t->store->records, k.b, sizeof k.b, NULL, 0);
        if (r < 0)
                return fail(e, r, name);
        return 0;
}

/* --- walk --- */

/* Long names sharing their first NAME_PREFIX_MAX bytes are ordered by hash in the index;
 * walk collects such a group and sorts it by name. */
typedef struct WalkGroup {
        uint8_t prefix[NAME_GROUP_LEN];
        SnapshotInfo *items;
        size_t n;
} WalkGroup;

static int info_compare(const void *a, const void *b) {
        return strcmp(((const SnapshotInfo *) a)->name, ((const SnapshotInfo *) b)->name);
}

static void walk_group_clear(WalkGroup *g) {
        for (size_t i = 0; i < g->n; i++)
                snapshot_info_clear(g->items + i);
        free(g->items);
        g->items = NULL;
        g->n = 0;
}

static int walk_group_flush(WalkGroup *g, store_walk_fn fn, void *userdata) {
        int r = 0;

        if (g->n == 0)
                return 0;
        qsort(g->items, g->n, sizeof(SnapshotInfo), info_compare);
        for (size_t i = 0; i < g->n && r >= 0; i++)
                r = fn(g->items + i, userdata);
        walk_group_clear(g);
        return r;
}

static int walk_group_add(WalkGroup *g, const uint8_t *prefix, SnapshotInfo *info) {
        SnapshotInfo *a = realloc(g->items, (g->n + 1) * sizeof(SnapshotInfo));

        if (!a)
                return -ENOMEM;
        g->items = a;
        memcpy(g->prefix, prefix, NAME_GROUP_LEN);
        g->items[g->n++] = *info;
        *info = (SnapshotInfo) {};
        return 0;
}

typedef struct WalkArgs {
        const Filter *filter;
        WalkGroup group;
        store_walk_fn fn;
        void *userdata;
} WalkArgs;

static int walk_entry(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        _cleanup_(snapshot_info_clear) SnapshotInfo info = {};
        WalkArgs *a = userdata;
        WalkGroup *g = &a->group;
        bool long_name = key->mv_size == NAME_KEY_LONG;
        Record rec;
        int r;

        if (g->n > 0 && !(long_name && memcmp(key->mv_data, g->prefix, NAME_GROUP_LEN) == 0)) {
                r = walk_group_flush(g, a->fn, a->userdata);
                if (r < 0)
                        return r;
        }

        r = record_get(t, id_from_val(val), &rec);
        if (r < 0)
                return r == -ENOENT ? -EBADMSG : r;
        r = record_to_info(t, &rec, &info);
        if (r < 0)
                return r;
        if (a->filter && !filter_match(a->filter, &info))
                return 0;
        if (long_name)
                return walk_group_add(g, key->mv_data, &info);
        return a->fn(&info, a->userdata);
}

int store_walk(StoreTxn *t, const Filter *filter, store_walk_fn fn, void *userdata, Error *e) {
        WalkArgs a = { .filter = filter, .fn = fn, .userdata = userdata };
        int r;

        assert(t && fn);

        r = db_each(t, t->store->names, walk_entry, &a, NULL, NULL);
        if (r >= 0)
                r = walk_group_flush(&a.group, fn, userdata);
        walk_group_clear(&a.group);
        if (r < 0)
                return error_set_errno(e, r, "cannot list snapshots");
        return 0;
}

typedef struct IdList {
        uint64_t *ids;
        size_t n, cap;
} IdList;

static int list_id(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        IdList *l = userdata;

        if (l->n == l->cap) {
                uint64_t *a = realloc(l->ids, (l->cap = MAX(l->cap * 2, 64u)) * sizeof(uint64_t));
                if (!a)
                        return -ENOMEM;
                l->ids = a;
        }
        l->ids[l->n++] = id_from_val(key);
        return 0;
}

int store_list_ids(StoreTxn *t, uint64_t **ret_ids, size_t *ret_n) {
        IdList l = {};
        int r;

        assert(t && ret_ids && ret_n);

        r = db_each(t, t->store->records, list_id, &l, NULL, NULL);
        if (r < 0) {
                free(l.ids);
                return r;
        }
        *ret_ids = l.ids;
        *ret_n = l.n;
        return 0;
}

/* --- consistency --- */

static int verify_record(StoreTxn *t, uint64_t id, const MDB_val *val, uint64_t next_id, Error *e) {
        Record rec, found;
        int r;

        r = record_decode(id, val, &rec);
        if (r < 0)
                return error_setf(e, EBADMSG, "record of snapshot ID %" PRIu64 " is damaged", id);
        if (id >= next_id)
                return error_setf(e, EBADMSG, "snapshot ID %" PRIu64 " is not below the ID counter %" PRIu64,
                                  id, next_id);
        if (rec.parent_id != 0) {
                Record parent;
                ChildKey k = child_key(rec.parent_id, id);
                MDB_val v;

                if (record_get(t, rec.parent_id, &parent) < 0)
                        return error_setf(e, EBADMSG, "parent ID %" PRIu64 " of snapshot ID %" PRIu64 " does not exist",
                                          rec.parent_id, id);
                if (db_get(t, t->store->children, k.b, sizeof k.b, &v) < 0)
                        return error_setf(e, EBADMSG, "snapshot ID %" PRIu64 " is missing from its parent's children",
                                          id);
        }

        _cleanup_free_ char *name = strndup(rec.name, rec.name_len);
        if (!name)
                return -ENOMEM;
        r = lookup(t, rec.owner, name, &found);
        if (r < 0 || found.id != id)
                return error_setf(e, EBADMSG, "snapshot ID %" PRIu64 " (%s) is missing from the name index",
                                  id, QUOTE(name));
        return 0;
}

static int verify_name_entry(StoreTxn *t, const MDB_val *key, const MDB_val *val, Error *e) {
        uint64_t id = id_from_val(val);
        Record rec;
        NameKey k;

        if (record_get(t, id, &rec) < 0)
                return error_setf(e, EBADMSG, "the name index points to missing snapshot ID %" PRIu64, id);
        _cleanup_free_ char *name = strndup(rec.name, rec.name_len);
        if (!name || name_key(rec.owner, name, rec.name_len, &k) < 0)
                return -ENOMEM;
        if (k.n != key->mv_size || memcmp(k.b, key->mv_data, k.n) != 0)
                return error_setf(e, EBADMSG, "the name index entry of snapshot ID %" PRIu64 " has the wrong key", id);
        return 0;
}

static int verify_child_link(StoreTxn *t, const MDB_val *key, Error *e) {
        MDB_val p = { .mv_size = 8, .mv_data = key->mv_data };
        MDB_val c = { .mv_size = 8, .mv_data = (uint8_t *) key->mv_data + 8 };
        Record parent, child;

        if (key->mv_size != 16 || record_get(t, id_from_val(&p), &parent) < 0 ||
            record_get(t, id_from_val(&c), &child) < 0 || child.parent_id != parent.id)
                return error_setf(e, EBADMSG, "child link %" PRIu64 " -> %" PRIu64 " is stale",
                                  id_from_val(&p), id_from_val(&c));
        return 0;
}

/* db_each() with the message for a failure that the check itself did not explain. */
static int verify_each(StoreTxn *t, MDB_dbi dbi, db_each_fn fn, void *userdata, size_t *ret_n, Error *e) {
        int r = db_each(t, dbi, fn, userdata, ret_n, e);

        return r < 0 ? error_set_errno(e, r, "cannot check the metadata") : 0;
}

static int verify_record_fn(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        return verify_record(t, id_from_val(key), val, *(const uint64_t *) userdata, e);
}

static int verify_name_fn(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        return verify_name_entry(t, key, val, e);
}

static int verify_child_fn(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        return verify_child_link(t, key, e);
}

int store_verify(StoreTxn *t, Error *e) {
        uint64_t next_id;
        size_t n_records, n_names;
        int r;

        assert(t);

        r = read_next_id(t, &next_id);
        if (r < 0)
                return error_set_errno(e, r, "cannot read the ID counter");
        r = verify_each(t, t->store->records, verify_record_fn, &next_id, &n_records, e);
        if (r >= 0)
                r = verify_each(t, t->store->names, verify_name_fn, NULL, &n_names, e);
        if (r >= 0)
                r = verify_each(t, t->store->children, verify_child_fn, NULL, NULL, e);
        if (r < 0)
                return r;
        if (n_records != n_names)
                return error_setf(e, EBADMSG, "%zu records but %zu name index entries", n_records, n_names);
        return 0;
}

/* --- mount records --- */

void mount_record_clear(MountRecord *r) {
        free(r->target);
        *r = (MountRecord) {};
}

int store_mount_put(StoreTxn *t, const MountRecord *m) {
        _cleanup_(buf_done) Buf b = {};
        IdKey k = id_key(m->snapshot_id);

        assert(t && m && m->target);

        buf_put_u8(&b, MOUNT_RECORD_VERSION);
        buf_put_u32(&b, (uint32_t) m->owner);
        buf_put_u64(&b, m->mnt_id);
        buf_put_u64(&b, m->mounted_usec);
        buf_put_u8(&b, m->daemon_made_target);
        buf_put_str(&b, m->boot_id, strnlen(m->boot_id, sizeof m->boot_id - 1));
        buf_put_str(&b, m->target, strlen(m->target));
        if (b.oom)
                return -ENOMEM;
        return db_put(t, t->store->mounts, k.b, sizeof k.b, b.data, b.n, 0);
}

static int mount_record_decode(uint64_t id, const MDB_val *v, MountRecord *ret) {
        Reader r = { .p = v->mv_data, .left = v->mv_size };
        MountRecord m = { .snapshot_id = id };
        const char *boot_id;
        size_t n;

        if (reader_u8(&r) != MOUNT_RECORD_VERSION)
                return -EBADMSG;
        m.owner = reader_u32(&r);
        m.mnt_id = reader_u64(&r);
        m.mounted_usec = reader_u64(&r);
        m.daemon_made_target = reader_u8(&r);
        boot_id = reader_str(&r, &n);
        if (r.bad || n >= sizeof m.boot_id)
                return -EBADMSG;
        memcpy(m.boot_id, boot_id, n);
        m.target = reader_strdup(&r);
        if (!m.target)
                return r.bad ? -EBADMSG : -ENOMEM;
        mount_record_clear(ret);
        *ret = m;
        return 0;
}

int store_mount_get(StoreTxn *t, uint64_t snapshot_id, MountRecord *ret) {
        IdKey k = id_key(snapshot_id);
        MDB_val v;
        int r;

        assert(t && ret);

        r = db_get(t, t->store->mounts, k.b, sizeof k.b, &v);
        if (r < 0)
                return r;
        return mount_record_decode(snapshot_id, &v, ret);
}

int store_mount_delete(StoreTxn *t, uint64_t snapshot_id) {
        IdKey k = id_key(snapshot_id);

        assert(t);
        return db_del(t, t->store->mounts, k.b, sizeof k.b, NULL, 0);
}

typedef struct MountWalkArgs {
        store_mount_walk_fn fn;
        void *userdata;
} MountWalkArgs;

static int mount_walk_one(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e) {
        _cleanup_(mount_record_clear) MountRecord m = {};
        MountWalkArgs *a = userdata;
        int r;

        r = mount_record_decode(id_from_val(key), val, &m);
        if (r < 0)
                return r;
        return a->fn(&m, a->userdata);
}

int store_mount_walk(StoreTxn *t, store_mount_walk_fn fn, void *userdata) {
        assert(t && fn);

        return db_each(t, t->store->mounts, mount_walk_one, &(MountWalkArgs) { fn, userdata }, NULL, NULL);
}
