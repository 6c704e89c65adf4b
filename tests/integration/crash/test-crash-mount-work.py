#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A kill between making a writable mount's own-superblock overlay (with its work directory
# mount-work/<ID>) and recording it leaves the work directory and no record; Cleanup
# removes it (found by the crash campaign: it stayed for ever once the snapshot went),
# while the work directory of a live mount stays and that mount keeps working.
#
#   test-crash-mount-work.py SNAPSHOTTER    (under run-test.sh; btrfs: run-on-btrfs.sh)
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crash_lib as cc  # noqa: E402

sn = sys.argv[1]
work = os.path.join(cc.T, "state", sn, "mount-work")
failures = 0


def check(what, cond):
    global failures
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    failures += not cond


def snapshot_id(data):
    """The ID of a snapshot: the entry of snapshots/ that holds its data."""
    top = os.path.join(cc.T, "state", sn, "snapshots") + "/"
    return data[len(top):].split("/")[0]


if subprocess.run(["strace", "-V"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
    print("strace is not installed", file=sys.stderr)
    sys.exit(77)
bus = cc.Bus(sn)
ids = {}
for key in ("a", "b"):
    ids[key] = snapshot_id(cc.data_dir(sn, bus.call("Prepare", "(ssa{ss})", [key, "", {}])[0]))
path_b = bus.call("Mount", "(ssas)", ["b", "", []])[0]
check("b's mount has its work directory", os.path.isdir(os.path.join(work, ids["b"])))

# laminad killed by strace at fsmount: the overlay's work directory made, nothing recorded.
pid = cc.laminad_pids()[0]
tracer = subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/null", "-p", str(pid), "-e", "trace=fsmount",
                           "-e", "inject=fsmount:signal=SIGKILL"], stderr=subprocess.DEVNULL)
cc.wait_for("strace to attach", lambda: open("/proc/%d/status" % pid).read().count("TracerPid:\t0") == 0, 30)
try:
    bus.call("Mount", "(ssas)", ["a", "", []])
    check("the Mount was killed", False)
except cc.CallError as e:
    check("the Mount was killed (%s)" % e.name, e.cut_off)
tracer.wait()
cc.wait_for("laminad to die", lambda: pid not in cc.laminad_pids() and not bus.has_owner(), 60)
check("the killed Mount left mount-work/%s" % ids["a"], os.path.isdir(os.path.join(work, ids["a"])))
check("a is not mounted", "a" not in {m[0] for m in bus.call("ListMounts")[0]})

bus.call("Cleanup")
check("Cleanup removed the work directory of the killed Mount", not os.path.exists(os.path.join(work, ids["a"])))
check("Cleanup left the work directory of b's live mount", os.path.isdir(os.path.join(work, ids["b"])))
with open(os.path.join(path_b, "after-cleanup"), "w") as f:
    f.write("x")
check("b's mount still works", os.path.exists(os.path.join(path_b, "after-cleanup")))

# The same once the snapshot is gone: a left work directory of a removed snapshot.
os.makedirs(os.path.join(work, ids["a"], "work"), exist_ok=True)
bus.call("Remove", "(s)", ["a"])
bus.call("Cleanup")
check("Cleanup removed the work directory of a removed snapshot", not os.path.exists(os.path.join(work, ids["a"])))
bus.call("Unmount", "(s)", ["b"])
check("b's work directory went with its mount", not os.path.exists(os.path.join(work, ids["b"])))
print("%d failures" % failures)
sys.exit(1 if failures else 0)
