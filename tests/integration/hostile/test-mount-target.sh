#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A user granted org.lamina.snapshot1.mount-anywhere must not cover a directory that is not
# its own: its snapshot may hold root-owned files of its layers (a polkit rule, a sudoers
# snippet), so covering an empty root-owned directory such as /etc/polkit-1/rules.d with it
# would make those files root's configuration. Against the real laminad and polkitd on a
# private bus: the grant is for targets named so (the polkit detail "target"), a mount on a
# root-owned and on another user's directory is AccessDenied and changes nothing, and so is
# one on a missing path, a non-empty directory or a symbolic link, with the same message
# (a user learns nothing of paths it could not look at), one on the user's own directory
# works, a relative target is InvalidArgument before polkit is asked. The path is looked
# up with the user's uid and groups: its own directory inside the other user's 0700 one is
# refused (same message), one below directories it can search (through a supplementary
# group too) is mounted, a symbolic link on the way is refused. A target on a filesystem
# that never answers (FUSE) is Busy after the lookup's 5 s, and so is the user's next
# target while that lookup still waits; others' calls are answered meanwhile.
set -u

. "${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/hostile/hostile-lib.sh"

command -v unshare >/dev/null || harness_skip "unshare (util-linux) is not installed"
command -v gdbus >/dev/null || harness_skip "gdbus is not installed (it prints D-Bus error messages)"
# Argument "stuck": only the filesystem that never answers, with laminad exiting
# after 3 s without calls, to see that it does not while its lookup there waits.
PART=${1:-all}
STALL="$LAMINA_BUILD_DIR/tests/integration/lib/fuse-stall"
if [ "$PART" = stuck ]; then
        [ -c /dev/fuse ] && grep -qw fuse /proc/filesystems || harness_skip "there is no FUSE"
        polkit_auth_call_setup --idle-timeout 3
else
        polkit_auth_call_setup --idle-timeout 120
fi

USER_A=$(harness_add_user mtarget)
USER_B=$(harness_add_user mother)
UA=$(id -u "$USER_A")
UB=$(id -u "$USER_B")

# Directories the user names as targets: root's, the other user's, its own (two: only one
# is granted by the rule, the other shows that the grant depends on the target detail).
install -d -m 0755 -o root -g root "$T/g-root-dir"
install -d -m 0755 -o "$UB" -g "$UB" "$T/g-other-dir"
install -d -m 0755 -o "$UA" -g "$UA" "$T/g-own-dir" "$T/own-ungranted"
install -d -m 0700 -o root -g root "$T/g-shut" "$T/g-shut/full" "$T/g-shut/empty"
touch "$T/g-shut/full/file"
ln -s "$T/g-own-dir" "$T/g-link"
# Below the other user's 0700 directory, one of the user's own; below directories it can
# search, another; below one it can search only through a supplementary group, a third.
install -d -m 0700 -o "$UB" -g "$UB" "$T/g-private-b"
install -d -m 0755 -o "$UA" -g "$UA" "$T/g-private-b/own" "$T/g-private-b/own/deeper"
install -d -m 0755 -o "$UB" -g "$UB" "$T/g-open-b" "$T/g-open-b/sub"
install -d -m 0755 -o "$UA" -g "$UA" "$T/g-open-b/sub/own"
GB=$(id -g "$USER_B")
install -d -m 0710 -o root -g "$GB" "$T/g-group-b"
install -d -m 0755 -o "$UA" -g "$UA" "$T/g-group-b/own"
ln -s "$T/g-open-b" "$T/g-link-b"

polkit_private_grant_targets "$USER_A" "$T/g-"

