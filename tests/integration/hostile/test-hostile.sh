#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Hostile local users against the real laminad on a private system bus with real polkitd,
# under LimitNOFILE=1024 as systemd gives services by default. Each attack runs while a
# victim user (granted manage-own) keeps calling Stat and List; the victim's calls must all
# succeed, the daemon must stay the same process on the bus, and the attacker must get the
# documented error. Attacks: quadratic labels, a huge key, a key that would rewrite the
# polkit prompt, pinned fds behind a polkit agent
# that never answers (pending-check exhaustion), an oversized List, a regex List over many
# snapshots, quota checks of a user holding much, a native copy, stalled Applies, an Apply
# from a socket whose reads block though poll says readable (SO_RCVLOWAT), a second laminad
# on the same state, laminad
# losing the bus mid-Apply (the re-activated one waits), SIGTERM during a stalled Apply.
# (ATTACK...: run only those, by name.)
set -u
. "${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/hostile/hostile-lib.sh"
SERVICE=org.lamina.snapshot1
IFACE=org.lamina.snapshot1.Snapshotter
OBJ=/org/lamina/snapshot1/overlayfs

command -v unshare >/dev/null || harness_skip "unshare (util-linux) is not installed"
export LAMINA_LAMINAD_ARGS="--apply-stall-timeout 3"
hostile_setup --idle-timeout 300
mkdir -m 1777 "$T/out" # the victim's latencies

VICTIM=$(harness_add_user victim)     # granted manage-own
HOG=$(harness_add_user hog)           # granted too: fills its namespace
ATTACKER=$(harness_add_user attacker) # no grant at all

cat >"$LAMINA_POLKIT_RULES/50-lamina-hostile.rules" <<RULE
// Grants exactly the key detail a prompt-rewriting key must arrive as (see "prompt").
polkit.addRule(function(action, subject) {
        if (action.lookup("key") == "prompt? ?x?. Enter your password to install updates ?")
                return polkit.Result.YES;
});
RULE
polkit_private_grant manage-own,mount-own "$VICTIM" "$HOG"

# Anonymous memory only: the LMDB map's file pages count in VmRSS but are the page cache's.
rss_kib() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"; }
n_fds() { ls "/proc/$1/fd" | wc -l; }

p99() { # p99 S|L FILE
        awk -v m="$1" '$1 == m { print $2 }' "$2" | sort -n |
                awk '{ a[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; print a[i] }'
}

# The victim's background load: Stat and List of its snapshot every 20 ms.
victim_start() {
        tool "$VICTIM" victim "$1" "$T/out/victim-$2.ms" v-base >"$T/victim-$2.out" 2>&1 &
        VICTIM_PID=$!
}
victim_check() { # victim_check ATTACK
        wait "$VICTIM_PID"
        local line stat list
        line=$(tail -n 1 "$T/victim-$1.out")
        stat=$(p99 S "$T/out/victim-$1.ms")
        list=$(p99 L "$T/out/victim-$1.ms")
        if [[ "$line" == *" failures 0" ]]; then
                ok "$1: the victim's Stat and List all succeeded ($line; p99 Stat $stat ms, List $list ms)"
        else
                not_ok "$1: the victim failed: $(cat "$T/victim-$1.out")"
        fi
        echo "$1 stat-p99-ms $stat list-p99-ms $list" >>"$T/p99"
}
same_daemon() {
        local now
        now=$(harness_laminad_pid)
        if [ "$now" = "$PID" ]; then ok "$1: laminad ($PID) is still on the bus"; else not_ok "$1: laminad was $PID, is '$now'"; fi
}
want() { # want ATTACK WANTED GOT
        if [[ "$3" == "$2"* || "$3" == *".$2"* ]]; then ok "$1: got $2"; else not_ok "$1: wanted $2, got: $3"; fi
}
selected() { [ "${#ATTACKS[@]}" = 0 ] || [[ " ${ATTACKS[*]} " == *" $1 "* ]]; }
ATTACKS=("$@")

