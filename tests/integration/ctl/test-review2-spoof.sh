#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Only the bus itself says that a connection left. Another connection sends laminad a
# NameOwnerChanged of its own making (to laminad alone, from its own unique name) saying that
# the maker of a transient snapshot left, and a Disconnected of org.freedesktop.DBus.Local:
# the snapshot stays and laminad keeps answering; when the maker really leaves, it goes (the
# check could see a removal). A NameOwnerChanged forged to laminactl monitor is ignored too.
. "$(dirname "$0")/ctl-lib.sh"
command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import gi' 2>/dev/null ||
        harness_skip "python3-gi is not installed (tools/install-deps.sh installs it)"
command -v busctl >/dev/null || harness_skip "busctl is not installed"
harness_setup

snapshots() {
        ctl --json=short ls
        json 'map(.name) | sort | join(" ")'
}
client_says() { grep -qx "$1" "$T/client.out"; }
left_gone() { [ "$(snapshots)" = stays ]; }
spoof() {
        busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" emit --destination=org.lamina.snapshot1 "$@" ||
                fail "busctl emit $* failed"
}

exec /usr/bin/python3 "$(dirname "$0")/restart-client.py" overlayfs "$T" >"$T/client.out" 2>&1 &
client=$!
harness_record_pid restart-client "$client"
harness_wait_for 600 client_says ready || harness_die "the client did not prepare its snapshots: $(cat "$T/client.out")"
expect "two transient snapshots" "$(snapshots)" "left stays"
ok "info left" --json=short info left
maker=$(json '.labels["org.lamina.transient"]')
case "$maker" in :*) ;; *) harness_die "no maker's name on left: $out" ;; esac

pid=$(harness_laminad_pid)
[ -n "$pid" ] || harness_die "no laminad on the bus"
spoof /org/freedesktop/DBus org.freedesktop.DBus NameOwnerChanged sss "$maker" "$maker" ""
# Each call is a turn of laminad's loop: a sweep started by the spoof would have run by now.
for _ in 1 2 3 4 5; do
        ctl ls >/dev/null
done
expect "a NameOwnerChanged from another connection removed nothing" "$(snapshots)" "left stays"
# The bus may refuse to pass it on (the interface is reserved); laminad must not act on it.
busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" emit --destination=org.lamina.snapshot1 /org/freedesktop/DBus/Local \
        org.freedesktop.DBus.Local Disconnected 2>/dev/null
ok "laminad answers after a forged Disconnected" ls
expect "the same laminad answers (it did not stop)" "$(harness_laminad_pid)" "$pid"

# laminactl monitor takes laminad's NameOwnerChanged for its end: a forged one, sent to the
# monitor alone, must not make it say that laminad left.
"$LAMINACTL" --no-pager monitor >"$T/mon.out" 2>"$T/mon.err" &
monitor=$!
harness_record_pid laminactl-monitor "$monitor"
monitor_says() { grep -q "$1" "$T/mon.out" "$T/mon.err"; }
harness_wait_for 600 monitor_says Watching || fail "the monitor did not start: $(cat "$T/mon.err")"
monitor_name=$(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" list --unique --no-legend | awk -v p="$monitor" '$2 == p { print $1 }')
daemon_name=$(harness_bus_call GetNameOwner s org.lamina.snapshot1 | sed 's/^s "\(.*\)"$/\1/')
case "$monitor_name$daemon_name" in :*:*) ;; *) harness_die "no unique names: monitor $monitor_name, laminad $daemon_name" ;; esac
busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" emit --destination="$monitor_name" /org/freedesktop/DBus \
        org.freedesktop.DBus NameOwnerChanged sss org.lamina.snapshot1 "$daemon_name" "" ||
        fail "busctl emit to the monitor failed"
ok "prepare after the forgery" prepare after-forgery
harness_wait_for 600 monitor_says after-forgery || fail "the monitor did not see after-forgery: $(cat "$T/mon.out")"
if grep -q "left the bus" "$T/mon.err"; then
        fail "a forged NameOwnerChanged made the monitor say that laminad left: $(cat "$T/mon.err")"
else
        pass "the monitor ignored a forged NameOwnerChanged"
fi
kill "$monitor"
wait "$monitor" 2>/dev/null
ok "rm after-forgery" rm after-forgery

touch "$T/close-left"
harness_wait_for 600 client_says "closed left" || harness_die "the client did not close: $(cat "$T/client.out")"
if harness_wait_for 600 left_gone; then
        pass "the snapshot went when its maker really left"
else
        fail "left behind: $(snapshots)"
fi
no_snapshots() { [ -z "$(snapshots)" ]; }
kill "$client"
wait "$client" 2>/dev/null
harness_wait_for 600 no_snapshots || fail "left behind after the client: $(snapshots)"
finish
