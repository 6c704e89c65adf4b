/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Apply under a Bytes= or Inodes= quota. A uid's Applies run side by side: each unpacks
 * its layer within what the quota leaves besides the reservations of the uid's other
 * Applies when it starts, then, before the layer becomes the snapshot's data, reserves
 * what it adds (a walk of the new data and of the old) if the uid's usage, the others'
 * reservations and that stay within the quota. A reservation lasts until the Apply ends,
 * its data then the snapshot's, to be counted by the next walk of its usage; an Apply of
 * the uid that walked the usage before that walks it again (core-quota-cache.c keeps the
 * reservations and counts the uid's releases, in memory only): two Applies together never
 * pass the quota, whichever order they end in. The layer's size is known
 * only once it is unpacked: a reservation taken at the start would have to be all that
 * is left (one Apply at a time again) or a guess that refuses layers that fit. */
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "core-internal.h"
#include "tree-util.h"

static bool apply_limited(CoreSnapshotter *s, uid_t ns, QuotaLimits *ret_max) {
        core_quota_limits(s->core, ns, ret_max);
        return ns != 0 && (ret_max->max[QUOTA_BYTES] != QUOTA_NONE || ret_max->max[QUOTA_INODES] != QUOTA_NONE);
}

/* ns's usage (*ret_used) and what it leaves an Apply besides others (the reservations of
 * ns's other Applies): limits lowered to that. EAGAIN when only the others leave nothing. */
static int apply_limits_left(CoreSnapshotter *s, uid_t ns, const char *key, LayerLimits *limits,
                             const uint64_t others[static 2], QuotaUse *ret_used, const QuotaLimits *max, Error *e) {
        static const QuotaKind kinds[] = { QUOTA_BYTES, QUOTA_INODES };
        uint64_t used[_QUOTA_KIND_MAX];
        int r;

        r = core_quota_usage_all(s->core, ns, used, e);
        if (r < 0)
                return r;
        memcpy(ret_used->used, used, sizeof used);

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                QuotaKind k = kinds[i];
                uint64_t left;
                uint64_t *limit = k == QUOTA_BYTES ? &limits->max_bytes : &limits->max_entries;
                uint64_t dflt = k == QUOTA_BYTES ? LAYER_DEFAULT_MAX_BYTES : LAYER_DEFAULT_MAX_ENTRIES;

                if (max->max[k] == QUOTA_NONE)
                        continue;
                if (used[k] >= max->max[k])
                        return error_setf(e, EDQUOT,
                                          "snapshot %s: uid %u uses %" PRIu64 " %s, all of its quota %s=%" PRIu64
                                          " (laminad.conf); remove snapshots to apply layers again",
                                          QUOTE(key), (unsigned) ns, used[k], k == QUOTA_BYTES ? "bytes" : "inodes",
                                          quota_kind_to_string(k), max->max[k]);
                if (others[i] >= max->max[k] - used[k])
                        return -EAGAIN;
                left = max->max[k] - used[k] - others[i];
                if (left < (*limit ?: dflt))
                        *limit = left;
        }
        return 0;
}

int core_quota_apply_limits(CoreSnapshotter *s, uid_t ns, const char *key, int cancel_fd, LayerLimits *limits,
                            QuotaUse *ret_used, QuotaLimits *ret_max, QuotaReservation *ret, Error *e) {
        const LayerLimits asked = *limits;

        *ret_used = (QuotaUse) {};
        *ret = (QuotaReservation) {};
        if (!apply_limited(s, ns, ret_max))
                return 0;
        ret->limited = true;
        for (;;) {
                uint64_t others[2], released = core_quota_reserved(s, ns, others);
                int r;

                /* After a wait, what is left then: not a limit lowered by what was held before. */
                *limits = asked;
                r = apply_limits_left(s, ns, key, limits, others, ret_used, ret_max, e);

                if (r != -EAGAIN)
                        return r;
                r = core_quota_wait_released(s, ns, released, cancel_fd);
                if (r < 0)
                        return error_setf(e, -r, "snapshot %s: the Apply was cancelled while uid %u's other Applies "
                                          "held the rest of its quota", QUOTE(key), (unsigned) ns);
        }
}

