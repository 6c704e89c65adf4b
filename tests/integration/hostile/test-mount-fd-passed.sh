#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A mount fd the owner passes to another user still keeps the snapshot busy. Against the
# real laminad and polkitd, two unprivileged users: the owner's process gets a MountFd of
# its snapshot, passes it (SCM_RIGHTS) to a process of the other user and exits, so that
# nothing of the owner's holds the mount. The other user's process either
# - attaches it in a user and mount namespace of its own and closes the fd (only that
#   namespace, which the owner does not own, holds the mount), or
# - keeps the fd open, or
# - sends it into a socket of its own and closes it: only the message in flight holds the
#   mount, which no look through /proc finds; laminad watches the overlay's filesystem
#   instead (a writable mount is an overlay on native too: of the snapshot's data alone).
# While it lives, the owner's Remove, Commit and Mount are Busy (else Remove and Cleanup
# would delete the data under a live, writable mount, and the mount would no longer count
# against the owner's limits); what is written through the other user's copy is in the
# snapshot; once the process is gone, the snapshot mounts again and Remove succeeds.
# overlayfs and native.
# The snapshot has a parent (an overlay on overlayfs).
. "$LAMINA_SOURCE_DIR/tests/integration/ctl/ctl-lib.sh"
sn=${1:?usage: test-mount-fd-passed.sh SNAPSHOTTER}
harness_need_python_gi
command -v nsenter >/dev/null || harness_skip "nsenter (util-linux) is not installed"
. "$HARNESS_LIB/mount-users.sh"
PASS="$LAMINA_SOURCE_DIR/tests/integration/hostile/mount-fd-pass.py"

install -d -m 0777 "$T/shared"
install -d -o "$other" -m 0755 "$T/other-att"

mount_users_wait_for_rule "$owner" "$other"
want ok "root: prepare the base" root Prepare base-a "" "@a{ss} {}"
want ok "root: commit the base" root Commit base base-a "@a{ss} {}"
want ok "owner: prepare k on it" "$owner" Prepare k base "@a{ss} {}"

ready() { [ -s "$T/shared/ready" ]; }
mounts_again() {
        call "$owner" Mount k "" "@as []"
        [ "$got" = ok ]
}

modes="attach hold inflight"
for mode in $modes; do
        case $mode in
        attach) how="has it attached in its own namespace" ;;
        hold) how="holds its fd" ;;
        inflight) how="keeps its fd in flight in a socket" ;;
        esac
        echo "# the other user's process $how"
        rm -f "$T/shared/ready"
        /usr/bin/python3 "$PASS" "$sn" k "$(id -u "$owner"):$(id -g "$owner")" "$(id -u "$other"):$(id -g "$other")" \
                "$mode" "$T/other-att" "$T/shared/ready" >"$T/pass.out" 2>&1 &
        pp=$!
        bg_pids="$bg_pids $(harness_pid_id "$pp")"
        harness_wait_for 600 ready || harness_die "the fd was not passed: $(cat "$T/pass.out")"
        read -r holder _ <"$T/shared/ready"
        bg_pids="$bg_pids $(harness_pid_id "$holder")"
        # The owner's process has passed the fd on and exits: nothing of the owner's holds it.
        harness_wait_for 100 sh -c "! pgrep -u '$(id -u "$owner")' >/dev/null" || fail "a process of the owner's still runs"

        want Busy "owner: Remove while the other user's process $how" "$owner" Remove k
        want Busy "owner: Commit meanwhile" "$owner" Commit c k "@a{ss} {}"
        want Busy "owner: Mount meanwhile" "$owner" Mount k "" "@as []"
        want ok "owner: Cleanup meanwhile" "$owner" Cleanup
        # The mount is live and writable through the other user's copy (root writes, as the
        # other user could where the owner's files let it).
        case $mode in
        attach)
                nsenter -t "$holder" -m -- sh -c "echo $mode >'$T/other-att/by-$mode'" ||
                        fail "cannot write through the copy in the other user's namespace" ;;
        hold) echo "$mode" >"/proc/$holder/fd/200/by-$mode" || fail "cannot write through the other user's fd" ;;
        inflight) ;; # nothing reaches it until it is received
        esac

        stop "$holder"
        wait "$pp" 2>/dev/null
        harness_wait_for 100 mounts_again || fail "owner: the snapshot does not mount again once the process is gone: $got $msg"
        mnt=$(reply_path)
        if [ "$mode" != inflight ]; then
                [ "$(cat "$mnt/by-$mode" 2>/dev/null)" = "$mode" ] && pass "what was written through the copy is in the snapshot" ||
                        fail "the snapshot lacks what was written through the other user's copy"
        fi
        want ok "owner: unmount" "$owner" Unmount k
done
want ok "owner: Remove once the other user's processes are gone" "$owner" Remove k

finish
