#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian package on a booted system. Builds the package once from the source tree (in a
# scratch copy, without its tests), checks it with lintian at warning level, and repacks it
# with a higher version as the upgrade. Then boots real systemd in systemd-nspawn (the
# overlay of nspawn-lib.sh) and, inside (deb-check.sh, as root, and deb-session.sh, as the
# users): apt-get installs it; polkit's defaults through real logind sessions: manage-own
# and mount-own without authentication on the console (local, active), auth_admin_keep
# (InteractiveAuthorizationRequired) for a remote session (login -h), an inactive console
# session and a user without a session; apt-get upgrades it while laminad runs and no
# laminad is left on the old binary; remove keeps the state, purge removes it.
set -u

: "${LAMINA_SOURCE_DIR:?run through meson test}"
. "$LAMINA_SOURCE_DIR/tests/nspawn/nspawn-lib.sh"

for tool in dpkg-buildpackage dh lintian gdbus script; do
        command -v "$tool" >/dev/null || harness_skip "$tool is not installed (tools/install-deps.sh)"
done
V1=$(dpkg-parsechangelog -l "$LAMINA_SOURCE_DIR/debian/changelog" -S Version) ||
        harness_die "cannot read debian/changelog"
V2=$V1+nspawn1
ARCH=$(dpkg --print-architecture)

# The tracked and new files of the checkout (no build directories), else all but build*.
copy_tree() {
        mkdir -p "$T/src/lamina"
        if git -C "$LAMINA_SOURCE_DIR" rev-parse --git-dir >/dev/null 2>&1; then
                (cd "$LAMINA_SOURCE_DIR" && git ls-files -z --cached --others --exclude-standard |
                        tar --null --ignore-failed-read -T - -cf -)
        else
                tar -C "$LAMINA_SOURCE_DIR" --exclude='./build*' --exclude=./.git -cf - .
        fi | tar -x -C "$T/src/lamina"
}

build_package() {
        harness_log "building lamina $V1 (log: $T/build.log)"
        copy_tree || harness_die "copying the source tree failed"
        if ! (cd "$T/src/lamina" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
                dpkg-buildpackage -us -uc --build-profiles=nocheck) >"$T/build.log" 2>&1; then
                tail -n 40 "$T/build.log" | sed 's/^/# build: /'
                echo "not ok - dpkg-buildpackage failed"
                exit 1
        fi
        echo "ok - dpkg-buildpackage builds lamina $V1 from the tree"
}

# Source and binary package, at warning level (info tags are advice).
run_lintian() {
        local out
        out=$(lintian --fail-on warning --display-level '>=warning' "$T/src/lamina_${V1}_${ARCH}.changes" 2>&1 |
                grep -v '^running with root privileges')
        if [ -n "$out" ]; then
                printf '%s\n' "$out" | sed 's/^/# lintian: /'
                echo "not ok - lintian is not clean at warning level"
                exit 1
        fi
        echo "ok - lintian: no errors or warnings (source and binary)"
}

# The upgrade: the same files with a higher version (one build per run); dpkg replaces
# every file, so a laminad still running afterwards from before runs a deleted binary.
make_upgrade() {
        mkdir -p "$T/pkg" "$T/up"
        cp "$T/src/lamina_${V1}_${ARCH}.deb" "$T/pkg/" &&
                dpkg-deb -R "$T/src/lamina_${V1}_${ARCH}.deb" "$T/up/lamina" &&
                sed -i "s/^Version: .*/Version: $V2/" "$T/up/lamina/DEBIAN/control" &&
                dpkg-deb --build "$T/up/lamina" "$T/pkg/lamina_${V2}_${ARCH}.deb" >/dev/null ||
                harness_die "repacking the package as $V2 failed"
        printf 'V1=%s\nV2=%s\nARCH=%s\n' "$V1" "$V2" "$ARCH" >"$T/pkg/pkg.env"
}

prepare_container() {
        install -D -m 0755 "$LAMINA_SOURCE_DIR/tests/nspawn/deb-session.sh" "$M/usr/local/libexec/lamina-session" ||
                harness_die "installing lamina-session failed"
        nspawn_install_check 240 <"$LAMINA_SOURCE_DIR/tests/nspawn/deb-check.sh"
        # An administrator's drop-in: laminad stays up between the calls and the upgrade, so
        # only the package's scripts can explain a restart.
        mkdir -p "$M/etc/systemd/system/laminad.service.d"
        printf '[Service]\nExecStart=\nExecStart=/usr/libexec/laminad --idle-timeout 600\n' \
                >"$M/etc/systemd/system/laminad.service.d/50-test.conf"
        # No man-db index rebuild on every dpkg run; and the host image's policy-rc.d (Docker's
        # "exit 101": never start services) is no part of a booted system. Only the overlay's
        # copies go.
        rm -f "$M/var/lib/man-db/auto-update" "$M/usr/sbin/policy-rc.d"
        NSPAWN_ARGS+=(--bind-ro="$T/pkg:/srv/pkg")
}

build_package
run_lintian
make_upgrade
nspawn_setup_root
prepare_container
nspawn_probe
if ! nspawn_boot 300; then
        echo "not ok - install, sessions, upgrade and purge of the package in booted systemd"
        exit 1
fi
echo "ok - apt-get installs the package; polkit: console session yes, remote, inactive and no session auth_admin_keep; upgrade restarts laminad; purge removes the state"
