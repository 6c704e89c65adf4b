# SPDX-License-Identifier: LGPL-2.1-or-later
# Integration test harness: a private, deny-by-default system bus on which the first call
# to org.lamina.snapshot1 activates the built laminad through our activation file.
# Source this file from a test script (bash or POSIX sh); see README.md.
#
# Everything the harness starts or creates is recorded under $T/.harness, so functions
# also work from subshells ($(harness_add_user x)), and harness_cleanup (installed as
# EXIT trap) undoes exactly that: it kills only the processes it started, unmounts what is
# mounted under $T (deepest first), removes the users and installed files, then $T.
# A process is recorded as its PID and start time: pid_max may be 32768, and a PID whose
# process ended long ago may name another test's process by the time we clean up.

HARNESS_NAME=org.lamina.snapshot1
HARNESS_POLKITD=${HARNESS_POLKITD:-/usr/lib/polkit-1/polkitd}

harness_log() {
        printf '# %s\n' "$*" >&2
}

harness_die() {
        printf 'harness: %s\n' "$*" >&2
        exit 1
}

# Exit 77: only for something the machine lacks, never for a failing daemon.
harness_skip() {
        printf 'SKIP: %s\n' "$*" >&2
        exit 77
}

# For tests whose clients are Python tools speaking D-Bus through Gio.
harness_need_python_gi() {
        /usr/bin/python3 -c 'import gi; gi.require_version("Gio", "2.0")' 2>/dev/null ||
                harness_skip "python3-gi is not installed"
}

# For tests whose clients use python3-dbus with a GLib main loop (Debian's python3, which
# has them, whatever python3 comes first in PATH).
harness_need_python_dbus() {
        /usr/bin/python3 -I -c 'import dbus, dbus.mainloop.glib, gi.repository.GLib' 2>/dev/null ||
                harness_skip "python3-dbus and python3-gi are not installed (tools/install-deps.sh)"
}

harness_find_laminad() {
        if [ -n "${LAMINA_LAMINAD:-}" ]; then
                echo "$LAMINA_LAMINAD"
                return 0
        fi
        for c in "$LAMINA_BUILD_DIR/src/laminad/laminad" "$LAMINA_BUILD_DIR/laminad"; do
                if [ -x "$c" ]; then
                        echo "$c"
                        return 0
                fi
        done
        return 1
}

# Polls a shell command until it succeeds; $1 = tenths of a second.
harness_wait_for() {
        _n=$1
        shift
        while [ "$_n" -gt 0 ]; do
                if "$@"; then
                        return 0
                fi
                sleep 0.1
                _n=$((_n - 1))
        done
        return 1
}

