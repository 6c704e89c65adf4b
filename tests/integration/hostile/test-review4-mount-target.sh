#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# review4: mount targets a hostile user granted mount-anywhere chooses, against the real
# laminad and polkitd on a private bus.
#  - A target with a ".." component: polkit is asked with the path as given (the detail
#    "target"), so a rule granting the user the targets below a directory (a prefix, as
#    polkit rules match paths) would grant "<granted>/../<anywhere>" too. Refused as
#    InvalidArgument before polkit is asked; nothing mounted.
#  - A target on a kernel API filesystem: /proc/PID/fd of a process of the user's own that
#    holds no file is an empty directory of the user's. Covered by a snapshot, every
#    privileged program that reads or opens /proc/PID/fd/N (lsof, a service reopening a
#    client's file by that path) would get the user's symbolic links instead of the
#    kernel's magic ones (the kernel refuses mounts on the entries of that directory for
#    this reason). Refused like any other target that is not the user's to cover.
set -u

. "${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/hostile/hostile-lib.sh"

[ -x /usr/bin/python3 ] || harness_skip "python3 is not installed"
polkit_auth_call_setup --idle-timeout 120

USER_A=$(harness_add_user r4target)
UA=$(id -u "$USER_A")
install -d -m 0755 -o "$UA" -g "$UA" "$T/g-own" "$T/ungranted"

# The admin's rule: the user may choose targets below $T/g- and below /proc/ (as a rule
# that matches any path of a tree would); anything else is not granted.
polkit_private_grant_targets "$USER_A" "$T/g-" /proc/

# A process of the user's that holds no file: its /proc/PID/fd is empty and the user's.
setpriv --reuid="$UA" --regid="$UA" --clear-groups -- \
        /usr/bin/python3 -c 'import os, time; os.closerange(0, 1 << 16); time.sleep(600)' &
holder=$!
mounted_at="" # a target this test must unmount if laminad mounted it
trap '_rc=$?; [ -z "$mounted_at" ] || as "$USER_A" "$CALL" "$OBJ" Unmount a >/dev/null 2>&1; kill -KILL "$holder" 2>/dev/null; wait "$holder" 2>/dev/null; (exit $_rc); harness_cleanup' EXIT
fd_dir_empty() { [ -d "/proc/$holder/fd" ] && [ -z "$(ls -A "/proc/$holder/fd" 2>/dev/null)" ]; }
harness_wait_for 300 fd_dir_empty || harness_die "the user's process did not close its files"

expect() { # expect WANT TARGET: a Mount of snapshot a on TARGET as the user
        local want=$1 target=$2 got
        got=$(as "$USER_A" "$CALL" "$OBJ" Mount a "$target" "" 2>"$T/last.err")
        got=${got##*.}
        [ "$got" = ok ] && mounted_at=$target
        if [ "$got" = "$want" ]; then
                ok "Mount on $target: $want"
        else
                not_ok "Mount on $target: want $want, got $got: $(cat "$T/last.err")"
        fi
        if [ "$got" = ok ] && [ "$want" != ok ]; then
                as "$USER_A" "$CALL" "$OBJ" Unmount a >/dev/null 2>&1 && mounted_at=""
        fi
}
not_covered() { ! mountpoint -q "$1" && [ -z "$(ls -A "$1" 2>/dev/null)" ]; }

mkdir -p "$T/layer"
echo marker >"$T/layer/marker"
ln -s /etc/shadow "$T/layer/0"
tar -C "$T/layer" --owner=0 --group=0 -cf "$T/layer.tar" marker 0
chmod 0644 "$T/layer.tar"
[ "$(as "$USER_A" "$CALL" "$OBJ" Prepare a "")" = ok ] || harness_die "Prepare failed"
[ "$(as "$USER_A" "$CALL" "$OBJ" Apply a "$T/layer.tar")" = ok ] || harness_die "Apply failed"

echo "# the granted tree is what the user mounts on"
expect ok "$T/g-own"
check "the granted target shows the layer" [ -f "$T/g-own/marker" ]
[ "$(as "$USER_A" "$CALL" "$OBJ" Unmount a)" = ok ] && mounted_at=""

echo "# a \"..\" component does not lead out of what polkit granted"
expect InvalidArgument "$T/g-own/../ungranted"
check "the directory outside the granted tree is not covered" not_covered "$T/ungranted"
expect InvalidArgument "$T/g-own/.."
check "the test directory is not covered" [ -d "$T/g-own" ]

echo "# no kernel API filesystem: the user's own /proc/PID/fd"
expect AccessDenied "/proc/$holder/fd"
check "/proc/$holder/fd is not covered" not_covered "/proc/$holder/fd"

mounts=$(busctl --system call org.lamina.snapshot1 "$OBJ/user/$UA" org.lamina.snapshot1.Snapshotter ListMounts)
check "no mount is recorded ($mounts)" [ "$mounts" = "a(ssut) 0" ]

checks_done
echo "# all checks passed"
