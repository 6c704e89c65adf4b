#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# An archive chooses its own image name: importing an attacker's image as root may move a name
# root had (and whatever runs it by that name then runs the attacker's). The move is told on
# standard error, naming the image and its old and new snapshots (--json: "replaced"), and
# --no-replace refuses it before a layer is made; importing the same image again moves nothing.
. "$(dirname "$0")/ctl-lib.sh"

harness_setup

mkdir -p "$T/a" "$T/b" "$T/c"
echo a >"$T/a/a"
echo b >"$T/b/b"
echo c >"$T/c/c"
for l in a b c; do
        make_layer "$T/$l" "$T/$l.tar"
done
ca=$(tar_digest "$T/a.tar")
cb=$(tar_digest "$T/b.tar")
cc=$(tar_digest "$T/c.tar")
make_oci_layout "$T/img-a" victim:1 "" "$T/a.tar"
make_oci_layout "$T/img-b" victim:1 "" "$T/b.tar"
make_oci_layout "$T/img-c" victim:1 "" "$T/c.tar"
OCI_CONFIG='{"Cmd":["/bin/evil"]}' make_oci_layout "$T/img-b-cmd" victim:1 "" "$T/b.tar"

ok "import victim:1" --json=short import "$T/img-a"
expect "a new name replaces nothing" "$(json '[.name, .snapshot, .replaced]')" "[\"victim:1\",\"$ca\",null]"
expect "a new name: no warning" "$err" ""

ok "import another image of the same name" --json=short import "$T/img-b"
expect "the name moved; --json says from what" "$(json '[.snapshot, .replaced]')" "[\"$cb\",\"$ca\"]"
expect "a warning names the image, the old and the new snapshot" "$err" \
        "laminactl: image victim:1 moved: it stood for snapshot $ca, now for $cb"
ok "images" --json=short images
expect "victim:1 stands for the second image" "$(json 'map([.name, .snapshot])')" "[[\"victim:1\",\"$cb\"]]"

ok "import the same image again" --json=short import "$T/img-b"
expect "the same image: nothing replaced" "$(json '.replaced')" "null"
expect "the same image: no warning" "$err" ""
ok "the same image again with --no-replace" -q import "$T/img-b" --no-replace

fails "--no-replace refuses to move the name" 1 \
        "image \"victim:1\" stands for another image already \\(snapshot $cb\\).*--no-replace" \
        import "$T/img-c" --no-replace
ok "ls" --json=short ls
expect "--no-replace: refused before any layer" "$(json "map(select(.name == \"$cc\")) | length")" 0
ok "images" --json=short images
expect "--no-replace: the name stays" "$(json 'map([.name, .snapshot])')" "[[\"victim:1\",\"$cb\"]]"

# The same layers with another config (another command to run) move the name too.
fails "--no-replace refuses another config on the same snapshot" 1 "stands for another image already" \
        import "$T/img-b-cmd" --no-replace
ok "import the same layers with another config" --json=short import "$T/img-b-cmd"
expect "another config: replaced names the same snapshot" "$(json '.replaced')" "$cb"
expect "another config: a warning says so" "$err" \
        "laminactl: image victim:1 already stood for snapshot $cb; it has this image's config now"

# import-tar: refused once the layer is applied; the layer it made goes again.
fails "import-tar --no-replace" 1 "image \"victim:1\" stands for another image already" \
        import-tar "$T/c.tar" --name victim:1 --no-replace
ok "ls" --json=short ls
expect "import-tar --no-replace: its layer went" "$(json "map(select(.name == \"$cc\")) | length")" 0
ok "import-tar moving the name" --json=short import-tar "$T/c.tar" --name victim:1
expect "import-tar: replaced" "$(json '[.snapshot, .replaced]')" "[\"$cc\",\"$cb\"]"
expect "import-tar: the warning" "$err" "laminactl: image victim:1 moved: it stood for snapshot $cb, now for $cc"

ok "--no-replace on a new name" --json=short import "$T/img-a" --name other:1 --no-replace
expect "a new name with --no-replace" "$(json '[.name, .replaced]')" '["other:1",null]'
fails "--no-replace is for imports only" 2 "tag does not take --no-replace" tag other:1 x:1 --no-replace
finish