# Start time of process PID (field 22 of /proc/PID/stat, after the parenthesized name);
# fails when no such process exists.
harness_pid_start() {
        _stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
        # shellcheck disable=SC2086
        set -- ${_stat##*) }
        shift 19
        echo "$1"
}

# PID/START naming one process for harness_signal_id; empty if PID has gone already
# (never a failure: PID=$(harness_pid_id ...) under set -e).
harness_pid_id() {
        if _start=$(harness_pid_start "$1"); then
                echo "$1/$_start"
        fi
}

# True if PID is still the process that started at START.
harness_pid_is() {
        [ -n "$2" ] && [ "$(harness_pid_start "$1")" = "$2" ]
}

# harness_signal_id SIGNAL PID/START: signals the process only if the PID still names it.
harness_signal_id() {
        harness_pid_is "${2%/*}" "${2#*/}" && kill -"$1" "${2%/*}" 2>/dev/null
}

# Records NAME PID (and the process's start time) for harness_cleanup to kill.
harness_record_pid() {
        echo "$1 $2 $(harness_pid_start "$2")" >>"$T/.harness/pids"
}

# Starts a background process with output to $T/<name>.log and records its PID.
harness_spawn() {
        _name=$1
        shift
        "$@" </dev/null >>"$T/$_name.log" 2>&1 &
        harness_record_pid "$_name" "$!"
}

harness_bus_call() {
        busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus "$@"
}

# True if a connection owns the name (never activates it).
harness_name_has_owner() {
        [ "$(harness_bus_call NameHasOwner s "$1" 2>/dev/null)" = "b true" ]
}

harness_name_gone() {
        ! harness_name_has_owner "$1"
}

# PID of the running laminad as the bus reports it; empty if none runs.
harness_laminad_pid() {
        _out=$(harness_bus_call GetConnectionUnixProcessID s "$HARNESS_NAME" 2>/dev/null) || return 0
        echo "${_out#u }"
}

harness_write_bus_config() {
        sed "s|@BUS_DIR@|$T/bus|g" "$HARNESS_LIB/bus.conf.in" >"$T/bus/bus.conf"

        _policy="$LAMINA_SOURCE_DIR/dbus/org.lamina.snapshot1.conf"
        [ -f "$_policy" ] || harness_die "$_policy is missing"
        cp "$_policy" "$T/bus/system.d/"
        if [ -f /usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf ]; then
                cp /usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf "$T/bus/system.d/"
        fi
}

# Our activation file with Exec= pointing at the built laminad and private directories.
harness_write_activation_file() {
        _template="$LAMINA_SOURCE_DIR/dbus/org.lamina.snapshot1.service.in"
        [ -f "$_template" ] || harness_die "$_template is missing"
        _laminad=$(harness_find_laminad) || harness_die "laminad is not built in $LAMINA_BUILD_DIR"
        grep -q '^Exec=@libexecdir@/laminad' "$_template" ||
                harness_die "$_template has no Exec=@libexecdir@/laminad line"
        # laminad execs its unpack helper from the build tree too (the bus passes its
        # environment on to the services it activates).
        : "${LAMINA_UNPACK_PATH:=$LAMINA_BUILD_DIR/src/unpack/lamina-unpack}"
        [ -x "$LAMINA_UNPACK_PATH" ] || harness_die "lamina-unpack is not built in $LAMINA_BUILD_DIR"
        export LAMINA_UNPACK_PATH
        # --config: only what the test writes there (nothing: the built-in defaults), never
        # the machine's /etc/lamina/laminad.conf.
        _args="--config $T/laminad.conf --state-dir $T/state --runtime-dir $T/run --idle-timeout $HARNESS_IDLE_TIMEOUT"
        # A test may pass more, e.g. low Apply limits: LAMINA_LAMINAD_ARGS="--apply-max-entries 20000".
        [ -z "${LAMINA_LAMINAD_ARGS:-}" ] || _args="$_args $LAMINA_LAMINAD_ARGS"
        sed -e "s|^Exec=@libexecdir@/laminad\(.*\)$|Exec=$_laminad\1 $_args|" \
            -e "s|@libexecdir@|$(dirname "$_laminad")|g" \
            "$_template" >"$T/bus/services/$HARNESS_NAME.service"
}

harness_bus_ready() {
        [ -S "$T/bus/system_bus_socket" ] && harness_name_has_owner org.freedesktop.DBus
}

harness_start_bus() {
        # No --fork: activated services inherit our stderr, so laminad's log lands in bus.log.
        harness_spawn bus dbus-daemon --config-file="$T/bus/bus.conf" --nofork --nopidfile
        export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/bus/system_bus_socket"
        harness_wait_for 300 harness_bus_ready || harness_die "dbus-daemon did not start (see $T/bus.log)"
}

# harness_setup [--idle-timeout SECONDS] [--polkit]
# Sets T (exported as LAMINA_TEST_DIR), DBUS_SYSTEM_BUS_ADDRESS and the EXIT trap.
harness_setup() {
        HARNESS_IDLE_TIMEOUT=60
        _polkit=0
        while [ $# -gt 0 ]; do
                case "$1" in
                --idle-timeout) HARNESS_IDLE_TIMEOUT=$2; shift 2 ;;
                --polkit) _polkit=1; shift ;;
                *) harness_die "harness_setup: unknown option $1" ;;
                esac
        done

        [ "$(id -u)" = 0 ] || harness_skip "integration tests need root (mounts, private system bus)"
        command -v dbus-daemon >/dev/null || harness_skip "dbus-daemon is not installed"
        command -v busctl >/dev/null || harness_skip "busctl is not installed"
        [ -n "${LAMINA_BUILD_DIR:-}" ] || harness_die "LAMINA_BUILD_DIR is not set (run through meson test)"
        : "${LAMINA_SOURCE_DIR:=$(cd "$HARNESS_LIB/../../.." && pwd)}"
        export LAMINA_BUILD_DIR LAMINA_SOURCE_DIR

        T=$(mktemp -d "${TMPDIR:-/tmp}/lamina-test.XXXXXX") || harness_die "mktemp failed"
        # Unprivileged test users must reach the bus socket.
        chmod 0755 "$T"
        export T LAMINA_TEST_DIR="$T"
        trap harness_cleanup EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM HUP

        mkdir -p "$T/.harness" "$T/bus/services" "$T/bus/system.d" "$T/state" "$T/run"
        chmod 0755 "$T/bus"
        harness_log "test dir $T"
        harness_write_bus_config
        harness_write_activation_file
        harness_start_bus
        harness_log "private system bus at $DBUS_SYSTEM_BUS_ADDRESS"
        if [ "$_polkit" = 1 ]; then
                harness_start_polkitd
        fi
}

