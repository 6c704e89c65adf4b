#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""build-tree.py DIR DEPTH FILES: writes into DIR a chain d/d/.../d of DEPTH directories
(a 4 KiB file "f" every 1000 levels) and FILES files with two names each below h/ (in
directories of 10 000), as a container would through its mount. Prints the number of
inodes it made (each hardlinked file once)."""
import os
import sys

top, depth, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
inodes = 0
fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
for i in range(1, depth + 1):
    os.mkdir("d", 0o755, dir_fd=fd)
    sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    os.close(fd)
    fd = sub
    inodes += 1
    if i % 1000 == 0:
        f = os.open("f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        os.write(f, b"x" * 4096)
        os.close(f)
        inodes += 1
os.close(fd)
os.mkdir(top + "/h")
inodes += 1
for i in range(files):
    d = "%s/h/%d" % (top, i // 10000)
    if i % 10000 == 0:
        os.mkdir(d)
        inodes += 1
    f = os.open("%s/f%d" % (d, i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(f, b"y")
    os.close(f)
    os.link("%s/f%d" % (d, i), "%s/l%d" % (d, i))
    inodes += 1
print(inodes)
