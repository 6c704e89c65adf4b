#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs as an unprivileged user inside the booted container (installed there as
# /usr/local/libexec/lamina-session), in the login session deb-check.sh gave it, or in none.
#   lamina-session SESSION MODE KEY [SPARE]
# SESSION: the logind properties this session must have ("Seat=seat0 Remote=no Active=yes"),
#          or "none" (the caller belongs to no session).
# MODE:    allowed   Prepare KEY and SPARE, Mount KEY (stays mounted): all without authentication.
#          auth      Prepare KEY, and Mount SPARE if given: each InteractiveAuthorizationRequired
#                    (polkit's auth_admin_keep, and the call allows no interaction).
#          inactive  The session is active; it says so (/run/lamina-test/a-up), waits until another
#                    session on the seat took over (/run/lamina-test/b-up), then checks SESSION
#                    and runs "auth"; then it touches /run/lamina-test/a-done.
#          hold      That other session: touches b-up, then waits for a-done.
# When everything was as expected it writes PASS to /run/lamina-test/KEY.result (login(1)
# does not pass its shell's exit status on) and exits 0.
set -u
D=/run/lamina-test

want=$1 mode=$2 key=$3 spare=${4:-}

g() {
        gdbus call --system --dest org.lamina.snapshot1 --object-path /org/lamina/snapshot1/overlayfs \
                --method org.lamina.snapshot1.Snapshotter."$@"
}

# Each property as logind reports it for the session this process belongs to.
check_session() {
        local p
        if [ "$1" = none ]; then
                [ -z "${XDG_SESSION_ID:-}" ] || { echo "FAIL: in session $XDG_SESSION_ID"; return 1; }
                if busctl call org.freedesktop.login1 /org/freedesktop/login1 org.freedesktop.login1.Manager \
                        GetSessionByPID u $$ >/dev/null 2>&1; then
                        echo "FAIL: logind knows a session of pid $$"
                        return 1
                fi
                echo "uid $(id -u): no session"
                return 0
        fi
        [ -n "${XDG_SESSION_ID:-}" ] || { echo "FAIL: no XDG_SESSION_ID"; return 1; }
        echo "uid $(id -u): session $XDG_SESSION_ID:" $(loginctl show-session "$XDG_SESSION_ID" \
                -p Seat -p Remote -p RemoteHost -p Active -p State -p Type -p Class)
        for p in $1; do
                [ "$(loginctl show-session "$XDG_SESSION_ID" -p "${p%%=*}" --value)" = "${p#*=}" ] ||
                        { echo "FAIL: session $XDG_SESSION_ID is not $p"; return 1; }
        done
}

expect_iar() {
        local out
        if out=$(g "$@" 2>&1); then
                echo "FAIL: $1 $2 succeeded: $out"
                return 1
        fi
        case $out in
        *.InteractiveAuthorizationRequired:*) echo "ok: $1 $2: InteractiveAuthorizationRequired" ;;
        *) echo "FAIL: $1 $2: $out"; return 1 ;;
        esac
}

allowed() {
        local path
        g Prepare "$key" "" "@a{ss} {}" >/dev/null || { echo "FAIL: Prepare $key"; return 1; }
        g Prepare "$spare" "" "@a{ss} {}" >/dev/null || { echo "FAIL: Prepare $spare"; return 1; }
        path=$(g Mount "$key" "" "@as []") || { echo "FAIL: Mount $key"; return 1; }
        path=${path#\(\'}; path=${path%\',)}
        findmnt "$path" >/dev/null || { echo "FAIL: nothing mounted at $path"; return 1; }
        echo "ok: Prepare $key, Prepare $spare, Mount $key at $path"
}

auth() {
        expect_iar Prepare "$key" "" "@a{ss} {}" || return 1
        [ -z "$spare" ] || expect_iar Mount "$spare" "" "@as []"
}

# Bounded wait (30 s) for a file another session creates.
wait_for() {
        local i=0
        while [ ! -e "$1" ] && [ $i -lt 300 ]; do
                sleep 0.1
                i=$((i + 1))
        done
        [ -e "$1" ] || { echo "FAIL: $1 did not appear"; return 1; }
}

case $mode in
allowed)
        check_session "$want" && allowed
        ;;
auth)
        check_session "$want" && auth
        ;;
inactive)
        check_session "Active=yes" && touch "$D/a-up" && wait_for "$D/b-up" && check_session "$want" && auth
        rc=$?
        touch "$D/a-done"
        [ $rc = 0 ]
        ;;
hold)
        check_session "$want" && touch "$D/b-up" && wait_for "$D/a-done"
        ;;
*)
        echo "unknown mode $mode"
        false
        ;;
esac || exit 1
echo PASS >"$D/$key.result"
