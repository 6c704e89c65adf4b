#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A raw D-Bus client for test-ctl-import-vanish.sh that leaves the bus mid-Apply (GDBus, like
# tests/integration/hostile/hostile.py):
#
#   vanish-client.py SNAPSHOTTER KEY LAYER GO
#     Prepare KEY transient (label org.lamina.transient = this connection's unique name),
#     View KEY-view transient, Prepare KEY-kept (not transient); then Apply KEY from LAYER
#     (a FIFO whose writer the test holds, opened without blocking) and prints "applying".
#     Once the file GO exists it closes its bus connection (without waiting for the Apply's
#     reply), prints "closed" and sleeps until killed.
#   vanish-client.py SNAPSHOTTER KEY check
#     Prepare KEY with the label naming another connection; prints the error name.
#   vanish-client.py SNAPSHOTTER KEY many N GO
#     N connections each Prepare KEY-i transient; prints one line per connection ("ok" or the
#     error name); then closes the first one, waits for its snapshot to go, Prepares
#     KEY-again transient on a new connection and prints its outcome; then waits for the file GO and exits (closing the rest).
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


def call(conn, obj, method, sig, args):
    return conn.call_sync(SERVICE, obj, IFACE, method, GLib.Variant(sig, tuple(args)), None,
                          Gio.DBusCallFlags.NONE, 60000, None)


def main(argv):
    obj = "/org/lamina/snapshot1/" + argv[1]
    key = argv[2]
    conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    me = conn.get_unique_name()
    if argv[3] == "check":
        try:
            call(conn, obj, "Prepare", "(ssa{ss})", [key, "", {LABEL: ":1.999999"}])
            print("ok")
        except GLib.Error as e:
            print(Gio.DBusError.get_remote_error(e) or str(e))
        return 0
    if argv[3] == "many":
        address = os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
        flags = Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION

        def prepare(name):
            c = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
            try:
                call(c, obj, "Prepare", "(ssa{ss})", [name, "", {LABEL: c.get_unique_name()}])
                return c, "ok"
            except GLib.Error as e:
                return c, Gio.DBusError.get_remote_error(e) or str(e)

        conns = []
        for i in range(int(argv[4])):
            c, result = prepare("%s-%d" % (key, i))
            conns.append(c)
            print(result, flush=True)
        conns[0].close_sync(None)
        # laminad has let that connection go once its snapshot is gone.
        for _ in range(1200):
            try:
                call(conns[1], obj, "Stat", "(s)", [key + "-0"])
            except GLib.Error:
                break
            time.sleep(0.05)
        _, result = prepare(key + "-again")
        print(result, flush=True)
        while not os.path.exists(argv[5]):
            time.sleep(0.05)
        return 0
    layer, go = argv[3], argv[4]
    call(conn, obj, "Prepare", "(ssa{ss})", [key, "", {LABEL: me}])
    call(conn, obj, "View", "(ssa{ss})", [key + "-view", "", {LABEL: me}])
    call(conn, obj, "Prepare", "(ssa{ss})", [key + "-kept", "", {}])
    fd = os.open(layer, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    os.set_blocking(fd, True)
    fds = Gio.UnixFDList()
    fds.append(fd)
    os.close(fd)
    conn.call_with_unix_fd_list(SERVICE, obj, IFACE, "Apply", GLib.Variant("(sha{sv})", (key, 0, {})), None,
                                Gio.DBusCallFlags.NONE, 600000, fds, None, None, None)
    conn.flush_sync(None)
    print("applying", flush=True)
    while not os.path.exists(go):
        time.sleep(0.05)
    conn.close_sync(None)
    print("closed", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
