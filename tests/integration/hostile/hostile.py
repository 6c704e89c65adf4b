#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A hostile local user, and its victim, for tests/integration/hostile. GDBus (python3-gi)
# because it can send what sd-bus clients cannot: extra fds on a message, and a polkit
# authentication agent that never answers. Prints one result per line; exit 0 unless the
# tool itself failed (the shell test judges the results).
#
#   hostile.py victim SECONDS OUT KEY     Stat KEY and List it every 20 ms; OUT: "S|L ms" lines
#   hostile.py labels N KEY               Prepare KEY with N labels in descending key order
#   hostile.py bigkey MIB                 Remove of a MIB-sized key
#   hostile.py pin N FDS KEY              polkit agent that never answers, then N interactive
#                                         Apply calls with FDS fds each; holds until killed
#   hostile.py fill N KIB PREFIX          N snapshots PREFIX-i with KIB KiB of labels each
#   hostile.py list [FILTER]              List; prints ok N or the error name
#   hostile.py pages LIMIT                ListPage through everything; prints pages N items M
#   hostile.py page FILTER                one ListPage with FILTER; prints ok N or the error name
#   hostile.py images N KIB               N committed snapshots with KIB KiB of labels each, an
#                                         image name for each; prints images ok
#   hostile.py image-get N                Properties.GetAll of the caller's first image object N
#                                         times; prints got N or the error name
#   hostile.py stall N PREFIX             Prepare PREFIX-1..N, then Apply each from a pipe that
#                                         never delivers; prints the outcomes and seconds taken
#   hostile.py lowat KEY                  Prepare KEY, then Apply it from a socket that sent one
#                                         byte and asks readers to wait for a MiB (SO_RCVLOWAT);
#                                         prints the outcome and seconds taken
#   hostile.py call METHOD SIG ARGS-JSON  one call, prints ok or the error name
import json
import os
import resource
import socket
import sys
import time

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

SERVICE = "org.lamina.snapshot1"
OBJ = "/org/lamina/snapshot1/" + os.environ.get("LAMINA_HOSTILE_SNAPSHOTTER", "overlayfs")
IFACE = "org.lamina.snapshot1.Snapshotter"
POLKIT = "org.freedesktop.PolicyKit1"
AGENT_PATH = "/org/lamina/test/agent"
AGENT_XML = """<node><interface name="org.freedesktop.PolicyKit1.AuthenticationAgent">
 <method name="BeginAuthentication"><arg type="s" direction="in"/><arg type="s" direction="in"/>
  <arg type="s" direction="in"/><arg type="a{ss}" direction="in"/><arg type="s" direction="in"/>
  <arg type="a(sa{sv})" direction="in"/></method>
 <method name="CancelAuthentication"><arg type="s" direction="in"/></method>
</interface></node>"""


def bus():
    return Gio.bus_get_sync(Gio.BusType.SYSTEM, None)


def error_name(e):
    return Gio.DBusError.get_remote_error(e) or str(e)


def call(conn, method, sig, args, timeout_ms=120000, flags=Gio.DBusCallFlags.NONE):
    body = args if isinstance(args, GLib.Variant) else GLib.Variant(sig, tuple(args)) if sig else None
    return conn.call_sync(SERVICE, OBJ, IFACE, method, body, None, flags, timeout_ms, None)


def outcome(conn, method, sig, args, **kw):
    try:
        call(conn, method, sig, args, **kw)
        return "ok"
    except GLib.Error as e:
        return error_name(e)


def victim(seconds, out, key):
    conn = bus()
    lat = []
    failures = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for method, sig, args in (("Stat", "(s)", [key]), ("List", "(as)", [["name==" + key]])):
            t = time.monotonic()
            r = outcome(conn, method, sig, args, timeout_ms=20000)
            lat.append((method[0], (time.monotonic() - t) * 1000))
            if r != "ok":
                failures += 1
                print("victim %s: %s" % (method, r), flush=True)
        time.sleep(0.02)
    with open(out, "w") as f:
        f.write("".join("%s %.3f\n" % x for x in lat))
    print("victim calls %d failures %d" % (len(lat), failures))


def labels(n, key):
    conn = bus()
    pairs = {"k%08d" % (n - i): "v" for i in range(n)}  # descending
    body = GLib.Variant("(ssa{ss})", (key, "", pairs))  # built before the clock starts
    t = time.monotonic()
    r = outcome(conn, "Prepare", None, body)
    print("%s %.3f" % (r, time.monotonic() - t))


