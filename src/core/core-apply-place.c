/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where Apply builds a layer's tree, on an ext4 without a journal.
 *
 * Without a journal, ext4 avoids reusing an inode freed in the last minute (six while its
 * inode table block is not written back): find_inode_bit() looks up, for every free inode of
 * the block group it allocates in, that inode's table block and deletion time, and takes a
 * recently freed one only when the group has nothing else. A tree built where another was just
 * removed pays that look-up for every freed inode below the first usable one, for each of its
 * own inodes: after the removals of bench/run's apply and import sections, an import of the
 * Debian image spent 2-3 s of CPU there instead of 0.5 s for everything (bench/README, Import,
 * session 6).
 *
 * applying/ is a top of directory hierarchies (chattr +T, core-apply-clone.c): ext4 places
 * each directory made in it as it places those of the root (Orlov: among the block groups with
 * the fewest directories, from a hash of the name), and the clone built inside it follows it
 * there and into the groups after it. A group emptied by a removal has no directories left, so
 * it is as likely a choice as a never-used one. Hence a placement directory per clone, made
 * again under another name while it lands within PLACE_WINDOW inode numbers of a tree this
 * snapshotter removed less than PLACE_RECENT_USEC ago (the kernel's 60 s plus 300 s while the
 * block is dirty); the removals are noted by whoever removes trees (the reclaim thread,
 * core-reclaim.c; Apply, what a clone replaced). Other programs' removals are not known here:
 * they usually sit near their own directories, which are no top directories. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core-apply-clone.h"
#include "core-apply-place.h"
#include "dir-util.h"
#include "fs-util.h"
#include "log.h"
#include "strutil.h"

/* Inodes noted per removal: the tree's directory and the first directories in it (overlayfs:
 * snapshots/<id> and its fs/, the layer's tree). */
#define PLACE_NOTE_MAX 4
/* The ring of PLACE_FREED_MAX removals is kept as the extended attribute PLACE_XATTR of
 * applying/ (its entries as they are in memory: 2 KiB, within ext4's one block). */
#define PLACE_XATTR "trusted.lamina.removed-trees"

typedef struct PlaceFreed {
        uint64_t ino;
        uint64_t usec;
} PlaceFreed;

struct ApplyPlacement {
        PlaceFreed freed[PLACE_FREED_MAX];
        size_t next;
};

void apply_place_free(ApplyPlacement *p) {
        free(p);
}

void apply_place_note(ApplyPlacement **p, uint64_t ino, uint64_t usec) {
        if (!*p) {
                *p = calloc(1, sizeof **p);
                if (!*p)
                        return; /* only the placement loses it */
        }
        /* One entry per neighbourhood: a tree's directories, and snapshots/<id> of every
         * removal, are near each other. */
        for (size_t i = 0; i < PLACE_FREED_MAX; i++) {
                PlaceFreed *f = &(*p)->freed[i];

                if (f->ino != 0 && ino + PLACE_WINDOW / 4 >= f->ino && ino <= f->ino + PLACE_WINDOW / 4) {
                        f->usec = f->usec > usec ? f->usec : usec;
                        return;
                }
        }
        (*p)->freed[(*p)->next++ % PLACE_FREED_MAX] = (PlaceFreed) { ino, usec };
}

bool apply_place_near_removal(const ApplyPlacement *p, uint64_t ino, uint64_t usec) {
        if (!p)
                return false;
        for (size_t i = 0; i < PLACE_FREED_MAX; i++) {
                const PlaceFreed *f = &p->freed[i];

                if (f->ino != 0 && usec - f->usec < PLACE_RECENT_USEC &&
                    ino + PLACE_WINDOW >= f->ino && ino <= f->ino + PLACE_WINDOW)
                        return true;
        }
        return false;
}

static bool on_ext4(int fd) {
        struct statfs sf;

        return fstatfs(fd, &sf) >= 0 && sf.f_type == EXT4_SUPER_MAGIC;
}