[ "$(tool "$VICTIM" call Prepare '(ssa{ss})' '["v-base", "", {}]')" = ok ] || harness_die "the victim cannot Prepare"
PID=$(harness_laminad_pid)
[ -n "$PID" ] || harness_die "laminad is not running"
RSS0=$(rss_kib "$PID")
limit=$(awk '/Max open files/ { print $4 }' "/proc/$PID/limits")
echo "# laminad $PID: RSS $RSS0 KiB, $(n_fds "$PID") fds, fd limit $limit"
check "laminad raised its soft fd limit from 1024 to the hard limit ($limit)" [ "$limit" -gt 1024 ]

if selected labels; then
        echo "# quadratic labels: 250 000 labels in descending order, before any grant"
        victim_start 4 labels
        out=$(tool "$ATTACKER" labels 250000 a-labels)
        want labels InvalidArgument "$out"
        # Linear work is a fraction of a second; quadratic work over 250 000 labels takes
        # minutes. The bound is for a loaded machine running the sanitizer build.
        check "labels: refused in under 20 s ($out)" awk -v t="${out#* }" 'BEGIN { exit !(t < 20) }'
        victim_check labels
        same_daemon labels
fi

if selected bigkey; then
        echo "# a 28 MiB key: refused before polkit hears of it"
        victim_start 3 bigkey
        out=$(tool "$ATTACKER" bigkey 28)
        want bigkey InvalidArgument "$out"
        victim_check bigkey
        same_daemon bigkey
fi

if selected prompt; then
        echo "# a key that would rewrite the authentication prompt"
        key='prompt" (x). Enter your password to install updates "'
        # A rule grants only the sanitized form: NotFound (granted, no such snapshot) shows
        # that polkit got the key with its quotes replaced.
        out=$(tool "$ATTACKER" call Remove '(s)' "[\"$(sed 's/"/\\"/g' <<<"$key")\"]")
        want prompt-sanitized NotFound "$out"
        out=$(tool "$ATTACKER" call Remove '(s)' '["prompt\nline two"]')
        want prompt-newline InvalidArgument "$out"
fi

if selected pin; then
        echo "# 100 interactive Apply calls with 16 fds each, behind an agent that never answers"
        tool "$ATTACKER" pin 100 16 a-pin >"$T/pin.out" 2>&1 &
        pin_pid=$!
        harness_wait_for 300 grep -q "^pin sent" "$T/pin.out" || not_ok "pin: the attacker did not report: $(cat "$T/pin.out")"
        out=$(head -n 1 "$T/pin.out")
        echo "# $out"
        waiting=$(sed -n 's/.*waiting-agent \([0-9]*\).*/\1/p' <<<"$out")
        limited=$(sed -n 's/.*"org.freedesktop.DBus.Error.LimitsExceeded": \([0-9]*\).*/\1/p' <<<"$out")
        check "pin: the agent holds at most 16 checks (${waiting:-none})" [ "${waiting:-99}" -le 16 ]
        check "pin: the other ${limited:-0} calls got LimitsExceeded at once" [ "${limited:-0}" -ge 84 ]
        fds=$(n_fds "$PID")
        check "pin: laminad holds $fds fds while they wait (limit 1024)" [ "$fds" -lt 600 ]
        victim_start 3 pin
        out=$(tool "$VICTIM" call Prepare '(ssa{ss})' '["v-pin", "", {}]')
        want pin-victim-prepare ok "$out"
        victim_check pin
        kill "$pin_pid" 2>/dev/null
        wait "$pin_pid" 2>/dev/null
        same_daemon pin
fi

if selected list; then
        echo "# an oversized List: 300 snapshots with 60 KiB of labels each (18 MB)"
        out=$(tool "$HOG" fill 300 60 h)
        echo "# $out"
        [ "$out" = "fill ok" ] || harness_die "the hog could not fill its namespace: $out"
        victim_start 4 list
        out=$(tool "$HOG" list)
        want list LimitsExceeded "$out"
        check "list: the refusal says how to page ($out)" grep -q ListPage <<<"$out"
        out=$(tool "$HOG" pages 50)
        echo "# $out"
        check "list: ListPage returns every snapshot once ($out)" [ "$out" = "pages 6 items 300 distinct 300" ]
        out=$(tool "$HOG" objects)
        want list-objects LimitsExceeded "$out"
        victim_check list
        same_daemon list
fi

