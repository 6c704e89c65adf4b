#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# import under contention and interruption: two imports sharing their base layer, run at the
# same time, both succeed (10 rounds, the shared layer removed in between); SIGINT or SIGTERM in
# the middle of an import (layers read from a directory and from an archive through a pipe)
# leaves no snapshot behind; an import-PID-… snapshot of a laminactl that is gone is removed by
# the next cleanup.
. "$(dirname "$0")/ctl-lib.sh"
harness_setup

# A base layer of many small files, and two small tops; for the interruptions a larger
# base that takes the daemon a moment.
mkdir -p "$T/base/d" "$T/t1/etc" "$T/t2/etc" "$T/big/d"
(cd "$T/base/d" && seq 1 2000 | xargs touch)
(cd "$T/big/d" && seq 1 20000 | xargs touch)
echo one >"$T/t1/etc/one"
echo two >"$T/t2/etc/two"
for l in base t1 t2 big; do
        make_layer "$T/$l" "$T/$l.tar"
done
cb=$(tar_digest "$T/base.tar")
c1=$(chain_id "$cb" "$(tar_digest "$T/t1.tar")")
c2=$(chain_id "$cb" "$(tar_digest "$T/t2.tar")")
make_oci_layout "$T/img1" "one" "" "$T/base.tar" "$T/t1.tar"
make_oci_layout "$T/img2" "two" "" "$T/base.tar" "$T/t2.tar"
make_oci_layout "$T/bigimg" "big" "" "$T/big.tar" "$T/t1.tar"
tar -C "$T/bigimg" -cf "$T/bigimg.tar" .

# all_snapshots: the names of every snapshot, sorted, on one line.
all_snapshots() {
        ctl --json=short ls
        json 'map(.name) | sort | join(" ")'
}

rounds_ok=0
for round in $(seq 1 10); do
        "$LAMINACTL" -q import "$T/img1" >"$T/race1.out" 2>&1 &
        p1=$!
        "$LAMINACTL" -q import "$T/img2" >"$T/race2.out" 2>&1 &
        p2=$!
        r1=0 r2=0
        wait "$p1" || r1=$?
        wait "$p2" || r2=$?
        if [ "$r1" != 0 ] || [ "$r2" != 0 ]; then
                fail "round $round: concurrent imports exited $r1 and $r2: $(cat "$T/race1.out" "$T/race2.out")"
                continue
        fi
        got=$(all_snapshots)
        want=$(printf '%s\n' "$cb" "$c1" "$c2" | sort | tr '\n' ' ' | sed 's/ $//')
        if [ "$got" != "$want" ]; then
                fail "round $round: snapshots after both imports: $got (want $want)"
                continue
        fi
        ctl rm "$c1" "$c2" "$cb"
        [ "$rc" = 0 ] || fail "round $round: rm: $err"
        rounds_ok=$((rounds_ok + 1))
done
expect "10 rounds of two concurrent imports sharing a layer: all succeed" "$rounds_ok" 10

# interrupt SIGNAL SOURCE: starts an import of SOURCE, sends SIGNAL once its import-PID-…
# snapshot exists, and checks that it exits 128+signal leaving nothing.
interrupt() {
        _sig=$1 _src=$2
        "$LAMINACTL" import "$_src" >"$T/int.out" 2>&1 &
        _pid=$!
        _seen=0
        for _ in $(seq 1 500); do
                if "$LAMINACTL" --no-legend ls 'name~=^import-' 2>/dev/null | grep -q "import-$_pid-"; then
                        _seen=1
                        break
                fi
                kill -0 "$_pid" 2>/dev/null || break
                sleep 0.02
        done
        kill "-$_sig" "$_pid" 2>/dev/null
        _rc=0
        wait "$_pid" || _rc=$?
        expect "$_sig during import of $(basename "$_src"): the import was under way" "$_seen" 1
        expect "$_sig during import of $(basename "$_src"): exit status" "$_rc" $((128 + $(kill -l "$_sig")))
        grep -q 'interrupted' "$T/int.out" || fail "$_sig: no word of the interruption: $(cat "$T/int.out")"
        expect "$_sig during import of $(basename "$_src"): nothing left" "$(all_snapshots)" ""
}
interrupt INT "$T/bigimg"
interrupt TERM "$T/bigimg.tar"
interrupt INT "$T/bigimg.tar"

# What laminad could not take back (it stopped before it saw the connection go, or an older
# laminactl made it without the transient label: test-ctl-import-vanish.sh tests the daemon's
# side): an import-PID-… snapshot of a laminactl that is gone, which the next cleanup removes.
true &
dead=$!
wait "$dead"
ok "an import snapshot of a laminactl that is gone" prepare "import-$dead-0123456789abcdef012"
ctl cleanup
[ "$rc" = 0 ] || fail "cleanup: $err"
printf '%s\n' "$err" | grep -q "import-$dead-.*interrupted import" ||
        fail "cleanup does not say what it removed: $err"
ctl --json=short ls 'name~=^import-'
expect "cleanup removes the import snapshot of a dead laminactl" "$(json 'length')" 0
ctl --json=short ls
[ "$(json 'length')" = 0 ] || ok "rm what is left" rm $(json '.[].name' | tac)
finish
