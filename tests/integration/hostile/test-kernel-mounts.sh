#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A user's mounts may cost the kernel at most 16384 kernel mounts per snapshotter: an
# overlay of N layers is N + 2 (overlayfs holds a private clone of the mount of each layer
# and of its upper), so 256 mounts of 500 layers would be 128 512. Against the real laminad
# and polkitd with two unprivileged users on root's chain of 500 layers: the owner's
# 33rd mount of 500 layers is LimitsExceeded naming the snapshot, the uid, what its mounts
# cost and the budget (well below the 256 mounts a user may have), while the other user
# still mounts the same layers, and the owner's own Unmount makes room again.
. "$LAMINA_SOURCE_DIR/tests/integration/ctl/ctl-lib.sh"
sn=overlayfs
harness_need_python_gi
. "$HARNESS_LIB/mount-users.sh"

DEPTH=500
COST=$((DEPTH + 2))
BUDGET=16384
FIT=$((BUDGET / COST))

mount_users_wait_for_rule "$owner" "$other"

/usr/bin/python3 "$LAMINA_SOURCE_DIR/tests/integration/hostile/make-chain.py" "$sn" "$DEPTH" ||
        harness_die "root cannot make a chain of $DEPTH layers"

echo "# the owner mounts $FIT actives on $DEPTH layers ($((FIT * COST)) kernel mounts)"
for i in $(seq 0 "$FIT"); do
        call "$owner" Prepare "k$i" "L$DEPTH" "@a{ss} {}"
        [ "$got" = ok ] || fail "owner: prepare k$i: $got $msg"
done
for i in $(seq 0 $((FIT - 1))); do
        call "$owner" Mount "k$i" "" "@as []"
        [ "$got" = ok ] || fail "owner: mount k$i: $got $msg"
        [ "$i" = 0 ] && first=$(reply_path)
done
pass "owner: $FIT mounts of $DEPTH layers"
[ -n "${first:-}" ] && mountpoint -q "$first" || fail "the first mount is not at $first"

want LimitsExceeded "owner: one more is past the kernel mount budget" "$owner" Mount "k$FIT" "" "@as []"
uid=$(id -u "$owner")
needle="it costs $COST kernel mounts (one per layer, its upper and itself) and uid $uid's mounts of snapshotter $sn cost $((FIT * COST)) already, of the $BUDGET a user may have"
case "$msg" in
*"snapshot \"k$FIT\""*"$needle"*"unmount one first"*) pass "the refusal names the snapshot, the uid, what is held and the budget" ;;
*) fail "the refusal does not say what it should: $msg" ;;
esac
want LimitsExceeded "owner: nor by MountFd" "$owner" MountFd "k$FIT" "@as []"

echo "# the other user is not held back"
call "$other" Prepare o "L$DEPTH" "@a{ss} {}" # (its reply lists the 500 layers)
[ "$got" = ok ] && pass "other: prepare on the same layers" || fail "other: prepare: $got $msg"
want ok "other: mount $DEPTH layers" "$other" Mount o "" "@as []"
want ok "other: unmount" "$other" Unmount o

echo "# the owner's Unmount makes room"
want ok "owner: unmount k0" "$owner" Unmount k0
want ok "owner: now k$FIT mounts" "$owner" Mount "k$FIT" "" "@as []"
for i in $(seq 1 "$FIT"); do
        call "$owner" Unmount "k$i"
        [ "$got" = ok ] || fail "owner: unmount k$i: $got $msg"
done

finish