# Real polkitd on the private bus. It reads actions from /usr/share/polkit-1/actions and
# rules from /etc/polkit-1/rules.d: install those first with harness_install_file.
harness_start_polkitd() {
        [ -x "$HARNESS_POLKITD" ] || harness_skip "polkitd is not installed ($HARNESS_POLKITD)"
        harness_spawn polkitd "$HARNESS_POLKITD" --no-debug
        harness_wait_for 300 harness_name_has_owner org.freedesktop.PolicyKit1 ||
                harness_die "polkitd did not take its name (see $T/polkitd.log)"
        harness_log "polkitd runs on the private bus"
}

# Copies SRC to DEST (a system path such as /usr/share/polkit-1/actions/x.policy);
# cleanup removes it and puts back what was there before. Tests that install files are
# serialized by a lock held on fd 9 until the test exits (call this in the test's own
# shell, not in a subshell), so that parallel tests never back up each other's copies.
harness_install_file() {
        if [ -z "${HARNESS_SYSFILES_LOCKED:-}" ]; then
                exec 9>>/run/lock/lamina-test-system-files.lock
                flock -w 600 9 || harness_die "waited 10 minutes for another test's system files"
                HARNESS_SYSFILES_LOCKED=1
        fi
        if [ -e "$2" ]; then
                cp -a "$2" "$T/.harness/backup.$(echo "$2" | tr / _)"
        fi
        mkdir -p "$(dirname "$2")"
        cp "$1" "$2" || harness_die "cannot install $2"
        echo "$2" >>"$T/.harness/files"
}

# Our polkit actions (polkit/org.lamina.snapshot1.policy) where polkitd reads them.
harness_install_policy() {
        harness_install_file "$LAMINA_SOURCE_DIR/polkit/org.lamina.snapshot1.policy" \
                /usr/share/polkit-1/actions/org.lamina.snapshot1.policy
}

# The guide's group rule (polkit/50-lamina-group.rules.example: members of a group may
# manage and mount their own snapshots) for each USER's own group, one rules file each.
# In the test's own shell, as harness_install_file.
harness_install_group_rule() {
        for _rule_user; do
                sed "s/isInGroup(\"lamina\")/isInGroup(\"$(id -gn "$_rule_user")\")/" \
                        "$LAMINA_SOURCE_DIR/polkit/50-lamina-group.rules.example" >"$T/50-lamina-test-$_rule_user.rules"
                harness_install_file "$T/50-lamina-test-$_rule_user.rules" \
                        "/etc/polkit-1/rules.d/50-lamina-test-$_rule_user.rules"
        done
}

# Creates an unprivileged user (and its group) removed at cleanup; prints its name.
harness_add_user() {
        _user="lt-${1:-user}-$(tr -dc a-z0-9 </dev/urandom | head -c 6)"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$_user" >&2 || harness_die "useradd $_user failed"
        echo "$_user" >>"$T/.harness/users"
        echo "$_user"
}

# Runs a command as USER (uid and primary gid, no supplementary groups), on the private bus.
harness_as() {
        _user=$1
        shift
        setpriv --reuid="$(id -u "$_user")" --regid="$(id -g "$_user")" --clear-groups -- "$@"
}

