#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A hostile local user for tests/integration/hostile/test-review3-*.sh (the third review of
# laminad as a caller attacks it). GDBus (python3-gi): it sends what sd-bus clients refuse
# to. Prints one result per line; exit 0 unless the tool itself failed.
#
#   review3.py deep-path DEPTH N      N Stat calls on an object path of DEPTH components
#                                     ("/a/a/..."); prints the error name of each
import sys

from hostile import IFACE, SERVICE, bus, error_name  # hostile.py beside it; it requires Gio 2.0
from gi.repository import Gio, GLib  # noqa: E402


def outcome(conn, path, iface, method, body):
    try:
        conn.call_sync(SERVICE, path, iface, method, body, None, Gio.DBusCallFlags.NONE, 120000, None)
        return "ok"
    except GLib.Error as e:
        return error_name(e)


def deep_path(depth, n):
    conn = bus()
    path = "/a" * depth
    for _ in range(n):
        print(outcome(conn, path, IFACE, "Stat", GLib.Variant("(s)", ("k",))), flush=True)


def main(argv):
    if len(argv) == 4 and argv[1] == "deep-path":
        deep_path(int(argv[2]), int(argv[3]))
    else:
        sys.exit("usage: review3.py deep-path DEPTH N")


if __name__ == "__main__":
    main(sys.argv)
