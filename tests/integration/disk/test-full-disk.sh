#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A full filesystem under the state directory (issues 13 and 17), on a small filesystem
# this test makes and mounts at the daemon's state directory:
#   test-full-disk.sh ext4|xfs|btrfs|tmpfs [SNAPSHOTTER]   (default overlayfs)
# While it is full no signal ever kills laminad (LMDB's lock file is written through a
# mapping: it used to die of SIGBUS on every call on btrfs), reads keep working, also
# after a restart, and writes fail with QuotaExceeded and a message saying what is full.
# Once space is freed everything works again, and the metadata is consistent
# (mdb_stat, store_verify) and survives a restart.
set -eu
. "$LAMINA_SOURCE_DIR/tests/integration/lib/harness.sh"

fstype=${1:?usage: test-full-disk.sh ext4|xfs|btrfs|tmpfs [SNAPSHOTTER]}
SN=${2:-overlayfs}
QUOTA=org.lamina.snapshot1.Error.QuotaExceeded
. "$LAMINA_SOURCE_DIR/tests/integration/disk/full-disk-bus.sh"
command -v mdb_stat >/dev/null || harness_die "mdb_stat is missing (install lmdb-utils)"

call() {
        busctl --system call org.lamina.snapshot1 "$OBJ" "$IFACE" "$@"
}

# A write on the full filesystem: ok, or QuotaExceeded with a message saying what is
# full. Anything else fails the test. Returns 1 for QuotaExceeded.
write_or_quota() {
        local out
        if out=$(gcall "$@"); then
                return 0
        fi
        case $out in
        *"$QUOTA"*) ;;
        *) fail "$1 on a full $fstype: expected $QUOTA, got: $out" ;;
        esac
        echo "$out" | grep -Eqi 'full|quota' || fail "$1: the message does not say what is full: $out"
        case $out in
        *"$T"*) fail "$1: the message names an internal path: $out" ;;
        esac
        harness_log "$1 refused: ${out#*QuotaExceeded: }"
        return 1
}

assert_reads() {
        call Stat s base-c >/dev/null || fail "Stat on a full $fstype: $*"
        call Stat s active >/dev/null || fail "Stat of an active snapshot on a full $fstype: $*"
        call List as 0 | grep -q '"base-c"' || fail "List on a full $fstype: $*"
}

# Prepares w-<tag>-<i> with big labels until one is refused; fails if none is.
assert_writes_refused() {
        local i
        for i in $(seq 1 40); do
                write_or_quota Prepare "w-$1-$i" "" "$BIG" >/dev/null || return 0
                written="$written w-$1-$i"
        done
        fail "40 Prepares with 60 KiB of labels all succeeded on a full $fstype"
}

assert_alive() {
        local pid
        pid=$(harness_laminad_pid)
        [ -n "$pid" ] && [ "$pid" = "$1" ] || fail "laminad $1 is gone ($2): killed by a signal?"
}

make_fs
written=""
mkdir -p "$T/layer/d" && head -c 2000000 /dev/urandom >"$T/layer/d/f" && tar -C "$T/layer" -cf "$T/layer.tar" d
ctl="$LAMINA_BUILD_DIR/src/ctl/laminactl -s $SN"

call Prepare ssa{ss} base "" 0 >/dev/null
call Commit ssa{ss} base-c base 0
call Prepare ssa{ss} active base-c 1 k v >/dev/null
call Prepare ssa{ss} to-commit base-c 0 >/dev/null
pid=$(harness_laminad_pid)
[ -n "$pid" ] || fail "laminad did not start"

# A snapshot or reflink copy of the state directory shares the lock file's blocks, which
# the first write through LMDB's mapping must then copy: a restart replaces such a file.
# (btrfs clones a NOCOW file only into another NOCOW file.)
touch "$state/lock-copy" && { chattr +C "$state/lock-copy" 2>/dev/null || :; }
if cp --reflink=always "$store/lock.mdb" "$state/lock-copy" 2>/dev/null; then
        ino=$(stat -c %i "$store/lock.mdb")
        stop_laminad
        call Stat s base-c >/dev/null || fail "Stat after restarting with a shared lock file"
        [ "$(stat -c %i "$store/lock.mdb")" != "$ino" ] || fail "a lock file sharing its blocks was kept"
        pid=$(harness_laminad_pid)
fi

fill
assert_reads "while full"
assert_writes_refused full
write_or_quota Update active "$BIG" "['labels']" >/dev/null || :
write_or_quota Commit c-while-full to-commit "{}" >/dev/null || :
# Apply: the layer cannot be written; busctl and laminactl print no error name, the log does.
if $ctl apply active "$T/layer.tar" >/dev/null 2>&1; then
        fail "Apply of 2 MB succeeded on a full $fstype"
fi
grep -q "apply \"active\": $QUOTA" "$T/bus.log" || fail "Apply on a full $fstype: not $QUOTA: $(grep 'apply "active"' "$T/bus.log")"
assert_reads "after refused writes"
assert_alive "$pid" "after writes on a full $fstype"

# A restart while full: start-up, lock file and map must not fault either.
stop_laminad
assert_reads "after a restart while full"
pid=$(harness_laminad_pid)
assert_writes_refused restarted
assert_alive "$pid" "after a restart on a full $fstype"

unfill
gcall Prepare after "" "$BIG" >/dev/null || fail "Prepare after freeing space: $(gcall Prepare after2 "" "{}")"
call Commit ssa{ss} after-c after 0 || fail "Commit after freeing space"
call Remove s after-c || fail "Remove after freeing space"
$ctl apply active "$T/layer.tar" >/dev/null || fail "Apply after freeing space"
for k in $written; do
        call Remove s "$k" || fail "Remove $k after freeing space"
done
assert_reads "after freeing space"
assert_alive "$pid" "after freeing space"

# Clean on disk, and whole after a restart.
stop_laminad
mdb_stat -e -f -a "$store" >"$T/mdb_stat.out" 2>&1 || fail "mdb_stat: $(cat "$T/mdb_stat.out")"
"$LAMINA_BUILD_DIR/tests/integration/disk/store-check" "$store" 2 || fail "the metadata is inconsistent"
assert_reads "after freeing space and a restart"
! grep -Eqi 'signal|bus error|core dumped' "$T/bus.log" || fail "a process died of a signal: $(grep -Ei 'signal|bus error' "$T/bus.log")"
echo "full $fstype survived: reads while full, QuotaExceeded for writes, clean after freeing space"
