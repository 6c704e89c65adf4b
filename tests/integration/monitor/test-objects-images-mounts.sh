#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The image and mount objects (org.lamina.snapshot1.Image, .Mount) and the object manager,
# against real polkitd on the private bus, watched by a python3-dbus client
# (watch-objects.py) of users A and B and of root. A's image and mount changes made by
# other connections of A (busctl, laminactl) reach A's client as InterfacesAdded,
# PropertiesChanged and InterfacesRemoved, and nothing of B's; B's client sees B's only;
# root's sees both. GetManagedObjects lists the caller's own images only. Paths carry IDs,
# never names or keys. B can neither read nor introspect A's image and mount objects.
set -u

MONITOR_LIB=${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/monitor
. "$MONITOR_LIB/monitor-lib.sh"

WATCH=$MONITOR_LIB/watch-objects.py
harness_need_python_dbus
uid_a=$(id -u "$A")
uid_b=$(id -u "$B")
SNAPSHOTTER=/org/lamina/snapshot1/overlayfs
IMG=org.lamina.snapshot1.Image
MNT=org.lamina.snapshot1.Mount

call() { # USER METHOD SIGNATURE ARGS...: an Images/Snapshotter call by another connection of USER
        local u=$1 iface=org.lamina.snapshot1.Images
        shift
        case $1 in Mount*|Unmount*) iface=org.lamina.snapshot1.Snapshotter ;; esac
        as "$u" busctl --system call org.lamina.snapshot1 "$SNAPSHOTTER" "$iface" "$@"
}
config='{"architecture":"amd64","os":"linux"}'
digest=sha256:$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)

for u in "$A" "$B"; do
        as "$u" "$LAMINACTL" -q prepare base >/dev/null &&
                as "$u" "$LAMINACTL" -q commit top base >/dev/null &&
                as "$u" "$LAMINACTL" -q prepare base2 >/dev/null &&
                as "$u" "$LAMINACTL" -q commit top2 base2 >/dev/null || not_ok "$u cannot make its layers"
done
call "$A" CreateImage sss old:1 top "$config" >/dev/null || not_ok "$A cannot create image old:1"

start_bg a "$A" "^ready" /usr/bin/python3 -I "$WATCH"
start_bg b "$B" "^ready" /usr/bin/python3 -I "$WATCH"
start_bg root root "^ready" /usr/bin/python3 -I "$WATCH"
# laminactl monitor prints the same object signals: A's in JSON, root's as text.
start_bg mona "$A" "Watching" "$LAMINACTL" monitor --json=short
start_bg monroot root "Watching" "$LAMINACTL" monitor

# Enumeration: A's image, one object named by the ID of its top, with names, top, digest.
img_a=$(awk -v i=$IMG '$1 == "object" && $3 == i { print $2 }' "$T/a.out")
case $img_a in
"$SNAPSHOTTER/image/$uid_a/"[1-9]*) ok "GetManagedObjects as A: its image at $img_a (an ID, no name)" ;;
*) not_ok "GetManagedObjects as A: image objects '$img_a'" ;;
esac
want="object $img_a $IMG Names=old:1 Top=top TopOwner=$uid_a Owner=$uid_a ConfigDigest=$digest ConfigSize=${#config}"
grep -qxF "$want" "$T/a.out" && ok "A's image object: names, top, owner, config digest and size" ||
        not_ok "A's image object: $(grep "$IMG" "$T/a.out")"
grep -q "$IMG" "$T/b.out" && not_ok "B lists an image: $(grep "$IMG" "$T/b.out")" || ok "GetManagedObjects as B: no image"
grep -qxF "$want" "$T/root.out" && ok "GetManagedObjects as root: A's image" || not_ok "root's list: $(cat "$T/root.out")"

# Changes by other connections.
call "$A" TagImage ss old:1 old:2 >/dev/null || not_ok "$A cannot tag old:1"
call "$B" CreateImage sss b:1 top "" >/dev/null || not_ok "$B cannot create b:1"
call "$A" CreateImage sss app:1 top2 "" >/dev/null || not_ok "$A cannot create app:1"
as "$A" "$LAMINACTL" -q prepare work top >/dev/null || not_ok "$A cannot prepare work"
mnt=$(as "$A" "$LAMINACTL" -q mount work -o noexec) || not_ok "$A cannot mount work"

harness_wait_for 600 grep -q "^added .* $MNT " "$T/a.out" || not_ok "A's client did not see the mount"
mnt_a=$(awk -v i=$MNT '$1 == "added" && $3 == i { print $2 }' "$T/a.out")
case $mnt_a in
"$SNAPSHOTTER/mount/$uid_a/"[1-9]*) ok "A's mount object at $mnt_a (an ID, no key)" ;;
*) not_ok "A's mount objects: '$mnt_a'" ;;
esac
get() { as "$1" busctl --system get-property org.lamina.snapshot1 "$2" "$3" "$4" 2>&1; }
[ "$(get "$A" "$mnt_a" $MNT Path)" = "s \"$mnt\"" ] && ok "A reads its mount's Path" ||
        not_ok "A reading its mount's Path: $(get "$A" "$mnt_a" $MNT Path)"
