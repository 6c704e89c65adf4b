#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# laminactl run through sudo (or pkexec) by a user whom sudoers allows only that command: the
# pager must not be a way to a root shell (CVE-2023-26604 in systemd's tools). The invoker's
# PAGER or LAMINA_PAGER is not run, less is, in its secure mode (LESSSECURE=1: no "!" shell
# command); run plainly, the pager the user chose is used as before.
. "$(dirname "$0")/ctl-lib.sh"
command -v script >/dev/null || harness_skip "script (util-linux) is not installed"
harness_setup

# A less that writes down how it was started, then copies its input through.
mkdir -p "$T/bin"
cat >"$T/bin/less" <<EOS
#!/bin/sh
echo "LESSSECURE=\${LESSSECURE:-unset}" >>"$T/less.log"
exec cat
EOS
chmod +x "$T/bin/less"

# on_tty ENV…: laminactl ls with stdout on a terminal (script's pty), env as given (the run
# of the tests may itself be under sudo).
on_tty() {
        env -u SUDO_UID -u SUDO_USER -u PKEXEC_UID PATH="$T/bin:$PATH" "$@" script -qec "'$LAMINACTL' ls" /dev/null </dev/null >/dev/null 2>&1
}

ok "prepare a snapshot to list" prepare paged
on_tty LAMINA_PAGER="touch '$T/user-pager-ran'; cat"
[ -e "$T/user-pager-ran" ] && pass "plainly, the user's LAMINA_PAGER runs" || fail "the user's LAMINA_PAGER did not run"
rm -f "$T/user-pager-ran" "$T/less.log"

on_tty SUDO_UID=1000 SUDO_USER=someone LAMINA_PAGER="touch '$T/user-pager-ran'; cat" PAGER="touch '$T/user-pager-ran'; cat"
[ -e "$T/user-pager-ran" ] && fail "under sudo, the invoker's pager command ran as root" ||
        pass "under sudo, the invoker's pager command does not run"
expect "under sudo, less runs in its secure mode" "$(cat "$T/less.log" 2>/dev/null)" "LESSSECURE=1"
rm -f "$T/less.log"

on_tty PKEXEC_UID=1000
expect "under pkexec, less runs in its secure mode" "$(cat "$T/less.log" 2>/dev/null)" "LESSSECURE=1"

ok "rm paged" rm paged
finish