# harness_kill_pid PID [START]: SIGTERM, SIGKILL after 5 s, to the process PID names now
# (or, given START, only if PID still names the process that started then).
harness_kill_pid() {
        [ $# -ge 2 ] || set -- "$1" "$(harness_pid_start "$1")"
        harness_signal_id TERM "$1/$2" || return 0
        harness_wait_for 50 harness_pid_gone "$1" "$2" && return 0
        harness_signal_id KILL "$1/$2"
        harness_wait_for 20 harness_pid_gone "$1" "$2"
}

# harness_pid_gone PID [START]: gone, a zombie of someone else's (activated laminad is
# dbus-daemon's child; pid 1 may never reap it), or (given START) another process now.
harness_pid_gone() {
        [ ! -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null ||
                { [ -n "${2:-}" ] && ! harness_pid_is "$1" "$2"; }
}

# Every laminad on this test's state directory, also one that holds no name (waiting for
# another's lock, or off the bus): dbus-daemon activates services as orphans (pid 1's).
harness_laminads() {
        for _p in /proc/[0-9]*; do
                _comm=
                read -r _comm 2>/dev/null <"$_p/comm"
                [ "$_comm" = laminad ] &&
                        tr '\0' '\n' <"$_p/cmdline" 2>/dev/null | grep -qxF "$T/state" &&
                        echo "${_p#/proc/}"
        done
}

harness_mounts_under_t() {
        findmnt -rn -o TARGET | grep "^$T/" | sort -r
}

harness_unmount_all() {
        _tries=10
        while [ "$_tries" -gt 0 ]; do
                _targets=$(harness_mounts_under_t)
                [ -n "$_targets" ] || return 0
                for _m in $_targets; do
                        umount "$_m" 2>/dev/null || umount -l "$_m" 2>/dev/null
                done
                _tries=$((_tries - 1))
        done
        harness_log "could not unmount: $(harness_mounts_under_t | tr '\n' ' ')"
}

harness_restore_files() {
        [ -f "$T/.harness/files" ] || return 0
        while read -r _f; do
                _b="$T/.harness/backup.$(echo "$_f" | tr / _)"
                if [ -e "$_b" ]; then
                        cp -a "$_b" "$_f"
                else
                        rm -f "$_f"
                fi
        done <"$T/.harness/files"
}

harness_remove_users() {
        [ -f "$T/.harness/users" ] || return 0
        while read -r _u; do
                userdel "$_u" 2>/dev/null
                groupdel "$_u" 2>/dev/null
        done <"$T/.harness/users"
}

harness_cleanup() {
        _rc=$?
        # Undo everything even if one step fails, whatever the test set.
        set +e
        trap - EXIT INT TERM HUP
        [ -n "${T:-}" ] && [ -d "$T/.harness" ] || exit "$_rc"

        if [ "$_rc" != 0 ] && [ "$_rc" != 77 ] && [ -f "$T/bus.log" ]; then
                harness_log "test failed ($_rc); last lines of dbus-daemon/laminad output:"
                tail -n 40 "$T/bus.log" | sed 's/^/#   /' >&2
        fi

        _pid=$(harness_laminad_pid)
        if [ -n "$_pid" ]; then
                harness_kill_pid "$_pid"
        fi
        for _pid in $(harness_laminads); do
                harness_kill_pid "$_pid"
        done
        if [ -f "$T/.harness/pids" ]; then
                # Reverse order: dbus-daemon, started first, goes last, after the services it
                # activated (a laminad that never took its name, a helper it left behind).
                # A recorded process that has ended is skipped: its PID may be another's now.
                tac "$T/.harness/pids" | while read -r _name _pid _start; do
                        harness_pid_is "$_pid" "${_start:-}" || continue
                        for _child in $(pgrep -P "$_pid"); do
                                harness_kill_pid "$_child"
                        done
                        harness_kill_pid "$_pid" "$_start"
                done
        fi
        harness_unmount_all
        harness_remove_users
        harness_restore_files
        if [ "${LAMINA_KEEP_TEST_DIR:-0}" = 1 ] || [ -n "$(harness_mounts_under_t)" ]; then
                harness_log "kept $T"
        else
                rm -rf "$T"
        fi
        exit "$_rc"
}

# Directory of this file, for bus.conf.in. Test scripts may set HARNESS_LIB before sourcing.
if [ -z "${HARNESS_LIB:-}" ]; then
        if [ -n "${LAMINA_SOURCE_DIR:-}" ]; then
                HARNESS_LIB="$LAMINA_SOURCE_DIR/tests/integration/lib"
        else
                harness_die "set LAMINA_SOURCE_DIR or HARNESS_LIB before sourcing harness.sh"
        fi
fi
