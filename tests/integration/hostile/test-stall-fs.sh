#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A filesystem whose server holds up what laminad asks of it (a user's FUSE mount, a hung
# network server), made by fuse-stall: root's getattr of its file "layer", lookups of any
# other name and all reads are never answered. Real polkitd, one unprivileged user.
# - Apply of that file by the user: refused at once (InvalidArgument naming FUSE: pass it
#   through a pipe), without laminad asking the filesystem anything (it would wait for ever,
#   and on its main loop every other caller with it); the user's Apply through a pipe of the
#   same bytes would go through the stall relay instead;
# - the same from a FUSE mount in another mount namespace (laminad cannot look it up in its
#   mount table): refused too, found out on the caller's worker;
# - Mount (root) at a target below a name whose lookup is never answered: that call waits,
#   on a worker, while Stat, Prepare and Remove of others are answered; once the server is
#   gone the Mount fails and leaves nothing.
. "$LAMINA_SOURCE_DIR/tests/integration/ctl/ctl-lib.sh"
STALL="$LAMINA_BUILD_DIR/tests/integration/lib/fuse-stall"
[ -x "$STALL" ] || harness_die "fuse-stall is not built"
[ -c /dev/fuse ] || harness_skip "there is no /dev/fuse"
grep -qw fuse /proc/filesystems || harness_skip "the kernel has no FUSE"
command -v gdbus >/dev/null || harness_skip "gdbus is not installed (it prints D-Bus error names)"
harness_setup --polkit
harness_install_policy
user=$(harness_add_user stall)
harness_install_group_rule "$user"

fuse_pid="" fuse2_pid="" mount_pid=""
stop_server() {
        [ -n "$fuse_pid" ] && kill -KILL "$fuse_pid" 2>/dev/null && wait "$fuse_pid" 2>/dev/null
        fuse_pid=""
}
trap '_rc=$?; stop_server; for p in $fuse2_pid $mount_pid; do kill -KILL "$p" 2>/dev/null; done; (exit $_rc); harness_cleanup' EXIT

chmod 0711 "$T" # the user reaches the FUSE mount below it
mkdir -m 0755 "$T/fuse"
"$STALL" "$T/fuse" "$T/fuse.status" 2>"$T/fuse.err" &
fuse_pid=$!
server_ready() { grep -q '^ready$' "$T/fuse.status" 2>/dev/null; }
harness_wait_for 100 server_ready || harness_die "fuse-stall did not start: $(cat "$T/fuse.err")"

ok "root: prepare v" -s overlayfs prepare v
CTL_AS="harness_as $user" harness_wait_for 300 ctl_succeeds -s overlayfs prepare u && pass "user: prepare u" || fail "the group rule did not take effect: $err"

echo "# Apply of a file on the stalling filesystem"
harness_as "$user" "$LAMINACTL" --no-pager -s overlayfs apply u "$T/fuse/layer" >"$T/apply.out" 2>&1 &
apply_pid=$!
apply_done() { ! kill -0 "$apply_pid" 2>/dev/null; }
if harness_wait_for 600 apply_done; then
        wait "$apply_pid" && fail "Apply of a FUSE file succeeded: $(cat "$T/apply.out")"
        case "$(cat "$T/apply.out")" in
        *FUSE*pipe*) pass "refused at once: $(cat "$T/apply.out")" ;;
        *) fail "Apply of a FUSE file: $(cat "$T/apply.out")" ;;
        esac
else
        kill -KILL "$apply_pid" 2>/dev/null
        fail "Apply of a FUSE file did not return in 60 s"
fi
held=$(grep -c '^held 3 0$' "$T/fuse.status")
expect "laminad asked the filesystem for nothing" "$held" 0
ok "root: info v answers" -s overlayfs info v

echo "# the same on a FUSE mount of another mount namespace"
mkdir -m 0755 "$T/fuse2"
unshare -m --propagation private "$STALL" "$T/fuse2" "$T/fuse2.status" 2>"$T/fuse2.err" &
fuse2_pid=$!
server2_ready() { grep -q '^ready$' "$T/fuse2.status" 2>/dev/null; }
harness_wait_for 100 server2_ready || harness_die "fuse-stall in its own namespace did not start: $(cat "$T/fuse2.err")"
nsenter -t "$fuse2_pid" -m -- setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --clear-groups -- \
        timeout 120 "$LAMINACTL" --no-pager -s overlayfs apply u "$T/fuse2/layer" >"$T/apply2.out" 2>&1
case "$?:$(cat "$T/apply2.out")" in
0:*) fail "Apply of a FUSE file of another namespace succeeded: $(cat "$T/apply2.out")" ;;
*FUSE*pipe*) pass "refused too: $(cat "$T/apply2.out")" ;;
*) fail "Apply of a FUSE file of another namespace: $(cat "$T/apply2.out")" ;;
esac
kill -KILL "$fuse2_pid" 2>/dev/null
wait "$fuse2_pid" 2>/dev/null
fuse2_pid=""

echo "# Mount at a target whose lookup is never answered"
gdbus call --system --timeout 600 --dest org.lamina.snapshot1 --object-path /org/lamina/snapshot1/overlayfs \
        --method org.lamina.snapshot1.Snapshotter.Mount v "$T/fuse/hang/t" "@as []" >"$T/mount.out" 2>&1 &
mount_pid=$!
lookup_held() { grep -q '^held 1 0$' "$T/fuse.status"; }
harness_wait_for 600 lookup_held || fail "laminad did not look the target up"
ok "root: info v while the Mount waits" -s overlayfs info v
ok "root: prepare w while the Mount waits" -s overlayfs prepare w
ok "root: rm w while the Mount waits" -s overlayfs rm w
CTL_AS="harness_as $user" ctl -s overlayfs info u
[ "$rc" = 0 ] && pass "user: info u while the Mount waits" || fail "user: info u: $err"
kill -0 "$mount_pid" 2>/dev/null && pass "the Mount still waits" || fail "the Mount returned: $(cat "$T/mount.out")"

stop_server
wait "$mount_pid"
mount_rc=$?
mount_pid=""
[ "$mount_rc" != 0 ] && pass "the Mount failed once the server was gone ($(cat "$T/mount.out"))" ||
        fail "the Mount succeeded: $(cat "$T/mount.out")"
ok "root: list-mounts" -s overlayfs list-mounts
expect "nothing mounted" "$out" "No mounts."
ok "root: rm v" -s overlayfs rm v

[ "$ctl_failures" = 0 ] || exit 1
