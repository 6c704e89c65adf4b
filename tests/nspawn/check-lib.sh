# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the check scripts that run inside the booted container (installed there as
# /usr/local/libexec/lamina-check-lib.sh): their output goes to /srv/out/check.log.
exec >>/srv/out/check.log 2>&1
OBJ=/org/lamina/snapshot1
SN=org.lamina.snapshot1.Snapshotter

fail() {
        echo "FAIL: $*"
        systemctl status laminad.service --no-pager
        journalctl -u laminad.service -u dbus.service -u polkit.service --no-pager | tail -n 40
        exit 1
}
step() { echo "== $*"; }
call() { busctl --timeout=30 call org.lamina.snapshot1 "$@"; }
