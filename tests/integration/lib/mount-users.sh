# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the mount tests in which two unprivileged users, $owner and $other, call
# laminad on the snapshotter $sn under real polkitd granting what an active session gets by
# default (the guide's group rule for each user's group). Source after ctl-lib.sh with sn
# set: it sets up the harness, installs our policy and that rule, sets OBJ, gives call and
# want (gdbus-call.sh), and at exit SIGKILLs the processes the test added to $bg_pids (as
# PID/START from harness_pid_id: one that ended long ago is not signalled), then
# cleans the harness up. stop PID: SIGKILLs one of them now and reaps it.
# mount_users_wait_for_rule USER...: waits until polkitd applies the group rule to each
# (a Prepare of "probe" works), or harness_die.

command -v python3 >/dev/null || harness_skip "python3 is not installed (it writes the layer)"
. "$HARNESS_LIB/gdbus-call.sh"
# run-on-btrfs.sh puts TMPDIR in a 0700 directory: polkitd and the users must get through.
case "${TMPDIR:-}" in
/var/tmp/lamina-btrfs.*/fs) chmod 0755 "$TMPDIR" "$(dirname "$TMPDIR")" ;;
esac
harness_setup --polkit
harness_install_policy
owner=$(harness_add_user owner)
other=$(harness_add_user other)
harness_install_group_rule "$owner" "$other"

OBJ=/org/lamina/snapshot1/$sn
bg_pids=""
trap '_rc=$?; for p in $bg_pids; do harness_signal_id KILL "$p" || :; done; (exit $_rc); harness_cleanup' EXIT

stop() {
        kill -KILL "$1" 2>/dev/null
        wait "$1" 2>/dev/null
}

_mount_users_rule_active() {
        call "$1" Prepare "probe" "" "@a{ss} {}"
        [ "$got" = ok ]
}

mount_users_wait_for_rule() {
        local u
        for u; do
                harness_wait_for 300 _mount_users_rule_active "$u" ||
                        harness_die "the group rule did not take effect for $u: $msg"
        done
}
