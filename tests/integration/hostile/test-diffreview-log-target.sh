#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# diffreview: a caller-chosen mount target is the caller's text, and laminad's log shows it
# escaped like a key: a user granted mount-anywhere below a directory names its target
# "<dir>/x<newline>FORGED ..." and makes laminad log it (UnmountWithOptions force while a
# process of its own holds the mount: "detached ..., but held"). Written as it is, the
# newline made a line of the user's choosing in laminad's log (with a "<N>" priority of its
# own when laminad logs to the journal's stream).
set -u

. "${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/hostile/hostile-lib.sh"

polkit_auth_call_setup --idle-timeout 120

USER_A=$(harness_add_user drlogtgt)
UA=$(id -u "$USER_A")
TARGET="$T/g-own"$'\n'"FORGED-BY-USER laminad: uid 0 granted everything"
install -d -m 0755 -o "$UA" -g "$UA" "$TARGET"

polkit_private_grant_targets "$USER_A" "$T/g-"

holder=""
trap '_rc=$?; [ -z "$holder" ] || { kill -KILL "$holder" 2>/dev/null; wait "$holder" 2>/dev/null; }; (exit $_rc); harness_cleanup' EXIT

[ "$(as "$USER_A" "$CALL" "$OBJ" Prepare a "")" = ok ] || harness_die "Prepare failed"
got=$(as "$USER_A" "$CALL" "$OBJ" Mount a "$TARGET" "" 2>"$T/mount.err")
[ "${got##*.}" = ok ] || harness_die "Mount on the target failed: $got $(cat "$T/mount.err")"

# A process of the user's with its working directory in the mount.
setpriv --reuid="$UA" --regid="$UA" --clear-groups -- bash -c 'cd "$1" && exec sleep 600' _ "$TARGET" &
holder=$!
cwd_in() { [ "$(readlink "/proc/$holder/cwd" 2>/dev/null)" = "$TARGET" ]; }
harness_wait_for 600 cwd_in || harness_die "the holder did not enter the mount"

as "$USER_A" busctl --system --timeout=600 call org.lamina.snapshot1 "$OBJ" org.lamina.snapshot1.Snapshotter \
        UnmountWithOptions sas a 1 force >"$T/unmount.out" 2>&1 ||
        harness_die "UnmountWithOptions force failed: $(cat "$T/unmount.out")"
logged() { grep -q "detached \"a\" of uid $UA from" "$T/bus.log"; }
harness_wait_for 600 logged || harness_die "laminad did not log the forced unmount (see $T/bus.log)"

check "laminad logged the target escaped, on one line" grep -q 'g-own\\x0aFORGED-BY-USER' "$T/bus.log"
check "no line of laminad's log is the user's" sh -c '! grep -q "^FORGED-BY-USER" "$1"' _ "$T/bus.log"

# The holder goes; the record goes with the next Unmount that finds the mount released.
kill -KILL "$holder"
wait "$holder" 2>/dev/null
holder=""
released() { [ "$(as "$USER_A" "$CALL" "$OBJ" Unmount a 2>/dev/null)" = ok ]; }
harness_wait_for 600 released || harness_die "the released mount's record did not go"

checks_done
echo "# all checks passed"
