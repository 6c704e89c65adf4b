#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A fault-injection campaign against laminad (issue 13): clients make random mixed calls
# over the bus while laminad is SIGKILLed at random moments and at chosen ones; after each
# kill laminad is started again by activation and the invariants are checked.
#
#   crash_campaign.py SNAPSHOTTER [--rounds N] [--seed S] [--clients C] [--ops N]
#                     [--big OLD:NEW] [--no-targets] [--store-check PROGRAM]
#
# Run under tests/integration/lib/run-test.sh (btrfs: inside run-on-btrfs.sh); it needs
# $LAMINA_TEST_DIR and the private bus. Each client is a process of its own (this script
# with --client) with its own connection and its own keys (c<i>-...); it keeps a model of
# its snapshots: what each call reported, and what a call cut off by the kill may have
# done. A round: the clients run; laminad is killed (at a random moment, during an Apply
# of a layer that deletes many files of an existing directory and adds many, during a
# Mount, during an import, during Cleanup, or during start-up recovery); the clients stop; root's Cleanup;
# then every client checks its own snapshots and the driver the whole state:
#   - every snapshot reported committed exists, committed, with the content it had
#     (a manifest of its data directory: type, mode, owner, size, content hash, target);
#   - a call cut off left one of the states before or after it: an Apply the whole layer
#     or none of it, a Commit the active or the committed snapshot (same content), ...;
#   - Stat and List agree with the models; List agrees with the data directories on disk
#     (one per snapshot, none left over after Cleanup, applying/ empties);
#   - ListMounts equals the kernel's mounts below the test directory, each path once, no
#     two writable overlays on one upper directory and root;
#   - transient snapshots of a client that left the bus go;
#   - every image a client imported (laminactl import-tar, killed too) is listed, its top
#     committed; no snapshot is left but a committed one of an import cut off;
#   - at the end, laminad stopped, the metadata verifies (store-check).
# Prints "ok"/"not ok" lines and a summary; exits 1 when any invariant failed.
import argparse
import hashlib
import io
import json
import os
import random
import select
import signal
import stat
import struct
import subprocess
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

class Snap:
    def __init__(self, kind, data=None, parent="", transient=False):
        self.kind = kind          # active, view, committed
        self.data = data          # its data directory
        self.parent = parent
        self.transient = transient
        self.mounted = None       # the path while mounted
        self.held = False         # unmounted, but Busy: a copy of the mount lives on
        self.content = None       # committed: its manifest
        self.doubt = None         # what a cut-off call may have done: (op, ...)


