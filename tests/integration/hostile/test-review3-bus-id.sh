#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# On another bus (a reboot, dbus-daemon started again) unique names start again, so laminad
# removes at its start the transient snapshots left from the bus before (their makers are
# gone; a new connection may have a maker's name and would keep a snapshot of another user's
# alive). It tells buses apart by the ID recorded in <state>/bus-id, and records the new one.
# When that record could not be written (a full state filesystem), laminad took the buses
# for the same one: the snapshots stayed, tracked by names that on the new bus anyone may
# get. Now a bus known to be another stays another, whether or not its ID is recorded. Here
# the record of the bus before is made immutable (chattr +i, as root cannot write it then):
# two transient snapshots whose makers are still connected must go at the next start.
set -u
. "${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/lib/harness.sh"
. "$LAMINA_SOURCE_DIR/tests/integration/lib/checks.sh"
/usr/bin/python3 -c 'import gi' 2>/dev/null || harness_skip "python3-gi is not installed"
command -v chattr >/dev/null || harness_skip "chattr (e2fsprogs) is not installed"
harness_setup

BUS_ID=$T/state/bus-id
# The harness removes $T at exit: the record must be writable again first.
trap 'rc=$?; chattr -i "$BUS_ID" 2>/dev/null; (exit $rc); harness_cleanup' EXIT

listed() {
        busctl call org.lamina.snapshot1 /org/lamina/snapshot1/overlayfs org.lamina.snapshot1.Snapshotter \
                List as 0 | grep -o '"[a-z]*" "" "active"' | cut -d'"' -f2 | sort | tr '\n' ' '
}
client_says() { grep -sqx "$1" "$T/client.out"; }
laminad_gone() { [ -z "$(harness_laminad_pid)" ]; }

exec /usr/bin/python3 "$LAMINA_SOURCE_DIR/tests/integration/ctl/restart-client.py" overlayfs "$T" \
        >"$T/client.out" 2>&1 &
client=$!
harness_record_pid restart-client "$client"
harness_wait_for 600 client_says ready || harness_die "the client did not prepare: $(cat "$T/client.out")"
check "two transient snapshots of live connections ($(listed))" [ "$(listed)" = "left stays " ]

pid=$(harness_laminad_pid)
[ -n "$pid" ] || harness_die "no laminad on the bus"
kill -KILL "$pid"
harness_wait_for 600 laminad_gone || harness_die "laminad $pid did not go"
echo 00000000000000000000000000000000 >"$BUS_ID"
chattr +i "$BUS_ID" 2>/dev/null || harness_skip "the test directory's filesystem cannot make a file immutable"
echo x >>"$BUS_ID" 2>/dev/null && harness_die "an immutable file was written"

# The first call activates laminad; it has looked at what it left before it answers.
check "at start on another bus whose ID it cannot record, laminad removed them ($(listed))" [ -z "$(listed)" ]
check "and kept the record it could not write" [ "$(cat "$BUS_ID")" = 00000000000000000000000000000000 ]

kill "$client"
wait "$client" 2>/dev/null
checks_done
echo "all checks passed"
