# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the monitor tests: the private bus, users A and B whom a rules file lets manage
# and mount their own snapshots, real polkitd (private copies of the actions and rules
# directories, as in tests/integration/auth), and helpers.

HARNESS_LIB=${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/lib
. "$HARNESS_LIB/harness.sh"
. "$HARNESS_LIB/polkit-private.sh"

LAMINACTL=$LAMINA_BUILD_DIR/src/ctl/laminactl
[ -x "$LAMINACTL" ] || harness_die "$LAMINACTL is not built"
polkit_private_setup --idle-timeout 300

A=$(harness_add_user mona)
B=$(harness_add_user monb)

polkit_private_grant manage-own,mount-own "$A" "$B"
. "$HARNESS_LIB/checks.sh"

# start_bg NAME USER READY COMMAND...: COMMAND as USER in the background (PID in $PID_NAME),
# output in $T/NAME.out and .err, until a line of it matches READY.
start_bg() {
        local name=$1 u=$2 ready=$3 pre=()
        shift 3
        # Not through as(): $! must be the command itself, not a subshell running a function.
        [ "$u" = root ] || pre=(setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --init-groups --)
        "${pre[@]}" "$@" </dev/null >"$T/$name.out" 2>"$T/$name.err" &
        harness_record_pid "bg-$name" "$!"
        eval "PID_$name=$!"
        harness_wait_for 600 grep -q "$ready" "$T/$name.out" "$T/$name.err" ||
                harness_die "$name did not start: $(cat "$T/$name.err")"
}

lines() { grep -c "$2" "$T/$1.out"; }
has_lines() { [ "$(lines "$1" "$2")" -ge "$3" ]; }