[ "$(get root "$img_a" $IMG Names)" = 'as 2 "old:1" "old:2"' ] && ok "root reads A's image's Names" ||
        not_ok "root reading A's Names: $(get root "$img_a" $IMG Names)"
for o in "$img_a $IMG Names" "$mnt_a $MNT Key"; do
        set -- $o
        out=$(get "$B" "$1" "$2" "$3")
        case $out in
        *"Unknown object"*|*UnknownObject*) ok "B cannot read $2 of A: $out" ;;
        *) not_ok "B reading A's $1: $out" ;;
        esac
        out=$(as "$B" busctl --system introspect org.lamina.snapshot1 "$1" 2>&1)
        case $out in
        *"Unknown object"*|*UnknownObject*) ok "B cannot introspect A's $2 object" ;;
        *) not_ok "B introspecting A's $1: $out" ;;
        esac
        # What the object says about its interface is what dbus/$2.xml ships.
        as "$A" busctl --system introspect --xml-interface org.lamina.snapshot1 "$1" |
                sed -n "/^ *<interface name=\"$2\">/,/^ *<\/interface>/p" >"$T/live.iface"
        sed -n "/^ *<interface name=\"$2\">/,/^ *<\/interface>/p" "$LAMINA_SOURCE_DIR/dbus/$2.xml" >"$T/shipped.iface"
        if [ -s "$T/live.iface" ] && diff -u "$T/shipped.iface" "$T/live.iface"; then
                ok "the $2 interface is dbus/$2.xml"
        else
                not_ok "the $2 interface differs from dbus/$2.xml (- shipped, + live)"
        fi
done

as "$A" "$LAMINACTL" -q umount work >/dev/null || not_ok "$A cannot unmount work"
# A mount handed out as a fd (busctl closes it when it exits: released, then forgotten by Unmount).
call "$A" MountFd sas work 0 >/dev/null || not_ok "$A cannot get a mount fd"
as "$A" "$LAMINACTL" -q umount work >/dev/null || not_ok "$A cannot forget the released mount fd"
call "$A" UntagImage s old:1 >/dev/null || not_ok "$A cannot untag old:1"
call "$A" RemoveImage s app:1 >/dev/null || not_ok "$A cannot remove app:1"
call "$A" RemoveImage s old:2 >/dev/null || not_ok "$A cannot remove old:2"
# B's last change after all of A's: once B's client has it, anything of A's that reached B
# (sent before, in order) would have arrived too.
call "$B" UntagImage s b:1 >/dev/null || not_ok "$B cannot untag b:1"

harness_wait_for 600 grep -qxF "removed $img_a $IMG" "$T/a.out" || not_ok "A's client did not see the last removal"
harness_wait_for 600 grep -qxF "removed $img_a $IMG" "$T/root.out" || not_ok "root's client did not see it"
harness_wait_for 600 grep -q "^added .*/image/$uid_b/" "$T/root.out" || not_ok "root's client did not see B's image"
harness_wait_for 600 grep -q "^removed .*/image/$uid_b/" "$T/b.out" || not_ok "B's client did not see B's last change"
harness_wait_for 600 grep -q "^removed .*/image/$uid_b/" "$T/root.out" || not_ok "root's client did not see B's last change"
sed 's/^/# a: /' "$T/a.out"; sed 's/^/# b: /' "$T/b.out"; sed 's/^/# root: /' "$T/root.out"

# Image and mount events, timestamps left out (and the second image's path, learnt here).
events() { grep -v '^object\|^ready' "$T/$1.out" | grep " $IMG\| $MNT\|/snapshot/.*top2" | sed -E 's/ (Created|Updated)=[0-9]+//g'; }
img2_a=$(awk -v i=$IMG '$1 == "added" && $3 == i && $4 == "Names=app:1" { print $2 }' "$T/a.out")
snap_top2=$SNAPSHOTTER/snapshot/$uid_a/top2
want_a=$(printf '%s\n' \
        "changed $img_a $IMG ConfigDigest=$digest ConfigSize=${#config} Names=old:1,old:2" \
        "added $img2_a $IMG Names=app:1 Top=top2 TopOwner=$uid_a Owner=$uid_a ConfigDigest= ConfigSize=0" \
        "added $mnt_a $MNT Key=work Owner=$uid_a Snapshot=$SNAPSHOTTER/snapshot/$uid_a/work Path=$mnt Detached=no Options=noexec,nosuid,nodev Idmap=no" \
        "removed $mnt_a $MNT" \
        "added $mnt_a $MNT Key=work Owner=$uid_a Snapshot=$SNAPSHOTTER/snapshot/$uid_a/work Path= Detached=yes Options=nosuid,nodev Idmap=no" \
        "removed $mnt_a $MNT" \
        "changed $img_a $IMG ConfigDigest=$digest ConfigSize=${#config} Names=old:2" \
        "removed $img2_a $IMG" \
        "removed $snap_top2 org.lamina.snapshot1.Snapshot" \
        "removed $img_a $IMG")
