#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs as root inside the booted container (test-nspawn-deb.sh installs it as the check
# unit). /srv/pkg holds the package twice (versions $V1 and $V2, from pkg.env); the users'
# side is lamina-session (deb-session.sh). Install, Apply, authorize through real logind
# sessions, upgrade, remove, purge.
. /usr/local/libexec/lamina-check-lib.sh
. /srv/pkg/pkg.env
set -u
UA=lamina-a
UB=lamina-b
D=/run/lamina-test
S=/usr/local/libexec/lamina-session

# lamina-session's verdict for KEY (see deb-session.sh).
passed() { [ "$(cat "$D/$1.result" 2>/dev/null)" = PASS ]; }

# In a logind session of user $1 on the console (seat0), through PAM's login stack and
# pam_systemd: lamina-session SESSION MODE KEY [SPARE].
console_session() {
        local u=$1
        shift
        systemd-run --wait --pipe --quiet --uid="$u" -p PAMName=login -p TTYPath=/dev/console "$S" "$@" &&
                passed "$3"
}

# In a remote session as sshd opens one: login(1) with a remote host (PAM_RHOST), on a pty.
remote_session() {
        local u=$1
        shift
        printf 'exec %s "%s" %s %s %s\n' "$S" "$1" "$2" "$3" "${4:-}" |
                timeout 60 script --quiet --command "login -f -h 192.0.2.7 $u" /dev/null | tr -d '\r'
        passed "$3"
}

installed_version() { dpkg-query -W -f='${Status} ${Version}' lamina 2>/dev/null; }

# No process may still run a laminad whose file the upgrade or removal replaced.
no_stale_laminad() {
        local exe
        for exe in /proc/[0-9]*/exe; do
                case $(readlink "$exe" 2>/dev/null) in
                */laminad\ \(deleted\)) echo "${exe%/exe} runs a deleted laminad"; return 1 ;;
                esac
        done
}

# Snapshots laminad mounted: its overlays (source "lamina") and whatever is below its own
# mount directory (a snapshot without parents is a bind mount).
lamina_mounts() { findmnt -rn -o SOURCE,TARGET | awk '$1 == "lamina" || index($2, "/run/lamina/") == 1'; }

step "apt-get installs lamina $V1 from its .deb"
apt-get install -y -q -o Dpkg::Use-Pty=0 "/srv/pkg/lamina_${V1}_${ARCH}.deb" || fail "apt-get install failed"
[ "$(installed_version)" = "install ok installed $V1" ] || fail "installed: $(installed_version)"
[ "$(systemctl is-active laminad.service)" != active ] || fail "installing started laminad.service"
for f in /usr/libexec/laminad /usr/bin/laminactl /lib/systemd/system/laminad.service \
         /usr/share/dbus-1/system-services/org.lamina.snapshot1.service \
         /usr/share/dbus-1/system.d/org.lamina.snapshot1.conf \
         /usr/share/polkit-1/actions/org.lamina.snapshot1.policy; do
        [ -e "$f" ] || fail "$f is not installed"
done
pkaction --action-id org.lamina.snapshot1.manage-own >/dev/null || fail "polkit does not know manage-own"

step "root applies a layer: laminad runs the installed lamina-unpack"
mkdir -p /tmp/layer/etc && echo "from the layer" >/tmp/layer/etc/lamina-deb &&
        tar -C /tmp/layer -cf /tmp/layer.tar etc || fail "making a layer failed"
laminactl --no-pager -q prepare deb-apply >/dev/null || fail "laminactl prepare failed"
laminactl --no-pager -q apply deb-apply /tmp/layer.tar || fail "laminactl apply failed"

useradd --create-home --shell /bin/sh "$UA" && useradd --create-home --shell /bin/sh "$UB" ||
        fail "useradd failed"
mkdir -m 1777 "$D"

step "$UB without a session: auth_admin_keep, the call allows no interaction"
setpriv --reuid="$UB" --regid="$UB" --init-groups -- "$S" none auth b-nosession && passed b-nosession ||
        fail "$UB without a session was not asked to authenticate"

step "$UA on the console (local, active): manage-own and mount-own without authentication"
console_session "$UA" "Seat=seat0 Remote=no Active=yes" allowed a-local a-spare ||
        fail "$UA in a local active session was refused"
