#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A store written before the totals per user and the transient index existed, opened by
# laminad on a full filesystem (test-full-disk-upgrade.sh tmpfs|ext4), with real polkitd
# and an unprivileged user: laminad starts and logs why the totals are missing; Stat, List,
# Usage and Mounts work, so do Remove and Cleanup, also for the user; the user's Prepare and
# Update (growing its labels) are QuotaExceeded saying the totals are not counted yet; the
# same after a restart
# while full. Once space is freed they are counted (the log says so, without a restart; in
# the stores no call writes to too: in the background), every call works, and the metadata is
# consistent (store_verify checks the totals and the index against the records, after the
# writes made while they were missing).
. "$LAMINA_SOURCE_DIR/tests/integration/ctl/ctl-lib.sh"
fstype=${1:?usage: test-full-disk-upgrade.sh tmpfs|ext4}
sn=overlayfs
. "$LAMINA_SOURCE_DIR/tests/integration/disk/full-disk-lib.sh"
full_disk_check "$fstype"
. "$HARNESS_LIB/mount-users.sh"
state=$T/state
store=$state/$sn
STORE_CHECK=$LAMINA_BUILD_DIR/tests/integration/disk/store-check
NOT_COUNTED="not counted yet"

make_fs

# laminad's first life: root's and the user's snapshots.
owner_ready() {
        call "$owner" Prepare o1 "" "{}"
        [ "$got" = ok ]
}
harness_wait_for 600 owner_ready || harness_die "the group rule did not take effect: $msg"
want ok "owner: commit o1" "$owner" Commit o1-c o1 "{}"
want ok "owner: prepare o2" "$owner" Prepare o2 o1-c "{'k': 'v'}"
want ok "owner: prepare o3" "$owner" Prepare o3 "" "{}"
want ok "root: prepare r1" root Prepare r1 "" "{}"
want ok "root: commit r1" root Commit r1-c r1 "{}"
stop_laminad

# Every snapshotter's store as an older laminad left it; then the filesystem fills up. A
# user's Prepare on one reads its totals in the others too, which no write of that call
# touches: only the background retry counts them there.
n_stores=0
for d in "$state"/*/; do
        [ -e "$d/data.mdb" ] || continue
        "$STORE_CHECK" --forget-derived "${d%/}" || harness_die "cannot make ${d%/} a store without totals"
        n_stores=$((n_stores + 1))
done
[ "$n_stores" -ge 2 ] || harness_die "expected the stores of at least two snapshotters, found $n_stores"
fill

# --- full: laminad starts without the totals ---
assert_full_serves() {
        want ok "$1: root Stat" root Stat r1-c
        want ok "$1: owner Stat" "$owner" Stat o2
        want ok "$1: owner List" "$owner" List "[]"
        printf '%s' "$msg" | grep -q "'o2'" || fail "$1: owner's List lacks o2: $msg"
        want ok "$1: owner Usage" "$owner" Usage o2
        want ok "$1: owner Mounts" "$owner" Mounts o2
        want QuotaExceeded "$1: owner Prepare refused" "$owner" Prepare "p-$1" "" "{}"
        printf '%s' "$msg" | grep -q "$NOT_COUNTED" || fail "$1: the refusal does not say why: $msg"
        # labels that grow are checked against the quota; the same size are not
        want QuotaExceeded "$1: owner Update refused" "$owner" Update o2 "{'k2': 'more'}" "['labels.k2']"
        printf '%s' "$msg" | grep -q "$NOT_COUNTED" || fail "$1: the refusal does not say why: $msg"
}
assert_full_serves started
grep -q "too full to count what each user holds" "$T/bus.log" || fail "laminad did not log why the totals are missing"
want ok "full: owner Remove o3" "$owner" Remove o3
want ok "full: owner Cleanup" "$owner" Cleanup
want ok "full: root Cleanup" root Cleanup

stop_laminad
assert_full_serves restarted
want ok "full, restarted: owner Remove o2" "$owner" Remove o2
grep -q "counted what each user holds" "$T/bus.log" && fail "the totals were counted on a full filesystem"

# --- space again: counted without a restart, within the retry period ---
unfill
counted() {
        call "$owner" Prepare o4 "" "{}"
        [ "$got" = ok ]
}
if harness_wait_for 600 counted; then
        pass "owner: Prepare once there is space"
else
        fail "owner: Prepare still refused a minute after space was freed: $msg"
fi
# Each store is counted by its own thread, on its own clock: the others may come a moment
# after the owner's.
all_counted() {
        n_counted=$(grep -c "counted what each user holds" "$T/bus.log")
        [ "$n_counted" = "$n_stores" ]
}
harness_wait_for 600 all_counted || fail "laminad counted the totals of $n_counted stores, not of all $n_stores"
want ok "owner: Update" "$owner" Update o4 "{'k': 'v'}" "['labels']"
want ok "owner: Commit" "$owner" Commit o4-c o4 "{}"
want ok "owner: Remove" "$owner" Remove o4-c
want ok "root: Prepare" root Prepare r2 "" "{}"
want ok "owner: Stat" "$owner" Stat o1-c

# Consistent on disk: the totals and the index equal what the records hold.
stop_laminad
out=$("$STORE_CHECK" "$store" 3 2>&1) && pass "store-check: $out" || fail "store-check: $out"
for d in "$state"/*/; do
        [ "${d%/}" = "$store" ] || [ ! -e "$d/data.mdb" ] || {
                out=$("$STORE_CHECK" "${d%/}" 2>&1) && pass "store-check: $out" || fail "store-check: $out"
        }
done
finish