if selected regex; then
        echo "# a regex filter over every snapshot, repeated, while the victim calls"
        victim_start 4 regex
        regex_pids=()
        for i in 1 2 3 4; do
                tool "$HOG" list 'labels.l000~=/x{254}y/' >"$T/regex-$i.out" &
                regex_pids+=($!)
        done
        wait "${regex_pids[@]}"
        out=$(cat "$T"/regex-*.out | tr '\n' ' ')
        check "regex: the attacker's Lists completed ($out)" grep -q "^ok 0 " "$T/regex-1.out"
        victim_check regex
        same_daemon regex
fi

if selected quota; then
        echo "# quota checks: the hog, holding 300 snapshots with 60 KiB of labels each, prepares 200 more"
        echo "# with 16 KiB each, while the victim calls (each check reads one totals record)"
        if ! selected list; then
                out=$(tool "$HOG" fill 300 60 h)
                [ "$out" = "fill ok" ] || harness_die "the hog could not fill its namespace: $out"
        fi
        victim_start 4 quota
        out=$(tool "$HOG" fill 200 16 q)
        want quota "fill ok" "$out"
        victim_check quota
        same_daemon quota
fi

if selected native; then
        echo "# a native Prepare copying a 5000-file parent, while the victim calls"
        NOBJ=/org/lamina/snapshot1/native
        busctl --system call "$SERVICE" "$NOBJ" "$IFACE" Prepare 'ssa{ss}' n-big "" 0 >/dev/null ||
                harness_die "root cannot Prepare on native"
        dir=$(busctl --system call "$SERVICE" "$NOBJ" "$IFACE" Mount 'ssas' n-big "" 0 | sed 's/^s "\(.*\)"$/\1/')
        [ -d "$dir" ] || harness_die "native Mount gave no directory: $dir"
        /usr/bin/python3 -c '
import os, sys
for d in range(50):
    os.mkdir("%s/d%d" % (sys.argv[1], d))
    for f in range(100):
        with open("%s/d%d/f%d" % (sys.argv[1], d, f), "w") as o:
            o.write("x" * 4000)' "$dir"
        busctl --system call "$SERVICE" "$NOBJ" "$IFACE" Unmount s n-big >/dev/null &&
                busctl --system call "$SERVICE" "$NOBJ" "$IFACE" Commit 'ssa{ss}' n-base n-big 0 >/dev/null ||
                harness_die "cannot commit the native parent"
        victim_start 4 native
        start=$(date +%s%N)
        out=$(LAMINA_HOSTILE_SNAPSHOTTER=native tool "$HOG" call Prepare '(ssa{ss})' '["h-copy", "n-base", {}]')
        ms=$((($(date +%s%N) - start) / 1000000))
        want native-prepare ok "$out"
        echo "# the copy took $ms ms"
        victim_check native
        same_daemon native
fi

if selected stall; then
        echo "# five Applies from pipes that never deliver (--apply-stall-timeout 3)"
        victim_start 3 stall
        out=$(tool "$HOG" stall 5 h-stall)
        echo "$out" | sed 's/^/# /'
        # Its message says four were running when it came: no slot had been freed yet (a
        # freed slot would have taken it, and five would have stalled). No wall-clock
        # bound: a loaded machine may take seconds to start five calls.
        check "stall: the fifth got LimitsExceeded while four were running" \
                grep -q "^org.freedesktop.DBus.Error.LimitsExceeded [0-9.]* .*you have 4 operations running" <<<"$out"
        check "stall: four failed with QuotaExceeded after the stall timeout" \
                [ "$(grep -c "^org.lamina.snapshot1.Error.QuotaExceeded \([3-9]\|[1-9][0-9]\)\.[0-9] .*sent nothing for 3 s" <<<"$out")" = 4 ]
        victim_check stall
        out=$(tool "$HOG" call Usage '(s)' '["h-stall-1"]')
        want stall-slot-free ok "$out"
        same_daemon stall
fi

if selected lowat; then
        echo "# an Apply from a socket that sent one byte and holds blocking reads (SO_RCVLOWAT 1 MiB)"
        out=$(tool "$HOG" lowat h-lowat)
        echo "# $out"
        # After the stall timeout (3 s), before the tool's own 30 s timeout: a relay blocked
        # in a read would answer only when the socket closes (never: the tool gives up).
        check "lowat: the Apply failed with QuotaExceeded after the stall timeout" \
                grep -q "^org.lamina.snapshot1.Error.QuotaExceeded \([3-9]\|[12][0-9]\)\.[0-9] .*sent nothing for 3 s" <<<"$out"
        out=$(tool "$HOG" call Usage '(s)' '["h-lowat"]')
        want lowat-slot-free ok "$out"
        same_daemon lowat
