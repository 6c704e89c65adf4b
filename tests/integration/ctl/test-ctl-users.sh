#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# laminactl as an unprivileged user, with real polkitd: refused without a rule, allowed by
# the guide's group rule (no session needed), own namespace plus root's images, --user.
. "$(dirname "$0")/ctl-lib.sh"
harness_setup --polkit
harness_install_policy
user=$(harness_add_user ctl)
uid=$(id -u "$user")

ok "root prepares an image" prepare base-work
ok "root commits it" commit base base-work

CTL_AS="harness_as $user"
ok "user: ls needs no authorization" --json=short ls
expect "user sees root's committed snapshot" "$(json 'map([.name, .owner])')" '[["base",0]]'
ctl prepare mine base
expect "user: prepare without authorization fails" "$rc" 1
printf '%s\n' "$err" | grep -q '^laminactl: ' || fail "refusal message: $err"

# The guide's rule, for the test user's own group.
harness_install_group_rule "$user"
harness_wait_for 300 ctl_succeeds prepare mine base && pass "user: prepare with the group rule" || fail "the group rule did not take effect: $err"
ok "user: mount" mount mine
path=$out
ok "user: list-mounts" --json=short list-mounts
expect "user's mount is listed with its owner" "$(json 'map([.key, .owner])')" "[[\"mine\",$uid]]"
findmnt -rn -o OPTIONS --mountpoint "$path" | grep -q 'nosuid,nodev' || fail "user mounts are nosuid,nodev"
ok "user: umount" umount mine
mkdir "$T/target"
ctl mount mine "$T/target"
expect "user: a chosen target needs mount-anywhere" "$rc" 1
ok "user: commit" commit mine-done mine
ok "user: ls" --json=short ls
expect "own and root's snapshots" "$(json 'map([.name, .owner]) | sort')" "[[\"base\",0],[\"mine-done\",$uid]]"
ctl --user 0 prepare x
expect "user: root's namespace is refused" "$rc" 1
fails "user: rm of root's snapshot says whose it is" 1 '"base" belongs to root.*only root can' rm base
fails "user: label of root's snapshot says whose it is" 1 '"base" belongs to root' label base a=b
fails "user: rm of a key nobody has" 1 '"nope" does not exist$' rm nope
ok "user: cleanup of the own namespace (manage-own)" cleanup
ctl --user 0 cleanup
expect "user: cleanup of root's namespace needs manage" "$rc" 1

# Images: root's layers are shared; the user's own layers are the user's and named by them.
mkdir -p "$T/l1/etc" "$T/l2/etc"
echo one >"$T/l1/etc/one"
echo two >"$T/l2/etc/two"
make_layer "$T/l1" "$T/l1.tar"
make_layer "$T/l2" "$T/l2.tar"
make_oci_layout "$T/img1" "one" "" "$T/l1.tar"
make_oci_layout "$T/img2" "two" "" "$T/l1.tar" "$T/l2.tar"
chmod -R a+rX "$T/img1" "$T/img2"
CTL_AS=""
ok "root: import" -q import "$T/img1"
CTL_AS="harness_as $user"
ok "user: import of an image root has" --json=short import "$T/img1"
expect "user: nothing new" "$(json '.imported')" 0
ok "user: import on root's layer" --json=short import "$T/img2"
top=$(json '.snapshot')
expect "user: one new layer" "$(json '.imported')" 1
ok "user: the new top" --json=short info "$top"
expect "user owns the top" "$(json '[.owner, .parent]')" \
        "[$uid,\"sha256:$(sha256sum "$T/l1.tar" | cut -d' ' -f1)\"]"
ok "user: rm the top" rm "$top"

CTL_AS=""
ok "root: --user UID" --user "$uid" --json=short ls
expect "root sees the user's snapshots through --user" "$(json 'map(select(.owner != 0) | .name)')" '["mine-done"]'
ok "root: --user UID rm" --user "$uid" rm mine-done
ok "root: rm base and the image" rm base "sha256:$(sha256sum "$T/l1.tar" | cut -d' ' -f1)"
finish
