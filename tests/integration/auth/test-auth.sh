#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Authorization of every Snapshotter method against real polkitd on a private system bus:
# root, a user granted manage-own/mount-own by a rules file (our example, for its group),
# a user without any grant (non-interactive -> InteractiveAuthorizationRequired, interactive
# without an agent -> AccessDenied), users acting on each other's namespaces, polkit stopped.
# Denied calls must change nothing. Then 50 parallel checks, and callers that go away
# while their check is pending. No logind here: polkit treats every subject as "any".
set -u

: "${LAMINA_SOURCE_DIR:?run through meson test}"
HARNESS_LIB="$LAMINA_SOURCE_DIR/tests/integration/lib"
. "$HARNESS_LIB/harness.sh"
# polkitd 122 reads actions only from /usr/share/polkit-1/actions and rules from
# /etc/polkit-1/rules.d; it runs with private copies bound over those (polkitd-private.sh).
. "$HARNESS_LIB/polkit-private.sh"

SERVICE=org.lamina.snapshot1
IFACE=org.lamina.snapshot1.Snapshotter
IAR=InteractiveAuthorizationRequired
AD=AccessDenied
NF=NotFound
IA=InvalidArgument

command -v unshare >/dev/null || harness_skip "unshare (util-linux) is not installed"
polkit_auth_call_setup --idle-timeout 300 # CALL, OBJ

OWNER=$(harness_add_user owner)   # granted by the rules file
OTHER=$(harness_add_user other)   # no grant at all
UO=$(id -u "$OWNER")
UX=$(id -u "$OTHER")

# Our example rules file, for OWNER's own group instead of "lamina"; a second rule makes
# checks on key "slow" take a second (a check that is still pending when its caller leaves).
{
        sed "s/isInGroup(\"lamina\")/isInGroup(\"$OWNER\")/" "$LAMINA_SOURCE_DIR/polkit/50-lamina-group.rules.example"
        cat <<'RULE'
polkit.addRule(function(action, subject) {
        if (action.id.indexOf("org.lamina.snapshot1.") == 0 && action.lookup("key") == "slow")
                polkit.spawn(["/bin/sleep", "1"]);
});
RULE
} >"$LAMINA_POLKIT_RULES/50-lamina-test.rules"
grep -q "isInGroup(\"$OWNER\")" "$LAMINA_POLKIT_RULES/50-lamina-test.rules" ||
        harness_die "the rules example has no isInGroup(\"lamina\")"
polkit_private_start

failures=0
cells=0

