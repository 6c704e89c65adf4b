#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# One object per snapshot (org.lamina.snapshot1.Snapshot) and the object manager, against
# real polkitd on the private bus, with a desktop-style client (watch-objects: GetManagedObjects,
# then the signals) of users A and B and of root. Changes by other connections (laminactl):
# A's client sees InterfacesAdded, PropertiesChanged (MountPath, Labels) and InterfacesRemoved for
# A's snapshots and nothing of B's; B's sees B's only; root's sees both. GetManagedObjects
# lists only the caller's own namespace, root's every namespace. Paths escape keys. B cannot introspect or read A's
# object (UnknownObject); A can.
set -u

MONITOR_LIB=${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/monitor
. "$MONITOR_LIB/monitor-lib.sh"

WATCH=$LAMINA_BUILD_DIR/tests/integration/monitor/watch-objects
[ -x "$WATCH" ] || harness_die "$WATCH is not built"
uid_a=$(id -u "$A")
uid_b=$(id -u "$B")
OBJ_A=/org/lamina/snapshot1/overlayfs/snapshot/$uid_a
OBJ_B=/org/lamina/snapshot1/overlayfs/snapshot/$uid_b

# Something to list: A's and B's snapshots from before the clients start.
as "$A" "$LAMINACTL" -q prepare obj-a-old >/dev/null || not_ok "$A cannot prepare obj-a-old"
as "$B" "$LAMINACTL" -q prepare obj-b-old >/dev/null || not_ok "$B cannot prepare obj-b-old"

start_bg a "$A" "^ready" "$WATCH"
start_bg b "$B" "^ready" "$WATCH"
start_bg root root "^ready" "$WATCH"

if [ "$(grep '^object' "$T/a.out")" = "object $OBJ_A/obj_2da_2dold key=obj-a-old owner=$uid_a mount=" ]; then
        ok "GetManagedObjects as A: A's snapshot only, its key escaped in the path"
else
        not_ok "GetManagedObjects as A: $(grep '^object' "$T/a.out")"
fi
if [ "$(grep '^object' "$T/b.out")" = "object $OBJ_B/obj_2db_2dold key=obj-b-old owner=$uid_b mount=" ]; then
        ok "GetManagedObjects as B: B's snapshot only"
else
        not_ok "GetManagedObjects as B: $(grep '^object' "$T/b.out")"
fi

want_root=$(printf '%s\n' "object $OBJ_A/obj_2da_2dold key=obj-a-old owner=$uid_a mount=" \
        "object $OBJ_B/obj_2db_2dold key=obj-b-old owner=$uid_b mount=" | sort)
if [ "$(grep '^object' "$T/root.out" | sort)" = "$want_root" ]; then
        ok "GetManagedObjects as root: every namespace's"
else
        not_ok "GetManagedObjects as root: $(grep '^object' "$T/root.out")"
fi

# Changes by other connections; A's last removal comes last (see test-monitor.sh).
as "$B" "$LAMINACTL" -q prepare obj-b >/dev/null || not_ok "$B cannot prepare obj-b"
as "$A" "$LAMINACTL" -q prepare obj-a >/dev/null || not_ok "$A cannot prepare obj-a"
mnt=$(as "$A" "$LAMINACTL" -q mount obj-a) || not_ok "$A cannot mount obj-a"
as "$A" "$LAMINACTL" -q umount obj-a >/dev/null || not_ok "$A cannot unmount obj-a"
as "$A" "$LAMINACTL" -q commit obj-a-done obj-a >/dev/null || not_ok "$A cannot commit obj-a"
as "$A" "$LAMINACTL" -q label obj-a-done color=blue >/dev/null || not_ok "$A cannot label obj-a-done"
as "$A" "$LAMINACTL" -q rm obj-a-done >/dev/null || not_ok "$A cannot remove obj-a-done"

want_a=$(printf '%s\n' \
        "added $OBJ_A/obj_2da key=obj-a owner=$uid_a mount=" \
        "changed $OBJ_A/obj_2da MountPath=$mnt" \
        "changed $OBJ_A/obj_2da MountPath=" \
        "removed $OBJ_A/obj_2da" \
        "added $OBJ_A/obj_2da_2ddone key=obj-a-done owner=$uid_a mount=" \
        "changed $OBJ_A/obj_2da_2ddone Labels=color=blue" \
        "removed $OBJ_A/obj_2da_2ddone")
# The snapshot objects' signals (test-objects-images-mounts.sh follows the mount and image objects).
events() { grep -v '^object\|^ready' "$T/$1.out" | grep '/snapshot/'; }
harness_wait_for 600 has_lines a "^removed $OBJ_A/obj_2da_2ddone" 1 || not_ok "A's client did not see the last removal"
harness_wait_for 600 has_lines root "^removed $OBJ_A/obj_2da_2ddone" 1 || not_ok "root's client did not see it"
sed 's/^/# a: /' "$T/a.out"; sed 's/^/# b: /' "$T/b.out"; sed 's/^/# root: /' "$T/root.out"
[ "$(events a)" = "$want_a" ] && ok "A's client: added, MountPath changed twice, removed, added, Labels changed, removed; nothing of B" ||
        not_ok "A's client saw: $(events a)"
[ "$(events b)" = "added $OBJ_B/obj_2db key=obj-b owner=$uid_b mount=" ] && ok "B's client: B's snapshot only" ||
        not_ok "B's client saw: $(events b)"
[ "$(events root)" = "$(printf '%s\n' "added $OBJ_B/obj_2db key=obj-b owner=$uid_b mount=" "$want_a")" ] &&
        ok "root's client: every namespace" || not_ok "root's client saw: $(events root)"

# Reading objects: the owner and root may, nobody else (as if it did not exist).
prop() { as "$1" busctl --system get-property org.lamina.snapshot1 "$2" org.lamina.snapshot1.Snapshot "$3" 2>&1; }
[ "$(prop "$A" "$OBJ_A/obj_2da_2dold" Key)" = 's "obj-a-old"' ] && ok "A reads its object's Key" ||
        not_ok "A reading its Key: $(prop "$A" "$OBJ_A/obj_2da_2dold" Key)"
[ "$(prop root "$OBJ_A/obj_2da_2dold" Kind)" = 's "active"' ] && ok "root reads A's object" ||
        not_ok "root reading A's Kind: $(prop root "$OBJ_A/obj_2da_2dold" Kind)"
out=$(prop "$B" "$OBJ_A/obj_2da_2dold" Key)
case $out in
*"Unknown object"*|*UnknownObject*) ok "B cannot read A's object: $out" ;;
*) not_ok "B reading A's Key: $out" ;;
esac
out=$(as "$B" busctl --system introspect org.lamina.snapshot1 "$OBJ_A/obj_2da_2dold" 2>&1)
case $out in
*"Unknown object"*|*UnknownObject*) ok "B cannot introspect A's object" ;;
*) not_ok "B introspecting A's object: $out" ;;
esac
as "$A" busctl --system introspect org.lamina.snapshot1 "$OBJ_A/obj_2da_2dold" | grep -q "org.lamina.snapshot1.Snapshot" &&
        ok "A introspects its object" || not_ok "A cannot introspect its object"
