#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Boots real systemd (PID 1 in systemd-nspawn) on a tmpfs overlay of the host's /, with
# lamina installed at its distribution paths, and checks from a unit inside the container:
# a plain busctl call D-Bus-activates laminad.service through SystemdService=, the daemon
# works under the unit's sandbox (Prepare, Mount, Apply through laminactl), the installed
# bus policy lets nobody call, and after the idle timeout (a drop-in gives a short one) the
# unit goes inactive and is re-activated by the next call. See test-environment.md §3 ("Recommended cheap variant") and §9.
set -u

: "${LAMINA_BUILD_DIR:?run through meson test}"
: "${LAMINA_SOURCE_DIR:?run through meson test}"
HARNESS_LIB="$LAMINA_SOURCE_DIR/tests/integration/lib"
. "$HARNESS_LIB/harness.sh"

IDLE_TIMEOUT=3
LIBEXECDIR=/usr/libexec

[ "$(id -u)" = 0 ] || harness_skip "booting a container needs root"
command -v systemd-nspawn >/dev/null || harness_skip "systemd-nspawn is not installed (systemd-container)"
[ -x /lib/systemd/systemd ] || harness_skip "systemd is not installed on the host"
LAMINAD=$(harness_find_laminad) || harness_die "laminad is not built in $LAMINA_BUILD_DIR"
LAMINACTL=$LAMINA_BUILD_DIR/src/ctl/laminactl
[ -x "$LAMINACTL" ] || harness_die "laminactl is not built in $LAMINA_BUILD_DIR"

T=$(mktemp -d /tmp/lamina-nspawn.XXXXXX) || harness_die "mktemp failed"
M="$T/hov/merged"
NSPAWN_DIR_CREATED=0
NSPAWN_TMPFS=0

