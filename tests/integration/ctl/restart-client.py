#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A raw D-Bus client for test-ctl-transient-restart.sh (GDBus, like vanish-client.py):
#
#   restart-client.py SNAPSHOTTER DIR
#     Two connections each Prepare a transient snapshot (label org.lamina.transient = the
#     connection's unique name): "left" and "stays"; prints "ready". Once DIR/close-left
#     exists it closes the first connection and prints "closed left"; once DIR/close-stays
#     exists, the second ("closed stays"); then sleeps until killed.
import os
import sys
import time

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

SERVICE = "org.lamina.snapshot1"
IFACE = "org.lamina.snapshot1.Snapshotter"
LABEL = "org.lamina.transient"


def connect():
    flags = Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION
    return Gio.DBusConnection.new_for_address_sync(os.environ["DBUS_SYSTEM_BUS_ADDRESS"], flags, None, None)


def wait_file(path):
    while not os.path.exists(path):
        time.sleep(0.05)


def main(argv):
    obj = "/org/lamina/snapshot1/" + argv[1]
    conns = {}
    for key in ("left", "stays"):
        c = connect()
        c.call_sync(SERVICE, obj, IFACE, "Prepare", GLib.Variant("(ssa{ss})", (key, "", {LABEL: c.get_unique_name()})),
                    None, Gio.DBusCallFlags.NONE, 60000, None)
        conns[key] = c
    print("ready", flush=True)
    for key in ("left", "stays"):
        wait_file(os.path.join(argv[2], "close-" + key))
        conns[key].close_sync(None)
        print("closed " + key, flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