static int place_dir_open(CoreSnapshotter *s) {
        return openat(s->backend->state_fd, APPLY_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* s->placement, read from PLACE_XATTR the first time: laminad exits when idle (30 s by
 * default), and the next one must still keep away from what the last one removed. */
static void place_load(CoreSnapshotter *s) {
        _cleanup_close_ int fd = -EBADF;
        ApplyPlacement *p;
        bool loaded;
        ssize_t n;

        pthread_mutex_lock(&s->lock);
        loaded = s->placement;
        pthread_mutex_unlock(&s->lock);
        if (loaded)
                return;
        p = calloc(1, sizeof *p);
        if (!p)
                return;
        fd = place_dir_open(s);
        n = fd < 0 ? 0 : fgetxattr(fd, PLACE_XATTR, p->freed, sizeof p->freed);
        if (n < 0 || n % sizeof(PlaceFreed) != 0)
                memset(p->freed, 0, sizeof p->freed); /* none yet, or only the placement loses it */
        else if (n > 0) {
                size_t newest = 0;

                for (size_t i = 1; i < (size_t) n / sizeof(PlaceFreed); i++)
                        if (p->freed[i].usec > p->freed[newest].usec)
                                newest = i;
                p->next = newest + 1;
        }
        pthread_mutex_lock(&s->lock);
        if (!s->placement)
                s->placement = TAKE_PTR(p);
        pthread_mutex_unlock(&s->lock);
        free(p);
}

void apply_place_note_removal(CoreSnapshotter *s, int dir_fd, const char *name) {
        _cleanup_(closedirp) DIR *d = NULL;
        uint64_t inos[PLACE_NOTE_MAX], usec = now_usec();
        _cleanup_close_ int fd = -EBADF, dir = -EBADF;
        ApplyPlacement copy;
        struct dirent *de;
        struct stat st;
        bool empty = true;
        size_t n = 0;

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || !on_ext4(fd) || fstat(fd, &st) < 0 || dir_open_fd(fd, &d) < 0)
                return;
        inos[n++] = st.st_ino;
        while (n < PLACE_NOTE_MAX && (de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                empty = false;
                if (de->d_type == DT_DIR)
                        inos[n++] = de->d_ino;
        }
        if (empty)
                return; /* frees one inode: nothing to keep away from */

        place_load(s);
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; s->placement && i < n; i++)
                apply_place_note(&s->placement, inos[i], usec);
        copy = s->placement ? *s->placement : (ApplyPlacement) {};
        pthread_mutex_unlock(&s->lock);
        /* Not synced: a crash loses only a preference. */
        dir = place_dir_open(s);
        if (dir < 0 || fsetxattr(dir, PLACE_XATTR, copy.freed, sizeof copy.freed, 0) < 0)
                log_debug_errno(errno, "%s: cannot keep where trees were removed: %m", s->name);
}

bool apply_place_near(CoreSnapshotter *s, uint64_t ino) {
        bool near;

        place_load(s);
        pthread_mutex_lock(&s->lock);
        near = apply_place_near_removal(s->placement, ino, now_usec());
        pthread_mutex_unlock(&s->lock);
        return near;
}

int apply_place_dir(CoreSnapshotter *s, int dir_fd, const char *prefix, bool check, char **ret_name) {
        char *name;
        unsigned made = 0;
        int r;

        for (;;) {
                struct stat st;

                r = fs_mkdtemp_at(dir_fd, prefix, 0700, &name);
                if (r < 0)
                        return r;
                if (!check || ++made == PLACE_TRIES)
                        break;
                if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        (void) unlinkat(dir_fd, name, AT_REMOVEDIR);
                        free(name);
                        return r;
                }
                if (!apply_place_near(s, st.st_ino))
                        break;
                (void) unlinkat(dir_fd, name, AT_REMOVEDIR);
                free(name);
        }
        *ret_name = name;
        return check ? (int) made : 1;
}