# expect WANT USER [--interactive] OBJECT METHOD ARGS...: WANT is ok or an error's last
# name component.
expect() {
        local want=$1 u=$2 got
        shift 2
        got=$(as "$u" "$CALL" "$@" 2>"$T/last.err")
        got=${got##*.}
        cells=$((cells + 1))
        if [ "$got" = "$want" ]; then
                printf 'ok - %s: %s\n' "$u" "$*"
        else
                printf 'not ok - %s: %s: want %s, got %s: %s\n' "$u" "$*" "$want" "$got" "$(cat "$T/last.err")"
                failures=$((failures + 1))
        fi
}

# Everything the daemon knows, as root sees it, for before/after comparisons.
state() {
        local p
        for p in "$OBJ" "$OBJ/user/$UO" "$OBJ/user/$UX"; do
                busctl --system call "$SERVICE" "$p" "$IFACE" List as 0
                busctl --system call "$SERVICE" "$p" "$IFACE" ListMounts
        done
}

unchanged_since() {
        cells=$((cells + 1))
        if state | cmp -s "$1" -; then
                printf 'ok - %s changed nothing\n' "$2"
        else
                printf 'not ok - %s changed state:\n' "$2"
                state | diff "$1" - | sed 's/^/#   /'
                failures=$((failures + 1))
        fi
}

mkdir -p "$T/layer/etc" "$T/mnt-root" "$T/mnt-owner"
echo hello >"$T/layer/etc/hello"
tar -C "$T/layer" -cf "$T/layer.tar" .
LAYER="$T/layer.tar"

echo "# root: everything, never asked"
expect ok root "$OBJ" Prepare r-a ""
expect ok root "$OBJ" Update r-a
expect ok root "$OBJ" Usage r-a
expect ok root "$OBJ" Mounts r-a
expect ok root "$OBJ" Apply r-a "$LAYER"
expect ok root "$OBJ" Mount r-a "" ""
expect ok root "$OBJ" ListMounts
expect ok root "$OBJ" Unmount r-a
expect ok root "$OBJ" Mount r-a "$T/mnt-root" ""
expect ok root "$OBJ" Unmount r-a
expect ok root "$OBJ" Mount r-a "" suid,dev
expect ok root "$OBJ" Unmount r-a
expect ok root "$OBJ" Commit r-img r-a
expect ok root "$OBJ" View r-v r-img
expect ok root "$OBJ" Remove r-v
expect ok root "$OBJ" Cleanup
expect ok root "$OBJ" Stat r-img
expect ok root "$OBJ" List
expect ok root "$OBJ/user/$UX" Prepare x-act ""   # root in another namespace

echo "# owner: granted manage-own and mount-own by the rules file"
expect ok "$OWNER" "$OBJ" Prepare o-a r-img          # parent from root's namespace
expect ok "$OWNER" "$OBJ" Update o-a
expect ok "$OWNER" "$OBJ" Apply o-a "$LAYER"
expect ok "$OWNER" "$OBJ" Usage o-a
expect ok "$OWNER" "$OBJ" Mounts o-a
expect ok "$OWNER" "$OBJ" Mount o-a "" ""
expect ok "$OWNER" "$OBJ" ListMounts
expect ok "$OWNER" "$OBJ" Unmount o-a
expect ok "$OWNER" "$OBJ" Mount o-a "" ro,nosuid,nodev,noexec
expect ok "$OWNER" "$OBJ" Unmount o-a
expect ok "$OWNER" "$OBJ" Commit o-img o-a
expect ok "$OWNER" "$OBJ" View o-v o-img
expect ok "$OWNER" "$OBJ" Remove o-v
expect ok "$OWNER" "$OBJ/user/$UO" Prepare o-b ""  # its own uid's object: as its own
expect ok "$OWNER" "$OBJ/user/$UO" Remove o-b
expect ok "$OWNER" "$OBJ" Prepare o-act o-img
expect ok "$OWNER" "$OBJ" Mount o-act "" ""
expect ok "$OWNER" "$OBJ" Stat r-img
expect ok "$OWNER" "$OBJ" List
expect ok "$OWNER" "$OBJ" Cleanup  # of its own namespace: manage-own

echo "# denials: nothing may change"
state >"$T/before"
# owner: mount-anywhere and manage are not granted (auth_admin* -> challenge)
expect $IAR "$OWNER" "$OBJ" Mount o-img "$T/mnt-owner" ""
# suid/dev: never for a non-root caller, whatever it is granted (every non-root mount
# is nosuid,nodev); refused as InvalidArgument, not as a question for an admin
expect $IA "$OWNER" "$OBJ" Mount o-act "" suid
expect $IA "$OWNER" "$OBJ" Mount o-act "" dev
expect $IA "$OWNER" --interactive "$OBJ" Mount o-act "" nosuid,dev
expect $AD "$OWNER" --interactive "$OBJ" Mount o-img "$T/mnt-owner" ""
expect $IAR "$OWNER" "$OBJ/user/0" Cleanup
expect $AD "$OWNER" --interactive "$OBJ/user/0" Cleanup
expect $IAR "$OWNER" "$OBJ/user/0" Stat r-img
expect $IAR "$OWNER" "$OBJ/user/0" List
expect $IAR "$OWNER" "$OBJ/user/$UX" Remove x-act
# owner on snapshots of others through its own object: not there
expect $NF "$OWNER" "$OBJ" Stat x-act
expect $NF "$OWNER" "$OBJ" Usage x-act
expect $NF "$OWNER" "$OBJ" Mounts x-act
expect $NF "$OWNER" "$OBJ" Update x-act
expect $NF "$OWNER" "$OBJ" Remove x-act
expect $NF "$OWNER" "$OBJ" Commit x-img x-act
expect $NF "$OWNER" "$OBJ" Mount x-act "" ""
expect $NF "$OWNER" "$OBJ" Unmount x-act
expect $NF "$OWNER" "$OBJ" Apply x-act "$LAYER"
expect $NF "$OWNER" "$OBJ" Remove r-img
# other: no grant; reads of what it may see work, everything else is refused
expect ok "$OTHER" "$OBJ" Stat x-act
expect ok "$OTHER" "$OBJ" Stat r-img
expect ok "$OTHER" "$OBJ" Usage x-act
expect ok "$OTHER" "$OBJ" Mounts x-act
expect ok "$OTHER" "$OBJ" List
expect ok "$OTHER" "$OBJ" ListMounts
expect $NF "$OTHER" "$OBJ" Stat o-img
expect $NF "$OTHER" "$OBJ" Mounts o-act
for flag in "" --interactive; do
        want=$IAR
        [ -n "$flag" ] && want=$AD
        expect $want "$OTHER" $flag "$OBJ" Prepare x-new ""
        expect $want "$OTHER" $flag "$OBJ" View x-new r-img
        expect $want "$OTHER" $flag "$OBJ" Commit x-img x-act
        expect $want "$OTHER" $flag "$OBJ" Update x-act
        expect $want "$OTHER" $flag "$OBJ" Remove x-act
        expect $want "$OTHER" $flag "$OBJ" Apply x-act "$LAYER"
        expect $want "$OTHER" $flag "$OBJ" Mount x-act "" ""
        expect $want "$OTHER" $flag "$OBJ" Mount x-act "$T/mnt-owner" suid
        expect $want "$OTHER" $flag "$OBJ" Unmount x-act
        expect $want "$OTHER" $flag "$OBJ" Cleanup
        # the owner's namespace (manage)
        expect $want "$OTHER" $flag "$OBJ/user/$UO" Stat o-img
        expect $want "$OTHER" $flag "$OBJ/user/$UO" List
        expect $want "$OTHER" $flag "$OBJ/user/$UO" Usage o-img
        expect $want "$OTHER" $flag "$OBJ/user/$UO" Mounts o-act
        expect $want "$OTHER" $flag "$OBJ/user/$UO" ListMounts
        expect $want "$OTHER" $flag "$OBJ/user/$UO" Remove o-img
        expect $want "$OTHER" $flag "$OBJ/user/$UO" Update o-img
        expect $want "$OTHER" $flag "$OBJ/user/$UO" Unmount o-act
        expect $want "$OTHER" $flag "$OBJ/user/$UO" Prepare o-new o-img
done
unchanged_since "$T/before" "the refused calls"

echo "# busctl as the ungranted user"
cells=$((cells + 1))
if as "$OTHER" busctl --system --allow-interactive-authorization=no call "$SERVICE" "$OBJ" "$IFACE" \
        Prepare 'ssa{ss}' b-1 "" 0 2>"$T/busctl.err"; then
        echo "not ok - busctl Prepare as $OTHER succeeded"
        failures=$((failures + 1))
elif grep -q "needs authentication" "$T/busctl.err"; then
        echo "ok - busctl --allow-interactive-authorization=no: $(cat "$T/busctl.err")"
else
        echo "not ok - busctl Prepare as $OTHER: $(cat "$T/busctl.err")"
        failures=$((failures + 1))
fi

echo "# 50 parallel checks through polkit (at most 16 pending per user)"
state >"$T/before"
pids=""
for i in $(seq 1 25); do
        as "$OWNER" "$CALL" "$OBJ" Prepare "par-$i" "" >"$T/par-o-$i" 2>&1 &
        pids="$pids $!"
        as "$OTHER" "$CALL" "$OBJ" Prepare "par-$i" "" >"$T/par-x-$i" 2>&1 &
        pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids
n_ok=$(cat "$T"/par-o-* | grep -cx ok)
n_olim=$(cat "$T"/par-o-* | grep -c "\.LimitsExceeded\$")
n_iar=$(cat "$T"/par-x-* | grep -c "\.$IAR\$")
n_xlim=$(cat "$T"/par-x-* | grep -c "\.LimitsExceeded\$")
cells=$((cells + 1))
if [ "$n_ok" -ge 16 ] && [ $((n_ok + n_olim)) = 25 ] && [ "$n_iar" -ge 16 ] && [ $((n_iar + n_xlim)) = 25 ]; then
        echo "ok - 50 parallel calls: $n_ok authorized, $n_iar refused, $((n_olim + n_xlim)) over the per-user cap"
else
        echo "not ok - 50 parallel calls: $n_ok+$n_olim of 25 authorized/limited, $n_iar+$n_xlim of 25 refused/limited"
        head -n 3 "$T"/par-* | sed 's/^/#   /'
        failures=$((failures + 1))
fi
for i in $(seq 1 25); do
        if grep -qx ok "$T/par-o-$i"; then
                expect ok "$OWNER" "$OBJ" Remove "par-$i" >/dev/null
        fi
done
unchanged_since "$T/before" "the parallel calls, once removed again"

echo "# callers that leave while their check is pending"
pid=$(harness_laminad_pid)
state >"$T/before"
# polkit takes a second on key "slow" (and checks nothing else meanwhile); the callers
# leave after 0.3 s. For an interactive call laminad withdraws the check (Cancel...).
pids=""
for flag in --interactive --interactive ""; do
        as "$OTHER" "$CALL" --leave-after 300 $flag "$OBJ" Prepare slow "" >/dev/null &
        pids="$pids $!"
done
as "$OWNER" "$CALL" --leave-after 300 --interactive "$OBJ" Remove slow >/dev/null &
pids="$pids $!"
as "$OTHER" busctl --system call "$SERVICE" "$OBJ" "$IFACE" Prepare 'ssa{ss}' slow "" 0 >/dev/null 2>&1 &
busctl_pid=$!
sleep 0.3
kill "$busctl_pid" 2>/dev/null
# shellcheck disable=SC2086
wait $pids "$busctl_pid" 2>/dev/null
expect ok "$OTHER" "$OBJ" Stat r-img   # answered once polkit is through with the slow ones
expect ok "$OWNER" "$OBJ" Prepare after-gone ""
expect ok "$OWNER" "$OBJ" Remove after-gone
cells=$((cells + 1))
if [ "$(harness_laminad_pid)" = "$pid" ]; then
        echo "ok - laminad ($pid) survived callers that left"
else
        echo "not ok - laminad was $pid, is now '$(harness_laminad_pid)'"
        failures=$((failures + 1))
fi
cells=$((cells + 1))
if grep -q 'left; cancelling' "$T/bus.log"; then
        echo "ok - laminad cancelled the checks of callers that left"
else
        echo "not ok - laminad did not cancel a check whose caller left"
        failures=$((failures + 1))
fi
unchanged_since "$T/before" "the callers that left"

echo "# one user cannot take every worker: at most 4 slow calls each"
CTL="$LAMINA_BUILD_DIR/src/ctl/laminactl"
declare -a cap_fds=() cap_pids=()
for i in 1 2 3 4 5; do
        as "$OWNER" "$CTL" -q prepare "cap-$i" >/dev/null || harness_die "prepare cap-$i failed"
done
for i in 1 2 3 4; do
        mkfifo "$T/cap-$i"
        as "$OWNER" "$CTL" apply "cap-$i" - <"$T/cap-$i" >/dev/null 2>&1 &
        cap_pids+=($!)
        exec {fd}>"$T/cap-$i"
        cap_fds+=("$fd")
done
# Until all four run: a slow call of the user's own (Usage takes a slot, changes nothing)
# is refused for the four. (They start only once polkit has answered for each.)
four_running() {
        ! out=$(as "$OWNER" "$CTL" usage cap-5 2>&1) && grep -q "you have 4 operations running" <<<"$out"
}
harness_wait_for 600 four_running || echo "# the four Applies did not all start: $out"
cells=$((cells + 1))
if out=$(echo | as "$OWNER" "$CTL" apply cap-5 - 2>&1); then
        echo "not ok - a fifth slow call of one user was accepted"
        failures=$((failures + 1))
elif grep -q "you have 4 operations running" <<<"$out"; then
        echo "ok - the fifth slow call of one user: $out"
else
        echo "not ok - the fifth slow call of one user failed otherwise: $out"
        failures=$((failures + 1))
fi
expect ok root "$OBJ/user/$UO" Usage o-img
for fd in "${cap_fds[@]}"; do
        exec {fd}>&-
done
wait "${cap_pids[@]}" 2>/dev/null
for i in 1 2 3 4 5; do
        as "$OWNER" "$CTL" -q rm "cap-$i" >/dev/null || harness_die "rm cap-$i failed"
done

echo "# polkit stopped: non-root refused, root still served"
polkitd_pid=$(awk '$1 == "polkitd" { print $2 }' "$T/.harness/pids" | tail -n 1)
harness_kill_pid "$polkitd_pid"
harness_wait_for 300 harness_name_gone org.freedesktop.PolicyKit1 || harness_die "polkitd did not go away"
state >"$T/before"
expect $AD "$OWNER" "$OBJ" Prepare p-1 ""
expect $AD "$OWNER" --interactive "$OBJ" Prepare p-1 ""
expect $AD "$OWNER" "$OBJ" Mount o-img "" ""
expect $AD "$OWNER" "$OBJ" Remove o-img
expect $AD "$OTHER" "$OBJ" Prepare p-1 ""
expect $AD "$OTHER" "$OBJ/user/$UO" Stat o-img
expect ok "$OWNER" "$OBJ" Stat o-img
expect ok "$OWNER" "$OBJ" List
unchanged_since "$T/before" "the calls without polkit"
expect ok root "$OBJ" Prepare p-root ""
expect ok root "$OBJ" Remove p-root

echo "# auth-call's own failures end it with status 2 (in a sanitizer build: nothing leaked at exit)"
for args in "not/a/path Stat r-img" "$OBJ Apply r-img $T/no-such-layer"; do
        cells=$((cells + 1))
        # shellcheck disable=SC2086
        as "$OWNER" "$CALL" $args >/dev/null 2>"$T/last.err"
        rc=$?
        if [ "$rc" = 2 ] && grep -q "^cannot build the call" "$T/last.err"; then
                echo "ok - auth-call $args: status 2"
        else
                echo "not ok - auth-call $args: status $rc, want 2: $(head -c 300 "$T/last.err")"
                failures=$((failures + 1))
        fi
done

# Stop laminad ourselves so a sanitizer build reports leaks/errors now (bus.log).
pid=$(harness_laminad_pid)
if [ -n "$pid" ]; then
        kill -TERM "$pid"
        harness_wait_for 100 harness_pid_gone "$pid"
fi
cells=$((cells + 1))
if grep -q "Sanitizer" "$T/bus.log"; then
        echo "not ok - laminad reported sanitizer errors:"
        grep -A 20 "Sanitizer" "$T/bus.log" | head -n 40 | sed 's/^/#   /'
        failures=$((failures + 1))
else
        echo "ok - laminad exited cleanly (no sanitizer reports)"
fi

echo "# $cells checks, $failures failed"
[ "$failures" = 0 ]
