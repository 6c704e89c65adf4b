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
#include <unistd.h>

#include "core-apply-place.h"
#include "dir-util.h"
#include "fs-util.h"
#include "log.h"
#include "strutil.h"

/* Inodes noted per removal: the tree's directory and the first directories in it (overlayfs:
 * snapshots/<id> and its fs/, the layer's tree). */
#define PLACE_NOTE_MAX 4
/* Removals remembered: a ring, the oldest forgotten first. */
#define PLACE_FREED_MAX 256

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

void apply_place_note_removal(CoreSnapshotter *s, int dir_fd, const char *name) {
        _cleanup_(closedirp) DIR *d = NULL;
        uint64_t inos[PLACE_NOTE_MAX], usec = now_usec();
        struct dirent *de;
        _cleanup_close_ int fd = -EBADF;
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

        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < n; i++)
                apply_place_note(&s->placement, inos[i], usec);
        pthread_mutex_unlock(&s->lock);
}

int apply_place_dir(CoreSnapshotter *s, int dir_fd, const char *prefix, bool check, char **ret_name) {
        char *name;
        unsigned made = 0;
        int r;

        for (;;) {
                struct stat st;
                bool near;

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
                pthread_mutex_lock(&s->lock);
                near = apply_place_near_removal(s->placement, st.st_ino, now_usec());
                pthread_mutex_unlock(&s->lock);
                if (!near)
                        break;
                (void) unlinkat(dir_fd, name, AT_REMOVEDIR);
                free(name);
        }
        *ret_name = name;
        return check ? (int) made : 1;
}
