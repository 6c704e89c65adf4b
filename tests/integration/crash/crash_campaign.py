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
import json
import os
import random
import signal
import subprocess
import sys
import time

from crash_client import Client
from crash_lib import (SERVICE, IFACE, T, Bus, CallError, Lines, write_layer, laminad_pids,
                       wait_for, kernel_mounts, stat_or_none)


# ---- the driver ----------------------------------------------------------------------

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
        return stat_or_none(self.bus, key)

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
