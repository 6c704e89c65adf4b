#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A desktop-style watcher written with python3-dbus, as a desktop tool would be (nothing of
# lamina's own code): GetManagedObjects on laminad's manager (which makes this connection a
# watcher), one line per object, "ready", then one line per InterfacesAdded,
# InterfacesRemoved and PropertiesChanged that laminad sends, until killed:
#   object|added PATH INTERFACE PROP=VALUE ...      (the properties of the summary below)
#   removed PATH INTERFACE
#   changed PATH INTERFACE PROP=VALUE ...           (the changed ones, sorted)
# Lists are joined with ",". Signals from anyone but laminad's unique name are ignored.
import sys

import dbus
import dbus.mainloop.glib
from gi.repository import GLib

NAME = "org.lamina.snapshot1"
SUMMARY = {
    "org.lamina.snapshot1.Snapshot": ["Key", "Owner", "MountPath"],
    "org.lamina.snapshot1.Image": ["Names", "Top", "TopOwner", "Owner", "ConfigDigest", "ConfigSize"],
    "org.lamina.snapshot1.Mount": ["Key", "Owner", "Snapshot", "Path", "Detached", "Options", "Idmap"],
}


def value(v):
    if isinstance(v, dbus.Boolean):
        return "yes" if v else "no"
    if isinstance(v, dbus.Array):
        return ",".join(str(x) for x in v)
    if isinstance(v, dbus.Dictionary):
        return ",".join("%s=%s" % (k, v[k]) for k in sorted(v))
    return str(v)


def props(names, p):
    return " ".join("%s=%s" % (n, value(p[n])) for n in names if n in p)


def say(line):
    print(line, flush=True)


def objects(what, path, interfaces):
    for iface in sorted(interfaces):
        if iface in SUMMARY:
            say("%s %s %s %s" % (what, path, iface, props(SUMMARY[iface], interfaces[iface])))


def main():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()
    owner = bus.get_name_owner(NAME)

    def added(path, interfaces, sender=None):
        if sender == owner:
            objects("added", path, interfaces)

    def removed(path, interfaces, sender=None):
        if sender == owner:
            for iface in interfaces:
                say("removed %s %s" % (path, iface))

    def changed(iface, changed_props, invalidated, sender=None, path=None):
        if sender == owner:
            say("changed %s %s %s" % (path, iface, props(sorted(changed_props), changed_props)))

    om = "org.freedesktop.DBus.ObjectManager"
    bus.add_signal_receiver(added, "InterfacesAdded", om, sender_keyword="sender")
    bus.add_signal_receiver(removed, "InterfacesRemoved", om, sender_keyword="sender")
    bus.add_signal_receiver(changed, "PropertiesChanged", "org.freedesktop.DBus.Properties",
                            sender_keyword="sender", path_keyword="path")
    try:
        managed = bus.get_object(NAME, "/org/lamina/snapshot1").GetManagedObjects(dbus_interface=om)
    except dbus.DBusException as e:
        say("error %s %s" % (e.get_dbus_name(), e.get_dbus_message()))
        return 1
    for path in sorted(managed):
        objects("object", path, managed[path])
    say("ready")
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
