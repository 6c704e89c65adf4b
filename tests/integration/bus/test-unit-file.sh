#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The shipped laminad.service: `systemd-analyze verify` reports nothing, the offline
# security exposure is at most 4.9, no directive gives laminad its own mount namespace
# (its mounts must reach the host), and there is no [Install] (D-Bus activated).
#   test-unit-file.sh BUILT_UNIT LAMINAD
set -eu

unit=$1
laminad=$(realpath "$2")

command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is not installed" >&2; exit 77; }

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# verify checks that ExecStart= exists, so point it at the built daemon.
grep -q '^ExecStart=.*/laminad$' "$unit" || fail "$unit has no ExecStart=…/laminad"
sed "s|^ExecStart=.*|ExecStart=$laminad|" "$unit" >"$dir/laminad.service"

if ! systemd-analyze verify "$dir/laminad.service" >"$dir/verify.out" 2>&1; then
        cat "$dir/verify.out" >&2
        fail "systemd-analyze verify failed"
fi
if [ -s "$dir/verify.out" ]; then
        cat "$dir/verify.out" >&2
        fail "systemd-analyze verify printed warnings"
fi
echo "ok: systemd-analyze verify is silent"

systemd-analyze security --offline=yes --no-pager "$dir/laminad.service" >"$dir/security.out" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for laminad.service: \([0-9.]*\).*/\1/p' "$dir/security.out")
[ -n "$exposure" ] || { cat "$dir/security.out" >&2; fail "no exposure level in the security report"; }
# 4.5, plus 0.3 for the user and PID namespaces of the Apply parser (issue 14), plus
# 0.1 for CAP_KILL: the unpack helper kills its parser, which runs as nobody in a user
# namespace of its own (no other capability lets it).
awk -v e="$exposure" 'BEGIN { exit !(e <= 4.9) }' || fail "exposure $exposure > 4.9"
systemd-analyze security --offline=yes --threshold=49 "$dir/laminad.service" >/dev/null 2>&1 ||
        fail "systemd-analyze security --threshold=49 refused the unit"
echo "ok: exposure $exposure"

# Each of these makes systemd set up a mount namespace for the service (ProtectHostname=
# since systemd 257).
grep -qx 'PrivateMounts=no' "$dir/laminad.service" ||
        fail "PrivateMounts=no is missing (PrivateNetwork= implies a mount namespace otherwise)"
for key in ProtectSystem ProtectHome PrivateTmp PrivateDevices PrivateIPC \
           ProtectKernelTunables ProtectKernelModules ProtectKernelLogs ProtectControlGroups \
           ProtectProc ProcSubset ReadWritePaths ReadOnlyPaths InaccessiblePaths ExecPaths \
           NoExecPaths TemporaryFileSystem BindPaths BindReadOnlyPaths RootDirectory RootImage \
           MountAPIVFS MountFlags PrivateUsers NetworkNamespacePath ProtectHostname; do
        if grep -q "^$key=" "$dir/laminad.service"; then
                fail "$key= would put laminad in its own mount namespace"
        fi
done
echo "ok: no mount namespace"

if grep -q '^\[Install\]' "$dir/laminad.service"; then
        fail "a D-Bus activated unit has no [Install] section"
fi
# A plain Unmount opens the mount point by its file handle; refused, it would always fail.
grep -q '^SystemCallFilter=.*[[:space:]]open_by_handle_at\([[:space:]]\|$\)' "$dir/laminad.service" ||
        fail "SystemCallFilter= must allow open_by_handle_at (a plain Unmount opens the mount point by its handle)"
# The Apply sandbox installs its own seccomp filter; without the syscall it cannot start.
grep -q '^SystemCallFilter=.*[[:space:]]seccomp\([[:space:]]\|$\)' "$dir/laminad.service" ||
        fail "SystemCallFilter= must allow seccomp (the Apply sandbox builds its own filter)"
for line in 'Type=dbus' 'BusName=org.lamina.snapshot1' 'RuntimeDirectoryPreserve=yes' \
            'StateDirectory=lamina' 'NoNewPrivileges=yes' 'LimitNOFILE=65536'; do
        grep -qx "$line" "$dir/laminad.service" || fail "$line is missing"
done
echo "ok: D-Bus activated service"
