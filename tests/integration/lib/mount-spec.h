/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "snapshot-types.h"

/* Performs mount specs ((ssas) as returned by Prepare/View/Mounts) at target, by hand, the
 * way a containerd client would: overlay through fsopen/fsconfig with one "lowerdir+" per
 * layer (128 absolute lowers exceed the one-page legacy option string), bind as
 * MS_BIND|MS_REC then a read-only remount for "ro", anything else with mount(2). */
int mount_spec_perform(const MountSpec *m, const char *target);
int mount_specs_perform(const MountSpecList *l, const char *target);

/* Unmounts target, retrying briefly while it is busy. */
int mount_spec_unmount(const char *target);
