#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Images built by umoci, imported with laminactl for SNAPSHOTTER ($1), layer by layer equal
# to what `umoci unpack` makes of the same image (tree-compare.py: types, modes, owners,
# content, xattrs, file times). The layers are the corner cases of issue 21, as umoci
# writes them:
#   l1: opt/app/deep/ (with the xattr user.dirattr) holding a file and a directory;
#   l2: opt/app/deep/ again, without the xattr, and a new file in it: the directory takes
#       the new entry's attributes, so user.dirattr is gone (OCI image spec);
#   l3: opt/app/deep becomes a file and opt/app/tolink a symlink; umoci writes the file
#       (the symlink), then whiteouts of the old directory's entries below it
#       (opt/app/deep/.wh.other ...): redundant, ignored.
. "$LAMINA_SOURCE_DIR/tests/integration/ctl/ctl-lib.sh"
sn=${1:?usage: test-apply-umoci.sh SNAPSHOTTER}
command -v umoci >/dev/null || harness_skip "umoci is not installed (tools/install-deps.sh installs it)"
harness_setup

compare="$LAMINA_SOURCE_DIR/tests/integration/apply/tree-compare.py"
img="$T/img"
R="$T/bundle/rootfs"
setxattr() { python3 -c 'import os, sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())' "$@"; }
rmxattr() { python3 -c 'import os, sys; os.removexattr(sys.argv[1], sys.argv[2])' "$@"; }
# repack TAG: a new layer from the bundle's changes, tagged TAG.
repack() {
        umoci repack --refresh-bundle --image "$img:t" "$T/bundle" || harness_die "umoci repack failed"
        umoci tag --image "$img:t" "$1" || harness_die "umoci tag failed"
}

umoci init --layout "$img" && umoci new --image "$img:t" && umoci unpack --image "$img:t" "$T/bundle" >/dev/null ||
        harness_die "umoci cannot make the base image"
mkdir -p "$R/opt/app/deep/sub"
echo other >"$R/opt/app/deep/other"
echo x >"$R/opt/app/deep/sub/x"
setxattr "$R/opt/app/deep" user.dirattr 1
mkdir -p "$R/opt/app/tolink/sub"
echo gone >"$R/opt/app/tolink/gone"
repack l1
rmxattr "$R/opt/app/deep" user.dirattr
echo more >"$R/opt/app/deep/more"
repack l2
rm -rf "$R/opt/app/deep" "$R/opt/app/tolink"
echo file >"$R/opt/app/deep"
ln -s deep "$R/opt/app/tolink"
repack l3

# The layers really are what issue 21 is about.
manifest=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "l3") | .digest' "$img/index.json")
mapfile -t layers < <(jq -r '.layers[].digest | sub("sha256:"; "")' "$img/blobs/sha256/${manifest#sha256:}")
expect "three layers" "${#layers[@]}" 3
expect "l3 holds the file, then whiteouts below it" \
        "$(tar -tzf "$img/blobs/sha256/${layers[2]}" | grep '^opt/app/deep' | tr '\n' ' ')" \
        "opt/app/deep opt/app/deep/.wh.more opt/app/deep/.wh.other opt/app/deep/.wh.sub "
expect "l3 holds the symlink, then whiteouts below it" \
        "$(tar -tzf "$img/blobs/sha256/${layers[2]}" | grep '^opt/app/tolink' | tr '\n' ' ')" \
        "opt/app/tolink opt/app/tolink/.wh.gone opt/app/tolink/.wh.sub "

ok "import" -s "$sn" --json=short import --name l3 "$img"
chain=""
for i in 1 2 3; do
        diff_id="sha256:$(zcat "$img/blobs/sha256/${layers[i - 1]}" | sha256sum | cut -d' ' -f1)"
        chain=${chain:+$(chain_id "$chain" "$diff_id")}
        chain=${chain:-$diff_id}
        umoci unpack --image "$img:l$i" "$T/unpacked-$i" >/dev/null || harness_die "umoci unpack l$i failed"
        ok "view of layer $i" -s "$sn" view --mount "view-$i" "$chain"
        if [ "$rc" = 0 ]; then
                if python3 "$compare" "$T/unpacked-$i/rootfs" "$out" >"$T/diff-$i"; then
                        pass "layer $i equals umoci unpack"
                else
                        fail "layer $i differs from umoci unpack: $(cat "$T/diff-$i")"
                fi
                ok "umount view $i" -s "$sn" umount "view-$i"
                ok "rm view $i" -s "$sn" rm "view-$i"
        fi
done
finish
