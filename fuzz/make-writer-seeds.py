#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes seed inputs for fuzz-writer: message streams as the parser sends them to the
writer (src/layer/layer-proto.h, x86-64 layout).

    make-writer-seeds.py OUTDIR
"""
import os
import struct
import sys

ENTRY, DATA, END = 1, 2, 3
FILE, DIR, SYMLINK, HARDLINK, FIFO, CHARDEV, BLOCKDEV, WHITEOUT, OPAQUE = range(9)


def msg(t, payload=b""):
    return struct.pack("<II", t, len(payload)) + payload


def entry(kind, path, link="", mode=0o644, size=0, uid=0, gid=0, rdev=(0, 0), xattrs=()):
    p, l = path.encode(), link.encode()
    x = b"".join(n.encode() + b"\0" + struct.pack("<I", len(v)) + v for n, v in xattrs)
    head = struct.pack("<IIIIII", kind, mode, uid, gid, rdev[0], rdev[1])
    head += struct.pack("<Q", size)
    head += struct.pack("<qqqq", 1700000000, 0, 1700000000, 0)  # atime, mtime
    head += struct.pack("<III", len(p), len(l), len(x)) + b"\0" * 4  # padding to 80
    assert len(head) == 80
    return msg(ENTRY, head + p + b"\0" + l + b"\0" + x)


def data(offset, b):
    return msg(DATA, struct.pack("<Q", offset) + b)


SEEDS = {
    "tree": [entry(DIR, "etc", mode=0o755), entry(FILE, "etc/passwd", size=5), data(0, b"root\n"),
             entry(SYMLINK, "etc/link", "passwd", mode=0o777), entry(HARDLINK, "etc/hard", "etc/passwd"),
             msg(END)],
    "implicit-parents": [entry(FILE, "a/b/c/d", size=2), data(0, b"x\n"), msg(END)],
    "sparse": [entry(FILE, "s", size=1 << 20), data(512 * 1024, b"middle"), msg(END)],
    "xattrs": [entry(DIR, "d", mode=0o755, xattrs=[("user.a", b"1"), ("trusted.overlay.opaque", b"y")]),
               entry(FILE, "d/f", size=1, xattrs=[("security.capability", b"\x01\x00\x00\x02" + b"\0" * 16)]),
               data(0, b"z"), msg(END)],
    "overlay": [entry(WHITEOUT, "gone"), entry(OPAQUE, "d"), entry(FIFO, "p", mode=0o600),
                entry(CHARDEV, "null", rdev=(1, 3)), msg(END)],
    "replace": [entry(DIR, "x", mode=0o755), entry(FILE, "x/y", size=1), data(0, b"1"), entry(FILE, "x", size=1),
                data(0, b"2"), entry(SYMLINK, "x", "/etc"), entry(DIR, "x", mode=0o700), msg(END)],
    "setid": [entry(FILE, "su", mode=0o4755, size=1, uid=1000, gid=1000), data(0, b"s"), msg(END)],
    "abort": [entry(FILE, "half", size=100), data(0, b"only part")],
    "data-beyond": [entry(FILE, "f", size=1), data(0, b"too much"), msg(END)],
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, parts in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(b"".join(parts))


main()
