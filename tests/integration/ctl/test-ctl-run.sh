#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run: a container from an imported busybox image with systemd-nspawn; afterwards the
# snapshot is unmounted and removed (--rm) or committed (--commit), whatever the command did.
. "$(dirname "$0")/ctl-lib.sh"

need_busybox_nspawn
harness_setup
nspawn_setup

root="$T/rootfs"
make_busybox_rootfs "$root"
make_layer "$root" "$T/rootfs.tar"
make_oci_layout "$T/img" "busybox" "" "$T/rootfs.tar"
ok "import busybox" -q import "$T/img"

ok "run --rm busybox echo hello" run busybox --rm -- /bin/busybox echo hello
expect "the container printed hello" "$out" "hello"
no_run_snapshots "run --rm busybox echo"

ok "run --rm" run busybox --rm -q -- /bin/sh -c 'echo hi from $(cat /etc/os-release | head -n 1)'
printf '%s\n' "$out" | grep -q '^hi from ID=lamina-test$' || fail "the command ran in the container: $out"
no_run_snapshots "run --rm"

ctl run busybox --rm -q -- /bin/sh -c 'exit 3'
expect "run passes the command's exit status" "$rc" 3
no_run_snapshots "failing command"

ok "run --commit" run busybox --name keep --commit result -q -- /bin/sh -c 'echo data >/data'
ok "result is committed" --json=short info result
expect "committed on the image" "$(json '.kind')" "committed"
ok "view of the result" view --mount check result
expect "the container's write is in the result" "$(cat "$out/data")" "data"
ok "umount check" umount check
ok "rm check" rm check
no_run_snapshots "run --commit"

ok "run on a committed snapshot by name" run result --rm -q -- /bin/sh -c 'cat /data'
expect "run on result sees the data" "$out" "data"

ok "run --boot" run busybox --rm --boot -q
printf '%s\n' "$out" | grep -q '^booted by init$' || fail "--boot ran the image's init as PID 1: $out"
no_run_snapshots "run --boot"

ctl run busybox --rm -q -- /no/such/command
[ "$rc" != 0 ] || fail "run of a missing command fails"
no_run_snapshots "nspawn failure"

# Ctrl-C as a terminal sends it: SIGINT to the whole process group (laminactl and nspawn).
setsid "$LAMINACTL" run busybox --rm -q -- /bin/sh -c 'sleep 60' </dev/null >"$T/sigint.out" 2>&1 &
pid=$!
container_mounted() {
        [ -n "$("$LAMINACTL" --no-legend list-mounts)" ]
}
harness_wait_for 300 container_mounted || fail "the container did not start: $(cat "$T/sigint.out")"
# Its command runs: nspawn is past its start (and its handling of signals), the SIGINT is
# one for a running container.
descends_from() { # PID ANCESTOR
        local p=$1
        while [ -n "$p" ] && [ "$p" -gt 1 ]; do
                [ "$p" = "$2" ] && return 0
                p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
        done
        return 1
}
payload_running() {
        local p
        for p in $(pgrep -x sleep); do
                descends_from "$p" "$pid" && return 0
        done
        return 1
}
harness_wait_for 300 payload_running || fail "the container's command did not start: $(cat "$T/sigint.out")"
kill -INT -- "-$pid"
harness_wait_for 100 harness_pid_gone "$pid" || fail "laminactl did not end after SIGINT"
wait "$pid"
[ $? != 0 ] || fail "run interrupted by SIGINT reports failure"
no_run_snapshots "SIGINT"

fails "run of an unknown image" 1 'no image or committed snapshot "nope"' run nope --rm -- /bin/true

# The image's config: Entrypoint, Cmd, Env, WorkingDir; options passed on to nspawn.
mkdir -p "$root/srv/app"
make_layer "$root" "$T/rootfs-app.tar"
OCI_CONFIG='{"Entrypoint":["/bin/sh","-c"],"Cmd":["echo \"FOO=$FOO BAR=$BAR in $(pwd)\""],"Env":["FOO=from-image","BAR=bar","PATH=/bin"],"WorkingDir":"/srv/app"}' \
        make_oci_layout "$T/app" "app:1" "" "$T/rootfs-app.tar"
ok "import an image with a config" -q import "$T/app"
ok "run with the image's Cmd" run app:1 --rm -q
expect "Env, WorkingDir, Entrypoint and Cmd are applied" "$out" "FOO=from-image BAR=bar in /srv/app"
ok "run with a command" run app:1 --rm -q -- 'echo args $FOO'
expect "the command replaces Cmd after the Entrypoint" "$out" "args from-image"
echo "from the host" >"$T/shared.txt"
ok "run with nspawn options" run app:1 --rm -q -E FOO=override --bind-ro="$T/shared.txt:/srv/shared.txt" \
        --private-network -- 'echo $FOO; cat /srv/shared.txt; ls /sys/class/net'
expect "-E overrides Env, --bind-ro and --private-network reach nspawn" "$out" "override
from the host
lo"
no_run_snapshots "runs with a config"
fails "nspawn options only for run" 2 'ls does not take systemd-nspawn options' ls --bind=/x
finish
