#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A user's MountFd, for tests/integration/hostile/test-mount-fd-flags.sh: gets the mount fd of
# KEY (with OPTIONS, comma-separated), then, in a user and mount namespace of its own where
# it holds CAP_SYS_ADMIN, tries to clear nosuid and nodev of the detached mount, attaches it
# at TARGET, tries again on the attached mount, makes it read-only (allowed: only clearing is
# locked) and lists what it shows. One "WHAT RESULT" line per step.
#
#   mount-fd-flags.py KEY OPTIONS TARGET
import ctypes
import os
import struct
import sys

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

SYS_MOVE_MOUNT, SYS_MOUNT_SETATTR, SYS_UNSHARE = 429, 442, 272
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
AT_FDCWD, AT_EMPTY_PATH, MOVE_MOUNT_F_EMPTY_PATH = -100, 0x1000, 0x4
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4

libc = ctypes.CDLL(None, use_errno=True)


def result(r):
    return "ok" if r == 0 else os.strerror(ctypes.get_errno()).replace(" ", "-")


def setattr(fd, attr_set, attr_clr):
    attr = ctypes.create_string_buffer(struct.pack("QQQQ", attr_set, attr_clr, 0, 0))
    return result(libc.syscall(SYS_MOUNT_SETATTR, fd, b"", AT_EMPTY_PATH, attr, len(attr.raw)))


def in_own_namespace(fd, target):
    uid, gid = os.getuid(), os.getgid()
    if libc.syscall(SYS_UNSHARE, CLONE_NEWUSER | CLONE_NEWNS) != 0:
        print("unshare", result(-1))
        return
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write("0 %d 1" % uid)
    with open("/proc/self/gid_map", "w") as f:
        f.write("0 %d 1" % gid)
    print("clear-nosuid-detached", setattr(fd, 0, MOUNT_ATTR_NOSUID))
    print("clear-nodev-detached", setattr(fd, 0, MOUNT_ATTR_NODEV))
    print("attach", result(libc.syscall(SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH)))
    t = os.open(target, os.O_PATH | os.O_DIRECTORY)
    print("clear-nosuid-attached", setattr(t, 0, MOUNT_ATTR_NOSUID))
    print("clear-nodev-attached", setattr(t, 0, MOUNT_ATTR_NODEV))
    print("set-ro-attached", setattr(t, MOUNT_ATTR_RDONLY, 0))
    print("files", ",".join(sorted(os.listdir(target))))
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        if fields[4] == target:
            print("options", fields[5])


def main(key, options, target):
    conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    opts = [o for o in options.split(",") if o]
    try:
        reply, fds = conn.call_with_unix_fd_list_sync(
            "org.lamina.snapshot1", "/org/lamina/snapshot1/" + os.environ.get("LAMINA_SNAPSHOTTER", "overlayfs"),
            "org.lamina.snapshot1.Snapshotter", "MountFd", GLib.Variant("(sas)", (key, opts)), None,
            Gio.DBusCallFlags.NONE, 60000, None, None)
    except GLib.Error as e:
        print("mount-fd", Gio.DBusError.get_remote_error(e) or e.message)
        return
    fd = fds.steal_fds()[reply.unpack()[0]]
    print("mount-fd ok")
    sys.stdout.flush()
    # GDBus runs threads; unshare(CLONE_NEWUSER) wants a single-threaded process.
    pid = os.fork()
    if pid == 0:
        try:
            in_own_namespace(fd, target)
        finally:
            sys.stdout.flush()
            os._exit(0)
    os.waitpid(pid, 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
