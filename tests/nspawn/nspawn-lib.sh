# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the nspawn tests: real systemd as PID 1 in systemd-nspawn over a tmpfs overlay
# of the host's / (test-environment.md §3 "Recommended cheap variant" and §9). Provides
# $T (scratch dir), $M (the container's root), nspawn_setup_root, nspawn_install_check,
# nspawn_probe, nspawn_boot and the EXIT trap that undoes it all, also on failure.
# Whatever the test writes into $M lands in the overlay's tmpfs, never on the host.

: "${LAMINA_BUILD_DIR:?run through meson test}"
: "${LAMINA_SOURCE_DIR:?run through meson test}"
. "$LAMINA_SOURCE_DIR/tests/integration/lib/harness.sh"

[ "$(id -u)" = 0 ] || harness_skip "booting a container needs root"
command -v systemd-nspawn >/dev/null || harness_skip "systemd-nspawn is not installed (systemd-container)"
[ -x /lib/systemd/systemd ] || harness_skip "systemd is not installed on the host"

T=$(mktemp -d /tmp/lamina-nspawn.XXXXXX) || harness_die "mktemp failed"
M="$T/hov/merged"
NSPAWN_DIR_CREATED=0
NSPAWN_TMPFS=0
# The container: private network, results in /srv/out, laminad's state on a tmpfs (an
# overlay's upper directory cannot be on the overlay root, §3). Tests may add to it.
# systemd-nspawn's own seccomp filter refuses Landlock (systemd 252), which lamina-unpack's
# writer needs: allowed as an administrator running laminad in a container would.
NSPAWN_ARGS=(--directory="$M" --machine=lamina-test --register=no --keep-unit --private-network
             --bind="$T/out:/srv/out" --tmpfs=/var/lib/lamina
             --system-call-filter="landlock_create_ruleset landlock_add_rule landlock_restrict_self")

nspawn_cleanup() {
        local rc=$? m h d
        trap - EXIT INT TERM HUP
        # (nspawn_boot has printed the check's log.)
        if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -f "$T/console.log" ]; then
                tail -n 60 "$T/console.log" | sed 's/^/# console: /' >&2
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
trap nspawn_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

nspawn_setup_root() {
        mkdir -p "$T/hov/t" "$M" "$T/out"
        mount -t tmpfs -o size=2G,mode=0755 tmpfs "$T/hov/t" || harness_die "mounting tmpfs failed"
        mkdir "$T/hov/t/up" "$T/hov/t/work"
        mount -t overlay overlay -o "lowerdir=/,upperdir=$T/hov/t/up,workdir=$T/hov/t/work" "$M" ||
                harness_die "mounting the overlay over / failed"
}

# Installs the check script (stdin; it sources check-lib.sh) as a oneshot unit that powers
# the container off with its result: exit 0 when the script succeeded, 7 otherwise.
# $1: its timeout in seconds.
nspawn_install_check() {
        install -D -m 0755 /dev/stdin "$M/usr/local/libexec/lamina-nspawn-check" &&
                install -m 0644 "$LAMINA_SOURCE_DIR/tests/nspawn/check-lib.sh" "$M/usr/local/libexec/lamina-check-lib.sh" ||
                harness_die "installing the check failed"
        cat >"$M/etc/systemd/system/lamina-check.service" <<EOF
[Unit]
Description=lamina check, then power off with its result
After=multi-user.target dbus.service

[Service]
Type=oneshot
ExecStart=/usr/local/libexec/lamina-nspawn-check
TimeoutStartSec=$1
ExecStopPost=/bin/sh -c 'if [ "\$SERVICE_RESULT" = success ]; then systemctl exit 0; else systemctl exit 7; fi'
EOF
}

nspawn_prepare_dir() {
        if [ ! -d /run/systemd/nspawn ]; then
                mkdir -p /run/systemd/nspawn
                NSPAWN_DIR_CREATED=1
        fi
        # /run is on disk here: a tmpfs avoids "Attempted to remove disk file system" (§3).
        if ! mountpoint -q /run/systemd/nspawn; then
                mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn && NSPAWN_TMPFS=1
        fi
}

# Skips the test when nspawn cannot start a container here at all.
nspawn_probe() {
        nspawn_prepare_dir
        harness_log "can systemd-nspawn run here at all?"
        if ! timeout 60 systemd-nspawn "${NSPAWN_ARGS[@]}" --quiet --pipe /bin/true </dev/null >"$T/probe.log" 2>&1; then
                cat "$T/probe.log" >&2
                harness_skip "systemd-nspawn cannot start a container on this machine"
        fi
}

# Boots systemd with lamina-check.service wanted; host services that would only cost time
# are masked (docker.io, which tools/install-deps.sh installs for the docker corpus, enables
# docker.socket and docker.service). $1: timeout in seconds. Succeeds when the check wrote PASS to /srv/out/result.
nspawn_boot() {
        local rc
        harness_log "booting systemd in the container (console log: $T/console.log)"
        timeout "$1" systemd-nspawn "${NSPAWN_ARGS[@]}" --boot --console=read-only -- \
                systemd.wants=lamina-check.service \
                systemd.mask=containerd.service systemd.mask=postgresql.service \
                systemd.mask=getty@tty1.service systemd.mask=console-getty.service \
                systemd.mask=e2scrub_reap.service systemd.mask=systemd-timesyncd.service \
                systemd.mask=packagekit.service systemd.mask=docker.service systemd.mask=docker.socket \
                </dev/null >"$T/console.log" 2>&1
        rc=$?
        sed 's/^/# /' "$T/out/check.log" 2>/dev/null
        [ "$rc" = 0 ] && [ "$(cat "$T/out/result" 2>/dev/null)" = PASS ] && return 0
        harness_log "systemd-nspawn exited with $rc"
        return 1
}