class Client:
    def __init__(self, idx, sn, seed):
        self.idx, self.sn = idx, sn
        self.rng = random.Random(seed * 1000 + idx)
        self.bus = Bus(sn)
        self.snaps = {}
        self.n = 0
        self.ops = 0
        self.cut = 0
        self.unexpected = []
        self.held_busy = 0
        self.gone_transients = []  # transient keys whose maker connection was closed
        self.images = {}  # name -> True, or None while an import cut off may have made it
        self.layers = os.path.join(T, "layers")
        self.targets = os.path.join(T, "tgt", "c%d" % idx)
        os.makedirs(self.layers, exist_ok=True)
        os.makedirs(self.targets, exist_ok=True)
        self.big = None

    def newkey(self, what):
        self.n += 1
        return "c%d-%s-%d" % (self.idx, what, self.n)

    def emit(self, **ev):
        sys.stdout.write(json.dumps(ev) + "\n")
        sys.stdout.flush()

    def unexpected_error(self, op, e):
        self.unexpected.append("c%d %s: %s" % (self.idx, op, e))

    def pick(self, pred):
        keys = sorted(k for k, s in self.snaps.items() if s.doubt is None and pred(s))
        return self.rng.choice(keys) if keys else None

    # The operations: each returns after one call (or a few); a cut-off call leaves doubt.
    def op_prepare(self, view=False):
        parent = self.pick(lambda s: s.kind == "committed") if self.rng.random() < 0.6 else None
        key = self.newkey("v" if view else "a")
        transient = not view and self.rng.random() < 0.2
        labels = {TRANSIENT: self.bus.name} if transient else {"crash": "x"}
        s = Snap("view" if view else "active", parent=parent or "", transient=transient)
        self.snaps[key] = s
        s.doubt = ("create",)
        r = self.bus.call("View" if view else "Prepare", "(ssa{ss})", [key, parent or "", labels])
        s.doubt = None
        s.data = data_dir(self.sn, r[0])

    def op_write(self):
        key = self.pick(lambda s: s.kind == "active" and (s.data or s.mounted))
        if not key:
            return
        s = self.snaps[key]
        root = s.mounted or s.data
        d = os.path.join(root, "w%d" % self.n)
        self.n += 1
        os.makedirs(d, exist_ok=True)
        for i in range(self.rng.randint(1, 5)):
            with open(os.path.join(d, "f%d" % i), "wb") as f:
                f.write(os.urandom(self.rng.randint(0, 3000)))

    def op_apply(self, big=False):
        key = self.pick(lambda s: s.kind == "active" and s.data and not s.mounted and not s.held)
        if not key:
            return
        s = self.snaps[key]
        before = manifest(s.data)
        if big:
            n_old, n_new = self.big
            if not any(p.startswith("big/") for p in before):
                adds, deletes = {"big/old-%05d" % i: b"old %d\n" % i for i in range(n_old)}, []
            else:
                olds = sorted(p for p, sig in before.items() if p.startswith("big/old-") and sig[0] == "f")
                adds = {"big/new-%06d" % i: b"new %d\n" % i for i in range(n_new)}
                deletes = olds
        else:
            files = sorted(p for p, sig in before.items() if sig[0] == "f")
            deletes = self.rng.sample(files, min(len(files), self.rng.randint(0, 3)))
            tag = self.n
            self.n += 1
            adds = {"l%d/f%d" % (tag, i): os.urandom(self.rng.randint(0, 2000)) for i in range(self.rng.randint(1, 20))}
        sigs = {p: file_sig(c) for p, c in adds.items()}
        after = applied(before, sigs, deletes)
        path = os.path.join(self.layers, "c%d-%d.tar" % (self.idx, self.n))
        write_layer(path, adds, deletes)
        fd = os.open(path, os.O_RDONLY)
        try:
            s.doubt = ("apply", before, after, deletes)
            if big:
                self.emit(ev="begin", op="apply-big")
            self.bus.call("Apply", "(sha{sv})", [key, 0, {}], fd=fd)
        finally:
            os.close(fd)
            os.unlink(path)
        s.doubt = None
        seen = manifest(s.data)
        if not tree_is(seen, after, deletes):
            self.unexpected.append("apply %s: the tree is not the layer applied: %s" % (key, tree_diff(seen, after)))

    def op_commit(self):
        key = self.pick(lambda s: s.kind == "active" and not s.mounted and not s.held and not s.transient)
        if not key:
            return
        s = self.snaps[key]
        name = self.newkey("c")
        content = manifest(s.data) if s.data else None
        s.doubt = ("commit", name, content)
        self.bus.call("Commit", "(ssa{ss})", [name, key, {"crash": "c"}])
        s.doubt = None
        del self.snaps[key]
        c = Snap("committed", data=s.data, parent=s.parent)
        c.content = content
        self.snaps[name] = c

    def op_remove(self):
        parents = {o.parent for o in self.snaps.values()}
        keys = sorted(k for k, s in self.snaps.items() if s.doubt is None and not s.mounted and not s.held and k not in parents)
        key = self.rng.choice(keys) if keys else None
        if not key:
            return
        s = self.snaps[key]
        s.doubt = ("remove",)
        self.bus.call("Remove", "(s)", [key])
        del self.snaps[key]

    def op_mount(self):
        key = self.pick(lambda s: s.kind in ("active", "view") and not s.mounted and not s.held and not s.transient)
        if not key:
            return
        s = self.snaps[key]
        target = ""
        if self.callers_targets and self.rng.random() < 0.5:
            target = os.path.join(self.targets, key)
            os.makedirs(target, exist_ok=True)
        s.doubt = ("mount", target)
        self.emit(ev="begin", op="mount")
        r = self.bus.call("Mount", "(ssas)", [key, target, []])
        s.doubt = None
        s.mounted = r[0]

    def op_unmount(self):
        key = self.pick(lambda s: s.mounted or s.held)
        if not key:
            return
        s = self.snaps[key]
        s.doubt = ("unmount",)
        try:
            self.bus.call("Unmount", "(s)", [key])
        except CallError as e:
            if e.short == "NotFound" and s.held:
                s.doubt, s.held = None, False  # the copy went: released
                return
            if e.short != "Busy" or not (s.mounted or s.held):
                raise
            # Unmounted, but a copy of the mount lives on (in another mount namespace):
            # the snapshot stays busy until a later Unmount finds it gone.
            self.held_busy += 1
            s.doubt = None
            s.mounted, s.held = None, True
            return
        s.doubt = None
        s.mounted, s.held = None, False

    def op_update(self):
        key = self.pick(lambda s: True)
        if key:
            self.bus.call("Update", "(sa{ss}as)", [key, {"crash-u": str(self.n)}, ["labels.crash-u"]])

    def op_cleanup(self):
        self.emit(ev="begin", op="cleanup")
        self.bus.call("Cleanup", obj="/org/lamina/snapshot1/" + self.sn)

    def op_stat_list(self):
        key = self.pick(lambda s: True)
        if key:
            r = self.bus.call("Stat", "(s)", [key])[0]
            if r[2] != self.snaps[key].kind:
                self.unexpected.append("stat %s: kind %s, the model says %s" % (key, r[2], self.snaps[key].kind))
        self.bus.call("List", "(as)", [["name~=^c%d-" % self.idx]])

    def op_import(self):
        """laminactl import-tar of a small tree: its working snapshot is transient, its
        top committed under a name of laminactl's, then the image name made."""
        name = "c%d-img-%d" % (self.idx, self.n)
        path = os.path.join(self.layers, "c%d-img-%d.tar" % (self.idx, self.n))
        self.n += 1
        write_layer(path, {"img/f%d" % i: os.urandom(self.rng.randint(0, 3000)) for i in range(5)}, [])
        self.images[name] = None
        self.emit(ev="begin", op="import")
        ctl = os.path.join(os.environ["LAMINA_BUILD_DIR"], "src", "ctl", "laminactl")
        r = subprocess.run([ctl, "-s", self.sn, "import-tar", path, "--name", name], capture_output=True, text=True,
                           timeout=900, stdin=subprocess.DEVNULL)
        os.unlink(path)
        if r.returncode == 0:
            self.images[name] = True
            return
        if "did not answer" not in r.stderr and "activate" not in r.stderr:
            self.unexpected.append("c%d import: %s" % (self.idx, r.stderr.strip()[-300:]))
        raise CallError("org.freedesktop.DBus.Error.NoReply", "laminactl import-tar failed")

    def op_rmimage(self):
        names = sorted(n for n, v in self.images.items() if v)
        if names:
            name = self.rng.choice(names)
            self.images[name] = None
            self.bus.call("RemoveImage", "(s)", [name], iface=IMAGES)
            del self.images[name]

    OPS = [("import", 2), ("rmimage", 1), ("prepare", 14), ("view", 4), ("write", 8), ("apply", 10), ("apply-big", 2), ("commit", 10),
           ("remove", 10), ("mount", 8), ("unmount", 7), ("update", 4), ("cleanup", 2), ("stat", 6)]

    def one_op(self):
        op = self.rng.choices([o for o, _ in self.OPS], [w for _, w in self.OPS])[0]
        if len(self.snaps) > 40 and op in ("prepare", "view"):
            op = "remove"
        fn = {"prepare": self.op_prepare, "view": lambda: self.op_prepare(True), "write": self.op_write,
              "apply": self.op_apply, "apply-big": lambda: self.op_apply(True), "commit": self.op_commit,
              "remove": self.op_remove, "mount": self.op_mount, "unmount": self.op_unmount,
              "update": self.op_update, "cleanup": self.op_cleanup, "stat": self.op_stat_list,
              "import": self.op_import, "rmimage": self.op_rmimage}[op]
        self.ops += 1
        try:
            fn()
        except CallError as e:
            if e.cut_off:
                self.cut += 1
                return False
            self.unexpected_error(op, e)
            self.drop_failed()
        return True

    def drop_failed(self):
        """A call that failed with an API error did nothing: undo the doubt it left."""
        for k in list(self.snaps):
            s = self.snaps[k]
            if s.doubt is None:
                continue
            if s.doubt[0] == "create":
                del self.snaps[k]
            else:
                s.doubt = None

    def run(self, max_ops, inp):
        """Calls until the driver's stop, at most max_ops, none after one was cut off."""
        done = 0
        stop = None
        while done < max_ops:
            stop = inp.poll(0)
            if stop:
                break
            done += 1
            if not self.one_op():
                break
        if not stop:
            self.emit(ev="idle")
            stop = inp.poll(None)
        assert stop["cmd"] == "stop"
        self.emit(ev="stopped", ops=done)

    # ---- the check after a restart ---------------------------------------------------
    def stat(self, key):
        try:
            return self.bus.call("Stat", "(s)", [key])[0]
        except CallError as e:
            if e.short == "NotFound":
                return None
            raise

    def listed_mounts(self):
        return {m[0]: m[1] for m in self.bus.call("ListMounts")[0]}

    def check(self):
        """Resolves every doubt against what laminad and the disk show; returns failures."""
        bad = []
        mounts = self.listed_mounts()
        for key in sorted(self.snaps):
            s = self.snaps[key]
            info = self.stat(key)
            d = s.doubt
            if d and d[0] == "create":
                if info is None:
                    del self.snaps[key]
                    continue
                if info[2] != s.kind:
                    bad.append("%s: created as %s, Stat says %s" % (key, s.kind, info[2]))
                if s.kind != "committed":
                    s.data = data_dir(self.sn, self.bus.call("Mounts", "(s)", [key])[0])
                s.doubt = None
                continue
            if d and d[0] == "remove":
                if info is None:
                    del self.snaps[key]
                    continue
                s.doubt = None
            if d and d[0] == "commit":
                name, content = d[1], d[2]
                cinfo = self.stat(name)
                if (info is None) == (cinfo is None):
                    bad.append("commit %s -> %s cut off: Stat finds %s" % (key, name, "both" if info else "neither"))
                    s.doubt = None
                    continue
                if cinfo is not None:
                    del self.snaps[key]
                    c = Snap("committed", data=s.data, parent=s.parent)
                    c.content = content
                    self.snaps[name] = c
                    key, s, info = name, c, cinfo
                s.doubt = None
            if info is None:
                if s.transient:
                    del self.snaps[key]
                    continue
                bad.append("%s (%s) is gone" % (key, s.kind))
                del self.snaps[key]
                continue
            if info[2] != s.kind:
                bad.append("%s: the model says %s, Stat %s" % (key, s.kind, info[2]))
            if d and d[0] == "apply":
                before, after, deletes = d[1], d[2], d[3]
                seen = manifest(s.data)
                if not (tree_is(seen, before) or tree_is(seen, after, deletes)):
                    bad.append("apply to %s cut off: the tree is neither before (%s) nor after (%s)"
                               % (key, tree_diff(seen, before), tree_diff(seen, after)))
                s.doubt = None
            if d and d[0] in ("mount", "unmount"):
                # not listed: unmounted, or a record kept for a copy that lives on (the
                # next Unmount tells)
                s.mounted = mounts.get(key)
                s.held = not s.mounted
                s.doubt = None
            elif s.mounted and mounts.get(key) != s.mounted:
                bad.append("%s: mounted at %s, ListMounts says %s" % (key, s.mounted, mounts.get(key)))
                s.mounted = mounts.get(key)
            if s.kind == "committed" and s.content is not None:
                if not s.data or not os.path.isdir(s.data):
                    bad.append("%s: committed, its data %s is gone" % (key, s.data))
                else:
                    seen = manifest(s.data)
                    if seen != s.content:
                        bad.append("%s: committed content changed: %s" % (key, tree_diff(seen, s.content)))
        images = {i[0]: i[1] for i in self.bus.call("ListImages", iface=IMAGES)[0]}
        for name in list(self.images):
            if name not in images:
                if self.images[name]:
                    bad.append("image %s is gone" % name)
                del self.images[name]
                continue
            self.images[name] = True
            top = self.stat(images[name])
            if not top or top[2] != "committed":
                bad.append("image %s: its top %s is %s" % (name, images[name], top[2] if top else "gone"))
        for key in list(self.gone_transients):
            if self.stat(key) is None:
                self.gone_transients.remove(key)
        return bad

    def reconnect(self):
        """Leaves the bus: its transient snapshots must go."""
        for k in [k for k, s in self.snaps.items() if s.transient]:
            self.gone_transients.append(k)
            del self.snaps[k]
        self.bus.close()
        self.bus = Bus(self.sn)

    def serve(self, big, callers_targets):
        self.big = big
        self.callers_targets = callers_targets
        inp = Lines(0)
        while True:
            try:
                cmd = inp.poll(None)
            except EOFError:
                return
            c = cmd["cmd"]
            if c == "run":
                self.run(cmd["ops"], inp)
            elif c == "reconnect":
                if self.rng.random() < cmd["p"]:
                    self.reconnect()
                self.emit(ev="ok")
            elif c == "check":
                bad = self.check()
                self.emit(ev="checked", bad=bad, keys=sorted(self.snaps), gone=self.gone_transients,
                          mounts=sorted(s.mounted for s in self.snaps.values() if s.mounted),
                          held=[s.data for s in self.snaps.values() if s.held and s.data],
                          unexpected=self.unexpected, ops=self.ops, cut=self.cut, busy=self.held_busy)
                self.unexpected = []
            elif c == "quit":
                return


