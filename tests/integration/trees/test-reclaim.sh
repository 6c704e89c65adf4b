#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 17, reclaim on Remove, on a loop ext4 under the state directory (overlayfs):
#  - three rounds of what `run --rm` does to the disk (Prepare, write 20 MiB through the
#    mount, unmount, rm) leave the free space where it was, without any Cleanup; rm says
#    what it freed or that freeing goes on;
#  - kill -9 of laminad while it frees a tree in the background: the next start frees
#    the rest by itself, no orphan is left, Cleanup then succeeds.
set -eu
. "$LAMINA_SOURCE_DIR/tests/integration/lib/harness.sh"

SN=overlayfs
CTL=("$LAMINA_BUILD_DIR/src/ctl/laminactl" --no-pager -s "$SN")

[ "$(id -u)" = 0 ] || harness_skip "a test filesystem needs root"
[ -e /dev/loop-control ] || harness_skip "no loop devices (/dev/loop-control is missing)"
command -v mkfs.ext4 >/dev/null || harness_die "mkfs.ext4 is missing (tools/install-deps.sh)"

harness_setup --idle-timeout 600
truncate -s 256M "$T/disk.img"
mkfs.ext4 -q -F -m 0 "$T/disk.img"
mount -o loop "$T/disk.img" "$T/state" || harness_skip "cannot mount a loop ext4 (no free loop device?)"

avail() {
        sync -f "$T/state"
        df --output=avail -B1 "$T/state" | tail -n 1 | tr -d ' '
}

# Waits (bounded) until the state filesystem has at least $1 bytes available.
wait_avail() {
        local i
        for i in $(seq 600); do
                [ "$(avail)" -ge "$1" ] && return 0
                sleep 0.1
        done
        return 1
}

snapshot_dirs() {
        find "$T/state/$SN/snapshots" -mindepth 1 -maxdepth 1 | wc -l
}

"${CTL[@]}" -q snapshotters >/dev/null # activates laminad: its state exists from here on
base=$(avail)
slack=$((2 << 20))
for round in 1 2 3; do
        mkdir -p "$T/mnt/r$round"
        "${CTL[@]}" -q prepare --target "$T/mnt/r$round" "r$round" >/dev/null
        dd if=/dev/urandom of="$T/mnt/r$round/data" bs=1M count=20 status=none
        "${CTL[@]}" -q umount "r$round"
        [ "$(avail)" -lt $((base - (15 << 20))) ] || harness_die "round $round: writing 20 MiB took no space?"
        out=$("${CTL[@]}" rm "r$round")
        case $out in
        "Freed "* | "Freeing the data continues in the background.") ;;
        *) harness_die "rm said: $out" ;;
        esac
        harness_log "round $round: rm said: $out"
        wait_avail $((base - slack)) || harness_die "round $round: $(avail) bytes free after rm, $base before"
done
[ "$(snapshot_dirs)" = 0 ] || harness_die "snapshots/ still holds $(ls "$T/state/$SN/snapshots")"
harness_log "three rounds of 20 MiB: $(avail) bytes free, $base before, no Cleanup"

# A tree whose removal takes a while (a deep chain: thousands of nested rmdir()s).
mkdir -p "$T/mnt/deep"
"${CTL[@]}" -q prepare --target "$T/mnt/deep" deep >/dev/null
python3 "$LAMINA_SOURCE_DIR/tests/integration/trees/build-tree.py" "$T/mnt/deep" 8000 20000 >/dev/null
"${CTL[@]}" -q umount deep
pid=$(harness_laminad_pid)
"${CTL[@]}" -q rm deep
sleep 0.3 # let the background removal start
kill -9 "$pid"
harness_wait_for 300 harness_pid_gone "$pid" || harness_die "laminad $pid did not die"
harness_wait_for 300 harness_name_gone "$HARNESS_NAME" || harness_die "the bus still names the killed laminad"
left=$(snapshot_dirs)
harness_log "killed laminad while freeing: $left entries left in snapshots/"
[ "$left" -gt 0 ] || harness_log "(the removal was done before the kill: the restart has nothing to do)"

# The next call starts laminad again; it frees the rest by itself.
"${CTL[@]}" -q snapshotters >/dev/null
for i in $(seq 1200); do
        [ "$(snapshot_dirs)" = 0 ] && break
        sleep 0.1
done
[ "$(snapshot_dirs)" = 0 ] || harness_die "after a restart, snapshots/ still holds $(ls "$T/state/$SN/snapshots")"
out=$("${CTL[@]}" cleanup) || harness_die "cleanup failed: $out"
wait_avail $((base - slack)) || harness_die "after the restart: $(avail) bytes free, $base before"
harness_log "ok: restarted laminad freed what the killed one left; $out"
