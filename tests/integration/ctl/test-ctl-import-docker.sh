#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# import of docker save archives, read by laminactl itself: the older layout (<id>/layer.tar,
# <hex>.json) and the newer one (OCI blobs plus manifest.json, layers reached through links),
# compressed or not; an OCI layout packed as a tar; then a container runs on the image.
. "$(dirname "$0")/ctl-lib.sh"

need_busybox_nspawn
harness_setup
nspawn_setup

# Layer 1: a busybox rootfs; layer 2 adds a file; layer 3 (for the second image) another.
make_busybox_rootfs "$T/l1"
mkdir -p "$T/l2/etc" "$T/l3/etc"
echo two >"$T/l2/etc/two"
echo three >"$T/l3/etc/three"
for l in l1 l2 l3; do
        make_layer "$T/$l" "$T/$l.tar"
done
d1=$(tar_digest "$T/l1.tar")
d2=$(tar_digest "$T/l2.tar")
d3=$(tar_digest "$T/l3.tar")
c1=$d1
c2=$(chain_id "$c1" "$d2")
c3=$(chain_id "$c1" "$d3")

# docker_config DIFF_ID…: an image config as docker writes it (the parts that matter here).
docker_config() {
        printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
                "$(printf '"%s",' "$@" | sed 's/,$//')"
}

# Older docker save: one directory per layer, the config named by its digest, manifest.json
# written last, as docker does.
legacy="$T/legacy"
mkdir -p "$legacy/aaa1" "$legacy/bbb2"
cp "$T/l1.tar" "$legacy/aaa1/layer.tar"
cp "$T/l2.tar" "$legacy/bbb2/layer.tar"
echo 1.0 >"$legacy/aaa1/VERSION"
docker_config "$d1" "$d2" >"$legacy/config"
legacy_config=$(sha256sum "$legacy/config" | cut -d' ' -f1).json
mv "$legacy/config" "$legacy/$legacy_config"
printf '[{"Config":"%s","RepoTags":["busybox:test"],"Layers":["aaa1/layer.tar","bbb2/layer.tar"]}]' \
        "$legacy_config" >"$legacy/manifest.json"
printf '{"busybox":{"test":"%s"}}' "${legacy_config%.json}" >"$legacy/repositories"
tar -C "$legacy" -cf "$T/busybox.tar" aaa1 bbb2 "$legacy_config" repositories manifest.json

ok "import a docker save archive" import "$T/busybox.tar"
expect "summary names the RepoTags entry" "$(printf '%s\n' "$out" | tail -n 1)" \
        "Imported busybox:test as $c2 (2 layers, 2 new)."
printf '%s\n' "$err" | grep -q "^layer 2/2 $c2: imported$" || fail "a plain line per layer without a terminal: $err"
ok "ls after import" --json=short ls
expect "one committed snapshot per layer, by chain ID" \
        "$(json 'map([.name, .parent, .kind]) | sort')" \
        "$(printf '%s\n' "[\"$c1\",null,\"committed\"]" "[\"$c2\",\"$c1\",\"committed\"]" | jq -cs sort)"
ok "images" --json=short images
expect "the image names the top" "$(json 'map([.name, .snapshot])')" "[[\"busybox:test\",\"$c2\"]]"

ok "run busybox:test --rm" run busybox:test --rm -- /bin/busybox echo hello
expect "the container printed hello" "$out" "hello"
no_run_snapshots "run --rm"
ok "run sees the second layer" run busybox:test --rm -q -- /bin/busybox cat /etc/two
expect "layer 2's file" "$out" "two"

ok "import again" import "$T/busybox.tar"
expect "nothing new" "$(printf '%s\n' "$out" | tail -n 1)" "Imported busybox:test as $c2 (2 layers, 0 new)."

# Through a pipe, as from "docker save IMAGE |".
ctl -q import - <"$T/busybox.tar"
expect "standard input without --name: the tag names it" "$rc" 0
ok "import from a pipe" --json=short import - --name piped < <(cat "$T/busybox.tar")
expect "pipe: the same snapshot" "$(json '[.name, .snapshot, .imported]')" "[\"piped\",\"$c2\",0]"

# Newer docker save: blobs/sha256/, oci-layout, index.json, and manifest.json naming blobs; one
# layer reached through a symbolic link, as an unpacked layout may have; gzip-compressed.
modern="$T/modern"
mkdir -p "$modern/blobs/sha256" "$modern/ccc3"
cp "$T/l1.tar" "$modern/blobs/sha256/${d1#sha256:}"
cp "$T/l3.tar" "$modern/blobs/sha256/${d3#sha256:}"
ln -s "../blobs/sha256/${d3#sha256:}" "$modern/ccc3/layer.tar"
docker_config "$d1" "$d3" >"$modern/config"
config_hex=$(sha256sum "$modern/config" | cut -d' ' -f1)
mv "$modern/config" "$modern/blobs/sha256/$config_hex"
printf '{"imageLayoutVersion":"1.0.0"}' >"$modern/oci-layout"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":1},"layers":[]}' \
        "$config_hex" >"$modern/m"
manifest_hex=$(sha256sum "$modern/m" | cut -d' ' -f1)
mv "$modern/m" "$modern/blobs/sha256/$manifest_hex"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":1,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
        "$manifest_hex" >"$modern/index.json"
printf '[{"Config":"blobs/sha256/%s","RepoTags":["other:1","other:latest"],"Layers":["blobs/sha256/%s","ccc3/layer.tar"]}]' \
        "$config_hex" "${d1#sha256:}" >"$modern/manifest.json"
