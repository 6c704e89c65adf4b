#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run: a container from an imported busybox image with systemd-nspawn; afterwards the
# snapshot is unmounted and removed (--rm) or committed (--commit), whatever the command did.
. "$(dirname "$0")/ctl-lib.sh"

command -v systemd-nspawn >/dev/null || harness_skip "systemd-nspawn is not installed (systemd-container)"
busybox=$(command -v busybox) || harness_skip "busybox is not installed (busybox-static)"
ldd "$busybox" >/dev/null 2>&1 && harness_skip "$busybox is not static (install busybox-static)"
harness_setup

# nspawn leaves empty cgroups behind when run outside a systemd system; remove the ones it
# creates (and only those).
cgroup_leftovers=""
for d in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
        for sub in payload/init.scope payload supervisor; do
                [ -d "$d" ] && [ ! -e "$d/$sub" ] && cgroup_leftovers="$cgroup_leftovers $d/$sub"
        done
done
nspawn_tmpfs=0
if ! findmnt -rn --mountpoint /run/systemd/nspawn >/dev/null; then
        mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && nspawn_tmpfs=1
fi
cleanup_nspawn() {
        _saved=$?
        for d in $cgroup_leftovers; do
                rmdir "$d" 2>/dev/null
        done
        if [ "$nspawn_tmpfs" = 1 ]; then
                umount /run/systemd/nspawn
                rm -rf /run/systemd/nspawn /run/systemd/nspawn-root
        fi
        return "$_saved"
}
trap 'cleanup_nspawn; harness_cleanup' EXIT

# A one-binary rootfs: busybox as sh and as an init that says hello and powers off;
# nspawn wants /usr and os-release.
root="$T/rootfs"
mkdir -p "$root/bin" "$root/sbin" "$root/usr/lib" "$root/etc" "$root/tmp"
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
ln -s busybox "$root/bin/poweroff"
ln -s ../bin/busybox "$root/sbin/init"
cat >"$root/etc/inittab" <<'INITTAB'
::sysinit:/bin/sh -c 'echo booted by $(cat /proc/1/comm)'
::sysinit:/bin/poweroff -f
INITTAB
printf 'ID=lamina-test\nNAME="lamina test"\n' >"$root/usr/lib/os-release"
ln -s ../usr/lib/os-release "$root/etc/os-release"
make_layer "$root" "$T/rootfs.tar"
make_oci_layout "$T/img" "busybox" "" "$T/rootfs.tar"
ok "import busybox" -q import "$T/img"

no_run_snapshots() {
        ctl --json=short ls
        expect "$1: no run snapshot left" "$(json 'map(select(.kind != "committed") | .name)')" "[]"
        ctl list-mounts
        expect "$1: nothing mounted" "$out" "No mounts."
}

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
harness_wait_for 100 container_mounted || fail "the container did not start: $(cat "$T/sigint.out")"
sleep 0.5
kill -INT -- "-$pid"
harness_wait_for 100 harness_pid_gone "$pid" || fail "laminactl did not end after SIGINT"
wait "$pid"
[ $? != 0 ] || fail "run interrupted by SIGINT reports failure"
no_run_snapshots "SIGINT"

fails "run of an unknown image" 1 'no image or committed snapshot "nope"' run nope --rm -- /bin/true
finish