cleanup() {
        rc=$?
        trap - EXIT INT TERM HUP
        if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
                [ -f "$T/out/check.log" ] && sed 's/^/# check: /' "$T/out/check.log" >&2
                [ -f "$T/console.log" ] && tail -n 60 "$T/console.log" | sed 's/^/# console: /' >&2
        fi
        # nspawn made its mounts in the container's namespace; ours are the overlay and tmpfs.
        for m in "$M" "$T/hov/t"; do
                mountpoint -q "$m" && { umount "$m" || umount -l "$m"; }
        done
        if [ "$NSPAWN_TMPFS" = 1 ]; then
                umount /run/systemd/nspawn 2>/dev/null || umount -l /run/systemd/nspawn
        fi
        if [ "$NSPAWN_DIR_CREATED" = 1 ]; then
                rm -rf /run/systemd/nspawn /run/systemd/nspawn-root
        fi
        # nspawn --keep-unit from the root cgroup leaves these behind, empty (§9).
        for h in systemd unified; do
                for d in payload/init.scope payload supervisor; do
                        [ -d "/sys/fs/cgroup/$h/$d" ] && rmdir "/sys/fs/cgroup/$h/$d" 2>/dev/null
                done
        done
        if findmnt -rn -o TARGET | grep -q "^$T/"; then
                harness_log "kept $T: still mounted"
        else
                rm -rf "$T"
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

setup_root() {
        mkdir -p "$T/hov/t" "$M" "$T/out"
        mount -t tmpfs -o size=2G,mode=0755 tmpfs "$T/hov/t" || harness_die "mounting tmpfs failed"
        mkdir "$T/hov/t/up" "$T/hov/t/work"
        mount -t overlay overlay -o "lowerdir=/,upperdir=$T/hov/t/up,workdir=$T/hov/t/work" "$M" ||
                harness_die "mounting the overlay over / failed"
}

# What a distribution package installs, at the paths the host's dbus-daemon, systemd and
# polkitd read, with @libexecdir@ = /usr/libexec.
install_lamina() {
        local src=$LAMINA_SOURCE_DIR f
        for f in dbus/org.lamina.snapshot1.service.in dbus/org.lamina.snapshot1.conf systemd/laminad.service.in; do
                [ -f "$src/$f" ] || harness_die "$src/$f is missing"
        done
        install -D -m 0755 "$LAMINAD" "$M$LIBEXECDIR/laminad"
        install -D -m 0755 "$LAMINACTL" "$M/usr/bin/laminactl"
        mkdir -p "$M/usr/share/dbus-1/system-services" "$M/usr/share/dbus-1/system.d" \
                 "$M/lib/systemd/system/laminad.service.d" "$M/usr/share/polkit-1/actions"
        sed "s|@libexecdir@|$LIBEXECDIR|g" "$src/dbus/org.lamina.snapshot1.service.in" \
                >"$M/usr/share/dbus-1/system-services/org.lamina.snapshot1.service"
        install -m 0644 "$src/dbus/org.lamina.snapshot1.conf" "$M/usr/share/dbus-1/system.d/"
        sed "s|@libexecdir@|$LIBEXECDIR|g" "$src/systemd/laminad.service.in" \
                >"$M/lib/systemd/system/laminad.service"
        if [ -f "$src/polkit/org.lamina.snapshot1.policy" ]; then
                install -m 0644 "$src/polkit/org.lamina.snapshot1.policy" "$M/usr/share/polkit-1/actions/"
        fi
        # The only test-specific change: a short idle timeout.
        cat >"$M/lib/systemd/system/laminad.service.d/50-test-idle.conf" <<EOF
[Service]
ExecStart=
ExecStart=$LIBEXECDIR/laminad --idle-timeout $IDLE_TIMEOUT
EOF
}

install_check() {
        install -D -m 0755 /dev/stdin "$M/usr/local/libexec/lamina-nspawn-check" <<EOF
#!/bin/sh
IDLE_TIMEOUT=$IDLE_TIMEOUT
EOF
        cat >>"$M/usr/local/libexec/lamina-nspawn-check" <<'EOF'
exec >/srv/out/check.log 2>&1
OBJ=/org/lamina/snapshot1
SN=org.lamina.snapshot1.Snapshotter

fail() {
        echo "FAIL: $*"
        systemctl status laminad.service --no-pager
        journalctl -u laminad.service -u dbus.service --no-pager | tail -n 40
        exit 1
}
step() { echo "== $*"; }
call() { busctl --timeout=30 call org.lamina.snapshot1 "$@"; }

step "laminad.service is not running before the first call"
[ "$(systemctl is-active laminad.service)" != active ] || fail "laminad.service is already active"

step "busctl call ... Manager ListSnapshotters activates laminad.service (SystemdService=)"
call $OBJ org.lamina.snapshot1.Manager ListSnapshotters || fail "ListSnapshotters failed"
state=$(systemctl is-active laminad.service)
echo "laminad.service: $state"
[ "$state" = active ] || fail "laminad.service is $state after the call"
systemctl show -p MainPID -p ControlGroup laminad.service

step "the daemon works under the unit's sandbox: Prepare, Stat, Mount, Unmount, Remove"
call $OBJ/overlayfs $SN Prepare 'ssa{ss}' nspawn-check "" 0 || fail "Prepare failed"
call $OBJ/overlayfs $SN Stat s nspawn-check || fail "Stat failed"
path=$(call $OBJ/overlayfs $SN Mount ssas nspawn-check "" 0) || fail "Mount failed"
path=${path#s }; path=${path#\"}; path=${path%\"}
echo "mounted at $path"
findmnt "$path" || fail "no mount at $path"
touch "$path/written-through-the-mount" || fail "cannot write into the active snapshot"
call $OBJ/overlayfs $SN Unmount s nspawn-check || fail "Unmount failed"
call $OBJ/overlayfs $SN Remove s nspawn-check || fail "Remove failed"

step "Apply (its sandbox inside the unit's sandbox) unpacks a layer"
mkdir -p /tmp/layer/etc && echo "from the layer" >/tmp/layer/etc/lamina-check
tar -C /tmp/layer -cf /tmp/layer.tar etc || fail "tar failed"
call $OBJ/overlayfs $SN Prepare 'ssa{ss}' nspawn-apply "" 0 || fail "Prepare failed"
# busctl 252 cannot pass file descriptors; laminactl can.
laminactl --no-pager -q apply nspawn-apply /tmp/layer.tar || fail "Apply failed"
path=$(call $OBJ/overlayfs $SN Mount ssas nspawn-apply "" 0) || fail "Mount failed"
path=${path#s }; path=${path#\"}; path=${path%\"}
[ "$(cat "$path/etc/lamina-check")" = "from the layer" ] || fail "the applied file is not in the snapshot"
call $OBJ/overlayfs $SN Unmount s nspawn-apply || fail "Unmount failed"
call $OBJ/overlayfs $SN Remove s nspawn-apply || fail "Remove failed"

step "nobody may call ListSnapshotters (the installed bus policy)"
setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
        busctl call org.lamina.snapshot1 $OBJ org.lamina.snapshot1.Manager ListSnapshotters ||
        fail "nobody cannot call ListSnapshotters"

if command -v pkaction >/dev/null; then
        step "polkit knows the installed actions"
        pkaction --action-id org.lamina.snapshot1.manage-own || fail "org.lamina.snapshot1.manage-own unknown"
fi

step "after the idle timeout (${IDLE_TIMEOUT}s) laminad.service becomes inactive, successfully"
i=0
while [ "$(systemctl is-active laminad.service)" = active ] && [ $i -lt $((IDLE_TIMEOUT * 10 + 100)) ]; do
        sleep 0.1
        i=$((i + 1))
done
state=$(systemctl is-active laminad.service)
echo "laminad.service: $state; $(systemctl show -p Result -p ExecMainStatus laminad.service | tr '\n' ' ')"
[ "$state" = inactive ] || fail "laminad.service is $state after the idle timeout"
[ "$(systemctl show -p Result --value laminad.service)" = success ] || fail "idle exit was not clean"

step "the next call activates it again"
call $OBJ org.lamina.snapshot1.Manager ListSnapshotters || fail "ListSnapshotters after idle exit failed"
[ "$(systemctl is-active laminad.service)" = active ] || fail "not re-activated"

echo PASS >/srv/out/result
EOF
        cat >"$M/etc/systemd/system/lamina-check.service" <<'EOF'
[Unit]
Description=lamina check, then power off with its result
After=multi-user.target dbus.service

[Service]
Type=oneshot
ExecStart=/usr/local/libexec/lamina-nspawn-check
TimeoutStartSec=120
ExecStopPost=/bin/sh -c 'if [ "$SERVICE_RESULT" = success ]; then systemctl exit 0; else systemctl exit 7; fi'
EOF
}

prepare_nspawn_dir() {
        if [ ! -d /run/systemd/nspawn ]; then
                mkdir -p /run/systemd/nspawn
                NSPAWN_DIR_CREATED=1
        fi
        # /run is on disk here: a tmpfs avoids "Attempted to remove disk file system" (§3).
        if ! mountpoint -q /run/systemd/nspawn; then
                mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn && NSPAWN_TMPFS=1
        fi
}

NSPAWN_ARGS=(--directory="$M" --machine=lamina-test --register=no --keep-unit --private-network
             --bind="$T/out:/srv/out" --tmpfs=/var/lib/lamina)

setup_root
install_lamina
install_check
prepare_nspawn_dir

harness_log "can systemd-nspawn run here at all?"
if ! timeout 60 systemd-nspawn "${NSPAWN_ARGS[@]}" --quiet --pipe /bin/true </dev/null >"$T/probe.log" 2>&1; then
        cat "$T/probe.log" >&2
        harness_skip "systemd-nspawn cannot start a container on this machine"
fi

harness_log "booting systemd in the container (console log: $T/console.log)"
timeout 180 systemd-nspawn "${NSPAWN_ARGS[@]}" --boot --console=read-only -- \
        systemd.wants=lamina-check.service \
        systemd.mask=containerd.service systemd.mask=postgresql.service \
        systemd.mask=getty@tty1.service systemd.mask=console-getty.service \
        systemd.mask=e2scrub_reap.service systemd.mask=systemd-timesyncd.service \
        </dev/null >"$T/console.log" 2>&1
rc=$?

sed 's/^/# /' "$T/out/check.log" 2>/dev/null
if [ "$rc" != 0 ] || [ "$(cat "$T/out/result" 2>/dev/null)" != PASS ]; then
        echo "not ok - booted systemd, laminad activation and idle exit (nspawn exit $rc)"
        exit 1
fi
echo "ok - systemd activates laminad.service via SystemdService=, it serves under its sandbox, exits idle and re-activates"