/* What the clone (the layer applied to a copy of snapshot id's data) adds to the data, in
 * the measure of its usage: a walk of each (the next count would walk the new data anyway). */
static int apply_growth(CoreSnapshotter *s, const char *key, uint64_t id, int clone_fd, uint64_t ret[static 2],
                        Error *e) {
        _cleanup_close_ int fd = -EBADF;
        uint64_t before[2], after[2];
        int r;

        r = tree_disk_usage(clone_fd, NULL, &after[0], &after[1]);
        if (r >= 0)
                r = s->backend->vtable->open_data(s->backend, id, &fd, NULL);
        if (r >= 0)
                r = tree_disk_usage(fd, NULL, &before[0], &before[1]);
        if (r < 0)
                return error_set_errno(e, -r, "snapshot %s: cannot compute the usage of the applied layer", QUOTE(key));
        for (size_t k = 0; k < 2; k++)
                ret[k] = after[k] > before[k] ? after[k] - before[k] : 0;
        return 0;
}

int core_quota_apply_reserve(CoreSnapshotter *s, uid_t ns, const char *key, int cancel_fd, uint64_t id, int clone_fd,
                             QuotaReservation *res, Error *e) {
        uint64_t add[2], max[2];
        QuotaLimits l;
        int r;

        if (!res->limited)
                return 0;
        r = apply_growth(s, key, id, clone_fd, add, e);
        if (r < 0)
                return r;
        core_quota_limits(s->core, ns, &l);
        max[0] = l.max[QUOTA_BYTES];
        max[1] = l.max[QUOTA_INODES];
        for (;;) {
                uint64_t used[_QUOTA_KIND_MAX], others[2], released = core_quota_reserved(s, ns, others);
                char b[32], i[32];

                r = core_quota_usage_all(s->core, ns, used, e);
                if (r < 0)
                        return r;
                r = core_quota_reserve(s, ns, released, (const uint64_t[]) { used[QUOTA_BYTES], used[QUOTA_INODES] },
                                       add, max, others, &res->id);
                if (r == -EAGAIN)
                        continue; /* walked while another's data became its snapshot's */
                if (r == -EDQUOT && (others[0] > 0 || others[1] > 0)) {
                        /* Their data may count twice (walked, and reserved): once they are
                         * released, it counts once. */
                        r = core_quota_wait_released(s, ns, released, cancel_fd);
                        if (r < 0)
                                return error_setf(e, -r, "snapshot %s: the Apply was cancelled while uid %u's other "
                                                  "Applies ended", QUOTE(key), (unsigned) ns);
                        continue;
                }
                res->refused = r == -EDQUOT;
                if (r == -EDQUOT)
                        return error_setf(e, EDQUOT,
                                          "snapshot %s: uid %u's quota leaves too little for this layer (%" PRIu64
                                          " bytes, %" PRIu64 " inodes) besides what its other Applies added "
                                          "meanwhile (%" PRIu64 " of Bytes=%s, %" PRIu64 " of Inodes=%s in use; "
                                          "laminad.conf)",
                                          QUOTE(key), (unsigned) ns, add[0], add[1], used[QUOTA_BYTES],
                                          quota_value_to_string(max[0], b), used[QUOTA_INODES],
                                          quota_value_to_string(max[1], i));
                if (r < 0)
                        return error_set_errno(e, -r, "snapshot %s: cannot reserve uid %u's quota for this layer",
                                               QUOTE(key), (unsigned) ns);
                return 0;
        }
}

void core_quota_applied(CoreSnapshotter *s, uid_t ns, uint64_t id, QuotaReservation *r) {
        core_quota_forget(s, ns, id);
        if (r->id != 0)
                core_quota_release(s, r->id);
        r->id = 0;
}