tar -C "$modern" -czf "$T/other.tar.gz" .

ok "import a newer, compressed archive" --json=short import "$T/other.tar.gz"
expect "manifest.json before index.json; the shared layer skipped" \
        "$(json '[.name, .snapshot, .layers, .imported]')" "[\"other:1\",\"$c3\",2,1]"
ok "view of the top" view --mount v "$c3"
expect "layers 1 and 3" "$(cat "$out/etc/three"; test -e "$out/etc/two" || echo no-two)" "three
no-two"
ok "umount v" umount v
ok "rm v" rm v

# The same, unpacked, is a directory import.
ok "import the unpacked directory" --json=short import "$modern" --name other:dir
expect "directory: the same snapshot" "$(json '[.name, .snapshot, .imported]')" "[\"other:dir\",\"$c3\",0]"

# An OCI image layout packed with tar (no manifest.json): the index names it.
make_oci_layout "$T/oci" "packed" "" "$T/l1.tar" "$T/l2.tar"
tar -C "$T/oci" -cf "$T/oci.tar" .
ok "import an OCI layout archive" --json=short import "$T/oci.tar"
expect "OCI archive: ref from the index" "$(json '[.name, .snapshot, .imported]')" "[\"packed\",\"$c2\",0]"

# No RepoTags (saved by image ID): the file name, without .tar, names the image.
sed 's/"RepoTags":\["busybox:test"\]/"RepoTags":null/' "$legacy/manifest.json" >"$T/m" && mv "$T/m" "$legacy/manifest.json"
tar -C "$legacy" -cf "$T/noname.tar" .
ok "import without RepoTags" --json=short import "$T/noname.tar"
expect "named after the file" "$(json '.name')" "noname"

# Two images in one archive: --name chooses by tag, and one matching no tag is refused
# (it used to import the first image under that name).
multi="$T/multi"
cp -r "$legacy" "$multi"
printf '[{"Config":"%s","RepoTags":["first:1"],"Layers":["aaa1/layer.tar"]},{"Config":"%s","RepoTags":["second:1"],"Layers":["aaa1/layer.tar","bbb2/layer.tar"]}]' \
        "$legacy_config" "$legacy_config" >"$multi/manifest.json"
tar -C "$multi" -cf "$T/multi.tar" .
fails "--name matching no image of several" 1 'holds 2 images and none is tagged "nosuch:1"' \
        import "$T/multi.tar" --name nosuch:1
ok "--name choosing the second image" --json=short import "$T/multi.tar" --name second:1
expect "the second image" "$(json '[.name, .snapshot]')" "[\"second:1\",\"$c2\"]"

# Failures leave no active snapshot behind and print one line.
mkdir -p "$T/l4"
echo four >"$T/l4/four"
make_layer "$T/l4" "$T/l4.tar"
bad="$T/bad"
mkdir -p "$bad/ddd4"
cp "$T/l4.tar" "$bad/ddd4/layer.tar"
docker_config "sha256:$(printf '0%.0s' $(seq 64))" >"$bad/c.json"
printf '[{"Config":"c.json","RepoTags":["bad:1"],"Layers":["ddd4/layer.tar"]}]' >"$bad/manifest.json"
tar -C "$bad" -cf "$T/bad.tar" .
fails "a wrong diff ID" 1 'diff' import "$T/bad.tar"

printf '[{"Config":"c.json","RepoTags":["bad:2"],"Layers":["nope/layer.tar"]}]' >"$bad/manifest.json"
tar -C "$bad" -cf "$T/missing.tar" .
fails "a missing layer" 1 'layer nope/layer.tar is missing' import "$T/missing.tar"

wrong=$(printf 'a%.0s' $(seq 64)).json
printf '[{"Config":"%s","RepoTags":["x:1"],"Layers":["aaa1/layer.tar"]}]' "$wrong" >"$bad/manifest.json"
cp "$legacy/$legacy_config" "$bad/$wrong"
mkdir -p "$bad/aaa1" && cp "$T/l1.tar" "$bad/aaa1/layer.tar"
tar -C "$bad" -cf "$T/corrupt.tar" .
fails "a config whose digest is not its name" 1 'corrupt' import "$T/corrupt.tar"

# Cut inside layer 2's data, with manifest.json and the config first: layer 1 is present, and
# reading layer 2 fails while it streams into Apply; that, not the daemon's error, is reported.
ok "rm the top to import it again" rm "$c2"
tar -C "$legacy" -cf "$T/first.tar" manifest.json "$legacy_config" aaa1 bbb2
offset=$(tar -tvf "$T/first.tar" --block-number | awk '/bbb2\/layer.tar/ { sub(/:$/, "", $2); print $2 }')
head -c $(((offset + 2) * 512 + 100)) "$T/first.tar" >"$T/cut.tar"
fails "an archive cut inside a layer" 1 'cannot read bbb2/layer.tar from .*cut.tar: .*runcated' \
        -q import "$T/cut.tar" --name cut
head -c $(($(stat -c %s "$T/busybox.tar") / 2)) "$T/busybox.tar" >"$T/half.tar"
fails "an archive cut before manifest.json" 1 'cannot read .*half.tar: .*runcated' import "$T/half.tar"
no_run_snapshots "truncated archives"

head -c 4096 /dev/urandom >"$T/random"
fails "a file that is no archive" 1 'docker save archive' import "$T/random"
fails "a directory that is no image" 1 'neither index.json nor manifest.json' import "$T/l3"

ok "ls after the failures" --json=short ls
expect "no leftover snapshots" "$(json 'map(select(.kind != "committed")) | length')" 0
finish