def bigkey(mib):
    conn = bus()
    t = time.monotonic()
    r = outcome(conn, "Remove", "(s)", ["k" * (mib << 20)])
    print("%s %.3f" % (r, time.monotonic() - t))


def register_agent(conn):
    info = Gio.DBusNodeInfo.new_for_xml(AGENT_XML).interfaces[0]
    held = []

    def on_call(c, sender, path, iface, method, params, invocation):
        if method == "BeginAuthentication":
            held.append(invocation)  # never answered
        else:
            invocation.return_value(None)

    conn.register_object(AGENT_PATH, info, on_call, None, None)
    with open("/proc/self/stat") as f:
        start_time = int(f.read().rsplit(")", 1)[1].split()[19])
    subject = ("unix-process", {"pid": GLib.Variant("u", os.getpid()),
                                "start-time": GLib.Variant("t", start_time),
                                "uid": GLib.Variant("i", os.getuid())})
    conn.call_sync(POLKIT, "/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.PolicyKit1.Authority",
                   "RegisterAuthenticationAgent", GLib.Variant("((sa{sv})ss)", (subject, "C", AGENT_PATH)),
                   None, Gio.DBusCallFlags.NONE, 10000, None)
    return held


def pin(n, nfds, key):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the attacker needs n * nfds
    conn = bus()
    held = register_agent(conn)
    results = {}
    loop = GLib.MainLoop()
    pending = [n]

    def done(c, res, _):
        try:
            c.call_with_unix_fd_list_finish(res)
            r = "ok"
        except GLib.Error as e:
            r = error_name(e)
        results[r] = results.get(r, 0) + 1
        pending[0] -= 1

    layer, _ = os.pipe()  # a valid layer that never delivers
    for i in range(n):
        fds = Gio.UnixFDList()
        for _ in range(nfds):
            fds.append(layer)
        conn.call_with_unix_fd_list(SERVICE, OBJ, IFACE, "Apply", GLib.Variant("(sha{sv})", (key, 0, {})),
                                    None, Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION, 600000, fds,
                                    None, done, None)
    # Report what was refused at once; the rest stay pending with the agent.
    GLib.timeout_add(3000, loop.quit)
    loop.run()
    print("pin sent %d answered %s waiting-agent %d" % (n, json.dumps(results, sort_keys=True), len(held)),
          flush=True)
    loop = GLib.MainLoop()
    loop.run()


def fill(n, kib, prefix):
    conn = bus()
    for i in range(n):
        lab = {"l%03d" % j: "x" * 1000 for j in range(kib)}
        r = outcome(conn, "Prepare", "(ssa{ss})", ["%s-%d" % (prefix, i), "", lab])
        if r != "ok":
            print("fill %d: %s" % (i, r))
            return
    print("fill ok")


def do_list(flt):
    conn = bus()
    t = time.monotonic()
    try:
        v = call(conn, "List", "(as)", [[flt] if flt else []])
        print("ok %d %.3f" % (len(v.unpack()[0]), time.monotonic() - t))
    except GLib.Error as e:
        print("%s %.3f %s" % (error_name(e), time.monotonic() - t, e.message))


def pages(limit):
    conn = bus()
    cursor, n_pages, n_items, names = "", 0, 0, set()
    while True:
        infos, cursor = call(conn, "ListPage", "(assu)", [[], cursor, limit]).unpack()
        n_pages += 1
        n_items += len(infos)
        names.update((i[0], i[6]) for i in infos)
        if not cursor:
            break
    print("pages %d items %d distinct %d" % (n_pages, n_items, len(names)))


def page(flt):
    try:
        infos, _ = call(bus(), "ListPage", "(assu)", [[flt], "", 100]).unpack()
        print("ok %d" % len(infos))
    except GLib.Error as e:
        print("%s %s" % (error_name(e), e.message))


def images(n, kib):
    conn = bus()
    lab = {"l%03d" % j: "x" * 1000 for j in range(kib)}
    for i in range(n):
        for method, sig, args in (("Prepare", "(ssa{ss})", ["img-a-%d" % i, "", {}]),
                                  ("Commit", "(ssa{ss})", ["img-c-%d" % i, "img-a-%d" % i, lab])):
            r = outcome(conn, method, sig, args)
            if r != "ok":
                print("images %d: %s %s" % (i, method, r))
                return
        try:
            conn.call_sync(SERVICE, OBJ, "org.lamina.snapshot1.Images", "CreateImage",
                           GLib.Variant("(sss)", ("img%d:latest" % i, "img-c-%d" % i, "{}")),
                           None, Gio.DBusCallFlags.NONE, 120000, None)
        except GLib.Error as e:
            print("images %d: CreateImage %s" % (i, error_name(e)))
            return
    print("images ok")


