#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# What the crash campaign (crash_campaign.py) and its targeted tests share: the bus client,
# manifests of a tree, layers, where a snapshot's data lives, laminad's processes and the
# kernel's mounts.
import hashlib
import io
import json
import os
import select
import stat
import struct
import sys
import tarfile
import time

try:
    import gi

    gi.require_version("Gio", "2.0")
    gi.require_version("GLib", "2.0")
    from gi.repository import Gio, GLib
except (ImportError, ValueError):
    print("python3-gi is not installed", file=sys.stderr)
    sys.exit(77)

SERVICE = "org.lamina.snapshot1"
IFACE = "org.lamina.snapshot1.Snapshotter"
IMAGES = "org.lamina.snapshot1.Images"
ERR = "org.lamina.snapshot1.Error."
TRANSIENT = "org.lamina.transient"
T = os.environ.get("LAMINA_TEST_DIR", "")
# A call cut off by the kill (or made while laminad was starting and got killed).
CUT_OFF = ("org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Disconnected",
           "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.Spawn.ChildSignaled",
           "org.freedesktop.DBus.Error.Spawn.ChildExited", "org.freedesktop.DBus.Error.Timeout",
           "org.freedesktop.DBus.Error.TimedOut", "org.freedesktop.DBus.Error.NameHasNoOwner")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def error_name(e):
    return Gio.DBusError.get_remote_error(e) or str(e)


class Bus:
    """A private connection to the system bus; call() returns the reply or raises CallError."""

    def __init__(self, sn):
        addr = os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
        flags = Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION
        self.conn = Gio.DBusConnection.new_for_address_sync(addr, flags, None, None)
        self.obj = "/org/lamina/snapshot1/" + sn
        self.name = self.conn.get_unique_name()

    def close(self):
        self.conn.close_sync(None)

    def call(self, method, sig=None, args=(), fd=None, timeout_ms=300000, obj=None,
             iface=IFACE, service=SERVICE):
        body = GLib.Variant(sig, tuple(args)) if sig else None
        try:
            if fd is None:
                r = self.conn.call_sync(service, obj or self.obj, iface, method, body, None,
                                        Gio.DBusCallFlags.NONE, timeout_ms, None)
            else:
                fds = Gio.UnixFDList()
                fds.append(fd)
                r, _ = self.conn.call_with_unix_fd_list_sync(service, obj or self.obj, iface, method, body, None,
                                                             Gio.DBusCallFlags.NONE, timeout_ms, fds, None)
        except GLib.Error as e:
            raise CallError(error_name(e), e.message) from None
        return r.unpack() if r is not None else ()

    def has_owner(self):
        return self.call("NameHasOwner", "(s)", [SERVICE], obj="/org/freedesktop/DBus",
                         iface="org.freedesktop.DBus", service="org.freedesktop.DBus")[0]


class CallError(Exception):
    def __init__(self, name, message):
        super().__init__(name + ": " + message)
        self.name = name
        self.short = name[len(ERR):] if name.startswith(ERR) else name

    @property
    def cut_off(self):
        return self.name in CUT_OFF


class Lines:
    """Lines from a pipe, read unbuffered so that select() tells the truth."""

    def __init__(self, fd):
        self.fd, self.buf = fd, b""

    def poll(self, timeout):
        """The next line, waiting at most timeout seconds (None: for ever); None if none."""
        end = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = None if end is None else max(0, end - time.monotonic())
            if not select.select([self.fd], [], [], left)[0]:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise EOFError("the other end of the pipe is gone")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


# ---- trees ---------------------------------------------------------------------------

