#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs a harness command with TMPDIR on a loop-backed btrfs made for this run, so the test
# directory, and with it the daemon's state directory, is on btrfs and laminad offers the
# btrfs snapshotter:
#   run-on-btrfs.sh RUN-TEST.SH [ARGS...]
# The filesystem is unmounted, the loop device detached and the image removed afterwards,
# whatever happens. Exits 77 only when the machine has no btrfs or no loop devices.

skip() {
        printf 'SKIP: %s\n' "$*" >&2
        exit 77
}

[ "$(id -u)" = 0 ] || skip "a btrfs test filesystem needs root"
modprobe btrfs >/dev/null 2>&1
grep -q '[[:space:]]btrfs$' /proc/filesystems || skip "this kernel has no btrfs"
[ -e /dev/loop-control ] || skip "no loop devices (/dev/loop-control is missing)"
command -v mkfs.btrfs >/dev/null || { echo "mkfs.btrfs is missing (install btrfs-progs)" >&2; exit 1; }

base=$(mktemp -d /var/tmp/lamina-btrfs.XXXXXX) || exit 1
loop=""

cleanup() {
        rc=$?
        trap - EXIT INT TERM HUP
        if mountpoint -q "$base/fs"; then
                umount "$base/fs" || umount -l "$base/fs"
        fi
        [ -z "$loop" ] || losetup -d "$loop" 2>/dev/null
        rm -rf "$base"
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

truncate -s 2G "$base/img" || exit 1
mkfs.btrfs -q -f "$base/img" >/dev/null || exit 1
loop=$(losetup --find --show "$base/img") || skip "no free loop device"
mkdir "$base/fs" && mount -t btrfs "$loop" "$base/fs" || exit 1

TMPDIR="$base/fs" "$@"