def image_get(n):
    conn = bus()
    # The first image's object: its top is the first snapshot the caller made (IDs count up).
    for top in range(1, 100):
        path = "%s/image/%d/%d" % (OBJ, os.getuid(), top)
        try:
            for i in range(n):
                conn.call_sync(SERVICE, path, "org.freedesktop.DBus.Properties", "GetAll",
                               GLib.Variant("(s)", ("org.lamina.snapshot1.Image",)), None,
                               Gio.DBusCallFlags.NONE, 120000, None)
            print("got %d" % n)
            return
        except GLib.Error as e:
            if i > 0:
                print(error_name(e))
                return
    print("no image object")


def stall(n, prefix):
    conn = bus()
    for i in range(1, n + 1):
        r = outcome(conn, "Prepare", "(ssa{ss})", ["%s-%d" % (prefix, i), "", {}])
        if r != "ok":
            print("stall: prepare %d: %s" % (i, r))
            return
    loop = GLib.MainLoop()
    results = []
    writers = []
    start = time.monotonic()

    def done(c, res, _):
        try:
            c.call_with_unix_fd_list_finish(res)
            results.append(("ok", time.monotonic() - start, ""))
        except GLib.Error as e:
            results.append((error_name(e), time.monotonic() - start, e.message))
        if len(results) == n:
            loop.quit()

    for i in range(1, n + 1):
        r, w = os.pipe()
        writers.append(w)  # held open, never written
        fds = Gio.UnixFDList()
        fds.append(r)
        os.close(r)
        conn.call_with_unix_fd_list(SERVICE, OBJ, IFACE, "Apply",
                                    GLib.Variant("(sha{sv})", ("%s-%d" % (prefix, i), 0, {})),
                                    None, Gio.DBusCallFlags.NONE, 120000, fds, None, done, None)
    loop.run()
    for name, seconds, message in sorted(results):
        print("%s %.1f %s" % (name, seconds, message))


def lowat(key):
    conn = bus()
    r = outcome(conn, "Prepare", "(ssa{ss})", [key, "", {}])
    if r != "ok":
        print("lowat: prepare: %s" % r)
        return
    layer, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    # A blocking read of this socket waits for a MiB, though poll() says it is readable.
    layer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1 << 20)
    peer.sendall(b"x")  # peer stays open (and silent) until this process exits
    fds = Gio.UnixFDList()
    fds.append(layer.fileno())
    layer.close()
    start = time.monotonic()
    try:
        conn.call_with_unix_fd_list_sync(SERVICE, OBJ, IFACE, "Apply", GLib.Variant("(sha{sv})", (key, 0, {})),
                                         None, Gio.DBusCallFlags.NONE, 30000, fds, None)
        name, message = "ok", ""
    except GLib.Error as e:
        name, message = error_name(e), e.message
    print("%s %.1f %s" % (name, time.monotonic() - start, message))
    peer.close()


def main(argv):
    cmd = argv[1]
    if cmd == "victim":
        victim(float(argv[2]), argv[3], argv[4])
    elif cmd == "labels":
        labels(int(argv[2]), argv[3])
    elif cmd == "bigkey":
        bigkey(int(argv[2]))
    elif cmd == "pin":
        pin(int(argv[2]), int(argv[3]), argv[4])
    elif cmd == "fill":
        fill(int(argv[2]), int(argv[3]), argv[4])
    elif cmd == "list":
        do_list(argv[2] if len(argv) > 2 else "")
    elif cmd == "pages":
        pages(int(argv[2]))
    elif cmd == "page":
        page(argv[2])
    elif cmd == "images":
        images(int(argv[2]), int(argv[3]))
    elif cmd == "image-get":
        image_get(int(argv[2]))
    elif cmd == "stall":
        stall(int(argv[2]), argv[3])
    elif cmd == "lowat":
        lowat(argv[2])
    elif cmd == "call":
        print(outcome(bus(), argv[2], argv[3], json.loads(argv[4])))
    elif cmd == "objects":
        try:
            bus().call_sync(SERVICE, "/org/lamina/snapshot1", "org.freedesktop.DBus.ObjectManager",
                            "GetManagedObjects", None, None, Gio.DBusCallFlags.NONE, 120000, None)
            print("ok")
        except GLib.Error as e:
            print(error_name(e))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
