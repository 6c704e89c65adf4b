#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# GetManagedObjects makes its caller a watcher only when it is answered with the objects. A's
# call refused (LimitsExceeded: A's namespace holds more than one reply takes) leaves that
# connection no watcher: a change in A's namespace that another connection of A, watching,
# is told about never reaches it (checked with a Ping answered after the change: laminad's
# messages to one connection arrive in order). Before, the refused caller was made a watcher
# all the same, and took a watcher slot.
set -u

MONITOR_LIB=${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/monitor
. "$MONITOR_LIB/monitor-lib.sh"

PROBE=$MONITOR_LIB/probe-watcher.py
harness_need_python_dbus
uid_a=$(id -u "$A")

# More than GetManagedObjects answers (16 MiB of objects): 270 snapshots of 64 KiB labels each.
/usr/bin/python3 -I "$PROBE" fill "$uid_a" 270 >"$T/fill.out" 2>&1 ||
        harness_die "cannot fill A's namespace: $(tail -n 3 "$T/fill.out")"

# start_probe NAME MODE: probe-watcher.py MODE as A, reading lines from $T/NAME.in (held open
# on the fd in $FD_NAME), until its first answer.
start_probe() {
        local name=$1 mode=$2 fd
        mkfifo "$T/$name.in"
        setpriv --reuid="$uid_a" --regid="$(id -g "$A")" --init-groups -- \
                /usr/bin/python3 -I "$PROBE" "$mode" <"$T/$name.in" >"$T/$name.out" 2>"$T/$name.err" &
        harness_record_pid "probe-$name" "$!"
        eval "PID_$name=$!"
        exec {fd}>"$T/$name.in"
        eval "FD_$name=$fd"
        harness_wait_for 600 grep -q '^\(listed\|watching\|refused\)' "$T/$name.out" ||
                harness_die "probe $name did not answer: $(cat "$T/$name.err")"
}

start_probe refused objects
check "A's GetManagedObjects is refused: more objects than a reply takes" \
        grep -q '^refused org.freedesktop.DBus.Error.LimitsExceeded$' "$T/refused.out"
start_probe watcher watch
check "another connection of A watches" grep -q '^watching$' "$T/watcher.out"

# A change in A's namespace (by root: the watchers of A's namespace are told).
busctl --system call org.lamina.snapshot1 "/org/lamina/snapshot1/overlayfs/user/$uid_a" \
        org.lamina.snapshot1.Snapshotter Prepare 'ssa{ss}' probe "" 0 >/dev/null ||
        harness_die "root cannot prepare A's probe"
told() { grep -q '^signal org.freedesktop.DBus.ObjectManager InterfacesAdded ' "$T/watcher.out"; }
harness_wait_for 600 told
check "the watching connection is told (InterfacesAdded)" told

echo ping >&"$FD_refused"
harness_wait_for 600 grep -q '^pong$' "$T/refused.out"
check "the refused connection answers a Ping sent after the change" grep -q '^pong$' "$T/refused.out"
no_signal() { ! grep -q '^signal' "$T/refused.out"; }
check "the refused connection got no signal" no_signal
sed 's/^/# refused: /' "$T/refused.out"

exec {FD_refused}>&- {FD_watcher}>&-
wait "$PID_refused" "$PID_watcher" 2>/dev/null
checks_done
