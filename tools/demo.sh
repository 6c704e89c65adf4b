#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The main job, end to end, on a private system bus: install what is missing, build, let
# the first call activate laminad, import a layer, prepare a snapshot on it, have the
# daemon mount it, list. Everything it starts or mounts is undone when it exits.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ "$(id -u)" = 0 ] || { echo "demo: run as root" >&2; exit 2; }

"$top/tools/install-deps.sh"
build=${LAMINA_BUILD_DIR:-$top/build}
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build" >/dev/null

export LAMINA_BUILD_DIR=$build LAMINA_SOURCE_DIR=$top
HARNESS_LIB=$top/tests/integration/lib
. "$HARNESS_LIB/harness.sh"
harness_setup --idle-timeout 60

ctl() {
        echo "\$ laminactl $*"
        "$build/src/ctl/laminactl" "$@"
}

# A small layer: a few files and a directory, as a gzip'ed tar like an image registry serves.
mkdir -p "$T/layer/etc" "$T/layer/srv/www"
cp /etc/os-release "$T/layer/etc/os-release"
echo "hello from a lamina snapshot" >"$T/layer/srv/www/index.html"
tar -C "$T/layer" -czf "$T/layer.tar.gz" .

echo "== import a layer"
ctl prepare demo-unpack
ctl apply demo-unpack "$T/layer.tar.gz"
ctl commit demo-base demo-unpack

echo "== prepare a writable snapshot on it, and have the daemon mount it"
ctl prepare --mount demo-rootfs demo-base
path=$("$build/src/ctl/laminactl" list-mounts --json=short | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["path"])')
echo "mounted at $path:"
cat "$path/srv/www/index.html"
echo "written in the container" >"$path/srv/www/new.txt"

echo "== list"
ctl ls
ctl tree
ctl list-mounts
ctl usage demo-rootfs

echo "== clean up"
ctl umount demo-rootfs
ctl rm demo-rootfs demo-base
ctl cleanup
echo "demo: done"
