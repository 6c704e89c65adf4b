/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Records of the mounts laminad made, keyed by snapshot ID. */

#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

/* 6: with the handle of the mount point; 5: with the kernel mounts it costs, right after
 * the owner (the totals read both without decoding the rest); 4: with the mount's attrs;
 * 3: with sb_dev and mnt_root; 2: mnt_id is the unique 64-bit mount ID; 1 held the
 * reusable 32-bit one. */
#define MOUNT_RECORD_VERSION 6
#define MOUNT_RECORD_VERSION_NO_POINT_HANDLE 5
#define MOUNT_RECORD_VERSION_NO_COST 4
#define MOUNT_RECORD_VERSION_NO_ATTRS 3
#define MOUNT_RECORD_VERSION_NO_IDENTITY 2
#define MOUNT_RECORD_VERSION_LEGACY_ID 1

void mount_record_clear(MountRecord *r) {
        free(r->target);
        free(r->mnt_root);
        *r = (MountRecord) {};
}

static bool mount_record_version_known(uint8_t version) {
        return version == MOUNT_RECORD_VERSION || version == MOUNT_RECORD_VERSION_NO_POINT_HANDLE ||
               version == MOUNT_RECORD_VERSION_NO_COST ||
               version == MOUNT_RECORD_VERSION_NO_ATTRS ||
               version == MOUNT_RECORD_VERSION_NO_IDENTITY || version == MOUNT_RECORD_VERSION_LEGACY_ID;
}

/* The head every version has, and the cost of a record of version 5 on. */
static int mount_value_head(Reader *r, uint8_t *ret_version, uid_t *ret_owner, uint64_t *ret_kernel_mounts) {
        uint8_t version = reader_u8(r);
        uint32_t owner = reader_u32(r);
        uint64_t kernel_mounts = STORE_MOUNT_KERNEL_MOUNTS_UNKNOWN;

        if (version >= MOUNT_RECORD_VERSION_NO_POINT_HANDLE)
                kernel_mounts = reader_u64(r);
        if (r->bad || !mount_record_version_known(version))
                return -EBADMSG;
        *ret_version = version;
        *ret_owner = (uid_t) owner;
        *ret_kernel_mounts = kernel_mounts;
        return 0;
}

int mount_value_cost(const MDB_val *v, uid_t *ret_owner, uint64_t *ret_kernel_mounts) {
        Reader r = { .p = v->mv_data, .left = v->mv_size };
        uint8_t version;

        return mount_value_head(&r, &version, ret_owner, ret_kernel_mounts);
}

/* Takes away the mount record of snapshot_id from its owner's totals, if there is one (a
 * record without a readable owner counts for nobody). */
static int mount_uncount(StoreTxn *t, uint64_t snapshot_id, OwnerChange *c) {
        IdKey k = id_key(snapshot_id);
        uint64_t kernel_mounts;
        uid_t owner;
        MDB_val v;
        int r;

        r = db_get(t, t->store->mounts, k.b, sizeof k.b, &v);
        if (r < 0)
                return r;
        if (mount_value_cost(&v, &owner, &kernel_mounts) >= 0)
                owner_change_mount(owner, kernel_mounts, false, c);
        return 0;
}

int store_mount_put(StoreTxn *t, const MountRecord *m) {
        _cleanup_(buf_done) Buf b = {};
        OwnerChange gone = {}, added = {};
        IdKey k = id_key(m->snapshot_id);
        int r;

        assert(t && m && m->target);

        buf_put_u8(&b, MOUNT_RECORD_VERSION);
        buf_put_u32(&b, (uint32_t) m->owner);
        buf_put_u64(&b, m->kernel_mounts);
        buf_put_u64(&b, m->mnt_id);
        buf_put_u64(&b, m->mounted_usec);
        buf_put_u8(&b, m->daemon_made_target);
        buf_put_str(&b, m->boot_id, strnlen(m->boot_id, sizeof m->boot_id - 1));
        buf_put_str(&b, m->target, strlen(m->target));
        buf_put_u64(&b, m->sb_dev);
        buf_put_str(&b, m->mnt_root ?: "", m->mnt_root ? strlen(m->mnt_root) : 0);
        buf_put_u64(&b, m->attrs);
        assert(m->point_handle_size <= sizeof m->point_handle);
        buf_put_str(&b, (const char *) m->point_handle, m->point_handle_size);
        if (b.oom)
                return -ENOMEM;
        /* A record replaced may have had another owner: two changes. */
        r = mount_uncount(t, m->snapshot_id, &gone);
        if (r < 0 && r != -ENOENT)
                return r;
        r = db_put(t, t->store->mounts, k.b, sizeof k.b, b.data, b.n, 0);
        if (r < 0)
                return r;
        /* One change when the owner stays: a total found off is counted again from the
         * records as they are now, which the record put is then part of already. */
        owner_change_mount(m->owner, m->kernel_mounts, true, gone.set && gone.owner == m->owner ? &gone : &added);
        r = owner_change_commit(t, &gone);
        if (r >= 0)
                r = owner_change_commit(t, &added);
        return r;
}

static int mount_record_decode(uint64_t id, const MDB_val *v, MountRecord *ret) {
        Reader r = { .p = v->mv_data, .left = v->mv_size };
        MountRecord m = { .snapshot_id = id };
        const char *boot_id;
        uint8_t version;
        size_t n;

        if (mount_value_head(&r, &version, &m.owner, &m.kernel_mounts) < 0)
                return -EBADMSG;
        m.legacy_mnt_id = version == MOUNT_RECORD_VERSION_LEGACY_ID;
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
        if (version >= MOUNT_RECORD_VERSION_NO_ATTRS) {
                m.sb_dev = reader_u64(&r);
                m.mnt_root = reader_strdup(&r);
                if (!m.mnt_root) {
                        free(m.target);
                        return r.bad ? -EBADMSG : -ENOMEM;
                }
                if (!m.mnt_root[0]) { /* not known */
                        free(m.mnt_root);
                        m.mnt_root = NULL;
                }
        }
        if (version >= MOUNT_RECORD_VERSION_NO_COST) {
                m.attrs = reader_u64(&r);
                m.attrs_known = true;
        }
        if (version >= MOUNT_RECORD_VERSION) {
                const char *h = reader_str(&r, &n);

                if (!r.bad && n > sizeof m.point_handle)
                        r.bad = true;
                if (!r.bad) {
                        memcpy(m.point_handle, h, n);
                        m.point_handle_size = (uint32_t) n;
                }
        }
        if (r.bad) {
                mount_record_clear(&m);
                return -EBADMSG;
        }
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

bool store_txn_is_write(StoreTxn *t) {
        assert(t);
        return t->write;
}

int store_mount_delete(StoreTxn *t, uint64_t snapshot_id) {
        OwnerChange change = {};
        IdKey k = id_key(snapshot_id);
        int r;

        assert(t);
        r = mount_uncount(t, snapshot_id, &change);
        if (r >= 0 || r == -ENOENT)
                r = db_del(t, t->store->mounts, k.b, sizeof k.b, NULL, 0);
        if (r >= 0)
                r = owner_change_commit(t, &change);
        return r;
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
