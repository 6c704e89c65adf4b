#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Mounts recorded before they exist and reconciled after (issue 13.2, 13.4), on the
# snapshotter $1, killing laminad deterministically at chosen syscalls with strace:
# - SIGKILL at move_mount (the record is durable, the mount not attached yet), at a
#   daemon-made path and at a caller's target: after the restart ListMounts equals the
#   kernel's lamina mounts (none), the left-over mount point is gone, the data is intact
#   and the snapshot mounts again, exactly once at the caller's target;
# - SIGKILL just after move_mount (attached, no reply yet): after the restart the mount is
#   re-adopted: listed, Remove is Busy, Cleanup leaves its data, Unmount unmounts it;
# - a mount below the runtime mount directory that no record knows is unmounted at start;
# - mount-ID reuse: the mount is unmounted by hand and a foreign tmpfs mounted at the same
#   path; after a restart ListMounts does not show it and Unmount leaves the tmpfs alone.
. "$LAMINA_SOURCE_DIR/tests/integration/ctl/ctl-lib.sh"
sn=${1:?usage: test-mount-crash.sh SNAPSHOTTER}
. "$HARNESS_LIB/gdbus-call.sh"
command -v strace >/dev/null || harness_skip "strace is not installed (it stops laminad at a syscall)"
harness_setup

OBJ=/org/lamina/snapshot1/$sn
RUNMNT=$T/run/mounts/$sn
tracer=""
trap '_rc=$?; [ -z "$tracer" ] || kill -KILL "$tracer" 2>/dev/null; (exit $_rc); harness_cleanup' EXIT

# The lamina mounts the kernel has below $T (not the harness's own), sorted.
kernel_mounts() {
        findmnt -rn -o TARGET | grep "^$T/" | sort
}

# What ListMounts says, as sorted paths.
listed_mounts() {
        call root ListMounts
        printf '%s' "$msg" | grep -o "'/[^']*'" | tr -d "'" | sort
}

laminad_up() {
        call root ListMounts
        [ "$got" = ok ] && [ -n "$(harness_laminad_pid)" ]
}

traced() {
        [ "$(sed -n 's/^TracerPid:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)" != 0 ]
}

# trace SPEC [SYSCALL]: laminad (started if needed) runs under strace with SPEC (an
# -e inject=…) on SYSCALL (move_mount).
trace() {
        local pid
        harness_wait_for 300 laminad_up || fail "laminad does not answer"
        pid=$(harness_laminad_pid)
        strace -f -qq -o /dev/null -p "$pid" -e trace="${2:-move_mount}" -e "$1" &
        tracer=$!
        harness_wait_for 100 traced "$pid" || fail "strace did not attach"
}

# Waits until laminad (killed) is gone and strace with it.
laminad_gone() {
        harness_wait_for 100 harness_name_gone org.lamina.snapshot1 || fail "$1: laminad did not die"
        wait "$tracer" 2>/dev/null
        tracer=""
}

# The restarted laminad must agree with the kernel.
check_agrees() {
        harness_wait_for 300 laminad_up || fail "laminad did not come back"
        expect "$1: ListMounts equals the kernel's mounts" "$(listed_mounts | tr '\n' ' ')" "$(kernel_mounts | tr '\n' ' ')"
}

reply_path() {
        printf '%s' "$msg" | sed -n "s/^('\(.*\)',)$/\1/p"
}

mkdir -p "$T/layer/d" "$T/tgt" "$T/tgt2"
echo data >"$T/layer/d/data"
tar -C "$T/layer" -cf "$T/layer.tar" .
ok "prepare the base" -s "$sn" prepare base-work
ok "apply the base" -s "$sn" apply base-work "$T/layer.tar"
ok "commit the base" -s "$sn" commit base base-work
want ok "prepare a" root Prepare a base "@a{ss} {}"

echo "# SIGKILL at move_mount: recorded, never attached"
for target in "" "$T/tgt"; do
        trace "inject=move_mount:signal=SIGKILL"
        call root Mount a "$target" "@as []"
        [ "$got" != ok ] && pass "the mount call died with laminad ($got)" || fail "Mount succeeded under SIGKILL"
        laminad_gone "SIGKILL at move_mount"
        check_agrees "killed before attaching at ${target:-a daemon path}"
        expect "no mount left" "$(kernel_mounts)" ""
        expect "no mount point left" "$(find "$RUNMNT" -mindepth 2 2>/dev/null)" ""
        want ok "mount a again" root Mount a "$target" "@as []"
        p=$(reply_path)
        expect "its data is intact" "$(cat "$p/d/data" 2>&1)" "data"
        want Busy "a second mount is Busy" root Mount a "$T/tgt2" "@as []"
        expect "mounted once" "$(kernel_mounts | wc -l)" 1
        want ok "unmount a" root Unmount a
