#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Any local user may send laminad a method call, and sd-bus looks the object up on the event
# loop before anything is authorized: once for the path, then once for each of its prefixes,
# copying and hashing the path each time. A path of 32 000 components ("/a/a/...", a 64 KiB
# message) cost laminad ~400 ms of CPU per call, quadratic in the message's size. No object
# of laminad's is deeper than 7 components (<snapshotter>/snapshot/<uid>/<key> below
# /org/lamina/snapshot1): deeper ones are answered UnknownObject at once. Against the real
# laminad and polkitd on a private bus, by a user holding no grant: laminad's CPU time (user
# + system, from /proc, not wall-clock time) for 4 such calls, and a deep path must not take
# a real object's answer away.
set -u
. "${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/hostile/hostile-lib.sh"
hostile_setup --idle-timeout 300
TOOL="$LAMINA_SOURCE_DIR/tests/integration/hostile/review3.py"

ATTACKER=$(harness_add_user r3deep) # no grant at all

cpu_ms() { # laminad's user + system time in ms
        awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat"
}

busctl call org.lamina.snapshot1 /org/lamina/snapshot1 org.lamina.snapshot1.Manager ListSnapshotters >/dev/null ||
        harness_die "laminad does not answer"
PID=$(harness_laminad_pid)
[ -n "$PID" ] || harness_die "laminad is not running"

before=$(cpu_ms "$PID")
out=$(tool "$ATTACKER" deep-path 32000 4)
spent=$(($(cpu_ms "$PID") - before))
check "4 Stat calls on a path 32000 deep: UnknownObject each ($(echo $out))" \
        [ "$(grep -c '^org.freedesktop.DBus.Error.UnknownObject$' <<<"$out")" = 4 ]
# Quadratic: ~1600 ms for the 4 (390 ms measured for one on a loaded machine). Linear: a few
# ms, tens in a sanitizer build.
check "laminad spent $spent ms of CPU on them (less than 400)" [ "$spent" -lt 400 ]
out=$(tool "$ATTACKER" deep-path 7 1)
check "a path 7 deep that is no object: UnknownObject ($out)" [ "$out" = org.freedesktop.DBus.Error.UnknownObject ]
check "laminad ($PID) is still on the bus" [ "$(harness_laminad_pid)" = "$PID" ]
out=$(as "$ATTACKER" busctl call org.lamina.snapshot1 /org/lamina/snapshot1/overlayfs \
        org.lamina.snapshot1.Snapshotter List as 0 2>&1)
check "the user still Lists its namespace ($out)" [ "$out" = "a(sssa{ss}ttu) 0" ]

checks_done
echo "all checks passed"