[ "$(systemctl is-active laminad.service)" = active ] || fail "laminad.service was not activated"

step "$UA remotely (login -h, like sshd): auth_admin_keep"
remote_session "$UA" "Remote=yes RemoteHost=192.0.2.7 Active=yes" auth a-remote a-spare ||
        fail "$UA in a remote session was not asked to authenticate"

step "$UA on the console while $UB's later console session is the active one: auth_admin_keep"
systemd-run --quiet --unit=lamina-a-console --uid="$UA" -p PAMName=login -p TTYPath=/dev/console \
        -p StandardOutput=append:/srv/out/check.log -p StandardError=append:/srv/out/check.log \
        "$S" "Seat=seat0 Active=no" inactive a-inactive a-spare || fail "starting $UA's session failed"
i=0
while [ ! -e "$D/a-up" ] && [ ! -e "$D/a-done" ] && [ $i -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
done
[ -e "$D/a-up" ] || fail "$UA's console session did not start"
console_session "$UB" "Seat=seat0 Active=yes" hold b-hold || fail "$UB's console session failed"
passed a-inactive || fail "$UA in an inactive session was not asked to authenticate"

step "upgrade to $V2 while laminad runs: no laminad is left on the old binary"
uid_a=$(id -u "$UA")
call $OBJ org.lamina.snapshot1.Manager ListSnapshotters >/dev/null || fail "ListSnapshotters failed"
old=$(systemctl show -p MainPID --value laminad.service)
[ "${old:-0}" -gt 0 ] || fail "laminad.service does not run before the upgrade"
[ "$(readlink /proc/"$old"/exe)" = /usr/libexec/laminad ] || fail "pid $old is not laminad"
apt-get install -y -q -o Dpkg::Use-Pty=0 "/srv/pkg/lamina_${V2}_${ARCH}.deb" || fail "apt-get install (upgrade) failed"
[ "$(installed_version)" = "install ok installed $V2" ] || fail "installed: $(installed_version)"
[ ! -e "/proc/$old" ] || fail "the old laminad (pid $old) still runs: $(readlink /proc/"$old"/exe)"
no_stale_laminad || fail "a laminad runs on the replaced binary"
new=$(systemctl show -p MainPID --value laminad.service)
[ "$(systemctl is-active laminad.service)" = active ] && [ "${new:-0}" -gt 0 ] ||
        fail "laminad.service was running and is not restarted (try-restart)"
echo "laminad: pid $old before, pid $new after, running $(readlink /proc/"$new"/exe)"
[ "$(readlink /proc/"$new"/exe)" = /usr/libexec/laminad ] || fail "pid $new is not the new laminad"
call "$OBJ/overlayfs/user/$uid_a" $SN Stat s a-local >/dev/null || fail "$UA's snapshot is gone"
[ -n "$(lamina_mounts)" ] || fail "$UA's mount did not survive the upgrade"

step "apt-get remove: laminad stops, the state stays"
apt-get remove -y -q -o Dpkg::Use-Pty=0 lamina || fail "apt-get remove failed"
[ "$(systemctl is-active laminad.service)" != active ] || fail "laminad.service still runs"
no_stale_laminad || fail "a laminad runs on the removed binary"
[ -n "$(ls -A /var/lib/lamina)" ] || fail "removing (not purging) emptied /var/lib/lamina"

step "apt-get purge: the state and the snapshots' mounts are gone"
apt-get purge -y -q -o Dpkg::Use-Pty=0 lamina || fail "apt-get purge failed"
dpkg-query -W lamina >/dev/null 2>&1 && [ -n "$(installed_version | grep -v not-installed)" ] &&
        fail "still known to dpkg: $(installed_version)"
# /var/lib/lamina is the container's tmpfs (overlay upper dirs cannot be on the overlay
# root): the purge empties it and leaves the mount point.
[ ! -e /var/lib/lamina ] || [ -z "$(ls -A /var/lib/lamina)" ] ||
        fail "/var/lib/lamina after the purge: $(ls -A /var/lib/lamina)"
[ ! -e /run/lamina ] || fail "/run/lamina is still there"
[ -z "$(lamina_mounts)" ] || fail "lamina's mounts after the purge: $(lamina_mounts)"
[ ! -e /usr/share/dbus-1/system.d/org.lamina.snapshot1.conf ] || fail "the bus policy is still there"

echo PASS >/srv/out/result
