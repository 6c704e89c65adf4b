#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# An image layout directory unpacked from an attacker's tar by root may hold device nodes
# where its blobs should be. Opening a device has effects of its own (a watchdog starts its
# countdown and reboots the machine when closed without its magic character, a tape rewinds,
# a serial line raises its modem lines), so laminactl must refuse such a file without opening
# it: it looks at the file through an O_PATH descriptor first. inotify counts the opens.
. "$(dirname "$0")/ctl-lib.sh"

harness_setup

mkdir -p "$T/l1"
echo one >"$T/l1/one"
make_layer "$T/l1" "$T/l1.tar"
make_oci_layout "$T/layout" dev:1 "" "$T/l1.tar"

# watched WHAT FILE ARGS…: laminactl ARGS… fails with "not a regular file" and never opens FILE.
watched() {
        _what=$1 _file=$2
        shift 2
        python3 "$(dirname "$0")/watch-open.py" "$_file" -- "$LAMINACTL" --no-pager "$@" >"$T/watch" 2>"$T/ctl.err"
        err=$(cat "$T/ctl.err")
        { read -r rc; read -r opens; } <"$T/watch"
        if [ "$rc" = 0 ] || ! printf '%s\n' "$err" | grep -q "not a regular file"; then
                fail "$_what: exit $rc, $err"
        elif [ "$opens" != 0 ]; then
                fail "$_what: laminactl opened the device $opens time(s) ($err)"
        else
                pass "$_what: refused without an open ($err)"
        fi
}

# The config blob, then a layer blob, then index.json become character devices (1:3, the
# null device: harmless if opened, which the test would see).
config=$(jq -r '.manifests[0].digest' "$T/layout/index.json")
config=$(jq -r '.config.digest' "$T/layout/blobs/sha256/${config#sha256:}")
layer=$(jq -r '.manifests[0].digest' "$T/layout/index.json")
layer=$(jq -r '.layers[0].digest' "$T/layout/blobs/sha256/${layer#sha256:}")

for what in config layer; do
        digest=${!what}
        cp -a "$T/layout" "$T/layout-$what"
        node="$T/layout-$what/blobs/sha256/${digest#sha256:}"
        rm "$node"
        mknod "$node" c 1 3
        watched "a device as the $what blob" "$node" import "$T/layout-$what"
done
cp -a "$T/layout" "$T/layout-index"
rm "$T/layout-index/index.json"
mknod "$T/layout-index/index.json" c 1 3
watched "a device as index.json" "$T/layout-index/index.json" import "$T/layout-index"

# The layout still imports with regular files.
ok "the layout itself imports" -q import "$T/layout"
finish
