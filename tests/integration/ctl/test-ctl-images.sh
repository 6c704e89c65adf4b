#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Images in laminad (org.lamina.snapshot1.Images): import names the image; images lists it;
# an image name works as a parent; tag adds names, untag removes one, rmi removes the name
# and the layers no other image and no snapshot uses; users see root's images and name
# their own; busctl lists them without laminactl; bad names are InvalidArgument.
. "$(dirname "$0")/ctl-lib.sh"
harness_setup --polkit
harness_install_policy
user=$(harness_add_user img)
uid=$(id -u "$user")

for l in l1 l2 l3; do
        mkdir -p "$T/$l/etc"
        echo "$l" >"$T/$l/etc/$l"
        make_layer "$T/$l" "$T/$l.tar"
done
c1=$(tar_digest "$T/l1.tar")
c2=$(chain_id "$c1" "$(tar_digest "$T/l2.tar")")
c3=$(chain_id "$c1" "$(tar_digest "$T/l3.tar")")
make_oci_layout "$T/img" "example:1" "" "$T/l1.tar" "$T/l2.tar"
make_oci_layout "$T/sib" "sibling:1" "" "$T/l1.tar" "$T/l3.tar"
chmod -R a+rX "$T/img" "$T/sib"

ok "import" -q import "$T/img"
ok "images" --json=short images
expect "the image is listed with its top snapshot" "$(json 'map([.name, .snapshot, .owner])')" "[[\"example:1\",\"$c2\",0]]"
ok "images as a table" images
printf '%s\n' "$out" | grep -Eq "^example:1 +$c2 +root " || fail "images table row: $out"

ok "prepare on an image name" prepare work example:1
ok "info of the new snapshot" --json=short info work
expect "its parent is the image's top" "$(json '.parent')" "$c2"
ok "view on an image name" view --mount look example:1
expect "the view has both layers" "$(cat "$out/etc/l1" "$out/etc/l2")" "l1
l2"
ok "umount look" umount look
ok "rm look" rm look

ok "tag" tag example:1 example:latest other/name:2
ok "images after tag" --json=short images
expect "three names, one top" "$(json 'map([.name, .snapshot]) | sort')" \
        "[[\"example:1\",\"$c2\"],[\"example:latest\",\"$c2\"],[\"other/name:2\",\"$c2\"]]"
fails "tag with a bad name" 1 'not a reference' tag example:1 'bad name'
fails "tag of a missing image" 1 '"nope" does not exist' tag nope x:1
fails "prepare on a missing image" 1 'no image or committed snapshot "nope"' prepare x nope

ok "untag" untag example:latest
ok "rmi while other names remain" rmi example:1
expect "rmi frees nothing another name uses" "$out" "Removed image example:1 (0 layers freed)."
ok "snapshots after rmi" --json=short ls
expect "layers stay" "$(json 'map(.name) | sort')" "$(printf '%s\n' "$c1" "$c2" work | jq -Rcs 'split("\n")[:-1] | sort')"

ok "import a sibling sharing the base" -q import "$T/sib"
ok "rm work" rm work
ok "rmi the first image" --json=short rmi other/name:2
expect "its own top layer is freed, the shared base stays" "$(json '.removed')" "[\"$c2\"]"
ok "rmi the sibling" --json=short rmi sibling:1
expect "the sibling frees its layers top down" "$(json '.removed')" "[\"$c3\",\"$c1\"]"
ok "ls after rmi" --json=short ls
expect "nothing left" "$(json 'length')" 0

# A re-import under another name moves nothing: both names exist.
ok "import as a:1" -q import "$T/img" --name a:1
ok "import as b:1" -q import "$T/img" --name b:1
ok "images after two imports" --json=short images
expect "two names" "$(json 'map(.name) | sort')" '["a:1","b:1"]'

# busctl, without laminactl.
busctl --system introspect org.lamina.snapshot1 /org/lamina/snapshot1/overlayfs org.lamina.snapshot1.Images \
        >"$T/introspect" 2>&1 || fail "introspect: $(cat "$T/introspect")"
grep -q '^\.ListImages ' "$T/introspect" || fail "Images interface not introspectable: $(cat "$T/introspect")"
got=$(busctl --system --json=short call org.lamina.snapshot1 /org/lamina/snapshot1/overlayfs \
        org.lamina.snapshot1.Images ListImages | jq -c '[.data[0][][0]] | sort')
expect "busctl lists the images" "$got" '["a:1","b:1"]'
got=$(busctl --system call org.lamina.snapshot1 /org/lamina/snapshot1/overlayfs org.lamina.snapshot1.Images \
        GetImage s 'bad name' 2>&1)
printf '%s\n' "$got" | grep -q 'not a reference' || fail "GetImage of a bad name: $got"
got=$(busctl --system --json=short call org.lamina.snapshot1 /org/lamina/snapshot1/overlayfs \
        org.lamina.snapshot1.Images GetImage s a:1 | jq -r '.data[1] | fromjson | .rootfs.diff_ids | length')
expect "GetImage returns the image's config" "$got" 2

# A user sees root's images, builds on them, names them in the own namespace, and cannot
# remove root's.
harness_install_group_rule "$user"
CTL_AS="harness_as $user"
ok "user: images" --json=short images
expect "user sees root's images" "$(json 'map([.name, .owner]) | sort')" '[["a:1",0],["b:1",0]]'
harness_wait_for 300 ctl_succeeds prepare mine a:1 && pass "user: prepare on root's image" || fail "user: prepare on root's image: $err"
fails "user: rmi of root's image" 1 '"a:1" belongs to root' rmi a:1
ok "user: import of an image root has" --json=short import "$T/img" --name mine:1
expect "user: nothing new" "$(json '.imported')" 0
ok "user: images" --json=short images
expect "user: own name for root's layers" "$(json "map(select(.owner == $uid) | [.name, .snapshot])")" "[[\"mine:1\",\"$c2\"]]"
ok "user: rm mine" rm mine
ok "user: rmi own name" --json=short rmi mine:1
expect "user: root's layers are not the user's to free" "$(json '.removed')" "[]"
CTL_AS=""
ok "root still has its images" --json=short images
expect "root's images" "$(json 'map(.name) | sort')" '["a:1","b:1"]'
ok "rmi a:1 b:1" rmi a:1 b:1
ok "ls at the end" --json=short ls
expect "everything freed" "$(json 'length')" 0
finish
