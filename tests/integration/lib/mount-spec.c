/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>

#include "macro.h"
#include "mount-spec.h"
#include "strutil.h"

typedef struct FlagOption {
        const char *name;
        unsigned long ms_flag;    /* for mount(2) */
        unsigned long attr;       /* for fsmount(2) */
        bool clear;               /* "rw", "suid", …: turns the flag off */
} FlagOption;

static const FlagOption flag_options[] = {
        { "ro", MS_RDONLY, MOUNT_ATTR_RDONLY, false },
        { "rw", MS_RDONLY, MOUNT_ATTR_RDONLY, true },
        { "nosuid", MS_NOSUID, MOUNT_ATTR_NOSUID, false },
        { "suid", MS_NOSUID, MOUNT_ATTR_NOSUID, true },
        { "nodev", MS_NODEV, MOUNT_ATTR_NODEV, false },
        { "dev", MS_NODEV, MOUNT_ATTR_NODEV, true },
        { "noexec", MS_NOEXEC, MOUNT_ATTR_NOEXEC, false },
        { "exec", MS_NOEXEC, MOUNT_ATTR_NOEXEC, true },
        { "bind", MS_BIND, 0, false },
        { "rbind", MS_BIND | MS_REC, 0, false },
};

static const FlagOption *flag_option(const char *o) {
        for (size_t i = 0; i < ELEMENTSOF(flag_options); i++)
                if (streq(flag_options[i].name, o))
                        return &flag_options[i];
        return NULL;
}

static bool has_option(char *const *options, const char *o) {
        for (char *const *i = options; i && *i; i++)
                if (streq(*i, o))
                        return true;
        return false;
}

static int fsconfig_option(int fs, const char *o) {
        _cleanup_free_ char *key = NULL;
        const char *eq = strchr(o, '=');

        if (!eq)
                return RET_NERRNO(fsconfig(fs, FSCONFIG_SET_FLAG, o, NULL, 0));
        key = strndup(o, eq - o);
        if (!key)
                return -ENOMEM;
        if (!streq(key, "lowerdir"))
                return RET_NERRNO(fsconfig(fs, FSCONFIG_SET_STRING, key, eq + 1, 0));

        /* lowerdir=a:b:c -> one lowerdir+ per layer, topmost first. */
        _cleanup_free_ char *dirs = strdup(eq + 1);
        char *save = NULL;
        if (!dirs)
                return -ENOMEM;
        for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                int r = RET_NERRNO(fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", d, 0));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int mount_with_fsopen(const MountSpec *m, const char *target) {
        _cleanup_close_ int fs = -EBADF, mnt = -EBADF;
        unsigned attr = 0;
        int r;

        fs = fsopen(m->type, FSOPEN_CLOEXEC);
        if (fs < 0)
                return -errno;
        r = RET_NERRNO(fsconfig(fs, FSCONFIG_SET_STRING, "source", m->source, 0));
        for (char **o = m->options; r >= 0 && o && *o; o++) {
                const FlagOption *f = flag_option(*o);

                if (f) {
                        attr = f->clear ? attr & ~f->attr : attr | f->attr;
                        continue;
                }
                r = fsconfig_option(fs, *o);
                if (r < 0)
                        fprintf(stderr, "fsconfig(%s, %s) failed: %s\n", m->type, *o, strerror(-r));
        }
        if (r < 0)
                return r;
        r = RET_NERRNO(fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0));
        if (r < 0)
                return r;
        mnt = fsmount(fs, FSMOUNT_CLOEXEC, attr);
        if (mnt < 0)
                return -errno;
        return RET_NERRNO(move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH));
}

static int mount_bind(const MountSpec *m, const char *target) {
        int r;

        r = RET_NERRNO(mount(m->source, target, NULL, MS_BIND | MS_REC, NULL));
        if (r < 0 || !has_option(m->options, "ro"))
                return r;
        return RET_NERRNO(mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
}

static int mount_legacy(const MountSpec *m, const char *target) {
        _cleanup_strv_free_ char **data = NULL;
        _cleanup_free_ char *joined = NULL;
        unsigned long flags = 0;

        for (char **o = m->options; o && *o; o++) {
                const FlagOption *f = flag_option(*o);

                if (f)
                        flags = f->clear ? flags & ~f->ms_flag : flags | f->ms_flag;
                else if (strv_extend(&data, *o) < 0)
                        return -ENOMEM;
        }
        joined = data ? strv_join(data, ",") : NULL;
        if (data && !joined)
                return -ENOMEM;
        return RET_NERRNO(mount(m->source, target, m->type, flags, joined));
}

int mount_spec_perform(const MountSpec *m, const char *target) {
        int r;

        if (streq(m->type, "bind") || has_option(m->options, "bind") || has_option(m->options, "rbind"))
                r = mount_bind(m, target);
        else if (streq(m->type, "overlay"))
                r = mount_with_fsopen(m, target);
        else
                r = mount_legacy(m, target);
        if (r < 0)
                fprintf(stderr, "mounting %s %s at %s failed: %s\n", m->type, m->source, target,
                        strerror(-r));
        return r;
}

int mount_specs_perform(const MountSpecList *l, const char *target) {
        /* Like containerd's mount.All: each spec stacks on the same target. */
        for (size_t i = 0; i < l->n; i++) {
                int r = mount_spec_perform(&l->items[i], target);
                if (r < 0)
                        return r;
        }
        return 0;
}

int mount_spec_unmount(const char *target) {
        for (int i = 0; i < 600; i++) {
                if (umount2(target, UMOUNT_NOFOLLOW) >= 0)
                        return 0;
                if (errno != EBUSY)
                        return -errno;
                nanosleep(&(struct timespec) { .tv_nsec = 50 * 1000 * 1000 }, NULL);
        }
        return -EBUSY;
}
