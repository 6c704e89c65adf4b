#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The main laminactl flow with -s SNAPSHOTTER, end to end: import, prepare + apply + commit,
# ls/info/tree/usage, mount/umount, run --rm and run --commit with real systemd-nspawn, rm and
# cleanup. Meson runs it for native, overlayfs, and for btrfs inside run-on-btrfs.sh (the
# daemon's state directory on a loop-backed btrfs).
#   test-ctl-flow.sh SNAPSHOTTER
. "$(dirname "$0")/ctl-lib.sh"

SN=${1:?usage: test-ctl-flow.sh SNAPSHOTTER}
need_busybox_nspawn
harness_setup
nspawn_setup

# sn DESCRIPTION ARGS…: laminactl -s SN ARGS… must succeed.
sn() {
        ok "$SN: $1" -s "$SN" "${@:2}"
}

ok "snapshotters" --json=short snapshotters
expect "$SN is offered" "$(json "map(select(.name == \"$SN\")) | length")" 1

make_busybox_rootfs "$T/rootfs"
make_layer "$T/rootfs" "$T/rootfs.tar"
make_oci_layout "$T/img" "busybox" "" "$T/rootfs.tar"
top=$(tar_digest "$T/rootfs.tar")

sn "import" -q import "$T/img"
ctl -s overlayfs --json=short ls
[ "$SN" = overlayfs ] || expect "$SN: other snapshotters do not see the import" "$out" "[]"

# A layer of our own on the image.
mkdir -p "$T/extra/etc"
echo extra >"$T/extra/etc/extra"
make_layer "$T/extra" "$T/extra.tar"
sn "prepare" prepare work "$top"
sn "apply" apply work "$T/extra.tar"
expect "$SN: apply prints the diff ID" "$out" "$(tar_digest "$T/extra.tar")"
sn "commit" commit extra work

sn "ls" --json=short ls
expect "$SN: ls" "$(json 'map([.name, .parent, .kind]) | sort')" \
        "$(printf '%s\n' "[\"extra\",\"$top\",\"committed\"]" "[\"$top\",null,\"committed\"]" | jq -cs sort)"
sn "info" --json=short info extra
expect "$SN: info" "$(json '[.kind, .parent]')" "[\"committed\",\"$top\"]"
sn "tree" tree
expect "$SN: tree" "$out" " $top
  \\_ extra"
sn "usage" --json=short usage extra
expect "$SN: usage counts the layer's file" "$(json '.[0].size > 0 and .[0].inodes > 0')" "true"

# mount/umount of an active snapshot: the image, the layer, and a write that stays; the
# mounts given to containerd are the snapshotter's own kind.
sn "prepare m" prepare m extra
case $SN in
overlayfs) fstype=overlay ;;
native) fstype=bind ;;
*) fstype=$SN ;;
esac
sn "mounts" mounts m
expect "$SN: mounts as $fstype" "$(printf '%s\n' "$out" | cut -d' ' -f1-3)" "mount -t $fstype"
sn "mount" mount m
path=$out
case $path in "$T/run/"*) pass "$SN: mounted below the runtime directory" ;; *) fail "$SN: mounted at $path, not below $T/run" ;; esac
# laminad's own writable mount: an overlay (of the snapshot's data alone on native and
# btrfs), whose superblock tells laminad when the last copy of it is gone.
expect "$SN: the mounted filesystem" "$(findmnt -no FSTYPE --mountpoint "$path")" overlay
expect "$SN: mounted tree" "$(cat "$path/etc/extra"; test -x "$path/bin/busybox" && echo busybox)" "extra
busybox"
echo written >"$path/written"
sn "list-mounts" --json=short list-mounts
expect "$SN: list-mounts" "$(json 'map([.key, .path])')" "[[\"m\",\"$path\"]]"
sn "umount" umount m
mountpoint -q "$path" && fail "$SN: $path is still mounted"
sn "mount read-only" mount m -o ro
expect "$SN: the write survived the remount" "$(cat "$out/written")" "written"
touch "$out/nope" 2>/dev/null && fail "$SN: a read-only mount is writable"
sn "umount again" umount m
sn "rm m" rm m

sn "run --rm" run extra --rm -- /bin/busybox echo hello
expect "$SN: the container printed hello" "$out" "hello"
no_run_snapshots "$SN: run --rm"

sn "run --commit" run extra --commit kept -q -- /bin/sh -c 'echo data >/data; cat /etc/extra'
expect "$SN: the container saw the layer" "$out" "extra"
sn "view of the result" view --mount check kept
expect "$SN: the container's file is kept" "$(cat "$out/data")" "data"
sn "umount check" umount check
sn "rm check" rm check
no_run_snapshots "$SN: run --commit"

fails "$SN: rm of a parent" 1 'child' -s "$SN" rm extra
sn "rm" rm kept extra "$top"
sn "ls after rm" --json=short ls
expect "$SN: nothing left" "$out" "[]"
sn "cleanup" --json=short cleanup
finish