done

echo "# SIGKILL just after move_mount: attached, never answered"
trace "inject=move_mount:delay_exit=30000000"
call root Mount a "" "@as []" &
caller=$!
mounted_now() { [ -n "$(kernel_mounts)" ]; }
harness_wait_for 100 mounted_now || fail "the mount did not appear"
# SIGKILL is pending while strace holds laminad in the syscall's exit; ending strace lets
# it go, and it dies before running another instruction of its own.
kill -KILL "$(harness_laminad_pid)"
kill -KILL "$tracer"
laminad_gone "SIGKILL after move_mount"
wait "$caller" 2>/dev/null
check_agrees "killed after attaching"
p=$(kernel_mounts)
expect "re-adopted" "$(listed_mounts)" "$p"
want Busy "Remove of the re-adopted mount's snapshot" root Remove a
ok "cleanup" -s "$sn" cleanup
expect "its data is intact after Cleanup" "$(cat "$p/d/data" 2>&1)" "data"
want ok "unmount the re-adopted mount" root Unmount a
expect "gone" "$(kernel_mounts)" ""

echo "# SIGKILL at umount2 (not unmounted yet), then just after it (unmounted, record kept)"
want ok "mount a" root Mount a "" "@as []"
p=$(reply_path)
trace "inject=umount2:signal=SIGKILL" umount2
call root Unmount a
[ "$got" != ok ] && pass "the unmount call died with laminad ($got)" || fail "Unmount succeeded under SIGKILL"
laminad_gone "SIGKILL at umount2"
check_agrees "killed before unmounting"
expect "still mounted and listed" "$(listed_mounts)" "$p"
trace "inject=umount2:delay_exit=30000000" umount2
call root Unmount a &
caller=$!
unmounted_now() { [ -z "$(kernel_mounts)" ]; }
harness_wait_for 100 unmounted_now || fail "the unmount did not happen"
kill -KILL "$(harness_laminad_pid)"
kill -KILL "$tracer"
laminad_gone "SIGKILL after umount2"
wait "$caller" 2>/dev/null
check_agrees "killed after unmounting"
expect "nothing listed" "$(listed_mounts)" ""
want ok "Remove works once the record is dropped" root Remove a
want ok "prepare a again" root Prepare a base "@a{ss} {}"

echo "# an unknown mount below the runtime mount directory"
mkdir -p "$RUNMNT/0/0123456789abcdef"
mount --bind "$T/layer" "$RUNMNT/0/0123456789abcdef"
restart() {
        kill -TERM "$(harness_laminad_pid)"
        harness_wait_for 100 harness_name_gone org.lamina.snapshot1 || fail "laminad did not exit"
}
restart
check_agrees "an unknown mount"
expect "it is unmounted at start" "$(kernel_mounts)" ""
[ ! -e "$RUNMNT/0/0123456789abcdef" ] && pass "its directory is removed" || fail "its directory is left"
expect "what it showed is intact" "$(cat "$T/layer/d/data")" "data"

echo "# mount-ID reuse: a foreign tmpfs where the mount was"
want ok "mount a at a target" root Mount a "$T/tgt" "@as []"
umount "$T/tgt"
mount -t tmpfs lamina-foreign "$T/tgt"
echo foreign >"$T/tgt/foreign"
restart
harness_wait_for 300 laminad_up || fail "laminad did not come back"
expect "ListMounts does not show a" "$(listed_mounts)" ""
call root Unmount a
expect "Unmount does not touch the tmpfs" "$(findmnt -rn -o SOURCE --mountpoint "$T/tgt")" "lamina-foreign"
expect "its file is there" "$(cat "$T/tgt/foreign")" "foreign"
want ok "a mounts again elsewhere" root Mount a "$T/tgt2" "@as []"
want ok "and unmounts" root Unmount a
umount "$T/tgt"

finish
