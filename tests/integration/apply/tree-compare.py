#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Compares two directory trees as a container sees them: for every path (the root
included) its type, mode, owner, size, content digest, symlink target, device number, the
xattrs a layer may carry (user.* except user.overlay.*, security.capability, POSIX ACLs)
and, for everything but directories, mtime. Never follows symlinks.

    tree-compare.py [--ignore PATH]... [--no-user-xattrs] A B

--ignore leaves PATH (absolute, as a container sees it) and everything below it out of both
trees; --no-user-xattrs leaves user.* xattrs out (`docker export` writes none). Prints the differences and exits 1 if there are any, 0 if the trees are equal."""

import argparse
import hashlib
import os
import stat
import sys


def xattrs(path, user):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    keep = []
    for n in sorted(names):
        if (user and n.startswith("user.") and not n.startswith("user.overlay.")) or n in (
                "security.capability", "system.posix_acl_access", "system.posix_acl_default"):
            keep.append((n, os.getxattr(path, n, follow_symlinks=False).hex()))
    return tuple(keep)


def describe(path, user_xattrs):
    st = os.lstat(path)
    d = {"type": stat.S_IFMT(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode)),
         "owner": (st.st_uid, st.st_gid), "xattrs": xattrs(path, user_xattrs)}
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


def walk(root, user_xattrs):
    tree = {"/": describe(root, user_xattrs)}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            tree["/" + os.path.relpath(p, root)] = describe(p, user_xattrs)
    return tree


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ignore", action="append", default=[], metavar="PATH")
    parser.add_argument("--no-user-xattrs", dest="user_xattrs", action="store_false")
    parser.add_argument("a")
    parser.add_argument("b")
    args = parser.parse_args()
    a, b = walk(args.a, args.user_xattrs), walk(args.b, args.user_xattrs)
    ignored = tuple(args.ignore)
    diffs = 0
    for p in sorted(set(a) | set(b)):
        if p in ignored or p.startswith(tuple(i + "/" for i in ignored)):
            continue
        if a.get(p) != b.get(p):
            diffs += 1
            print(f"{p}:\n  {args.a}: {a.get(p)}\n  {args.b}: {b.get(p)}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
