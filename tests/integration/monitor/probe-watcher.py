#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A client that tells which of laminad's signals reach it (python3-dbus):
#   probe-watcher.py objects   GetManagedObjects on laminad's manager: "listed N" or "refused NAME"
#   probe-watcher.py watch     Monitor.Watch: "watching" or "refused NAME"
# then one line per signal laminad sends it ("signal INTERFACE MEMBER PATH"), and for each
# line read from standard input a Ping of laminad answered with "pong": every signal laminad
# sent this connection before it answered the Ping is printed before "pong" (laminad's
# messages to one connection arrive in order), so that a test can tell a signal that did not
# come from one not yet delivered.
#   probe-watcher.py fill UID N   (root) N snapshots in UID's overlayfs namespace, each with
#                                  labels of 64 KiB: more than GetManagedObjects answers
import sys

import dbus
import dbus.mainloop.glib
from gi.repository import GLib

NAME = "org.lamina.snapshot1"
PATH = "/org/lamina/snapshot1"


def say(line):
    print(line, flush=True)


def fill(uid, n):
    bus = dbus.SystemBus()
    obj = bus.get_object(NAME, "%s/overlayfs/user/%d" % (PATH, uid))
    iface = dbus.Interface(obj, "org.lamina.snapshot1.Snapshotter")
    # LABELS_TOTAL_MAX (64 KiB) in 16 pairs of LABEL_PAIR_MAX (4096) bytes at most.
    labels = dbus.Dictionary({"l%02d" % i: "v" * 4000 for i in range(16)}, signature="ss")
    for i in range(n):
        iface.Prepare("big-%d" % i, "", labels, timeout=600)
    say("filled %d" % n)
    return 0


def probe(mode):
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()
    owner = bus.get_name_owner(NAME)
    manager = bus.get_object(NAME, PATH)

    def on_message(_bus, message):
        if message.get_type() == 4 and message.get_sender() == owner:  # a signal
            say("signal %s %s %s" % (message.get_interface(), message.get_member(), message.get_path()))

    bus.add_message_filter(on_message)
    try:
        if mode == "objects":
            objects = manager.GetManagedObjects(dbus_interface="org.freedesktop.DBus.ObjectManager", timeout=600)
            say("listed %d" % len(objects))
        else:
            manager.Watch(dbus_interface="org.lamina.snapshot1.Monitor", timeout=600)
            say("watching")
    except dbus.DBusException as e:
        say("refused %s" % e.get_dbus_name())

    def on_input(source, _condition):
        if not source.readline():
            loop.quit()
            return False
        manager.Ping(dbus_interface="org.freedesktop.DBus.Peer", timeout=600,
                     reply_handler=lambda: say("pong"),
                     error_handler=lambda e: say("ping failed %s" % e.get_dbus_name()))
        return True

    loop = GLib.MainLoop()
    GLib.io_add_watch(sys.stdin, GLib.IO_IN | GLib.IO_HUP, on_input)
    loop.run()
    return 0


def main():
    if sys.argv[1] == "fill":
        return fill(int(sys.argv[2]), int(sys.argv[3]))
    return probe(sys.argv[1])


if __name__ == "__main__":
    sys.exit(main())
