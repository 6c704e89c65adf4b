# SPDX-License-Identifier: LGPL-2.1-or-later
# The start of the full-filesystem tests that call laminad's Snapshotter directly (not
# through laminactl): source after harness.sh and set -eu, with fstype (ext4, xfs, btrfs or
# tmpfs) and SN (the snapshotter) set. Skips unless this machine can make the filesystem
# (full-disk-lib.sh, which it sources), runs harness_setup, and sets OBJ, IFACE, state and
# store (the filesystem is not made yet: make_fs). Then:
#   fail MESSAGE            prints MESSAGE and the tail of laminad's log; exits 1
#   gcall METHOD ARGS...    the Snapshotter call through gdbus, which prints the error name
#                           (busctl does not)
#   BIG                     15 labels of 4000 bytes, as gdbus's a{ss}: 60 KiB of metadata,
#                           more than any free page left in the file (every record takes
#                           pages of its own)

OBJ=/org/lamina/snapshot1/$SN
IFACE=org.lamina.snapshot1.Snapshotter

[ "$(id -u)" = 0 ] || harness_skip "a test filesystem needs root"
command -v gdbus >/dev/null || harness_die "gdbus is missing (install libglib2.0-bin)"
. "$LAMINA_SOURCE_DIR/tests/integration/disk/full-disk-lib.sh"
full_disk_check "$fstype"

harness_setup --idle-timeout 600
state=$T/state
store=$state/$SN

fail() {
        printf 'FAIL: %s\n' "$*" >&2
        tail -n 30 "$T/bus.log" >&2 || :
        exit 1
}

gcall() {
        gdbus call --system --dest org.lamina.snapshot1 --object-path "$OBJ" --method "$IFACE.$1" "${@:2}" 2>&1
}

big_labels() {
        local v l="{" i
        v=$(head -c 3990 /dev/zero | tr '\0' v)
        for i in $(seq 1 15); do
                l="$l'label-$i': '$v',"
        done
        echo "${l%,}}"
}
BIG=$(big_labels)
