# SPDX-License-Identifier: LGPL-2.1-or-later
# The start the hostile tests share: real laminad and real polkitd (private copies of its
# actions and rules directories) on a private bus, started as systemd starts a service.
# Source it first; it sources harness.sh, checks.sh and polkit-private.sh.
#   hostile_setup [harness_setup OPTIONS]
#                       skips unless polkitd and python3-gi are installed, gives dbus-daemon
#                       and the laminad it activates the fd limit of a service without
#                       LimitNOFILE= (soft 1024; the hard limit stays: laminad must raise it
#                       itself), then polkit_private_setup (polkit-private.sh)
#   tool USER ARGS...   the test's Python tool $TOOL (default hostile.py) as USER, killed
#                       after $TOOL_TIMEOUT seconds (default 120)

: "${LAMINA_SOURCE_DIR:?run through meson test}"
HARNESS_LIB="$LAMINA_SOURCE_DIR/tests/integration/lib"
. "$HARNESS_LIB/harness.sh"
. "$HARNESS_LIB/checks.sh"
. "$HARNESS_LIB/polkit-private.sh"

TOOL="$LAMINA_SOURCE_DIR/tests/integration/hostile/hostile.py"
TOOL_TIMEOUT=120

hostile_setup() {
        harness_need_python_gi
        ulimit -Sn 1024 || harness_die "cannot set the fd limit"
        polkit_private_setup "$@"
}

tool() {
        local u=$1
        shift
        as "$u" timeout "$TOOL_TIMEOUT" /usr/bin/python3 "$TOOL" "$@"
}
