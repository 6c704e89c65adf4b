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

# laminad decides as it writes the name (CreateImageWithOptions, replace false): of two creates
# of one new name racing, exactly one wins and the other is AlreadyExists; the name stays.
# gdbus prints the error's name.
command -v gdbus >/dev/null || harness_die "gdbus is not installed (it prints D-Bus error names)"
create_no_replace() { # NAME TOP OUT
        gdbus call --system --timeout 600 --dest org.lamina.snapshot1 --object-path /org/lamina/snapshot1/overlayfs \
                --method org.lamina.snapshot1.Images.CreateImageWithOptions "$1" "$2" "{}" "{'replace': <false>}" \
                >"$3" 2>&1
}
create_no_replace race:1 "$ca" "$T/race-a" & pid_a=$!
create_no_replace race:1 "$cb" "$T/race-b" & pid_b=$!
wait "$pid_a"; rc_a=$?
wait "$pid_b"; rc_b=$?
if [ "$rc_a" = 0 ]; then winner=$ca loser=race-b; else winner=$cb loser=race-a; fi
expect "two racing creates without replace: exactly one wins" "$((rc_a == 0)),$((rc_b == 0))" \
        "$( [ "$rc_a" = 0 ] && echo 1,0 || echo 0,1)"
expect "the other is AlreadyExists" "$(grep -o 'org.lamina.snapshot1.Error.AlreadyExists' "$T/$loser")" \
        org.lamina.snapshot1.Error.AlreadyExists
ok "images" --json=short images
expect "race:1 stands for the winner's top" "$(json 'map(select(.name == "race:1") | .snapshot)')" "[\"$winner\"]"
create_no_replace race:1 "$winner" "$T/race-again"
expect "the same image again without replace" "$?" 0
create_no_replace race:1 "$cc" "$T/race-c"
expect "another top without replace: AlreadyExists" "$(grep -o 'org.lamina.snapshot1.Error.AlreadyExists' "$T/race-c")" \
        org.lamina.snapshot1.Error.AlreadyExists

# The same through laminactl: two import-tar --no-replace of one new name, started together.
"$LAMINACTL" --no-pager -q import-tar "$T/a.tar" --name race:2 --no-replace >"$T/imp-a" 2>&1 & pid_a=$!
"$LAMINACTL" --no-pager -q import-tar "$T/b.tar" --name race:2 --no-replace >"$T/imp-b" 2>&1 & pid_b=$!
wait "$pid_a"; rc_a=$?
wait "$pid_b"; rc_b=$?
if [ "$rc_a" = 0 ]; then winner=$ca loser=imp-b; else winner=$cb loser=imp-a; fi
expect "two racing import-tar --no-replace: exactly one wins" "$((rc_a == 0)),$((rc_b == 0))" \
        "$( [ "$rc_a" = 0 ] && echo 1,0 || echo 0,1)"
expect "the other says the name stands for another image" \
        "$(grep -c 'image "race:2" stands for another image already' "$T/$loser")" 1
ok "images" --json=short images
expect "race:2 stands for the winner's layer" "$(json 'map(select(.name == "race:2") | .snapshot)')" "[\"$winner\"]"
finish
