#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A tar may hold one path more than once: tar -x keeps the last, a reader that stops at the
# first match takes the first, so a reviewer unpacking an attacker's archive and laminactl
# importing it would see two different images. laminactl refuses a path it needs that is in
# the archive more than once (also spelled "./path", also reached through a link), and makes
# nothing; a repeated path it does not need is no matter.
. "$(dirname "$0")/ctl-lib.sh"

harness_setup

mkdir -p "$T/good" "$T/evil"
echo good >"$T/good/file"
echo evil >"$T/evil/file"
make_layer "$T/good" "$T/good.tar"
make_layer "$T/evil" "$T/evil.tar"
good=$(tar_digest "$T/good.tar")
evil=$(tar_digest "$T/evil.tar")

# archive OUT ENTRY…: a docker save archive of the ENTRYs, in order, each NAME=FILE (a member
# NAME holding FILE) or NAME@TARGET (a symbolic link); FILEs made by config/manifest below.
archive() {
        python3 - "$@" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], 'w') as t:
    for spec in sys.argv[2:]:
        if '@' in spec:
            name, target = spec.split('@', 1)
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            t.addfile(info)
            continue
        name, path = spec.split('=', 1)
        data = open(path, 'rb').read()
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
PY
}

# config DIFF_ID: a config file named by its digest, its name printed.
config() {
        printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' "$1" >"$T/config"
        _name=$(sha256sum "$T/config" | cut -d' ' -f1).json
        mv "$T/config" "$T/$_name"
        echo "$_name"
}
good_config=$(config "$good")
evil_config=$(config "$evil")
printf '[{"Config":"%s","RepoTags":["img:good"],"Layers":["l/layer.tar"]}]' "$good_config" >"$T/good.json"
printf '[{"Config":"%s","RepoTags":["img:evil"],"Layers":["e/layer.tar"]}]' "$evil_config" >"$T/evil.json"

# nothing_made WHAT: no snapshot and no image.
nothing_made() {
        ok "$1: ls" --json=short ls
        expect "$1: no snapshot made" "$out" "[]"
        ok "$1: images" --json=short images
        expect "$1: no image made" "$out" "[]"
}

# The first manifest.json is the attacker's (tar -x shows the second one).
archive "$T/two-manifests.tar" "l/layer.tar=$T/good.tar" "e/layer.tar=$T/evil.tar" "$good_config=$T/$good_config" \
        "$evil_config=$T/$evil_config" "manifest.json=$T/evil.json" "manifest.json=$T/good.json"
fails "manifest.json twice" 1 "manifest.json is in .*two-manifests.tar more than once" import "$T/two-manifests.tar"
nothing_made "manifest.json twice"

archive "$T/dot.tar" "l/layer.tar=$T/good.tar" "e/layer.tar=$T/evil.tar" "$good_config=$T/$good_config" \
        "$evil_config=$T/$evil_config" \
        "./manifest.json=$T/evil.json" "manifest.json=$T/good.json"
fails "manifest.json and ./manifest.json" 1 "manifest.json is in .*dot.tar more than once" import "$T/dot.tar"
nothing_made "manifest.json and ./manifest.json"

archive "$T/two-layers.tar" "l/layer.tar=$T/evil.tar" "l/layer.tar=$T/good.tar" "$good_config=$T/$good_config" \
        "manifest.json=$T/good.json"
fails "a layer twice" 1 "l/layer.tar is in .*two-layers.tar more than once" import "$T/two-layers.tar"
nothing_made "a layer twice"

archive "$T/link.tar" "real/layer.tar=$T/evil.tar" "real/layer.tar=$T/good.tar" "l/layer.tar@../real/layer.tar" \
        "$good_config=$T/$good_config" "manifest.json=$T/good.json"
fails "a layer reached through a link, twice" 1 "real/layer.tar is in .*link.tar more than once" import "$T/link.tar"
nothing_made "a layer reached through a link, twice"

# A repeated member nothing refers to does not matter.
archive "$T/unused.tar" "l/layer.tar=$T/good.tar" "$good_config=$T/$good_config" "VERSION=$T/good.json" \
        "VERSION=$T/evil.json" "manifest.json=$T/good.json"
ok "a repeated member nobody needs" --json=short import "$T/unused.tar"
expect "the image" "$(json '[.name, .snapshot]')" "[\"img:good\",\"$good\"]"
finish
