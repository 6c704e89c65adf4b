#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Root's chain of N committed layers L1..LN on snapshotter SN (L1 the bottom), made over one
# bus connection (a gdbus process per call would take minutes for 500 layers).
#
#   make-chain.py SN N
import sys

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402


def main(sn, n):
    conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)

    def call(method, sig, args):
        conn.call_sync("org.lamina.snapshot1", "/org/lamina/snapshot1/" + sn, "org.lamina.snapshot1.Snapshotter",
                       method, GLib.Variant(sig, args), None, Gio.DBusCallFlags.NONE, 120000, None)

    for i in range(1, n + 1):
        call("Prepare", "(ssa{ss})", ("a%d" % i, "L%d" % (i - 1) if i > 1 else "", {}))
        call("Commit", "(ssa{ss})", ("L%d" % i, "a%d" % i, {}))
    print("chain L1..L%d" % n)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
