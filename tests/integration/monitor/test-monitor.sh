#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# laminactl monitor and the Monitor interface (src/bus/bus-watch.c) against real polkitd on
# the private bus: watchers of users A and B and of root, each its own laminactl monitor;
# changes made by other connections (laminactl prepare/rm as A, B and root). A's watcher
# sees exactly A's changes, B's exactly B's, root's all of them, in --json=short for the
# users and as text for root; Unwatch and a vanished watcher end the copies; a uid's 17th
# watcher is LimitsExceeded, and ended monitors free their slots; monitors outlive laminad.
set -u

MONITOR_LIB=${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/monitor
. "$MONITOR_LIB/monitor-lib.sh"

# start_monitor NAME USER [ARGS...]: laminactl monitor, until it watches.
start_monitor() {
        local name=$1 u=$2
        shift 2
        start_bg "$name" "$u" "^Watching" "$LAMINACTL" --no-pager monitor "$@"
}

# The Snapshotter signals; those of the objects monitor prints too are test-objects-images-mounts.sh's.
sig() { grep -v '^{"event":"Interfaces\|^{"event":"PropertiesChanged\|^added \|^removed \|^changed ' "$T/$1.out"; }
lines() { sig "$1" | grep -c "$2"; }

start_monitor a "$A" --json=short
start_monitor b "$B" --json=short
start_monitor root root

# Another connection of each makes the changes; A's removal comes last, so that when A's
# watcher has seen it, every signal laminad sent before (B's, root's) would have arrived.
as "$B" "$LAMINACTL" -q prepare mon-b >/dev/null || not_ok "$B cannot prepare mon-b"
as root "$LAMINACTL" -q prepare mon-r >/dev/null || not_ok "root cannot prepare mon-r"
as "$A" "$LAMINACTL" -q prepare mon-a >/dev/null || not_ok "$A cannot prepare mon-a"
as "$A" "$LAMINACTL" -q rm mon-a >/dev/null || not_ok "$A cannot remove mon-a"

harness_wait_for 600 has_lines root . 4 || not_ok "root's watcher saw $(lines root .) of 4 changes"
harness_wait_for 600 has_lines a '"event":"Removed"' 1 || not_ok "A's watcher did not see the removal"
harness_wait_for 600 has_lines b '"event":"Prepared"' 1 || not_ok "B's watcher did not see B's Prepare"
sed 's/^/# a: /' "$T/a.out"; sed 's/^/# b: /' "$T/b.out"; sed 's/^/# root: /' "$T/root.out"

uid_a=$(id -u "$A")
uid_b=$(id -u "$B")
if [ "$(sig a)" = "$(printf '%s\n' \
        "{\"event\":\"Prepared\",\"snapshotter\":\"overlayfs\",\"key\":\"mon-a\",\"parent\":\"\",\"kind\":\"active\",\"owner\":$uid_a}" \
        "{\"event\":\"Removed\",\"snapshotter\":\"overlayfs\",\"key\":\"mon-a\",\"owner\":$uid_a}")" ]; then
        ok "A's watcher sees A's Prepare and Remove (JSON), and nothing of B or root"
else
        not_ok "A's watcher saw: $(sig a)"
fi
if [ "$(sig b)" = \
     "{\"event\":\"Prepared\",\"snapshotter\":\"overlayfs\",\"key\":\"mon-b\",\"parent\":\"\",\"kind\":\"active\",\"owner\":$uid_b}" ]; then
        ok "B's watcher sees B's Prepare only"
else
        not_ok "B's watcher saw: $(sig b)"
fi
want_root=$(printf '%s\n' \
        "overlayfs Prepared key=\"mon-b\" parent=\"\" kind=\"active\" owner=$B" \
        "overlayfs Prepared key=\"mon-r\" parent=\"\" kind=\"active\" owner=root" \
        "overlayfs Prepared key=\"mon-a\" parent=\"\" kind=\"active\" owner=$A" \
        "overlayfs Removed key=\"mon-a\" owner=$A")
if [ "$(sig root)" = "$want_root" ]; then
        ok "root's watcher sees every namespace's changes (text)"
else
        not_ok "root's watcher saw: $(sig root)"
fi

# SIGTERM ends a monitor cleanly and laminad forgets it (sd_bus_track); B's next change
# still reaches root's watcher, and not A's.
kill -TERM "$PID_b"
wait "$PID_b"
rc=$?
[ "$rc" = 0 ] && ok "SIGTERM ends laminactl monitor with 0" || not_ok "laminactl monitor exited with $rc on SIGTERM"
# Unwatch by a connection that does not watch is no error.
as "$B" busctl --system call org.lamina.snapshot1 /org/lamina/snapshot1 org.lamina.snapshot1.Monitor Unwatch ||
        not_ok "Unwatch without watching fails"
as "$B" "$LAMINACTL" -q rm mon-b >/dev/null || not_ok "$B cannot remove mon-b"
harness_wait_for 600 has_lines root Removed 2 || not_ok "root's watcher did not see B's removal"
[ "$(lines a .)" = 2 ] && ok "A's watcher still saw nothing of B" || not_ok "A's watcher saw: $(sig a)"

# Fair share: A has one watcher (monitor a); 15 more fit, the 17th is LimitsExceeded.
for i in $(seq 2 16); do
        start_monitor "a$i" "$A" --json=short
done
if as "$A" "$LAMINACTL" --no-pager monitor </dev/null >"$T/a17.out" 2>"$T/a17.err"; then
        not_ok "A's 17th watcher was accepted"
elif grep -q "already has 16 watchers" "$T/a17.err"; then
        ok "A's 17th watcher: $(cat "$T/a17.err")"
else
        not_ok "A's 17th watcher failed otherwise: $(cat "$T/a17.err")"
fi
# B is not affected by A's share.
start_monitor b2 "$B" --json=short && ok "B may still watch while A has 16"
for i in $(seq 2 16); do
        kill -TERM "$(eval echo "\$PID_a$i")"
done
# A's freed slots are usable again once laminad saw those connections go. (A monitor says
# "Watching" once its Watch is answered; no time limit on that on a loaded machine.)
watch_answered() { grep -q "^Watching" "$T/a18.err" || harness_pid_gone "$1"; }
can_watch_again() {
        local p
        setpriv --reuid="$(id -u "$A")" --regid="$(id -g "$A")" --init-groups -- \
                "$LAMINACTL" --no-pager monitor </dev/null >/dev/null 2>"$T/a18.err" &
        p=$!
        harness_wait_for 600 watch_answered "$p"
        kill -TERM "$p" 2>/dev/null
        wait "$p" 2>/dev/null
        grep -q "^Watching" "$T/a18.err"
}
if harness_wait_for 100 can_watch_again; then
        ok "ended monitors free their slots"
else
        not_ok "A's watchers were not forgotten after their monitors ended: $(cat "$T/a18.err")"
fi

# laminad stops (an upgrade's restart): the monitors watch its successor, which they start.
old=$(harness_laminad_pid)
kill -TERM "$old"
# Each says so once its Watch reached the successor: only then does A's change reach it.
harness_wait_for 300 grep -q "watching its successor" "$T/root.err" || not_ok "root's monitor did not notice"
harness_wait_for 300 grep -q "watching its successor" "$T/a.err" || not_ok "A's monitor did not notice"
as "$A" "$LAMINACTL" -q prepare mon-a-again >/dev/null || not_ok "$A cannot prepare mon-a-again"
if harness_wait_for 600 has_lines root mon-a-again 1 && harness_wait_for 600 has_lines a mon-a-again 1; then
        ok "after laminad's restart the monitors of root and A see A's next change"
else
        not_ok "after laminad's restart: root saw $(lines root mon-a-again), A $(lines a mon-a-again)"
fi

kill -TERM "$PID_a" "$PID_root" "$PID_b2"
wait "$PID_a" "$PID_root" "$PID_b2"

[ "$failures" = 0 ] || exit 1
