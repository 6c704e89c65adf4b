#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Snapshot data that the filesystem lost or refuses (issue 13 item 6): the caller gets
# FailedPrecondition naming the key and what to do, never NotFound for a snapshot Stat
# shows, never AccessDenied for root, never an internal path.
set -eu
. "$LAMINA_SOURCE_DIR/tests/integration/lib/harness.sh"

OBJ=/org/lamina/snapshot1/overlayfs
IFACE=org.lamina.snapshot1.Snapshotter
PRECONDITION=org.lamina.snapshot1.Error.FailedPrecondition
ctl=$LAMINA_BUILD_DIR/src/ctl/laminactl

command -v gdbus >/dev/null || harness_die "gdbus is missing (install libglib2.0-bin)"
command -v chattr >/dev/null || harness_die "chattr is missing (install e2fsprogs)"
harness_setup --idle-timeout 600
data=$T/state/overlayfs/snapshots

fail() {
        printf 'FAIL: %s\n' "$*" >&2
        exit 1
}

gcall() {
        gdbus call --system --dest org.lamina.snapshot1 --object-path "$OBJ" --method "$IFACE.$1" "${@:2}" 2>&1
}

# $1 what, $2 key, then the output of the failed call.
assert_precondition() {
        case $3 in
        *"$PRECONDITION"*"\"$2\""*) ;;
        *) fail "$1: expected $PRECONDITION naming \"$2\", got: $3" ;;
        esac
        case $3 in
        *"$T"*) fail "$1: the message names an internal path: $3" ;;
        esac
}

# ID of a snapshot: the name of the data directory that appeared with it.
prepare_and_find() {
        local before after
        before=$(ls "$data" 2>/dev/null || :)
        gcall Prepare "$1" "" "{}" >/dev/null || fail "Prepare $1"
        after=$(ls "$data")
        comm -13 <(echo "$before" | sort) <(echo "$after" | sort)
}

# Missing data: Stat still works, everything that needs the data says what is wrong.
lost=$(prepare_and_find lost)
[ -n "$lost" ] && [ -d "$data/$lost" ] || fail "no data directory for lost"
rm -rf "${data:?}/$lost"
gcall Stat lost >/dev/null || fail "Stat of a snapshot whose data is gone"
out=$(gcall Usage lost) && fail "Usage of missing data succeeded: $out"
assert_precondition Usage lost "$out"
out=$(gcall Mount lost "" "[]") && fail "Mount of missing data succeeded: $out"
assert_precondition Mount lost "$out"
out=$(gcall Commit lost-c lost "{}") && fail "Commit of missing data succeeded: $out"
assert_precondition Commit lost "$out"
gcall Remove lost >/dev/null || fail "Remove of a snapshot whose data is gone"

# An immutable data directory: Apply is refused as a precondition, not AccessDenied.
stuck=$(prepare_and_find stuck)
mkdir -p "$T/src/d" && echo hi >"$T/src/d/f" && tar -C "$T/src" -cf "$T/layer.tar" d
chattr +i "$data/$stuck/fs"
trap 'chattr -i "$data/$stuck/fs" 2>/dev/null; harness_cleanup' EXIT
if out=$("$ctl" apply stuck "$T/layer.tar" 2>&1); then
        fail "Apply into an immutable directory succeeded"
fi
case $out in
*"\"stuck\""*) ;;
*) fail "Apply into an immutable directory: the message does not name the key: $out" ;;
esac
case $out in
*"$T"*) fail "Apply: the message names an internal path: $out" ;;
esac
grep -q "apply \"stuck\": $PRECONDITION" "$T/bus.log" || fail "Apply into an immutable directory: not $PRECONDITION: $(grep 'apply "stuck"' "$T/bus.log")"
chattr -i "$data/$stuck/fs"
"$ctl" apply stuck "$T/layer.tar" >/dev/null || fail "Apply after chattr -i"
echo "lost and immutable data: FailedPrecondition naming the key"