fi

if selected rss && grep -q libasan "/proc/$PID/maps"; then
        echo "# rss: not measured: a sanitizer build keeps freed memory in quarantine"
elif selected rss; then
        rss=$(rss_kib "$PID")
        check "rss: laminad's anonymous memory is near its baseline after the attacks ($RSS0 -> $rss KiB)" \
                [ "$rss" -lt $((RSS0 + 32768)) ]
        [ "$rss" -lt $((RSS0 + 32768)) ] || awk '/^[0-9a-f]+-/ { m = $0 } /^Anonymous:/ && $2 > 4096 { print "#   " $2 " kB " m }' "/proc/$PID/smaps"
fi

if selected lock; then
        echo "# a second laminad on the same state directory"
        laminad=$(harness_find_laminad)
        "$laminad" --state-dir "$T/state" --runtime-dir "$T/run2" --idle-timeout 5 >"$T/second.log" 2>&1 &
        second=$!
        harness_wait_for 300 grep -q "another laminad is using" "$T/second.log"
        check "lock: the second laminad waits for the first ($(head -n 1 "$T/second.log"))" \
                grep -q "another laminad is using" "$T/second.log"
        out=$(tool "$VICTIM" call Stat '(s)' '["v-base"]')
        want lock-victim-stat ok "$out"
        kill -TERM "$second"
        if harness_wait_for 300 harness_pid_gone "$second"; then
                ok "lock: the waiting laminad left on SIGTERM"
        else
                not_ok "lock: the waiting laminad ignored SIGTERM"
                kill -KILL "$second"
        fi
        wait "$second" 2>/dev/null
        if grep -q "serving" "$T/second.log"; then
                not_ok "lock: the second laminad started serving: $(cat "$T/second.log")"
        else
                ok "lock: the second laminad never got to the state"
        fi
        same_daemon lock
fi

