#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A finding of the crash campaign (mended): an Apply to one snapshot made the Unmount of
# ANOTHER snapshot's writable (own-superblock) mount Busy while it ran. The Apply's
# confined writer (layer-sandbox.c) unshared a mount namespace, which copies every mount
# of laminad's, the other snapshot's overlay included, and kept it; Unmount then found the
# overlay's superblock alive and answered Busy ("its filesystem is still in use ...
# unmount with force"), and the snapshot stayed busy (no Commit, Apply, Remove) until that
# Apply ended. The campaign saw it as "Unmounts Busy for a copy" with three clients; an
# Apply may run for minutes. Now the writer, like the parser, detaches them all.
#
#   test-crash-review-unmount-apply.py SNAPSHOTTER    (under run-test.sh)
import os
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crash_lib as cc  # noqa: E402

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


def children_confined():
    """The unpack helper's parser and writer both run under their seccomp filters, which
    they load after their mount namespaces are set up (then blocked reading the pipe)."""
    helper = os.popen("pgrep -P %d lamina-unpack" % laminad).read().split()
    kids = os.popen("pgrep -P %s" % helper[0]).read().split() if helper else []
    confined = 0
    for k in kids:
        try:
            with open("/proc/%s/status" % k) as f:
                confined += "Seccomp:\t2\n" in f.read()
        except OSError:
            pass
    return confined == 2


cc.wait_for("the Apply's parser and writer", children_confined, 300)
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
