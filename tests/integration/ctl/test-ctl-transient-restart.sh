#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Transient snapshots that laminad left when it stopped before their maker (issue 16): at its
# next start it removes those whose maker has left the bus meanwhile, and looks after the
# others (they go when their maker does). A raw client (restart-client.py) makes "left" and
# "stays" on two connections; laminad is SIGKILLed; the first connection closes; laminad is
# activated again. Then, with two makers alive, as if on a new bus.
. "$(dirname "$0")/ctl-lib.sh"
command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import gi' 2>/dev/null ||
        harness_skip "python3-gi is not installed (tools/install-deps.sh installs it)"
harness_setup

snapshots() {
        ctl --json=short ls
        json 'map(.name) | sort | join(" ")'
}
# Each client writes its own file: a second one that has not yet truncated a shared file
# would show the first one's "ready".
client_says() { grep -sqx "$1" "$out"; }
laminad_gone() { [ -z "$(harness_laminad_pid)" ]; }
only_kept() { [ "$(snapshots)" = kept ]; }

ok "laminad runs" prepare kept
out=$T/client.out
exec /usr/bin/python3 "$(dirname "$0")/restart-client.py" overlayfs "$T" >"$out" 2>&1 &
client=$!
harness_record_pid restart-client "$client"
harness_wait_for 600 client_says ready || harness_die "the client did not prepare its snapshots: $(cat "$out")"
expect "three snapshots, two of them transient" "$(snapshots)" "kept left stays"

pid=$(harness_laminad_pid)
[ -n "$pid" ] || harness_die "no laminad on the bus"
kill -KILL "$pid"
harness_wait_for 600 laminad_gone || harness_die "laminad $pid did not go"
touch "$T/close-left"
harness_wait_for 600 client_says "closed left" || harness_die "the client did not close: $(cat "$out")"

# The first call activates laminad again; it has looked at what it left before it answers.
expect "at start, laminad removed the snapshot whose maker left while it was stopped" "$(snapshots)" "kept stays"
touch "$T/close-stays"
if harness_wait_for 600 only_kept; then
        pass "the other went when its maker left the bus"
else
        fail "left behind: $(snapshots)"
fi
kill "$client"
wait "$client" 2>/dev/null

# On a new bus (a reboot, dbus-daemon started again) unique names start again: another
# connection may have a maker's name. laminad records the ID of the bus it runs on; a record
# of another bus stands for the new bus here: both makers live, yet their snapshots go.
[ "$(wc -c <"$T/state/bus-id")" = 32 ] && pass "laminad records the bus it runs on" ||
        fail "no bus ID in $T/state/bus-id"
mkdir "$T/second"
out=$T/second/client.out
exec /usr/bin/python3 "$(dirname "$0")/restart-client.py" overlayfs "$T/second" >"$out" 2>&1 &
client=$!
harness_record_pid restart-client "$client"
harness_wait_for 600 client_says ready || harness_die "the client did not prepare its snapshots: $(cat "$out")"
pid=$(harness_laminad_pid)
kill -KILL "$pid"
harness_wait_for 600 laminad_gone || harness_die "laminad $pid did not go"
echo 00000000000000000000000000000000 >"$T/state/bus-id"
expect "at start on another bus, laminad removed the transient snapshots made on the one before" \
        "$(snapshots)" "kept"
kill "$client"
wait "$client" 2>/dev/null
ok "rm kept" rm kept
finish