def manifest(root):
    """path -> signature of everything below root (not following symlinks); whiteouts
    (character devices 0/0) as "w"."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = "d %o %d:%d" % (mode, st.st_uid, st.st_gid)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    h = hashlib.sha1(f.read()).hexdigest()[:16]
                out[rel] = "f %o %d:%d %d %s" % (mode, st.st_uid, st.st_gid, st.st_size, h)
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = "l " + os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out[rel] = "w"
            else:
                out[rel] = "o %o %d" % (st.st_mode, st.st_rdev)
    return out


def applied(before, adds, deletes):
    """The tree after a layer with adds {path: signature} and deletes [path] (files)."""
    after = {p: s for p, s in before.items() if p not in deletes}
    for p in adds:
        parts = p.split("/")
        for i in range(1, len(parts)):
            after.setdefault("/".join(parts[:i]), "d 755 0:0")
    after.update(adds)
    return after


def tree_is(seen, want, deletes=()):
    """seen equals want, where a deleted path may also be a whiteout."""
    extra = {p for p in set(seen) - set(want) if not (p in deletes and seen[p] == "w")}
    return not extra and all(seen.get(p) == s for p, s in want.items())


def tree_diff(seen, want):
    keys = sorted(set(seen) | set(want))
    d = [(p, seen.get(p), want.get(p)) for p in keys if seen.get(p) != want.get(p)]
    return "%d differences, first %s" % (len(d), d[:3])


def file_sig(content, mode=0o644):
    return "f %o 0:0 %d %s" % (mode, len(content), hashlib.sha1(content).hexdigest()[:16])


def write_layer(path, adds, deletes):
    """A tar layer: adds {path: bytes} (parents as directories), whiteouts for deletes."""
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        dirs = sorted({"/".join(p.split("/")[:i]) for p in list(adds) + list(deletes)
                       for i in range(1, len(p.split("/")))})
        for d in dirs:
            ti = tarfile.TarInfo(d + "/")
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1700000000
            tar.addfile(ti)
        for p in sorted(deletes):
            h, t = os.path.split(p)
            ti = tarfile.TarInfo(os.path.join(h, ".wh." + t))
            ti.mtime = 1700000000
            tar.addfile(ti, io.BytesIO(b""))
        for p, content in sorted(adds.items()):
            ti = tarfile.TarInfo(p)
            ti.size, ti.mode, ti.mtime = len(content), 0o644, 1700000000
            tar.addfile(ti, io.BytesIO(content))


BTRFS_IOC_INO_LOOKUP = 0xD0009412


def btrfs_subvol_id(path):
    import fcntl
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        buf = bytearray(struct.pack("QQ", 0, 256) + bytes(4080))
        fcntl.ioctl(fd, BTRFS_IOC_INO_LOOKUP, buf)
        return struct.unpack_from("Q", buf)[0]
    finally:
        os.close(fd)


def data_dir(sn, mounts):
    """The directory holding a snapshot's own data, from its mount specs (None for a
    view of several layers)."""
    if len(mounts) != 1:
        return None
    typ, source, options = mounts[0]
    if typ == "btrfs":
        want = [int(o[9:]) for o in options if o.startswith("subvolid=")]
        top = os.path.join(T, "state", sn, "snapshots")
        for n in os.listdir(top):
            try:
                if want and btrfs_subvol_id(os.path.join(top, n)) == want[0]:
                    return os.path.join(top, n)
            except OSError:
                pass
        return None
    if typ != "overlay":
        return source
    up = [o[9:] for o in options if o.startswith("upperdir=")]
    return up[0] if up else None


# ---- a client ------------------------------------------------------------------------



def stat_or_none(bus, key):
    """Stat of key, None when it does not exist."""
    try:
        return bus.call("Stat", "(s)", [key])[0]
    except CallError as e:
        if e.short == "NotFound":
            return None
        raise

def laminad_pids():
    want = ("--state-dir\0%s/state\0" % T).encode()
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read()
            with open("/proc/%s/stat" % p) as f:
                st = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if want in cmd and st != "Z" and os.path.basename(cmd.split(b"\0")[0]) == b"laminad":
            pids.append(int(p))
    return pids


def wait_for(what, cond, seconds=120):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


def kernel_mounts():
    """(mount point, root, fstype, super options) of each mount below the test dir."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a, b = line.split(" - ")
            a, b = a.split(), b.split()
            mp = a[4].replace("\\040", " ")
            if mp.startswith(T + "/"):
                out.append((mp, a[3], b[0], b[2], a[5]))
    return out