# ---- the driver ----------------------------------------------------------------------

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


class CampaignOver(Exception):
    pass


class Driver:
    def __init__(self, args):
        self.a = args
        self.sn = args.snapshotter
        self.rng = random.Random(args.seed)
        self.bus = Bus(self.sn)
        self.failures = []
        self.kills = {}
        self.ops = self.cut = 0
        self.unexpected = []
        self.clients = []
        self.checks = 0
        self.cut_seen = {}
        self.held = {}

    def fail(self, msg):
        print("not ok - round %d: %s" % (self.round, msg), flush=True)
        self.failures.append("round %d: %s" % (self.round, msg))

    def start_clients(self):
        for i in range(self.a.clients):
            argv = [sys.executable, __file__, self.sn, "--client", str(i), "--seed", str(self.a.seed),
                    "--big", self.a.big] + (["--no-targets"] if self.a.no_targets else [])
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.clients.append(p)
        self.readers = {p: Lines(p.stdout.fileno()) for p in self.clients}

    def send(self, cmd, clients=None):
        for p in clients or self.clients:
            p.stdin.write(json.dumps(cmd) + "\n")
            p.stdin.flush()

    def recv(self, p, want, timeout=900):
        """The client's next event named want (begin and idle events on the way skipped)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ev = self.readers[p].poll(1)
            if ev and ev["ev"] == want:
                return ev
            if ev and ev["ev"] not in ("begin", "idle"):
                raise RuntimeError("client %d sent %s, expected %s" % (self.clients.index(p), ev, want))
        raise RuntimeError("client did not answer " + want)

    def laminad_up(self):
        self.bus.call("ListMounts")
        return True

    def kill(self, why):
        pids = laminad_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        if pids:
            self.kills[why] = self.kills.get(why, 0) + 1
        # (a client's next call may start the next laminad at once)
        wait_for("laminad to die", lambda: not set(pids) & set(laminad_pids()))
        return bool(pids)

    def wait_event(self, op, seconds):
        """Waits for a client's begin event for op; False when every client ran out of
        calls (or was cut off) first."""
        end = time.monotonic() + seconds
        live = list(self.clients)
        while time.monotonic() < end and live:
            for p in list(live):
                ev = self.readers[p].poll(0.01)
                if ev and ev["ev"] == "begin" and ev["op"] == op:
                    return True
                if ev and ev["ev"] == "idle":
                    live.remove(p)
        return False

    def run_round(self):
        mode = self.rng.choices(["random", "apply-big", "mount", "import", "none"], [5, 2, 2, 1, 1])[0]
        self.send({"cmd": "run", "ops": self.a.ops})
        if mode == "random":
            time.sleep(self.rng.uniform(0, self.a.max_delay))
            self.kill("random")
        elif mode in ("apply-big", "mount", "import"):
            if self.wait_event(mode, 60):
                upto = {"apply-big": self.big_ms * 1.3, "mount": 10, "import": 1500}[mode]
                time.sleep(self.rng.uniform(0, upto) / 1000)
                self.kill(mode)
            else:
                self.kill("random")
        else:
            time.sleep(self.rng.uniform(0, self.a.max_delay))
        self.send({"cmd": "stop"})
        for p in self.clients:
            self.ops += self.recv(p, "stopped")["ops"]

    def startup_kill(self):
        """Activates laminad and kills it during its start-up recovery."""
        sub = subprocess.Popen(["busctl", "--timeout=120", "call", SERVICE, "/org/lamina/snapshot1/" + self.sn,
                                IFACE, "ListMounts"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for("laminad to start", lambda: laminad_pids(), 60)
            time.sleep(self.rng.uniform(0, 0.3))
            self.kill("start-up")
        finally:
            sub.wait()

    def cleanup_kill(self):
        """Cleanup, killed after a random delay."""
        sub = subprocess.Popen(["busctl", "--timeout=300", "call", SERVICE, "/org/lamina/snapshot1/" + self.sn,
                                IFACE, "Cleanup"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(self.rng.uniform(0, 0.2))
            self.kill("cleanup")
        finally:
            sub.wait()

    def snapshot_dirs(self):
        return sorted(os.listdir(os.path.join(T, "state", self.sn, "snapshots")))

    def applying(self):
        return os.listdir(os.path.join(T, "state", self.sn, "applying"))

    def check_round(self):
        if self.rng.random() < 0.3:
            self.startup_kill()
        if self.rng.random() < 0.3:
            self.cleanup_kill()
        # Start-up may take long (test-crash-review-startup-records.py); dbus-daemon kills
        # an activation after 25 s, so one that takes longer each time never ends.
        try:
            wait_for("laminad to answer", self.try_up, 300)
        except RuntimeError:
            self.fail("laminad does not come back: every activation timed out for 300 s")
            raise CampaignOver from None
        self.send({"cmd": "reconnect", "p": 0.3})
        for p in self.clients:
            self.recv(p, "ok")
        self.bus.call("Cleanup")
        wait_for("applying/ to empty", lambda: not self.applying(), 120)
        self.send({"cmd": "check"})
        keys, mounts, gone, held = set(), [], [], []
        for p in self.clients:
            ev = self.recv(p, "checked")
            for b in ev["bad"]:
                self.fail(b)
            keys |= set(ev["keys"])
            mounts += ev["mounts"]
            gone += ev["gone"]
            self.unexpected += ev["unexpected"]
            self.cut += ev["cut"] - self.cut_seen.get(p, 0)
            self.cut_seen[p] = ev["cut"]
            self.held[p] = ev["busy"]
            held += ev["held"]
        self.checks += 1
        # Transients of clients that left: gone (laminad removes them in the background).
        if gone:
            try:
                wait_for("transient snapshots to go",
                         lambda: not [k for k in gone if self.stat(k) is not None], 60)
            except RuntimeError:
                self.fail("transient snapshots of a client that left stay: %s" % [k for k in gone if self.stat(k)])
        listed = {i[0]: i for i in self.bus.call("List", "(as)", [[]])[0]}
        # imports commit under names of laminactl's: the tops of images, or left by a kill
        # between Commit and CreateImage (committed, never transient or active)
        extra = {k for k in set(listed) - keys - set(gone) if listed[k][2] != "committed" or k.startswith("c")}
        if extra:
            self.fail("List has snapshots no client knows of: %s" % sorted(extra)[:5])
        missing = keys - set(listed)
        if missing:
            self.fail("List lacks snapshots: %s" % sorted(missing)[:5])
        self.bus.call("Cleanup")
        dirs = self.snapshot_dirs()
        listed = self.bus.call("List", "(as)", [[]])[0]
        if len(dirs) != len(listed):
            self.fail("%d data directories for %d snapshots after Cleanup" % (len(dirs), len(listed)))
        lm = sorted(m[1] for m in self.bus.call("ListMounts")[0])
        km = kernel_mounts()
        kpaths = sorted(m[0] for m in km)
        if lm != kpaths:
            self.fail("ListMounts %s, the kernel's mounts %s" % (lm, kpaths))
        if sorted(mounts) != lm:
            self.fail("the clients' mounts %s, ListMounts %s" % (sorted(mounts), lm))
        uppers = {}
        for mp, root, fstype, sopts, mopts in km:
            if fstype != "overlay" or not mopts.startswith("rw"):
                continue
            up = [o[9:] for o in sopts.split(",") if o.startswith("upperdir=")]
            if up:
                k = (up[0], root)
                if k in uppers:
                    self.fail("two writable overlays on %s%s: %s and %s" % (up[0], root, uppers[k], mp))
                uppers[k] = mp
        work = os.path.join(T, "state", self.sn, "mount-work")
        if os.path.isdir(work):
            used = {o[8:] for _, _, _, sopts, _ in km for o in sopts.split(",") if o.startswith("workdir=")}
            # a mount unmounted while a copy lives on keeps its work directory
            top = os.path.join(T, "state", self.sn, "snapshots") + "/"
            used |= {os.path.join(work, d[len(top):].split("/")[0]) for d in held if d.startswith(top)}
            left = [n for n in os.listdir(work) if n != "empty" and os.path.join(work, n) not in used]
            if left:
                self.fail("mount-work holds %d entries of no mount: %s" % (len(left), left[:5]))

    def stat(self, key):
        try:
            return self.bus.call("Stat", "(s)", [key])[0]
        except CallError as e:
            if e.short == "NotFound":
                return None
            raise

    def try_up(self):
        try:
            return self.laminad_up()
        except CallError:
            return False

    def reference(self):
        """How long an undisturbed Apply of the big layer takes."""
        n_old, n_new = (int(x) for x in self.a.big.split(":"))
        path = os.path.join(T, "ref.tar")
        r = self.bus.call("Prepare", "(ssa{ss})", ["ref", "", {}])
        write_layer(path, {"big/old-%05d" % i: b"old %d\n" % i for i in range(n_old)}, [])
        with open(path) as f:
            self.bus.call("Apply", "(sha{sv})", ["ref", 0, {}], fd=f.fileno())
        write_layer(path, {"big/new-%06d" % i: b"new %d\n" % i for i in range(n_new)},
                    ["big/old-%05d" % i for i in range(n_old)])
        t = time.monotonic()
        with open(path) as f:
            self.bus.call("Apply", "(sha{sv})", ["ref", 0, {}], fd=f.fileno())
        self.big_ms = (time.monotonic() - t) * 1000
        del r
        os.unlink(path)
        self.bus.call("Remove", "(s)", ["ref"])

    def main(self):
        self.round = 0
        self.reference()
        print("# %s: seed %d, %d clients, %d rounds; an undisturbed Apply of the big layer (%s) took %.0f ms"
              % (self.sn, self.a.seed, self.a.clients, self.a.rounds, self.a.big, self.big_ms), flush=True)
        self.start_clients()
        t0 = time.monotonic()
        for self.round in range(1, self.a.rounds + 1):
            self.run_round()
            try:
                self.check_round()
            except CampaignOver:
                break
            if self.round % 10 == 0 or self.round == self.a.rounds:
                print("# round %d: %d calls, kills %s, %d failures, %.0f s"
                      % (self.round, self.ops, self.kills, len(self.failures), time.monotonic() - t0), flush=True)
        self.send({"cmd": "quit"})
        for p in self.clients:
            p.wait()
        # The metadata verifies with laminad stopped.
        self.kill("final")
        if self.a.store_check:
            r = subprocess.run([self.a.store_check, os.path.join(T, "state", self.sn)])
            if r.returncode != 0:
                self.fail("store-check of the metadata failed")
        for u in self.unexpected:
            print("# unexpected error: %s" % u, flush=True)
        keep = os.environ.get("LAMINA_CRASH_LOG_DIR")
        if keep and (self.failures or self.unexpected):
            # laminad's log outlives the test directory, to find what happened
            os.makedirs(keep, exist_ok=True)
            dest = os.path.join(keep, "%s-seed%d-bus.log" % (self.sn, self.a.seed))
            with open(os.path.join(T, "bus.log"), "rb") as f, open(dest, "wb") as out:
                out.write(f.read())
            print("# laminad's log: %s" % dest, flush=True)
        print("# %s: %d calls (%d cut off by a kill), %d kills %s, %d checks, %d Unmounts Busy for a copy,"
              " %d unexpected errors, %d failures"
              % (self.sn, self.ops, self.cut, sum(self.kills.values()), self.kills, self.checks,
                 sum(self.held.values()), len(self.unexpected), len(self.failures)), flush=True)
        return 1 if self.failures else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("snapshotter")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--ops", type=int, default=60, help="at most this many calls per client per round")
    ap.add_argument("--max-delay", type=float, default=1.5, help="random kills within this many seconds")
    ap.add_argument("--big", default="300:2000", help="OLD:NEW files of the big layer")
    ap.add_argument("--store-check")
    ap.add_argument("--no-targets", action="store_true", help="mount at laminad's paths only, not at the caller's")
    ap.add_argument("--client", type=int)
    a = ap.parse_args()
    if not T:
        print("LAMINA_TEST_DIR is not set: run under tests/integration/lib/run-test.sh", file=sys.stderr)
        return 2
    if a.client is not None:
        Client(a.client, a.snapshotter, a.seed).serve(tuple(int(x) for x in a.big.split(":")), not a.no_targets)
        return 0
    return Driver(a).main()


if __name__ == "__main__":
    sys.exit(main())
