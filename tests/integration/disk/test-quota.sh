#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 17: per-uid quotas from laminad.conf and its drop-ins, against the real daemon with
# real polkitd and unprivileged callers. A user at its Bytes= or Inodes= quota gets
# QuotaExceeded on Apply (naming the quota) and its snapshot keeps what it had; at
# Snapshots= and LabelBytes= Prepare, View and Update are refused before anything
# changes (Commit's labels: unit test core-quota); another user (its own [Quota:UID]) and
# root are not held back; a bad line keeps laminad from starting, naming file and line.
. "$LAMINA_SOURCE_DIR/tests/integration/ctl/ctl-lib.sh"
QUOTA=org.lamina.snapshot1.Error.QuotaExceeded

harness_setup --polkit --idle-timeout 600
harness_install_policy
alice=$(harness_add_user quota-a)
bob=$(harness_add_user quota-b)
# Both users may manage their own snapshots: the guide's group rule, for each one's group.
harness_install_group_rule "$alice" "$bob"

# The main file and drop-ins: 20-tight.conf lowers what the main file set, bob has his own.
mkdir "$T/laminad.conf.d"
cat >"$T/laminad.conf" <<CONF
[Quota]
Bytes=64M
Inodes=10000
Snapshots=100
LabelBytes=1M
CONF
cat >"$T/laminad.conf.d/20-tight.conf" <<CONF
# what a test user may hold
[Quota]
Bytes=6M
Inodes=300
Snapshots=4
LabelBytes=100
CONF
cat >"$T/laminad.conf.d/30-bob.conf" <<CONF
[Quota:$(id -u "$bob")]
Bytes=infinity
Snapshots=6
CONF

