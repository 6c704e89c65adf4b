#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Boots real systemd (PID 1 in systemd-nspawn) on a tmpfs overlay of the host's /, with
# lamina installed at its distribution paths, and checks from a unit inside the container:
# a plain busctl call D-Bus-activates laminad.service through SystemdService=, the daemon
# works under the unit's sandbox (Prepare, Mount, Apply through laminactl), the installed
# bus policy lets nobody call, and after the idle timeout (a drop-in gives a short one) the
# unit goes inactive and is re-activated by the next call. See test-environment.md §3 ("Recommended cheap variant") and §9.
set -u

: "${LAMINA_SOURCE_DIR:?run through meson test}"
. "$LAMINA_SOURCE_DIR/tests/nspawn/nspawn-lib.sh"

IDLE_TIMEOUT=3
LIBEXECDIR=/usr/libexec

LAMINAD=$(harness_find_laminad) || harness_die "laminad is not built in $LAMINA_BUILD_DIR"
LAMINACTL=$LAMINA_BUILD_DIR/src/ctl/laminactl
[ -x "$LAMINACTL" ] || harness_die "laminactl is not built in $LAMINA_BUILD_DIR"

# What a distribution package installs, at the paths the host's dbus-daemon, systemd and
# polkitd read, with @libexecdir@ = /usr/libexec.
install_lamina() {
        local src=$LAMINA_SOURCE_DIR f
        for f in dbus/org.lamina.snapshot1.service.in dbus/org.lamina.snapshot1.conf systemd/laminad.service.in; do
                [ -f "$src/$f" ] || harness_die "$src/$f is missing"
        done
        install -D -m 0755 "$LAMINAD" "$M$LIBEXECDIR/laminad"
        install -D -m 0755 "$LAMINA_BUILD_DIR/src/unpack/lamina-unpack" "$M$LIBEXECDIR/lamina-unpack"
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
        {
                echo '#!/bin/sh'
                echo "IDLE_TIMEOUT=$IDLE_TIMEOUT"
                cat <<'EOF'
. /usr/local/libexec/lamina-check-lib.sh

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

step "an idmapped overlay under the unit's sandbox (user namespace, open_tree, mount_setattr, layers by fd)"
call $OBJ/overlayfs $SN Prepare 'ssa{ss}' nspawn-base "" 0 || fail "Prepare failed"
call $OBJ/overlayfs $SN Commit 'ssa{ss}' nspawn-base-c nspawn-base 0 || fail "Commit failed"
call $OBJ/overlayfs $SN Prepare 'ssa{ss}' nspawn-idmap nspawn-base-c 0 || fail "Prepare failed"
path=$(call $OBJ/overlayfs $SN Mount ssas nspawn-idmap "" 1 idmap) || fail "Mount with idmap failed"
path=${path#s }; path=${path#\"}; path=${path%\"}
touch "$path/written-through-the-idmapped-overlay" || fail "cannot write into the idmapped overlay"
call $OBJ/overlayfs $SN Unmount s nspawn-idmap || fail "Unmount failed"
for k in nspawn-idmap nspawn-base-c; do call $OBJ/overlayfs $SN Remove s $k || fail "Remove $k failed"; done
# statmount/listmount are unknown to systemd 252's @mount: laminad reads mountinfo instead.
! journalctl -u laminad.service --no-pager | grep -i "not permitted" || fail "laminad logged a refused system call"

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
while [ "$(systemctl is-active laminad.service)" != inactive ] && [ $i -lt $((IDLE_TIMEOUT * 10 + 600)) ]; do
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
        } | nspawn_install_check 120
}

nspawn_setup_root
install_lamina
install_check
nspawn_probe
nspawn_boot 180 || {
        echo "not ok - booted systemd, laminad activation and idle exit"
        exit 1
}
echo "ok - systemd activates laminad.service via SystemdService=, it serves under its sandbox, exits idle and re-activates"
