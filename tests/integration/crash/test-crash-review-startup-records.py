#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Parked finding of the crash campaign (suite review-open, skipped unless
# LAMINA_REVIEW_OPEN=1): start-up recovery is linear in the mount records whose mount is
# gone, before laminad serves anyone. Each such record gets a search for holders (every
# open file of the machine) and for copies in other mount namespaces (up to 100 ms of CPU,
# COPIES_MAX_USEC) in core_reconcile_mounts(), called by laminad.c before it takes its
# name. The campaign saw 9 records (writable mounts unmounted while a copy lived on, then
# SIGKILL) make every activation exceed dbus-daemon's 25 s: laminad never served again,
# since a search that runs out of budget (E2BIG) keeps the record as held, to be searched
# again at the next start. Here: 20 mounts unmounted while a copy lives in another
# namespace, laminad killed, the copy gone; the next start must cost little CPU.
#
#   test-crash-review-startup-records.py SNAPSHOTTER    (under run-test.sh)
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crash_campaign as cc  # noqa: E402

N = 20
if os.environ.get("LAMINA_REVIEW_OPEN") != "1":
    print("a parked finding: runs with LAMINA_REVIEW_OPEN=1", file=sys.stderr)
    sys.exit(77)
sn = sys.argv[1]
bus = cc.Bus(sn)
paths = []
for i in range(N):
    bus.call("Prepare", "(ssa{ss})", ["k%d" % i, "", {}])
    paths.append(bus.call("Mount", "(ssas)", ["k%d" % i, "", []])[0])
holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sleep", "1000"])
cc.wait_for("the copy", lambda: os.readlink("/proc/%d/ns/mnt" % holder.pid) != os.readlink("/proc/self/ns/mnt"), 30)
for p in paths:
    subprocess.run(["umount", "-l", p], check=True)
pid = cc.laminad_pids()[0]
os.kill(pid, signal.SIGKILL)
cc.wait_for("laminad to die", lambda: pid not in cc.laminad_pids(), 60)
holder.kill()
holder.wait()


def up():
    try:
        bus.call("ListMounts")
        return True
    except cc.CallError:
        return False


start = time.monotonic()
cc.wait_for("laminad to serve", up, 600)
wall = time.monotonic() - start
pid = cc.laminad_pids()[0]
st = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
ok = cpu < 0.5
print("%s - start-up with %d records of mounts gone: %.2f s of CPU (%.1f s wall) before serving"
      % ("ok" if ok else "not ok", N, cpu, wall))
sys.exit(0 if ok else 1)
