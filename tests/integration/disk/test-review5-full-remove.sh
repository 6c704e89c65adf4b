#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Remove on a full filesystem under the state directory:
#   test-review5-full-remove.sh ext4|xfs|btrfs|tmpfs [SNAPSHOTTER]   (default overlayfs)
# When the disk is full, removing snapshots is how a user makes room: every Remove must
# succeed although the metadata write needs pages the filesystem can no longer give, and
# once the removed snapshots' data is freed, writes work again without anything else
# freeing space.
set -eu
. "$LAMINA_SOURCE_DIR/tests/integration/lib/harness.sh"

fstype=${1:?usage: test-review5-full-remove.sh ext4|xfs|btrfs|tmpfs [SNAPSHOTTER]}
SN=${2:-overlayfs}
. "$LAMINA_SOURCE_DIR/tests/integration/disk/full-disk-bus.sh"

make_fs
mkdir -p "$T/layer/d" && head -c 1000000 /dev/urandom >"$T/layer/d/f" && tar -C "$T/layer" -cf "$T/layer.tar" d
ctl="$LAMINA_BUILD_DIR/src/ctl/laminactl -s $SN"

# Snapshots with big records and data: a chain, and loose ones.
gcall Prepare base "" "$BIG" >/dev/null || fail "Prepare base"
$ctl apply base "$T/layer.tar" >/dev/null || fail "Apply base"
gcall Commit base-c base "$BIG" >/dev/null || fail "Commit base"
n=12
for i in $(seq 1 $n); do
        gcall Prepare "s$i" base-c "$BIG" >/dev/null || fail "Prepare s$i"
        $ctl apply "s$i" "$T/layer.tar" >/dev/null || fail "Apply s$i"
done

gcall Prepare small "" "{}" >/dev/null || fail "Prepare small"

# LMDB's free list is empty right after laminad compacted data.mdb at start-up: then a
# commit can only write past the end of the file. Records of 60 KiB, most of them removed,
# make a file of more than 4 MiB that is mostly free, which the next start compacts.
for i in $(seq 1 80); do
        gcall Prepare "pad$i" "" "$BIG" >/dev/null || fail "Prepare pad$i"
done
for i in $(seq 1 80); do
        gcall Remove "pad$i" >/dev/null || fail "Remove pad$i"
done
before=$(stat -c %s "$store/data.mdb")
stop_laminad
if [ "$fstype" = btrfs ]; then
        # btrfs copies every write to new blocks unless the file is NOCOW: laminad makes
        # its data file NOCOW, and converts one an older laminad made.
        cat "$store/data.mdb" >"$store/data.mdb.cow" && mv "$store/data.mdb.cow" "$store/data.mdb"
        ! lsattr "$store/data.mdb" | cut -d' ' -f1 | grep -q C || fail "the copied data file is NOCOW"
fi
gcall Stat small >/dev/null || fail "Stat after a restart"
after=$(stat -c %s "$store/data.mdb")
[ "$after" -lt "$before" ] || fail "data.mdb was not compacted at start-up ($before -> $after bytes)"
if [ "$fstype" = btrfs ]; then
        lsattr "$store/data.mdb" | cut -d' ' -f1 | grep -q C || fail "laminad kept a data file that is not NOCOW on btrfs"
fi

# What else a user undoes to make room: a mount, an image name.
mkdir -p "$T/mnt"
$ctl -q mount small "$T/mnt" >/dev/null || fail "mount small"
$ctl -q import-tar "$T/layer.tar" --name img >/dev/null || fail "import-tar"
$ctl -q tag img img2 >/dev/null || fail "tag img img2"

fill
# Every write but Remove may be refused now.
for i in $(seq 1 20); do
        gcall Prepare "w$i" "" "$BIG" >/dev/null || break
done
# Writes that add pages take them from the room kept for removals, which cannot be topped
# up again (a filesystem may still give a few blocks: then the next takes more); once it
# is used, writes are refused, saying so. 10 Updates of 60 KiB each are more than any
# filesystem here keeps back.
refused=""
for i in $(seq 1 10); do
        if ! out=$(gcall Update small "{'k': 'v$i'}" "['labels.k']"); then
                refused=$out
                break
        fi
        gcall Update small "${BIG//vvvv/v$((i % 10))vv}" "['labels']" >/dev/null || :
done
[ -n "$refused" ] || fail "no Update on a full $fstype was refused"
case $refused in
*"kept for removals"*) ;;
*) fail "an Update on a full $fstype: not refused for lack of room: $refused" ;;
esac

# --force: a mount namespace another process on the machine makes meanwhile copies the
# mount, and a plain umount then refuses (Busy); the record goes either way.
$ctl umount --force small >/dev/null || fail "umount small on a full $fstype"
$ctl untag img2 >/dev/null || fail "untag img2 on a full $fstype"

for i in $(seq 1 $n); do
        out=$(gcall Remove "s$i") || fail "Remove s$i on a full $fstype: $out"
done
out=$(gcall Remove base-c) || fail "Remove base-c on a full $fstype: $out"
harness_log "$((n + 1)) Removes on a full $fstype succeeded"

# The removed snapshots' data is freed in the background; then a write works again
# without anything else freeing space.
prepare_again() {
        gcall Prepare after "" "{}" >/dev/null
}
harness_wait_for 120 prepare_again || fail "no Prepare succeeded after the Removes freed their data: $(gcall Prepare after2 "" "{}")"
out=$(gcall Stat base-c) && fail "base-c is still there: $out"
echo "Remove on a full $fstype: every Remove succeeded, writes work again once their data is freed"
