#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Compares two directory trees as a container sees them: for every path (the root
included) its type, mode, owner, size, content digest, symlink target, device number, the
xattrs a layer may carry (user.* except user.overlay.*, security.capability, POSIX ACLs)
and, for everything but directories, mtime. Never follows symlinks.

    tree-compare.py A B

Prints the differences and exits 1 if there are any, 0 if the trees are equal."""

import hashlib
import os
import stat
import sys


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    keep = []
    for n in sorted(names):
        if (n.startswith("user.") and not n.startswith("user.overlay.")) or n in (
                "security.capability", "system.posix_acl_access", "system.posix_acl_default"):
            keep.append((n, os.getxattr(path, n, follow_symlinks=False).hex()))
    return tuple(keep)


def describe(path):
    st = os.lstat(path)
    d = {"type": stat.S_IFMT(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode)),
         "owner": (st.st_uid, st.st_gid), "xattrs": xattrs(path)}
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            d["sha256"] = hashlib.sha256(f.read()).hexdigest()
        d["size"] = st.st_size
    elif stat.S_ISLNK(st.st_mode):
        d["target"] = os.readlink(path)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        d["rdev"] = st.st_rdev
    if not stat.S_ISDIR(st.st_mode):
        d["mtime"] = st.st_mtime_ns
    return d


def walk(root):
    tree = {"/": describe(root)}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            tree["/" + os.path.relpath(p, root)] = describe(p)
    return tree


def main():
    a, b = walk(sys.argv[1]), walk(sys.argv[2])
    diffs = 0
    for p in sorted(set(a) | set(b)):
        if a.get(p) != b.get(p):
            diffs += 1
            print(f"{p}:\n  {sys.argv[1]}: {a.get(p)}\n  {sys.argv[2]}: {b.get(p)}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
