#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A user granted org.lamina.snapshot1.mount-anywhere must not cover a directory that is not
# its own: its snapshot may hold root-owned files of its layers (a polkit rule, a sudoers
# snippet), so covering an empty root-owned directory such as /etc/polkit-1/rules.d with it
# would make those files root's configuration. Against the real laminad and polkitd on a
# private bus: the grant is for exact targets (the polkit detail "target"), a mount on a
# root-owned and on another user's directory is AccessDenied and changes nothing, one on
# the user's own directory works, a relative target is InvalidArgument before polkit is
# asked.
set -u

: "${LAMINA_SOURCE_DIR:?run through meson test}"
. "$LAMINA_SOURCE_DIR/tests/integration/lib/harness.sh"

CALL="$LAMINA_BUILD_DIR/tests/integration/auth/auth-call"
OBJ=/org/lamina/snapshot1/overlayfs

[ -x /usr/lib/polkit-1/polkitd ] || harness_skip "polkitd is not installed"
command -v unshare >/dev/null || harness_skip "unshare (util-linux) is not installed"
[ -x "$CALL" ] || harness_die "$CALL is not built"
harness_setup --idle-timeout 120

USER_A=$(harness_add_user mtarget)
USER_B=$(harness_add_user mother)
UA=$(id -u "$USER_A")
UB=$(id -u "$USER_B")

# Directories the user names as targets: root's, the other user's, its own (two: only one
# is granted by the rule, the other shows that the grant depends on the target detail).
install -d -m 0755 -o root -g root "$T/root-dir"
install -d -m 0755 -o "$UB" -g "$UB" "$T/other-dir"
install -d -m 0755 -o "$UA" -g "$UA" "$T/own-dir" "$T/own-ungranted"

export LAMINA_POLKIT_ACTIONS="$T/polkit/actions" LAMINA_POLKIT_RULES="$T/polkit/rules.d"
mkdir -p "$LAMINA_POLKIT_ACTIONS" "$LAMINA_POLKIT_RULES"
chmod 0755 "$T/polkit" "$LAMINA_POLKIT_ACTIONS" "$LAMINA_POLKIT_RULES"
cp "$LAMINA_SOURCE_DIR/polkit/org.lamina.snapshot1.policy" "$LAMINA_POLKIT_ACTIONS/"
cat >"$LAMINA_POLKIT_RULES/50-lamina-mount-target.rules" <<RULE
polkit.addRule(function(action, subject) {
        if (subject.user != "$USER_A")
                return polkit.Result.NOT_HANDLED;
        if (action.id == "org.lamina.snapshot1.manage-own" || action.id == "org.lamina.snapshot1.mount-own")
                return polkit.Result.YES;
        if (action.id == "org.lamina.snapshot1.mount-anywhere") {
                var t = action.lookup("target");
                if (t == "$T/root-dir" || t == "$T/other-dir" || t == "$T/own-dir")
                        return polkit.Result.YES;
        }
});
RULE
chmod 0644 "$LAMINA_POLKIT_RULES"/* "$LAMINA_POLKIT_ACTIONS"/*
HARNESS_POLKITD="$LAMINA_SOURCE_DIR/tests/integration/auth/polkitd-private.sh"
harness_start_polkitd

failures=0
as() {
        local u=$1
        shift
        setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --clear-groups -- \
                env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" "$@"
}
expect() { # expect WANT USER ARGS...: WANT ok or an error's last name component
        local want=$1 u=$2 got
        shift 2
        got=$(as "$u" "$CALL" "$@" 2>"$T/last.err")
        got=${got##*.}
        if [ "$got" = "$want" ]; then
                echo "ok - $*: $want"
        else
                echo "not ok - $*: want $want, got $got: $(cat "$T/last.err")"
                failures=$((failures + 1))
        fi
}
check() { # check DESCRIPTION COMMAND...
        if "${@:2}"; then echo "ok - $1"; else echo "not ok - $1"; failures=$((failures + 1)); fi
}
is_empty_plain_dir() { # not a mount point, nothing in it
        ! mountpoint -q "$1" && [ -z "$(ls -A "$1")" ]
}

# The user's layer: a root-owned polkit rule granting everything.
mkdir -p "$T/layer"
echo 'polkit.addRule(function(action, subject) { return polkit.Result.YES; });' >"$T/layer/99-all.rules"
tar -C "$T/layer" --owner=0 --group=0 -cf "$T/layer.tar" 99-all.rules
chmod 0644 "$T/layer.tar"

expect ok "$USER_A" "$OBJ" Prepare a ""
expect ok "$USER_A" "$OBJ" Apply a "$T/layer.tar"

echo "# directories not the user's: refused, nothing mounted"
expect AccessDenied "$USER_A" "$OBJ" Mount a "$T/root-dir" ""
check "root's directory is still an empty directory" is_empty_plain_dir "$T/root-dir"
expect AccessDenied "$USER_A" "$OBJ" Mount a "$T/other-dir" ""
check "the other user's directory is still an empty directory" is_empty_plain_dir "$T/other-dir"
mounts=$(busctl --system call org.lamina.snapshot1 "$OBJ/user/$UA" org.lamina.snapshot1.Snapshotter ListMounts)
check "no mount is recorded ($mounts)" [ "$mounts" = "a(ssut) 0" ]
check "the refusals name the directory's owner and the caller" \
        grep -q "belongs to uid 0, not to you (uid $UA)" "$T/bus.log"
check "... for the other user's directory too" grep -q "belongs to uid $UB, not to you (uid $UA)" "$T/bus.log"

echo "# the grant follows the target detail; a relative target is refused before polkit"
expect InteractiveAuthorizationRequired "$USER_A" "$OBJ" Mount a "$T/own-ungranted" ""
expect InvalidArgument "$USER_B" "$OBJ" Mount a "relative/dir" ""

echo "# the user's own directory: mounted, its layer's files there"
expect ok "$USER_A" "$OBJ" Mount a "$T/own-dir" ""
check "the mount shows the layer's file" [ -f "$T/own-dir/99-all.rules" ]
expect ok "$USER_A" "$OBJ" Unmount a
check "unmounted again" is_empty_plain_dir "$T/own-dir"

[ "$failures" = 0 ] || harness_die "$failures checks failed"
echo "# all checks passed"