# True once laminad $PID holds FILE open: the Apply reading it has reached laminad and runs.
# (A wait on bus.log would find an earlier attack's lines; laminad logs nothing at the start.)
laminad_holds() {
        local f
        for f in /proc/"$PID"/fd/*; do
                [ "$(readlink "$f" 2>/dev/null)" = "$1" ] && return 0
        done
        return 1
}

# apply_from_fifo KEY FIFO OUT: Apply as root from FIFO in the background (its PID in
# APPLY_CALLER); OUT gets "ok", the error's name, or the message of a local error.
apply_from_fifo() {
        /usr/bin/python3 - "$1" "$2" >"$3" 2>&1 <<'EOF' &
import os, sys
from gi.repository import Gio, GLib
conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
fds = Gio.UnixFDList()
fds.append(os.open(sys.argv[2], os.O_RDONLY))
try:
    conn.call_with_unix_fd_list_sync("org.lamina.snapshot1", "/org/lamina/snapshot1/overlayfs",
                                     "org.lamina.snapshot1.Snapshotter", "Apply",
                                     GLib.Variant("(sha{sv})", (sys.argv[1], 0, {})), None,
                                     Gio.DBusCallFlags.NONE, 60000, fds, None)
    print("ok")
except GLib.Error as e:
    print(Gio.DBusError.get_remote_error(e) or e.message)
EOF
        APPLY_CALLER=$!
}

if selected disconnect; then
        echo "# laminad loses the bus while an Apply runs; the next call activates a second one"
        busctl --system call "$SERVICE" "$OBJ" "$IFACE" Prepare 'ssa{ss}' r-dc "" 0 >/dev/null ||
                harness_die "root cannot Prepare"
        # A 2 MiB layer trickles in (1 KiB every 0.2 s, never a stall) until $T/dc.go exists.
        mkdir -p "$T/dc-layer"
        head -c 2097152 /dev/urandom >"$T/dc-layer/blob"
        tar -C "$T/dc-layer" -cf "$T/dc.tar" blob
        mkfifo "$T/dc"
        /usr/bin/python3 -c '
import os, sys, time
data = open(sys.argv[1], "rb").read()
out = open(sys.argv[2], "wb", buffering=0)
i = 0
while not os.path.exists(sys.argv[3]) and i < len(data):
    out.write(data[i:i + 1024]); i += 1024; time.sleep(0.2)
out.write(data[i:])' "$T/dc.tar" "$T/dc" "$T/dc.go" &
        dc_writer=$!
        apply_from_fifo r-dc "$T/dc" "$T/dc.out"
        harness_wait_for 300 laminad_holds "$T/dc" || not_ok "disconnect: the Apply did not reach laminad"
        first=$PID
        # Replace dbus-daemon: laminad sees its connection close with the Apply running.
        bus_pid=$(awk '$1 == "bus" { print $2 }' "$T/.harness/pids" | tail -n 1)
        harness_kill_pid "$bus_pid"
        rm -f "$T/bus/system_bus_socket"
        harness_start_bus
        harness_wait_for 300 grep -q "lost the bus connection" "$T/bus.log"
        check "disconnect: the first laminad ($first) still runs its Apply off the bus" \
                grep -q "lost the bus connection; exiting after 1 running" "$T/bus.log"
        # The next call activates a second laminad, which must wait for the first.
        tool "$VICTIM" call Stat '(s)' '["v-base"]' >"$T/dc-stat.out" 2>&1 &
        dc_stat=$!
        harness_wait_for 300 grep -q "another laminad is using" "$T/bus.log"
        check "disconnect: the second laminad waits for the first" grep -q "another laminad is using" "$T/bus.log"
        n=$(harness_laminads | wc -l)
        check "disconnect: two laminads exist, only one works on the state ($n)" [ "$n" = 2 ]
        touch "$T/dc.go"
        wait "$dc_writer"
        wait "$dc_stat"
        want disconnect-victim-stat ok "$(cat "$T/dc-stat.out")"
        # (It lets go of the lock after closing the state, just before it exits.)
        check "disconnect: the first laminad finished its Apply and left" harness_wait_for 600 harness_pid_gone "$first"
        n=$(harness_laminads | wc -l)
        check "disconnect: exactly one laminad runs on the state now ($n)" [ "$n" = 1 ]
        PID=$(harness_laminad_pid)
        out=$(busctl --system call "$SERVICE" "$OBJ" "$IFACE" Usage s r-dc 2>&1)
        check "disconnect: the Apply the first one finished is in the state ($out)" grep -q "^tt 2[0-9]\{6\} " <<<"$out"
        wait "$APPLY_CALLER"
fi

if selected sigterm; then
        echo "# SIGTERM while an Apply waits on a pipe that never delivers"
        busctl --system call "$SERVICE" "$OBJ" "$IFACE" Prepare 'ssa{ss}' r-stall "" 0 >/dev/null ||
                harness_die "root cannot Prepare"
        mkfifo "$T/stall"
        exec {stall_fd}<>"$T/stall"
        apply_from_fifo r-stall "$T/stall" "$T/stall.out"
        harness_wait_for 300 laminad_holds "$T/stall" || not_ok "sigterm: the Apply did not reach laminad"
        start=$(date +%s%N)
        kill -TERM "$PID"
        harness_wait_for 300 harness_pid_gone "$PID"
        ms=$((($(date +%s%N) - start) / 1000000))
        # Not a wall-clock bound: it abandoned the Apply after its grace (0.5 s), where
        # waiting for the Apply would have ended it with the stall timeout (QuotaExceeded).
        check "sigterm: laminad exited ${ms} ms after SIGTERM, abandoning the running Apply" \
                grep -q "stopping now, abandoning 1 running operations" "$T/bus.log"
        wait "$APPLY_CALLER"
        want sigterm-caller org.freedesktop.DBus.Error.Failed "$(cat "$T/stall.out")"
        exec {stall_fd}>&-
fi

if [ -f "$T/p99" ]; then
        echo "# victim p99 during each attack:"
        sed 's/^/# /' "$T/p99"
        [ -z "${LAMINA_HOSTILE_P99:-}" ] || cp "$T/p99" "$LAMINA_HOSTILE_P99"
fi
if grep -q "Sanitizer" "$T/bus.log"; then
        not_ok "laminad reported sanitizer errors: $(grep -A 5 Sanitizer "$T/bus.log" | head -n 20)"
fi
checks_done
