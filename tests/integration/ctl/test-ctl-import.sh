#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# import: an OCI image layout becomes one committed snapshot per layer, named by chain ID,
# the image REF names the top one (laminactl images); layers already present are skipped.
. "$(dirname "$0")/ctl-lib.sh"
harness_setup

mkdir -p "$T/l1/etc" "$T/l2/etc"
echo one >"$T/l1/etc/one"
echo two >"$T/l2/etc/two"
two_layer_image "$T/img" "example:latest"

ok "import" import "$T/img" --name img:1
expect "import summary" "$(printf '%s\n' "$out" | tail -n 1)" "Imported img:1 as $c2 (2 layers, 2 new)."
ok "ls after import" --json=short ls
expect "one snapshot per layer, by chain ID" \
        "$(json 'map([.name, .parent, .kind]) | sort')" \
        "$(printf '%s\n' "[\"$c1\",null,\"committed\"]" "[\"$c2\",\"$c1\",\"committed\"]" | jq -cs sort)"
ok "images" --json=short images
expect "the image names the top" "$(json 'map([.name, .snapshot])')" "[[\"img:1\",\"$c2\"]]"

ok "view to check content" view --mount v "$c2"
expect "both layers' files" "$(cat "$out/etc/one" "$out/etc/two")" "one
two"
ok "umount v" umount v
ok "rm v" rm v

ok "import again (name from the index)" --json=short import "$T/img"
expect "JSON import: nothing new" "$(json '[.name, .snapshot, .layers, .imported]')" "[\"example:latest\",\"$c2\",2,0]"
ok "images after re-import" --json=short images
expect "a second name for the same top" "$(json 'map([.name, .snapshot]) | sort')" \
        "[[\"example:latest\",\"$c2\"],[\"img:1\",\"$c2\"]]"

# A second image sharing the first layer only adds the new one.
mkdir -p "$T/l3/etc"
echo three >"$T/l3/etc/three"
make_layer "$T/l3" "$T/l3.tar"
c3=$(chain_id "$c1" "sha256:$(sha256sum "$T/l3.tar" | cut -d' ' -f1)")
make_oci_layout "$T/img2" "other" "" "$T/l1.tar" "$T/l3.tar"
ok "import a sibling image" import "$T/img2"
expect "shared layer skipped" "$(printf '%s\n' "$out" | tail -n 1)" "Imported other as $c3 (2 layers, 1 new)."

# Wrong diff IDs: the apply fails and leaves no active snapshot behind.
mkdir -p "$T/l4"
echo four >"$T/l4/four"
make_layer "$T/l4" "$T/l4.tar"
make_oci_layout "$T/bad" "bad" "\"sha256:$(printf '0%.0s' $(seq 64))\"" "$T/l4.tar"
ctl import "$T/bad"
expect "import with a wrong diff ID fails" "$rc" 1
printf '%s\n' "$err" | grep -q '^laminactl: ' || fail "import failure message: $err"
ok "ls after the failed import" --json=short ls
expect "no leftover snapshots" "$(json 'length')" 3

fails "import of a directory that is no layout" 1 'OCI image layout' import "$T/l1"
# A blob whose content does not match its digest.
manifest=$(jq -r '.manifests[0].digest[7:]' "$T/img/index.json")
cp -r "$T/img" "$T/corrupt"
echo '{}' >"$T/corrupt/blobs/sha256/$manifest"
fails "import of a corrupt manifest" 1 'corrupt' import "$T/corrupt"

ok "rmi" rmi img:1 example:latest other
ok "ls after rmi" --json=short ls
expect "rmi freed every layer" "$(json 'length')" 0
finish
