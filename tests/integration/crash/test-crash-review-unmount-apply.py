#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Parked finding of the crash campaign (suite review-open, skipped unless
# LAMINA_REVIEW_OPEN=1): an Apply to one snapshot makes the Unmount of ANOTHER snapshot's
# writable (own-superblock) mount Busy while it runs. The Apply's confined parser
# (layer-sandbox.c) unshares a mount namespace, which copies every mount of laminad's,
# the other snapshot's overlay included; Unmount then finds the overlay's superblock alive
# and answers Busy ("its filesystem is still in use ... unmount with force"), and the
# snapshot stays busy (no Commit, Apply, Remove) until that Apply ends. The campaign saw it
# as "Unmounts Busy for a copy" with three clients; an Apply may run for minutes.
#
#   test-crash-review-unmount-apply.py SNAPSHOTTER    (under run-test.sh)
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crash_campaign as cc  # noqa: E402

if os.environ.get("LAMINA_REVIEW_OPEN") != "1":
    print("a parked finding: runs with LAMINA_REVIEW_OPEN=1", file=sys.stderr)
    sys.exit(77)
sn = sys.argv[1]
bus = cc.Bus(sn)
bus.call("Prepare", "(ssa{ss})", ["mounted", "", {}])
bus.call("Prepare", "(ssa{ss})", ["applied", "", {}])
bus.call("Mount", "(ssas)", ["mounted", "", []])
# An Apply from a pipe that delivers nothing yet: its parser runs and waits.
r, w = os.pipe()
result = {}


def apply():
    try:
        cc.Bus(sn).call("Apply", "(sha{sv})", ["applied", 0, {}], fd=r)
        result["apply"] = "ok"
    except cc.CallError as e:
        result["apply"] = e.name


thread = threading.Thread(target=apply)
thread.start()
laminad = cc.laminad_pids()[0]
cc.wait_for("the Apply's parser", lambda: os.popen("pgrep -P %d lamina-unpack" % laminad).read().strip(), 60)
time.sleep(0.5)  # its namespace made (it is then blocked reading the pipe)
try:
    bus.call("Unmount", "(s)", ["mounted"])
    outcome = "ok"
except cc.CallError as e:
    outcome = str(e)
os.write(w, bytes(1024))  # the end of an empty archive
os.close(w)
thread.join()
print("# the Apply: %s" % result.get("apply"))
print("%s - Unmount of another snapshot while an Apply runs: %s" % ("ok" if outcome == "ok" else "not ok", outcome))
sys.exit(0 if outcome == "ok" else 1)
