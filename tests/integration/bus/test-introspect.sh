#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# What the running laminad says about its interfaces (org.freedesktop.DBus.Introspectable)
# is exactly what dbus/org.lamina.snapshot1.*.xml ship, on the Manager, on every
# snapshotter object and on a user/<uid> object, and on the default snapshotter's second
# path (/org/lamina/snapshot1/default), which acts on the same snapshots; and every method
# there is let through by the bus policy, by name.
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

# The default snapshotter also answers at /org/lamina/snapshot1/default: the same snapshots.
S=org.lamina.snapshot1
SN=org.lamina.snapshot1.Snapshotter
D=/org/lamina/snapshot1/default
compare $D $SN
compare $D/user/0 $SN
compare $D org.lamina.snapshot1.Images
compare $D/user/0 org.lamina.snapshot1.Images
def=$(busctl --system get-property $S /org/lamina/snapshot1 org.lamina.snapshot1.Manager DefaultSnapshotter |
      sed 's/^s "\(.*\)"$/\1/')
busctl --system call $S $D $SN Prepare 'ssa{ss}' by-default "" 0 >/dev/null || fail "Prepare at $D failed"
busctl --system call $S "/org/lamina/snapshot1/$def" $SN Stat s by-default >/dev/null ||
        fail "what Prepare made at $D is not found at /org/lamina/snapshot1/$def"
busctl --system call $S $D/user/0 $SN Stat s by-default >/dev/null || fail "$D/user/0 does not find it"
for p in $paths; do
        [ "$p" = "/org/lamina/snapshot1/$def" ] && continue
        busctl --system call $S "$p" $SN Prepare 'ssa{ss}' elsewhere "" 0 >/dev/null || fail "Prepare at $p failed"
        if busctl --system call $S $D $SN Stat s elsewhere >/dev/null 2>&1; then
                fail "$D finds a snapshot of $p"
        fi
done
busctl --system call $S $D $SN Remove s by-default >/dev/null || fail "Remove at $D failed"
[ "$failed" = 1 ] || echo "ok: $D acts on the snapshots of the default snapshotter ($def) only"

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
