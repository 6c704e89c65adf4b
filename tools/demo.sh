#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The main job, end to end, on a private system bus (nothing is installed, the machine's bus
# and laminad are left alone): install what is missing, build, let the first call activate
# laminad, import a small image (a static busybox, packed here as an OCI image layout), look
# at it, prepare and mount a snapshot, run a command in a container with `run`, and clean up.
# Everything it starts or mounts is undone when it exits, also on failure or Ctrl-C.
# Run it as root.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ "$(id -u)" = 0 ] || { echo "demo: run this as root" >&2; exit 2; }

step() {
        printf '\n== %s\n' "$*"
}

step "install what is missing (tools/install-deps.sh)"
"$top/tools/install-deps.sh"
build=${LAMINA_BUILD_DIR:-$top/build}
step "build in $build (meson, ninja)"
[ -f "$build/build.ninja" ] || meson setup "$build"
ninja -C "$build"

export LAMINA_BUILD_DIR=$build LAMINA_SOURCE_DIR=$top
# The test library's helpers (private bus, busybox rootfs, OCI layout); its own lines ("# ...")
# are the harness talking, not the demo, and are left out (its errors are not).
. "$top/tests/integration/ctl/ctl-lib.sh"
need_busybox_nspawn
harness_setup --idle-timeout 60 2> >(grep -v '^# ' >&2)
nspawn_setup
# The undoing must not stop at its first failed step, whatever set -e says.
trap 'set +e; nspawn_cleanup; harness_cleanup' EXIT

# Shows each command as one would type it, then runs it.
ctl() {
        printf '$ laminactl'
        for _a in "$@"; do
                if [[ $_a =~ ^[A-Za-z0-9_./:=@+,-]+$ ]]; then
                        printf ' %s' "$_a"
                else
                        printf " '%s'" "${_a//\'/\'\\\'\'}"
                fi
        done
        printf '\n'
        "$LAMINACTL" --no-pager "$@"
}

step "make a small image: a static busybox as a one-layer OCI image layout"
make_busybox_rootfs "$T/rootfs"
make_layer "$T/rootfs" "$T/rootfs.tar"
make_oci_layout "$T/busybox-oci" "busybox:latest" "" "$T/rootfs.tar"
echo "image layout in $T/busybox-oci"

step "import it: one committed snapshot per layer, named by its chain ID, and the image's name"
ctl import "$T/busybox-oci"
ctl ls
ctl tree

ctl images

step "prepare a writable snapshot on the image, and have the daemon mount it"
ctl prepare --mount demo-rootfs busybox:latest
ctl list-mounts
path=$("$LAMINACTL" --json=short list-mounts | jq -r '.[0].path')
echo "written from the host" >"$path/hello.txt"
ls -l "$path"
ctl usage demo-rootfs
ctl umount demo-rootfs

step "run a command in a container on a new snapshot of the image (systemd-nspawn)"
ctl run busybox:latest --rm -- /bin/sh -c 'echo "hello from $(. /etc/os-release; echo $NAME) in a container"; uname -sr'

step "clean up: the snapshot, then the image and its layers"
ctl rm demo-rootfs
ctl rmi busybox:latest
ctl cleanup
ctl ls
echo "demo: done"
