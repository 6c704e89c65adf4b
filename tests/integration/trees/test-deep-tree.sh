#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 12 item 7: a tree 20 000 levels deep and 100 000 files with two names each (200 000
# hardlinked names), written through the mount of an active snapshot, then Apply, Commit,
# Usage, a Prepare on it (native: a full copy), Remove and Cleanup, with laminad under
# LimitNOFILE=1024 as systemd starts it:  test-deep-tree.sh overlayfs|native|btrfs
# Every step succeeds, Usage counts each inode once, Cleanup reclaims the data and leaves
# no entry in snapshots/, and laminad stays up.
set -eu
. "$LAMINA_SOURCE_DIR/tests/integration/lib/harness.sh"

SN=${1:?usage: test-deep-tree.sh overlayfs|native|btrfs}
DEPTH=20000
FILES=100000
CTL=("$LAMINA_BUILD_DIR/src/ctl/laminactl" --no-pager -q -s "$SN")

[ "$(id -u)" = 0 ] || harness_skip "mounts need root"
if [ "$SN" = btrfs ]; then
        modprobe btrfs >/dev/null 2>&1 || :
        grep -q "[[:space:]]btrfs\$" /proc/filesystems || harness_skip "this kernel has no btrfs"
        [ -e /dev/loop-control ] || harness_skip "no loop devices (/dev/loop-control is missing)"
        command -v mkfs.btrfs >/dev/null || harness_die "mkfs.btrfs is missing (tools/install-deps.sh)"
fi

# What systemd gives the unit; dbus-daemon and the laminad it activates inherit it.
ulimit -Sn 1024
ulimit -Hn 1024
harness_setup --idle-timeout 600

# The state on a tmpfs (20 000 nested rmdir()s on a disk take a minute); btrfs on a loop
# file below it. Mounted before laminad first starts; the harness unmounts them.
mount -t tmpfs -o size=2g,mode=0700 lamina-deep "$T/state"
if [ "$SN" = btrfs ]; then
        truncate -s 1G "$T/btrfs.img"
        mkfs.btrfs -q -f "$T/btrfs.img" >/dev/null
        mkdir "$T/state/btrfs"
        mount -o loop "$T/btrfs.img" "$T/state/btrfs" || harness_skip "cannot mount a loop btrfs (no free loop device?)"
fi

inodes_of() { # key
        "${CTL[@]}" --no-legend usage -b "$1" | awk '{ print $3 }'
}

mkdir -p "$T/mnt/deep" "$T/layer"
"${CTL[@]}" prepare --target "$T/mnt/deep" deep >/dev/null
pid=$(harness_laminad_pid)
grep -q "^Max open files *1024 *1024" "/proc/$pid/limits" ||
        harness_die "laminad does not run with 1024 fds: $(grep 'open files' "/proc/$pid/limits")"
made=$(python3 "$LAMINA_SOURCE_DIR/tests/integration/trees/build-tree.py" "$T/mnt/deep" "$DEPTH" "$FILES")
harness_log "wrote $made inodes through the mount"
"${CTL[@]}" umount deep

echo applied >"$T/layer/applied"
tar -C "$T/layer" -cf "$T/layer.tar" applied
"${CTL[@]}" apply deep "$T/layer.tar" >/dev/null
"${CTL[@]}" commit deep-c deep

# The root, what build-tree.py made (each hardlinked file once) and the applied file.
want=$((1 + made + 1))
got=$(inodes_of deep-c)
[ "$got" = "$want" ] || harness_die "Usage of deep-c counts $got inodes, expected $want"

mkdir -p "$T/mnt/child"
"${CTL[@]}" prepare --target "$T/mnt/child" child deep-c >/dev/null
[ "$(cat "$T/mnt/child/applied")" = applied ] || harness_die "the child does not show the applied file"
[ -f "$T/mnt/child/h/9/l99999" ] || harness_die "the child does not show the last hardlink"
"${CTL[@]}" umount child
"${CTL[@]}" rm child deep-c
out=$("$LAMINA_BUILD_DIR/src/ctl/laminactl" --no-pager -s "$SN" cleanup 2>&1) || harness_die "cleanup failed: $out"
harness_log "cleanup: $out"
case $out in
Reclaimed*) ;; # Remove frees in the background: what is left for Cleanup may be 0
*) harness_die "cleanup said: $out" ;;
esac

left=$(find "$T/state/$SN/snapshots" -mindepth 1 -maxdepth 1 | wc -l)
[ "$left" = 0 ] || harness_die "cleanup left $left entries in $T/state/$SN/snapshots: $(ls "$T/state/$SN/snapshots")"
[ "$(harness_laminad_pid)" = "$pid" ] || harness_die "laminad did not stay up"
harness_log "ok: $SN, $DEPTH levels and $FILES hardlinked files with 1024 fds"