# What the object says about its interface is what dbus/org.lamina.snapshot1.Snapshot.xml ships.
iface_block() { sed -n '/^ *<interface name="org.lamina.snapshot1.Snapshot">/,/^ *<\/interface>/p'; }
as "$A" busctl --system introspect --xml-interface org.lamina.snapshot1 "$OBJ_A/obj_2da_2dold" | iface_block >"$T/live.iface"
iface_block <"$LAMINA_SOURCE_DIR/dbus/org.lamina.snapshot1.Snapshot.xml" >"$T/shipped.iface"
if [ -s "$T/live.iface" ] && diff -u "$T/shipped.iface" "$T/live.iface"; then
        ok "the Snapshot interface is dbus/org.lamina.snapshot1.Snapshot.xml"
else
        not_ok "the Snapshot interface differs from dbus/org.lamina.snapshot1.Snapshot.xml (- shipped, + live)"
fi
out=$(prop "$A" "$OBJ_A/obj_2dnone" Key)
case $out in
*"Unknown object"*|*UnknownObject*) ok "a snapshot that does not exist has no object" ;;
*) not_ok "reading a missing snapshot's object: $out" ;;
esac

kill -TERM "$PID_a" "$PID_b" "$PID_root"
wait "$PID_a" "$PID_b" "$PID_root" 2>/dev/null
[ "$failures" = 0 ] || exit 1
