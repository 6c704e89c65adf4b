#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A mount fd passed to another user, for tests/integration/hostile/test-mount-fd-passed.sh;
# run as root, which only forks the two users' processes and connects them with a socket
# pair. The owner's process gets the mount fd of KEY (MountFd on snapshotter SN), passes it
# to the other user's process (SCM_RIGHTS) and exits: the owner holds nothing any more. The
# other user's process, MODE:
#   attach  attaches it on TARGET in a user and mount namespace of its own (its uid as 0)
#           and closes the fd: only that namespace holds the mount;
#   hold    keeps the fd open, as fd 200.
# Then it writes "PID MODE" to READY and waits until it is killed (the namespace, or the
# fd, lives as long as it does). The parent waits for it.
#
#   mount-fd-pass.py SN KEY OWNER_UID:GID OTHER_UID:GID MODE TARGET READY
import ctypes
import os
import signal
import socket
import sys

SYS_MOVE_MOUNT, SYS_UNSHARE = 429, 272
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
AT_FDCWD, MOVE_MOUNT_F_EMPTY_PATH = -100, 0x4
MS_REC, MS_PRIVATE = 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4

libc = ctypes.CDLL(None, use_errno=True)


def check(r, what):
    if r != 0:
        e = ctypes.get_errno()
        sys.exit("mount-fd-pass: %s: %s" % (what, os.strerror(e)))


def become(ids):
    uid, gid = (int(x) for x in ids.split(":"))
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    # Both are cleared by the change of uid: /proc/self would stay root's.
    check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
    check(libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl")


def owner(sock, sn, key):
    import gi

    gi.require_version("Gio", "2.0")
    gi.require_version("GLib", "2.0")
    from gi.repository import Gio, GLib

    conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    try:
        reply, fds = conn.call_with_unix_fd_list_sync(
            "org.lamina.snapshot1", "/org/lamina/snapshot1/" + sn, "org.lamina.snapshot1.Snapshotter", "MountFd",
            GLib.Variant("(sas)", (key, [])), None, Gio.DBusCallFlags.NONE, 120000, None, None)
    except GLib.Error as e:
        sys.exit("mount-fd-pass: MountFd: %s" % e.message)
    fd = fds.steal_fds()[reply.unpack()[0]]
    socket.send_fds(sock, [b"fd"], [fd])
    os.close(fd)


def other(sock, mode, target, ready):
    _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    if len(fds) != 1:
        sys.exit("mount-fd-pass: no fd received")
    fd = fds[0]
    if mode == "attach":
        uid, gid = os.getuid(), os.getgid()
        check(libc.syscall(SYS_UNSHARE, CLONE_NEWUSER | CLONE_NEWNS), "unshare")
        for name, text in (("setgroups", "deny"), ("uid_map", "0 %d 1" % uid), ("gid_map", "0 %d 1" % gid)):
            with open("/proc/self/" + name, "w") as f:
                f.write(text)
        check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
        check(libc.syscall(SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH), "move_mount")
        os.close(fd)
    elif mode == "inflight":
        x, y = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        socket.send_fds(x, [b"fd"], [fd])
        os.close(fd)
        keep = (x, y)  # noqa: F841 (the fd lives in y's receive queue only)
    else:
        os.dup2(fd, 200)
        os.close(fd)
    os.chdir("/")
    with open(ready + ".tmp", "w") as f:
        f.write("%d %s\n" % (os.getpid(), mode))
    os.rename(ready + ".tmp", ready)
    while True:
        signal.pause()


def main(sn, key, owner_ids, other_ids, mode, target, ready):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    other_pid = os.fork()
    if other_pid == 0:
        a.close()
        become(other_ids)
        other(b, mode, target, ready)
        os._exit(0)
    b.close()
    owner_pid = os.fork()
    if owner_pid == 0:
        become(owner_ids)
        owner(a, sn, key)
        os._exit(0)
    a.close()
    _, status = os.waitpid(owner_pid, 0)
    if status != 0:
        os.kill(other_pid, signal.SIGKILL)
        sys.exit("mount-fd-pass: the owner's process failed")
    os.waitpid(other_pid, 0)


if __name__ == "__main__":
    main(*sys.argv[1:8])
