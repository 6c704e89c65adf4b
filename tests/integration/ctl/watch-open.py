#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# watch-open.py FILE -- COMMAND...: runs COMMAND and prints how many times FILE was opened
# meanwhile (inotify IN_OPEN, queued at the open itself: no timing involved). An O_PATH open
# is no open for inotify. COMMAND's exit status is printed on the line before.
import ctypes
import os
import struct
import subprocess
import sys

IN_OPEN = 0x20
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
if fd < 0 or libc.inotify_add_watch(fd, sys.argv[1].encode(), IN_OPEN) < 0:
    sys.exit(f'inotify: {os.strerror(ctypes.get_errno())}')
rc = subprocess.run(sys.argv[3:]).returncode
opens = 0
try:
    while True:
        buf = os.read(fd, 65536)
        i = 0
        while i < len(buf):
            _, mask, _, length = struct.unpack_from('iIII', buf, i)
            opens += bool(mask & IN_OPEN)
            i += 16 + length
except BlockingIOError:
    pass
print(rc)
print(opens)
