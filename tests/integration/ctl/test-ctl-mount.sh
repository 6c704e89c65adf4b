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

# umount --force: a process in the mount makes a plain umount Busy; forced, the mount
# leaves at once and the snapshot stays busy until the process is gone.
ok "prepare f" prepare f
ok "mount f" mount f
fpath=$out
(cd "$fpath" && exec sleep 120) &
holder=$!
for _ in $(seq 50); do [ "$(readlink "/proc/$holder/cwd")" = "$fpath" ] && break; sleep 0.1; done
fails "umount while in use is busy" 1 'in use' umount f
is_mounted "$fpath" || fail "a busy umount left $fpath mounted"
ok "umount --force" umount --force f
is_mounted "$fpath" && fail "umount --force detached $fpath"
fails "rm while a process still uses it" 1 '"f"' rm f
kill "$holder"
wait "$holder" 2>/dev/null
ok "rm f once it is released" rm f
fails "--force is only for umount" 2 '' ls --force

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