# Layers: 4 MiB in one file (two of them pass alice's 6M), and 400 small files.
mkdir -p "$T/l1" "$T/l2" "$T/many"
head -c 4M /dev/urandom >"$T/l1/one"
head -c 4M /dev/urandom >"$T/l2/two"
for i in $(seq 400); do echo "$i" >"$T/many/f$i"; done
tar -C "$T/l1" -cf "$T/l1.tar" . && tar -C "$T/l2" -cf "$T/l2.tar" . && tar -C "$T/many" -cf "$T/many.tar" .
chmod 0644 "$T"/*.tar
chmod 0755 "$T"

CTL_AS="harness_as $alice"
harness_wait_for 300 ctl_succeeds -q prepare a1 && pass "alice: prepare (group rule active)" || fail "the group rule did not take effect: $err"

# --- Bytes= at Apply ---
ok "alice: a 4 MiB layer within 6M" -q apply a1 "$T/l1.tar"
ok "alice: usage before" -b usage a1
before=$out
fails "alice: a second 4 MiB layer passes Bytes=6M" 1 "QuotaExceeded|Bytes=6291456" -q apply a1 "$T/l2.tar"
printf '%s\n' "$err" | grep -q 'Bytes=6291456' || fail "the refusal names the quota: $err"
ok "alice: usage after" -b usage a1
expect "alice: the refused Apply left the snapshot as it was" "$out" "$before"

# --- Inodes= at Apply ---
ok "alice: second snapshot" -q prepare a2
fails "alice: 400 files pass Inodes=300" 1 "Inodes=300" -q apply a2 "$T/many.tar"
ok "alice: the refused layer left a2 empty" --json=short info a2

# --- Snapshots= (4): a1, a2 + two more; the fifth, as active or view, is refused ---
ok "alice: third" -q prepare a3
ok "alice: fourth" -q view a4
fails "alice: a fifth snapshot passes Snapshots=4" 1 "Snapshots=4" -q prepare a5
fails "alice: a fifth view too" 1 "Snapshots=4" -q view a5
ctl -q info a5
expect "alice: nothing of the refused snapshot exists" "$rc" 1
ok "alice: commit at the quota (the count stays)" -q commit a3-done a3
ok "alice: remove one" -q rm a4
ok "alice: room again after a remove" -q prepare a5

# --- LabelBytes= (100) ---
long=$(head -c 60 /dev/zero | tr '\0' x)
ok "alice: 61 bytes of labels" label a5 "k=$long"
fails "alice: 122 bytes of labels pass LabelBytes=100" 1 "LabelBytes=100" label a2 "k=$long"
ok "alice: a2 unchanged" --json=short info a2
[ "$(json '.labels.k // "none"')" = none ] || fail "the refused Update changed a2's labels: $out"
ok "alice: shrinking labels always passes" label a5 "k="

# --- bob: his own section (Bytes=infinity, Snapshots=6; the rest from [Quota]) ---
CTL_AS="harness_as $bob"
ok "bob: prepare" -q prepare b1
ok "bob: 4 MiB" -q apply b1 "$T/l1.tar"
ok "bob: 8 MiB: no byte quota" -q apply b1 "$T/l2.tar"
for i in 2 3 4 5 6; do ok "bob: snapshot $i of 6" -q prepare "b$i"; done
fails "bob: a seventh" 1 "Snapshots=6" -q prepare b7

# --- root: no quota ---
CTL_AS=""
ok "root: prepare" -q prepare r1
ok "root: 4 MiB" -q apply r1 "$T/l1.tar"
ok "root: 8 MiB" -q apply r1 "$T/l2.tar"
ok "root: 400 files" -q apply r1 "$T/many.tar"
for i in 2 3 4 5 6 7 8; do ok "root: snapshot $i" -q prepare "r$i"; done
ok "root: 122 bytes of labels" label r2 "k=$long" "l=$long"

# --- alice still at her quota after all that; her Apply names it ---
CTL_AS="harness_as $alice"
fails "alice: still refused" 1 "Bytes=6291456" -q apply a5 "$T/l2.tar"

# --- df: alice sees only herself, against her quota; root sees everyone ---
auid=$(id -u "$alice") buid=$(id -u "$bob")
ok "alice: df" --json=short df
expect "alice: df shows only alice" "$(json 'map(.uid)')" "[$auid]"
expect "alice: her quota" "$(json '.[0].quota')" '{"bytes":6291456,"inodes":300,"label_bytes":100,"snapshots":4}'
expect "alice: her snapshots (a1, a2, a3-done, a5)" "$(json '.[0].total.snapshots')" 4
[ "$(json '.[0].total.bytes')" -ge 4194304 ] || fail "alice's df total holds her 4 MiB layer: $out"
expect "alice: per snapshotter" "$(json '.[0].snapshotters.overlayfs.snapshots')" 4
printf '%s\n' "$(json '.[0].enforcement')" | grep -q "overlayfs: laminad" || fail "alice: enforced by laminad: $out"
ok "alice: df as a table" df
harness_log "$out"
printf '%s\n' "$out" | grep -q "total/quota.*/6.0M" || fail "the table shows the quota: $out"
printf '%s\n' "$out" | grep -q "writes through mounts are not limited" || fail "the table says what is enforced: $out"
CTL_AS=""
ok "root: df" --json=short df
expect "root: df shows root, alice and bob" "$(json 'map(.uid) | sort')" "[0,$buid,$auid]"
expect "root: no quota for root" "$(json 'map(select(.uid == 0))[0].quota.bytes')" null
expect "root: bob's own section" "$(json "map(select(.uid == $buid))[0].quota | [.bytes, .snapshots]")" "[null,6]"

# --- a bad line: laminad refuses to start, naming the file and line ---
printf '[Quota]\nBytes=6M\nBites=1\n' >"$T/bad.conf"
laminad=$(harness_find_laminad)
if "$laminad" --config "$T/bad.conf" --state-dir "$T/bad-state" --runtime-dir "$T/bad-run" 2>"$T/bad.err"; then
        fail "laminad started with a bad configuration"
elif grep -q "bad.conf:3: unknown key Bites=" "$T/bad.err"; then
        pass "a bad line stops laminad: $(cat "$T/bad.err")"
else
        fail "laminad's message does not name file and line: $(cat "$T/bad.err")"
fi
[ ! -e "$T/bad-state" ] || fail "laminad touched the state directory before reading its configuration"
finish
