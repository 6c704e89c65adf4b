#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mount, umount, list-mounts and prepare --mount through laminad's own mounts.
. "$(dirname "$0")/ctl-lib.sh"
harness_setup

is_mounted() {
        findmnt -rn --mountpoint "$1" >/dev/null
}

ok "prepare" prepare a
ok "mount" mount a
path=$out
[ -n "$path" ] && is_mounted "$path" || fail "mount printed a mounted path: \"$path\""
echo hello >"$path/file" || fail "the active snapshot is writable"
fails "mount twice is busy" 1 '"a"' mount a

ok "list-mounts" list-mounts
printf '%s\n' "$out" | grep -Eq "^a +$path +root " || fail "list-mounts row: $out"
expect "list-mounts footer" "$(printf '%s\n' "$out" | tail -n 1)" "1 mount listed."
ok "list-mounts --json" --json=short list-mounts
expect "JSON list-mounts" "$(json 'map([.key, .path, .owner, .mounted > 1e15])')" "[[\"a\",\"$path\",0,true]]"

ok "umount" umount a
is_mounted "$path" && fail "umount detached $path"
ok "list-mounts when none" list-mounts
expect "no mounts" "$out" "No mounts."
fails "umount of something not mounted" 1 '"a"' umount a

ok "commit" commit a-done a
fails "mount of a committed snapshot" 1 '"a-done"' mount a-done

ok "prepare --mount" prepare --mount b a-done
path=$out
is_mounted "$path" || fail "prepare --mount mounted $path"
expect "the parent's file is visible" "$(cat "$path/file")" "hello"
ok "umount b" umount b

ok "mount -o ro" mount b -o ro
path=$out
touch "$path/new" 2>/dev/null && fail "-o ro mounted read-only"
ok "umount b again" umount b
fails "mount -o with an unknown option" 1 '' mount b -o frobnicate

mkdir "$T/target"
ok "view --target" view --target "$T/target" v a-done
expect "view --target prints the target" "$out" "$T/target"
is_mounted "$T/target" || fail "view --target mounted at $T/target"
touch "$T/target/new" 2>/dev/null && fail "a view is read-only"
ok "--json mount path" --json=short list-mounts
expect "JSON path of the target mount" "$(json 'map(.path)')" "[\"$T/target\"]"
ok "umount v" umount v

ok "rm" rm b v a-done
finish