[ "$(events a)" = "$want_a" ] && ok "A's client: image changed, added, mount added and removed (path, then fd), names changed, images and a layer removed" ||
        not_ok "A's client saw: $(events a) -- wanted: $want_a"
grep -q "/$uid_a/" "$T/b.out" && not_ok "B's client saw something of A's: $(grep "/$uid_a/" "$T/b.out")" ||
        ok "B's client: nothing of A's"
img_b=$(awk -v i=$IMG '$1 == "added" && $3 == i { print $2 }' "$T/b.out")
want_b=$(printf '%s\n' "added $img_b $IMG Names=b:1 Top=top TopOwner=$uid_b Owner=$uid_b ConfigDigest= ConfigSize=0" \
        "removed $img_b $IMG")
case $img_b in "$SNAPSHOTTER/image/$uid_b/"[1-9]*) ;; *) not_ok "B's image object: '$img_b'" ;; esac
[ "$(events b)" = "$want_b" ] && ok "B's client: B's image added and removed, nothing else" ||
        not_ok "B's client saw: $(events b)"
[ "$(events root | grep -v "/$uid_b/")" = "$want_a" ] && [ "$(events root | grep "/$uid_b/")" = "$want_b" ] &&
        ok "root's client: A's and B's" || not_ok "root's client saw: $(events root)"

# laminactl monitor: A's JSON has A's image and mount objects added, changed, removed.
harness_wait_for 600 grep -q "\"event\":\"InterfacesRemoved\",\"path\":\"$img_a\"" "$T/mona.out" ||
        not_ok "A's monitor did not see A's image go"
harness_wait_for 600 grep -q "^removed $img_a $IMG" "$T/monroot.out" || not_ok "root's monitor did not see A's image go"
sed 's/^/# monitor a: /' "$T/mona.out" | grep -v ApplyProgress | head -40
jqa() { jq -r "$1" "$T/mona.out" | tr '\n' ' '; }
[ "$(jqa 'select(.interface == "'$IMG'" and .event != "PropertiesChanged") | .event + " " + .path + " " + ((.properties.Names // []) | join(","))')" = \
  "InterfacesAdded $img2_a app:1 " ] &&
        [ "$(jqa 'select(.interfaces[0]? == "'$IMG'") | .path')" = "$img2_a $img_a " ] &&
        ok "laminactl monitor --json: A's image objects added and removed" ||
        not_ok "laminactl monitor --json, A's images: $(jqa 'select(.interface == "'$IMG'" or .interfaces[0]? == "'$IMG'")')"
[ "$(jqa 'select(.event == "PropertiesChanged" and .interface == "'$IMG'") | .properties.Names | join(",")')" = "old:1,old:2 old:2 " ] &&
        ok "laminactl monitor --json: A's image names changed" || not_ok "laminactl monitor --json, image changes: $(cat "$T/mona.out")"
[ "$(jqa 'select(.interface == "'$MNT'") | .properties.Path + " " + (.properties.Options | join(",")) + " " + (.properties.Detached | tostring)')" = \
  "$mnt noexec,nosuid,nodev false  nosuid,nodev true " ] &&
        ok "laminactl monitor --json: A's mounts (a path, then a detached fd) with their options" ||
        not_ok "laminactl monitor --json, mounts: $(jqa 'select(.interface == "'$MNT'")')"
grep -q "/$uid_b/" "$T/mona.out" && not_ok "A's monitor saw B's: $(grep "/$uid_b/" "$T/mona.out")" || ok "A's monitor: nothing of B's"
grep -q "^added $SNAPSHOTTER/image/$uid_b/[1-9][0-9]* $IMG .*Names=b:1" "$T/monroot.out" &&
        grep -q "^added $mnt_a $MNT .*Options=noexec,nosuid,nodev" "$T/monroot.out" &&
        ok "laminactl monitor as root (text): B's image, A's mount" || not_ok "root's monitor: $(cat "$T/monroot.out")"

kill -TERM "$PID_a" "$PID_b" "$PID_root" "$PID_mona" "$PID_monroot"
wait "$PID_a" "$PID_b" "$PID_root" "$PID_mona" "$PID_monroot" 2>/dev/null
[ "$failures" = 0 ] || exit 1
