/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Internals shared by the files of the store; nothing outside src/store includes this.
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
 *   images    be32(owner) + image name -> image record (store-image.c)
 *   owners    be32(owner) -> what the owner's records, images and mounts count
 *             (StoreOwnerTotals, store-owner.c), changed in every transaction that
 *             changes them; none for an owner holding nothing
 *   transients be64(id) -> "": the active snapshots and views carrying the label
 *             STORE_LABEL_TRANSIENT (store-transient.c), changed with their records
 *
 * The totals and the transient index are derived from the records: built at open when
 * missing, or later when the filesystem is full then (store-derived.c).
 *
 * The key layout keeps the name index ordered by owner, then by name bytes, except
 * within a group of long names sharing their prefix, which walk sorts in memory.
 *
 * Files: store-env.c (open, close, transactions), store-map.c (growing the map),
 * store-codec.c (bytes of records and keys), store-db.c (raw access and record lookups),
 * store.c (containerd's operations), store-walk.c, store-verify.c, store-mount.c,
 * store-owner.c (the totals per owner), store-transient.c (the transient index),
 * store-derived.c (building both), store-nocow.c (NOCOW files on btrfs), store-reserve.c (room kept for
 * removals). */

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "store.h"

#define OWNER_LEN 4
#define HASH_LEN 32
#define NAME_PREFIX_MAX 448
#define NAME_KEY_LONG (OWNER_LEN + NAME_PREFIX_MAX + HASH_LEN)
#define NAME_GROUP_LEN (OWNER_LEN + NAME_PREFIX_MAX)

#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

#define STORE_MAX_DBS 16

#define RECORD_VERSION 1
#define NEXT_ID_KEY "next-id"

struct Store {
        char *dir;
        size_t initial_map_size;
        MDB_env *env; /* NULL after a failed reopen; changes only with no transaction open */
        MDB_dbi meta, records, names, children, mounts, images, owners, transients;
        size_t page_size;

        /* The totals and the transient index could not be built (store-derived.c): the
         * totals refuse to be read, neither is kept, no write stamps them as kept. */
        atomic_bool derived_missing;
        /* When to try building them again (store_derived_retry_due()), CLOCK_MONOTONIC; with
         * mutex. */
        uint64_t derived_due_usec;    /* the next try */
        uint64_t derived_look_usec;   /* the next look at the free space */
        uint64_t derived_delay_usec;  /* the wait after the next try, if it fails */
        uint64_t derived_tried_usec;  /* the last try that read the records and failed (0: none) */
        uint64_t derived_avail_tried; /* the bytes free then */

        /* The room kept for removals could not be topped up (store-reserve.c). */
        atomic_bool reserve_low;
        /* The data file (inode, size) the room was last kept past; with mutex. */
        ino_t reserved_ino;
        off_t reserved_size;

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
        /* A write that neither keeps nor stamps the totals and the transient index: they are
         * missing (store-derived.c), as the transaction saw when it began. */
        bool derived_missing;
};

/* --- the environment (store-env.c) and its files (store-lock.c, store-compact.c) --- */

int errno_from_mdb(int rc);
/* Opens s->env on s->dir and its databases. */
int store_env_open(Store *s, size_t map_size);

/* Locks lock.mdb against every other process: 1 when nobody else has the environment
 * open (*ret_fd holds the lock), 0 when someone does. */
int store_lock_take(int dir_fd, int *ret_fd);
/* With the lock held: replaces lock.mdb by one whose mapping cannot fault on a full
 * disk, unless it is one already (fresh: replace anyway, the data file changed). */
int store_lock_prepare(int dir_fd, int *lock_fd, bool fresh);
/* With the lock held: compacts data.mdb when most of it is free; 1 when it did. */
int store_compact(int dir_fd, const char *dir);
/* The store's files on btrfs (store-nocow.c). */
#define STORE_DATA_FILE "data.mdb"
bool store_fd_on_btrfs(int fd);
/* Gives fd, an empty file, the NOCOW attribute on btrfs (a failure is logged: the file
 * works without). */
void store_file_nocow(int fd, const char *what);
/* Whether fd is on btrfs and not NOCOW. */
bool store_file_needs_nocow(int fd);
/* With the lock held: creates data.mdb unless there is one; an empty one gets NOCOW on
 * btrfs (a fuller one store_compact() copies). */
int store_data_file_create(int dir_fd);
/* --- room kept for removals (store-reserve.c) --- */

/* What data.mdb keeps allocated past its end: more than one transaction of any write but a
 * removal uses (an image config of CORE_IMAGE_CONFIG_MAX, 1 MiB, and labels) and room for
 * removals besides. */
#define STORE_RESERVE_BYTES ((off_t) 3 << 20)
/* Allocates it again after a commit; remembers whether that failed. */
int store_reserve_top_up(Store *s);
/* Before a write that does not free space: 0 when the room is there (or topped up now),
 * else ENOSPC/EDQUOT with a message. */
int store_reserve_check(Store *s, Error *e);

/* errno_from_mdb(), remembering MDB_MAP_FULL for store_write(). */
int txn_result(StoreTxn *t, int rc);
/* The ID of the last write transaction committed as t sees it. */
uint64_t txn_last_committed(StoreTxn *t);

/* --- the transaction count, growing the map, reopening (store-map.c) --- */

void txn_enter(Store *s);
void txn_leave(Store *s);
size_t store_map_size(Store *s);
int store_grow(Store *s, size_t seen);
void store_maybe_grow(Store *s);
int store_reopen(Store *s, const MDB_env *seen);

/* --- encoding (store-codec.c) --- */

typedef struct Buf {
        uint8_t *data;
        size_t n, cap;
        bool oom;
} Buf;

void buf_done(Buf *b);
void buf_put_u8(Buf *b, uint8_t v);
void buf_put_u32(Buf *b, uint32_t v);
void buf_put_u64(Buf *b, uint64_t v);
void buf_put_str(Buf *b, const char *s, size_t n);

typedef struct Reader {
        const uint8_t *p;
        size_t left;
        bool bad;
} Reader;

uint8_t reader_u8(Reader *r);
uint32_t reader_u32(Reader *r);
uint64_t reader_u64(Reader *r);
const char *reader_str(Reader *r, size_t *ret_len);
char *reader_strdup(Reader *r);

/* A growing list of snapshot IDs (store-db.c). */
typedef struct IdList {
        uint64_t *ids;
        size_t n, cap;
} IdList;

/* Appends id; -ENOMEM leaves l as it was. */
int id_list_add(IdList *l, uint64_t id);
static inline void id_list_clear(IdList *l) {
        free(l->ids);
        *l = (IdList) {};
}

typedef struct IdKey {
        uint8_t b[8];
} IdKey;

typedef struct ChildKey {
        uint8_t b[16];
} ChildKey;

typedef struct NameKey {
        uint8_t b[NAME_KEY_LONG];
        size_t n;
} NameKey;

IdKey id_key(uint64_t id);
uint64_t id_from_val(const MDB_val *v);
ChildKey child_key(uint64_t parent, uint64_t child);
int name_key(uid_t owner, const char *name, size_t len, NameKey *ret);

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

int record_encode(const Record *rec, const Labels *labels, Buf *b);
int record_decode(uint64_t id, const MDB_val *v, Record *ret);
int labels_decode(const Record *rec, Labels *ret);

/* --- raw database access and records (store-db.c) --- */

int record_fail(Error *e, int r, const char *name);

void cursor_closep(MDB_cursor **c);
#define _cleanup_cursor_ _cleanup_(cursor_closep)
int cursor_open(StoreTxn *t, MDB_dbi dbi, MDB_cursor **ret);

typedef int (*db_each_fn)(StoreTxn *t, const MDB_val *key, const MDB_val *val, void *userdata, Error *e);
int db_each(StoreTxn *t, MDB_dbi dbi, db_each_fn fn, void *userdata, size_t *ret_n, Error *e);
/* Only the keys that start with prefix, in order; a positive return from fn stops (0). */
int db_each_prefix(StoreTxn *t, MDB_dbi dbi, const void *prefix, size_t plen, db_each_fn fn, void *userdata,
                   Error *e);
/* The same from the first key >= start, for the keys that start with start's first plen bytes. */
int db_each_from(StoreTxn *t, MDB_dbi dbi, const void *start, size_t slen, size_t plen, db_each_fn fn,
                 void *userdata, Error *e);
int db_get(StoreTxn *t, MDB_dbi dbi, const void *key, size_t klen, MDB_val *ret);
int db_put(StoreTxn *t, MDB_dbi dbi, const void *key, size_t klen, const void *data,
           size_t dlen, unsigned flags);
int db_del(StoreTxn *t, MDB_dbi dbi, const void *key, size_t klen, const void *data, size_t dlen);

int read_next_id(StoreTxn *t, uint64_t *ret);
int allocate_id(StoreTxn *t, uint64_t *ret);

int record_get(StoreTxn *t, uint64_t id, Record *ret);
int record_put(StoreTxn *t, const Record *rec, const Labels *labels);
int name_index_change(StoreTxn *t, uid_t owner, const char *name, uint64_t id, bool add);
int record_lookup(StoreTxn *t, uid_t owner, const char *name, Record *ret);
int record_lookup_or_fail(StoreTxn *t, uid_t owner, const char *name, Record *ret, Error *e);
int record_check_name_free(StoreTxn *t, uid_t owner, const char *name, const char *hint, Error *e);
int record_to_info(StoreTxn *t, const Record *rec, SnapshotInfo *ret);
int record_chain(StoreTxn *t, const Record *rec, Snapshot *ret);

/* --- mount records (store-mount.c) --- */

/* The owner in a mount record's value and the kernel mounts it costs, without decoding the
 * rest: -EBADMSG when it has none. */
int mount_value_cost(const MDB_val *v, uid_t *ret_owner, uint64_t *ret_kernel_mounts);

/* --- the totals per owner (store-owner.c) --- */

/* What one write changes in one owner's totals: what it adds and what it takes away,
 * applied at once by owner_change_commit() after the records changed. */
typedef struct OwnerChange {
        uid_t owner;
        bool set;
        StoreOwnerTotals add, sub;
} OwnerChange;

/* What snapshot record id counts, as it is now in t: added or taken away. */
int owner_change_record(StoreTxn *t, uint64_t id, bool add, OwnerChange *c);
/* What an image record of owner (its key and value as stored) counts. */
void owner_change_image(uid_t owner, const MDB_val *key, const MDB_val *val, bool add, OwnerChange *c);
void owner_change_mount(uid_t owner, uint64_t kernel_mounts, bool add, OwnerChange *c);
int owner_change_commit(StoreTxn *t, const OwnerChange *c);
/* 1 when the totals are built and the last write transaction t sees kept them; 0 when they
 * must be built (a store written before they existed, or last written by a laminad that did
 * not keep them). */
int owner_totals_current(StoreTxn *t);
/* Counts them again from the records, in t. */
int owner_totals_build(StoreTxn *t);
/* Every write transaction (store_write()) ends with this: it records that a writer that
 * keeps the totals wrote last. */
int owner_totals_stamp(StoreTxn *t);
/* For store_verify(): every totals record equals a recount and together they count all
 * n_records records, every image and every mount. */
int owner_totals_verify(StoreTxn *t, size_t n_records, Error *e);

/* --- the transient index (store-transient.c) --- */

/* After record_put(): rec is in the index when it is active or a view with the label. */
int transient_index_put(StoreTxn *t, const Record *rec, const Labels *labels);
/* After the record of id is deleted. */
int transient_index_delete(StoreTxn *t, uint64_t id);
/* As owner_totals_current(), owner_totals_build(), owner_totals_stamp(). */
int transient_index_current(StoreTxn *t);
int transient_index_build(StoreTxn *t);
int transient_index_stamp(StoreTxn *t);
/* For store_verify(): the index holds exactly the records it should. */
int transient_index_verify(StoreTxn *t, Error *e);

/* --- building the derived records (store-derived.c) --- */

/* The markers of a derived structure in the meta database: key holds the version it was
 * built in, txn_key the ID of the last write transaction that kept it. */
/* 1 when key says it was built in this version; 0 when not, or in another version (it is
 * built again). */
int derived_built(StoreTxn *t, const char *key, uint8_t version);
int derived_mark_built(StoreTxn *t, const char *key, uint8_t version);
/* In a write transaction: records that this writer kept it. */
int derived_stamp(StoreTxn *t, const char *txn_key);
/* 1 when it is built and the last write transaction t sees kept it. */
int derived_kept(StoreTxn *t, const char *key, uint8_t version, const char *txn_key);

/* Opens the databases of the derived records (owners, transients) in txn: 1, or 0 when
 * create is false and one does not exist (a store written before it: the build creates it;
 * until then nothing uses them). */
int derived_dbs_open(Store *s, MDB_txn *txn, bool create);
/* At open: builds what is missing; on a full filesystem leaves them missing. */
int store_derived_ensure(Store *s);
/* Whether the write transaction t, just begun, finds them missing. */
int store_derived_missing_in(StoreTxn *t);
