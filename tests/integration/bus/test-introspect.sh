#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# What the running laminad says about its interfaces (org.freedesktop.DBus.Introspectable)
# is exactly what dbus/org.lamina.snapshot1.*.xml ship, on the Manager, on every
# snapshotter object and on a user/<uid> object; and every method there is let through
# by the bus policy, by name.
set -eu

HARNESS_LIB=${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/lib
. "$HARNESS_LIB/harness.sh"
harness_setup

DBUS_DIR=$LAMINA_SOURCE_DIR/dbus
failed=0

fail() {
        echo "FAIL: $*" >&2
        failed=1
}

# Prints the <interface name="$1"> element (with its children) of the XML on stdin.
interface_block() {
        sed -n "/^ *<interface name=\"$1\">/,/^ *<\/interface>/p"
}

# compare PATH INTERFACE: the live interface equals the shipped one, byte for byte.
compare() {
        busctl --system introspect --xml-interface org.lamina.snapshot1 "$1" >"$T/live.xml" ||
                { fail "cannot introspect $1"; return; }
        interface_block "$2" <"$T/live.xml" >"$T/live.iface"
        interface_block "$2" <"$DBUS_DIR/$2.xml" >"$T/shipped.iface"
        if [ ! -s "$T/live.iface" ]; then
                fail "$1 does not implement $2"
        elif ! diff -u "$T/shipped.iface" "$T/live.iface" >&2; then
                fail "$1: $2 differs from dbus/$2.xml (above: - shipped, + live)"
        else
                echo "ok: $1 $2"
        fi
}

compare /org/lamina/snapshot1 org.lamina.snapshot1.Manager
compare /org/lamina/snapshot1 org.lamina.snapshot1.Monitor

paths=$(busctl --system call org.lamina.snapshot1 /org/lamina/snapshot1 org.lamina.snapshot1.Manager \
        ListSnapshotters | grep -o '"/org/lamina/snapshot1/[^"]*"' | tr -d '"')
[ -n "$paths" ] || fail "ListSnapshotters lists no snapshotter"
for p in $paths; do
        compare "$p" org.lamina.snapshot1.Snapshotter
        compare "$p/user/0" org.lamina.snapshot1.Snapshotter
        compare "$p" org.lamina.snapshot1.Images
        compare "$p/user/0" org.lamina.snapshot1.Images
done

# Every method of the interfaces has its own allow rule in the policy.
for iface in org.lamina.snapshot1.Manager org.lamina.snapshot1.Monitor org.lamina.snapshot1.Snapshotter \
        org.lamina.snapshot1.Images; do
        for m in $(interface_block "$iface" <"$DBUS_DIR/$iface.xml" | sed -n 's/^ *<method name="\([^"]*\)".*/\1/p'); do
                if ! tr -s ' \n' ' ' <"$DBUS_DIR/org.lamina.snapshot1.conf" |
                     grep -q "send_interface=\"$iface\" send_member=\"$m\""; then
                        fail "org.lamina.snapshot1.conf does not allow $iface.$m"
                fi
        done
done
[ "$failed" = 1 ] || echo "ok: the policy lets every method through by name"

exit "$failed"
