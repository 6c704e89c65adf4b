#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A client of the crash campaign (crash_campaign.py --client): random calls on its own
# connection and keys, and the model of its snapshots that the checks compare with.
import json
import os
import random
import subprocess
import sys

from crash_lib import (IMAGES, TRANSIENT, T, Bus, CallError, Lines, manifest, applied, tree_is,
                       tree_diff, file_sig, write_layer, data_dir, stat_or_none)


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
        return stat_or_none(self.bus, key)

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
