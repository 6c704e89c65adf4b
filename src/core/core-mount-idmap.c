/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The idmapping of an idmapped Mount or MountFd (CoreMountOptions idmap or userns): made or
 * checked before the store's write transaction, since it looks the user up (NSS) and reads
 * the subordinate id files; the bus runs such calls on a worker thread. */
#include "core-mount.h"
#include "log.h"

static const char *subuid_path(const CoreMountOptions *o) {
        return o->subuid_path ?: "/etc/subuid";
}

static const char *subgid_path(const CoreMountOptions *o) {
        return o->subgid_path ?: "/etc/subgid";
}

/* The caller's own user namespace: checked against what ns may map (root: anything). */
static int idmap_from_userns(uid_t ns, const CoreMountOptions *o, const char *key, MountIdmapping *ret, Error *e) {
        MountEntitlement ent;
        Error why = ERROR_NULL;
        int r;

        if (ns != 0) {
                r = mount_entitlement_for_caller(ns, subuid_path(o), subgid_path(o), &ent);
                if (r < 0)
                        return error_set_errno(e, -r, "cannot read the id ranges of uid %u for the idmapped mount of snapshot %s",
                                               (unsigned) ns, QUOTE(key));
        }
        r = mount_userns_check(o->userns_fd, ns != 0 ? &ent : NULL, ret, &why);
        if (r < 0) {
                r = error_setf(e, why.code, "cannot mount snapshot %s idmapped: %s", QUOTE(key), why.message);
                if (e && why.internal)
                        e->internal = true;
                return r;
        }
        return 0;
}

/* "idmap": a namespace of what ns is entitled to (mount_idmap_for_caller). */
static int idmap_for_caller(uid_t ns, const CoreMountOptions *o, const char *key, MountIdmapping *ret, Error *e) {
        MountIdmap map;
        int r;

        r = mount_idmap_for_caller(ns, (gid_t) -1, subuid_path(o), subgid_path(o), &map);
        if (r < 0)
                return error_set_errno(e, -r, "cannot read the id ranges of uid %u for the idmapped mount of snapshot %s",
                                       (unsigned) ns, QUOTE(key));
        r = mount_userns_new(&map, &ret->userns_fd);
        if (r < 0)
                return error_set_errno(e, -r, "cannot make the idmapping for snapshot %s", QUOTE(key));
        ret->uid = map.uid[0].outside;
        ret->gid = map.gid[0].outside;
        return 0;
}

int core_mount_idmap_prepare(uid_t ns, const CoreMountOptions *o, const char *key, MountIdmapping *ret, Error *e) {
        assert(ret);

        *ret = (MountIdmapping) { .userns_fd = -EBADF };
        if (!o || (!o->idmap && !o->userns))
                return 0;
        if (o->idmap && o->userns)
                return error_setf(e, EINVAL,
                                  "mount option idmap and a user namespace exclude each other; pass one of them");
        if (o->userns)
                return idmap_from_userns(ns, o, key, ret, e);
        return idmap_for_caller(ns, o, key, ret, e);
}
