# SPDX-License-Identifier: LGPL-2.1-or-later
# Snapshotter calls with gdbus for shell tests that check D-Bus error names; source after
# ctl-lib.sh (pass, fail) and set OBJ to the snapshotter's object path.
#   call USER METHOD ARGS...   one call as USER (root: as the test itself); $got is "ok" or
#                              the error's last name component, $msg the reply or the
#                              error message
#   want WANT DESCRIPTION USER METHOD ARGS...   the call, passed when $got is WANT
#   reply_path                 the path a Mount reply ('/path',) in $msg names

command -v gdbus >/dev/null || harness_skip "gdbus is not installed (it prints D-Bus error names)"

call() {
        local u=$1 m=$2 o as=()
        shift 2
        [ "$u" = root ] || as=(harness_as "$u")
        o=$("${as[@]}" gdbus call --system --timeout 600 --dest org.lamina.snapshot1 --object-path "$OBJ" \
                --method "org.lamina.snapshot1.Snapshotter.$m" "$@" 2>&1)
        if [ $? = 0 ]; then
                got=ok
                msg=$o
        else
                got=$(printf '%s' "$o" | sed -n 's/.*GDBus\.Error:[^ ]*\.\([A-Za-z]*\): .*/\1/p' | head -1)
                msg=$(printf '%s' "$o" | sed 's/.*GDBus\.Error:[^ ]*: //')
        fi
}

want() {
        want_tries 0 "$@"
}

# want, for an outcome that follows the end of a process after a while: its mount namespace
# (with the copy of a mount it held) goes once the kernel has put it, not when the process is
# reaped. Calls again until the outcome is WANTED, at most 60 s; for calls that change nothing
# while they fail.
want_soon() {
        want_tries 600 "$@"
}

want_tries() { # TRIES WANTED WHAT USER METHOD ARGS...
        local n=$1 w=$2 what=$3
        shift 3
        call "$@"
        while [ "$got" != "$w" ] && [ "$n" -gt 0 ]; do
                sleep 0.1
                n=$((n - 1))
                call "$@"
        done
        if [ "$got" = "$w" ]; then
                pass "$what ($msg)"
        else
                fail "$what: want $w, got $got: $msg"
        fi
}

reply_path() {
        printf '%s' "$msg" | sed -n "s/^('\(.*\)',)$/\1/p"
}
