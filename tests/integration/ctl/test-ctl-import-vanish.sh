#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon cleans up after a caller that leaves the bus mid-import (issue 16): laminactl
# import-tar killed outright (SIGKILL, no handler runs) and a raw client that closes its bus
# connection while its Apply runs. Each Apply reads a FIFO whose writer the test holds open,
# so it can only end because laminad cancels it (laminad runs with --apply-stall-timeout 0:
# no stall timeout either). Afterwards nothing is left: no transient snapshot, no unpack
# helper, the data freed; what the client made without the transient label stays. One uid's
# connections holding transient snapshots are capped (16). (laminactl import makes its
# working snapshots the same way, but takes only regular files from an image layout: the
# FIFO goes to import-tar's standard input.)
. "$(dirname "$0")/ctl-lib.sh"
command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import gi' 2>/dev/null ||
        harness_skip "python3-gi is not installed (tools/install-deps.sh installs it)"
export LAMINA_LAMINAD_ARGS="--apply-stall-timeout 0"
harness_setup

mkdir -p "$T/base/d"
(cd "$T/base/d" && seq 1 3000 | xargs touch)
make_layer "$T/base" "$T/base.tar"
gzip -c "$T/base.tar" >"$T/base.tar.gz"
# FIFOs that the test feeds: part of the layer, then nothing.
mkfifo "$T/tar-layer" "$T/raw-layer"

laminad_pid() { harness_laminad_pid; }
# helpers: the unpack helpers laminad runs now (its children named lamina-unpack).
helpers() {
        _p=$(laminad_pid)
        [ -n "$_p" ] || { echo 0; return; }
        pgrep -c -x -P "$_p" lamina-unpack || true
}
snapshots() {
        ctl --json=short ls
        json 'map(.name) | sort | join(" ")'
}
# data_dirs: the snapshot data directories in the state directory (one per live snapshot,
# until the background free of a removed one ends).
data_dirs() {
        find "$T/state/overlayfs/snapshots" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}
import_under_way() {
        "$LAMINACTL" --no-legend ls 'name~=^import-' 2>/dev/null | grep -q "import-$1-" && [ "$(helpers)" -ge 1 ]
}
all_gone() {
        [ "$(helpers)" = 0 ] && [ -z "$(snapshots)" ] && [ "$(data_dirs)" = 0 ]
}

ok "laminad runs" ls
[ -d "$T/state/overlayfs/snapshots" ] || harness_die "no $T/state/overlayfs/snapshots: $(ls -R "$T/state" | head -20)"
expect "no data directory at first" "$(data_dirs)" 0

# 1. laminactl import-tar, SIGKILLed while its Apply reads the FIFO.
exec 7<>"$T/tar-layer"
head -c 20000 "$T/base.tar.gz" >&7
"$LAMINACTL" import-tar --name vanish - <"$T/tar-layer" >"$T/import.out" 2>&1 &
pid=$!
harness_record_pid laminactl "$pid"
if harness_wait_for 600 import_under_way "$pid"; then
        pass "SIGKILL: the import's Apply is under way (snapshot import-$pid-…, an unpack helper)"
else
        fail "SIGKILL: the import never got under way: $(cat "$T/import.out"); snapshots: $(snapshots)"
fi
kill -KILL "$pid"
wait "$pid" 2>/dev/null
if harness_wait_for 600 all_gone; then
        pass "SIGKILL: laminad cancelled the Apply and removed the snapshot; its data is freed"
else
        fail "SIGKILL: left behind: snapshots '$(snapshots)', helpers $(helpers), data dirs $(data_dirs)"
fi
exec 7>&-

# 2. A raw client that closes its bus connection mid-Apply (the process lives on).
# exec: run in the background, $! must be the client itself (a subshell's PID was killed
# and waited for while the client lived on, left behind by every run).
ctl_py() { exec /usr/bin/python3 "$LAMINA_SOURCE_DIR/tests/integration/ctl/vanish-client.py" "$@"; }
expect "the transient label must name the caller's own connection" "$(ctl_py overlayfs raw-bad check)" \
        org.lamina.snapshot1.Error.InvalidArgument
expect "nothing made by the refused Prepare" "$(snapshots)" ""
exec 8<>"$T/raw-layer"
head -c 20000 "$T/base.tar.gz" >&8
ctl_py overlayfs raw "$T/raw-layer" "$T/go" >"$T/raw.out" 2>&1 &
raw=$!
harness_record_pid vanish-client "$raw"
raw_applying() { grep -q applying "$T/raw.out" && [ "$(helpers)" -ge 1 ]; }
if harness_wait_for 600 raw_applying; then
        pass "raw client: its Apply is under way"
else
        fail "raw client: no Apply under way: $(cat "$T/raw.out")"
fi
expect "raw client: its three snapshots exist" "$(snapshots)" "raw raw-kept raw-view"
touch "$T/go"
only_kept() { [ "$(helpers)" = 0 ] && [ "$(snapshots)" = raw-kept ] && [ "$(data_dirs)" = 1 ]; }
if harness_wait_for 600 only_kept; then
        pass "raw client gone from the bus: Apply cancelled, transient snapshot and view removed, data freed"
else
        fail "raw client: left behind: snapshots '$(snapshots)', helpers $(helpers), data dirs $(data_dirs)"
fi
grep -q closed "$T/raw.out" || fail "raw client did not close its connection: $(cat "$T/raw.out")"
kill -0 "$raw" 2>/dev/null && pass "raw client: the process still runs (only its connection went)" ||
        fail "raw client: the process died: $(cat "$T/raw.out")"
kill "$raw"
wait "$raw" 2>/dev/null
exec 8>&-
ok "rm the snapshot made without the label" rm raw-kept

# 3. Connections holding transient snapshots are a bounded, fairly shared resource (each costs
# laminad a match rule on the bus): one uid's 17th is refused; once one has closed (and its
# snapshot is gone) another may; when they all close, their snapshots go.
ctl_py overlayfs many many 17 "$T/go-many" >"$T/many.out" 2>&1 &
many=$!
harness_record_pid vanish-client "$many"
many_done() { [ "$(wc -l <"$T/many.out")" -ge 18 ]; }
harness_wait_for 1200 many_done || fail "the 18 connections did not all answer: $(cat "$T/many.out")"
expect "16 connections of one uid hold transient snapshots" "$(head -16 "$T/many.out" | sort -u)" ok
expect "the 17th connection is refused" "$(sed -n 17p "$T/many.out")" org.freedesktop.DBus.Error.LimitsExceeded
expect "after one closed, another connection may" "$(sed -n 18p "$T/many.out")" ok
touch "$T/go-many"
wait "$many" 2>/dev/null
if harness_wait_for 600 all_gone; then
        pass "all their transient snapshots went with the connections"
else
        fail "left after the connections closed: snapshots '$(snapshots)', data dirs $(data_dirs)"
fi
finish
