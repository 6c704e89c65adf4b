/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

#include "layer-entry.h"
#include "layer-fs.h"

void layer_entry_plan_done(LayerEntryPlan *p) {
        free(p->path);
        p->path = NULL;
}

const char *layer_entry_name(struct archive_entry *ae) {
        const char *n = archive_entry_pathname(ae);

        if (!n)
                n = archive_entry_pathname_utf8(ae);
        return n ? n : "?";
}

static int entry_reject(Error *e, struct archive_entry *ae, const char *rule) {
        return error_setf(e, EINVAL, "layer entry %s: %s; the layer is refused", QUOTE(layer_entry_name(ae)), rule);
}

/* The kind from the header; hardlinks are links whatever type they claim. */
static int entry_kind(struct archive_entry *ae, const LayerEntryRules *rules, LayerEntryKind *ret, Error *e) {
        if (archive_entry_hardlink(ae)) {
                *ret = LAYER_ENTRY_HARDLINK;
                return 0;
        }
        switch (archive_entry_filetype(ae)) {
        case AE_IFREG:
                *ret = LAYER_ENTRY_FILE;
                return 0;
        case AE_IFDIR:
                *ret = LAYER_ENTRY_DIR;
                return 0;
        case AE_IFLNK:
                *ret = LAYER_ENTRY_SYMLINK;
                return 0;
        case AE_IFIFO:
                *ret = LAYER_ENTRY_FIFO;
                return 0;
        case AE_IFCHR:
        case AE_IFBLK:
                /* Only CAP_MKNOD of the host makes them, and a user's mounts are nodev:
                 * skipped, as rootless podman and docker do (/dev comes from the runtime). */
                if (!rules->allow_devices)
                        return 1;
                *ret = archive_entry_filetype(ae) == AE_IFCHR ? LAYER_ENTRY_CHARDEV : LAYER_ENTRY_BLOCKDEV;
                return 0;
        default:
                return entry_reject(e, ae, "unsupported file type");
        }
}

static int entry_numbers(struct archive_entry *ae, LayerEntryMsg *m, Error *e) {
        int64_t uid = archive_entry_uid(ae), gid = archive_entry_gid(ae);

        /* (uid_t) -1 means "unchanged" to chown(): never a real id. */
        if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
                return entry_reject(e, ae, "uid or gid out of range");
        if (archive_entry_rdevmajor(ae) > UINT32_MAX || archive_entry_rdevminor(ae) > UINT32_MAX)
                return entry_reject(e, ae, "device number out of range");
        if (archive_entry_size(ae) < 0)
                return entry_reject(e, ae, "negative size");

        m->uid = (uint32_t) uid;
        m->gid = (uint32_t) gid;
        m->mode = archive_entry_perm(ae) & 07777;
        m->rdev_major = (uint32_t) archive_entry_rdevmajor(ae);
        m->rdev_minor = (uint32_t) archive_entry_rdevminor(ae);
        m->size = (uint64_t) archive_entry_size(ae);
        if (archive_entry_mtime_is_set(ae))
                m->mtime = (struct timespec) { archive_entry_mtime(ae), archive_entry_mtime_nsec(ae) };
        m->atime = m->mtime;
        if (archive_entry_atime_is_set(ae))
                m->atime = (struct timespec) { archive_entry_atime(ae), archive_entry_atime_nsec(ae) };
        return 0;
}

static int entry_link(struct archive_entry *ae, const LayerEntryPlan *p, const LayerEntryRules *rules,
                      char **ret, Error *e) {
        const char *rule;
        int r;

        if (p->kind == LAYER_ENTRY_SYMLINK) {
                const char *t = archive_entry_symlink(ae);
                if (isempty(t))
                        return entry_reject(e, ae, "the symlink has no target");
                if (strlen(t) >= PATH_MAX)
                        return entry_reject(e, ae, "the symlink target is longer than PATH_MAX");
                *ret = strdup(t);
                return *ret ? 0 : -ENOMEM;
        }
        if (p->kind != LAYER_ENTRY_HARDLINK) {
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        r = layer_name_normalize(archive_entry_hardlink(ae), rules->max_name_len, ret, &rule);
        if (r == -EINVAL) {
                char why[ERROR_MESSAGE_MAX];
                snprintf(why, sizeof why, "hardlink target %s is invalid: %s",
                         QUOTE(archive_entry_hardlink(ae)), rule);
                return entry_reject(e, ae, why);
        }
        if (r < 0)
                return r;
        if (isempty(*ret))
                return entry_reject(e, ae, "the hardlink points to the root directory");
        return 0;
}

static int entry_xattrs(struct archive_entry *ae, LayerMsgBuf *b, Error *e) {
        const char *name;
        const void *value;
        size_t size;
        int r;

        archive_entry_xattr_reset(ae);
        while (archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK) {
                if (!name || !layer_xattr_allowed(name))
                        continue;
                if (size > XATTR_SIZE_MAX)
                        return entry_reject(e, ae, "an xattr value is larger than 64 KiB");
                r = layer_msg_add_xattr(b, name, value, size);
                if (r == -E2BIG)
                        return entry_reject(e, ae, "the xattrs are larger than 256 KiB");
                if (r < 0)
                        return r;
        }
        return 0;
}

int layer_entry_plan(struct archive_entry *ae, const LayerEntryRules *rules, LayerEntryPlan *plan,
                     LayerMsgBuf *b, Error *e) {
        _cleanup_free_ char *link = NULL;
        LayerEntryMsg m = {};
        const char *rule, *raw = archive_entry_pathname(ae);
        int r;

        if (!raw)
                return entry_reject(e, ae, "the name cannot be decoded");
        r = layer_name_normalize(raw, rules->max_name_len, &plan->path, &rule);
        if (r == -EINVAL)
                return entry_reject(e, ae, rule);
        if (r < 0)
                return r;
        r = layer_name_classify(plan->path, &plan->name_kind, &rule);
        if (r < 0)
                return entry_reject(e, ae, rule);

        switch (plan->name_kind) {
        case LAYER_NAME_WHITEOUT:
                plan->kind = LAYER_ENTRY_WHITEOUT;
                break;
        case LAYER_NAME_OPAQUE:
                plan->kind = LAYER_ENTRY_OPAQUE;
                break;
        default:
                r = entry_kind(ae, rules, &plan->kind, e);
                if (r != 0)
                        return r;
                if (isempty(plan->path) && plan->kind != LAYER_ENTRY_DIR)
                        return entry_reject(e, ae, "the root can only be a directory");
        }

        r = entry_numbers(ae, &m, e);
        if (r < 0)
                return r;
        r = entry_link(ae, plan, rules, &link, e);
        if (r < 0)
                return r;
        m.kind = plan->kind;
        r = layer_msg_pack_entry(b, &m, plan->path, link);
        if (r < 0)
                return r;
        if (plan->kind != LAYER_ENTRY_FILE && plan->kind != LAYER_ENTRY_DIR)
                return 0; /* xattrs only on what the writer can open */
        return entry_xattrs(ae, b, e);
}