GROUPS_ARG=--clear-groups # as(): the user's groups, none but its gid unless changed
as() {
        local u=$1
        shift
        setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" "$GROUPS_ARG" -- \
                env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" "$@"
}
expect() { # expect WANT USER ARGS...: WANT ok or an error's last name component
        local want=$1 u=$2 got
        shift 2
        got=$(as "$u" "$CALL" "$@" 2>"$T/last.err")
        got=${got##*.}
        if [ "$got" = "$want" ]; then
                ok "$*: $want"
        else
                not_ok "$*: want $want, got $got: $(cat "$T/last.err")"
        fi
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

if [ "$PART" = all ]; then
echo "# directories not the user's: refused, nothing mounted"
expect AccessDenied "$USER_A" "$OBJ" Mount a "$T/g-root-dir" ""
check "root's directory is still an empty directory" is_empty_plain_dir "$T/g-root-dir"
expect AccessDenied "$USER_A" "$OBJ" Mount a "$T/g-other-dir" ""
check "the other user's directory is still an empty directory" is_empty_plain_dir "$T/g-other-dir"
mounts=$(busctl --system call org.lamina.snapshot1 "$OBJ/user/$UA" org.lamina.snapshot1.Snapshotter ListMounts)
check "no mount is recorded ($mounts)" [ "$mounts" = "a(ssut) 0" ]

echo "# paths the user cannot look at: one refusal, whatever is there"
msg() { # the error (name and message) of a Mount on $1 as the user
        as "$USER_A" gdbus call --system --dest org.lamina.snapshot1 --object-path "$OBJ" \
                --method org.lamina.snapshot1.Snapshotter.Mount a "$1" "[]" 2>&1 | sed "s|$1|TARGET|"
}
want=$(msg "$T/g-root-dir")
check "the refusal says what to give ($want)" grep -q "AccessDenied: .*not an empty directory of yours (uid $UA)" <<<"$want"
for p in "$T/g-shut/missing" "$T/g-shut/full" "$T/g-shut/empty" "$T/g-link" "$T/g-own-dir/missing" \
        "$T/g-private-b/own" "$T/g-private-b/own/deeper" "$T/g-private-b/missing" "$T/g-link-b/sub/own" \
        "$T/g-group-b/own"; do
        got=$(msg "$p")
        check "the same refusal for ${p#"$T"/} ($got)" [ "$got" = "$want" ]
done

echo "# looked up as the user: its own directory out of its reach is refused, within reach mounted"
expect AccessDenied "$USER_A" "$OBJ" Mount a "$T/g-private-b/own/deeper" ""
check "its empty directory inside the other user's private one is still an empty directory" \
        is_empty_plain_dir "$T/g-private-b/own/deeper"
expect AccessDenied "$USER_A" "$OBJ" Mount a "$T/g-link-b/sub/own" ""
check "nothing mounted through the symbolic link" is_empty_plain_dir "$T/g-open-b/sub/own"
expect ok "$USER_A" "$OBJ" Mount a "$T/g-open-b/sub/own" ""
check "mounted below directories the user can search" [ -f "$T/g-open-b/sub/own/99-all.rules" ]
expect ok "$USER_A" "$OBJ" Unmount a
expect AccessDenied "$USER_A" "$OBJ" Mount a "$T/g-group-b/own" ""
GROUPS_ARG=--groups=$GB # now the user is in the group that may search g-group-b
expect ok "$USER_A" "$OBJ" Mount a "$T/g-group-b/own" ""
check "mounted below a directory the user searches through a supplementary group" \
        [ -f "$T/g-group-b/own/99-all.rules" ]
expect ok "$USER_A" "$OBJ" Unmount a
GROUPS_ARG=--clear-groups
check "unmounted again" is_empty_plain_dir "$T/g-group-b/own"
mounts=$(busctl --system call org.lamina.snapshot1 "$OBJ/user/$UA" org.lamina.snapshot1.Snapshotter ListMounts)
check "no mount is recorded ($mounts)" [ "$mounts" = "a(ssut) 0" ]

echo "# the grant follows the target detail; a relative target is refused before polkit"
expect InteractiveAuthorizationRequired "$USER_A" "$OBJ" Mount a "$T/own-ungranted" ""
expect InvalidArgument "$USER_B" "$OBJ" Mount a "relative/dir" ""

echo "# the user's own directory: mounted, its layer's files there"
expect ok "$USER_A" "$OBJ" Mount a "$T/g-own-dir" ""
check "the mount shows the layer's file" [ -f "$T/g-own-dir/99-all.rules" ]
expect ok "$USER_A" "$OBJ" Unmount a
check "unmounted again" is_empty_plain_dir "$T/g-own-dir"
fi

echo "# a target on a filesystem that never answers"
if [ -c /dev/fuse ] && grep -qw fuse /proc/filesystems; then
        install -d -m 0755 "$T/g-fuse"
        "$STALL" "$T/g-fuse" "$T/fuse.status" 2>"$T/fuse.err" &
        fuse_pid=$!
        fuse_id=$(harness_pid_id "$fuse_pid") # killed below: its PID may be another's by the exit
        trap '_rc=$?; harness_signal_id KILL "$fuse_id" || :; wait "$fuse_pid" 2>/dev/null; (exit $_rc); harness_cleanup' EXIT
        server_ready() { grep -q '^ready$' "$T/fuse.status" 2>/dev/null; }
        harness_wait_for 100 server_ready || harness_die "fuse-stall did not start: $(cat "$T/fuse.err")"
        expect Busy "$USER_A" "$OBJ" Mount a "$T/g-fuse/hang" ""
        check "the lookup reached the filesystem as the user" grep -q "^held 1 $UA\$" "$T/fuse.status"
        # The killed lookup waits for the server's answer: the user's next target is Busy
        # at once (no second process of its), others are answered.
        expect Busy "$USER_A" "$OBJ" Mount a "$T/g-own-dir" ""
        check "root's calls are answered meanwhile" \
                busctl --system call org.lamina.snapshot1 "$OBJ/user/$UA" org.lamina.snapshot1.Snapshotter Stat s a
        if [ "$PART" = stuck ]; then
                pid=$(harness_laminad_pid)
                still_there() { [ -n "$pid" ] && [ "$(harness_laminad_pid)" = "$pid" ]; }
                sleep 8 # well past the idle timeout: a laminad free to go would be gone
                check "laminad does not exit on idle while the killed lookup waits" still_there
        fi
        kill -KILL "$fuse_pid"
        wait "$fuse_pid" 2>/dev/null
        own_mount_works() { as "$USER_A" "$CALL" "$OBJ" Mount a "$T/g-own-dir" "" >/dev/null 2>&1; }
        if harness_wait_for 300 own_mount_works; then
                ok "once the server is gone, the user's own directory is mounted again"
        else
                not_ok "the user's mount stays refused after the server is gone"
        fi
        expect ok "$USER_A" "$OBJ" Unmount a
        if [ "$PART" = stuck ]; then
                check "then laminad exits on idle" harness_wait_for 600 harness_name_gone "$HARNESS_NAME"
        fi
else
        echo "ok - # skip: no FUSE on this machine"
fi

checks_done
echo "# all checks passed"
