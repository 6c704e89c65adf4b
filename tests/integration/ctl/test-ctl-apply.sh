#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# apply: a layer tar from a file and from stdin, gzip too; the diff ID is the tar's sha256.
. "$(dirname "$0")/ctl-lib.sh"
harness_setup

mkdir -p "$T/l1/etc" "$T/l1/usr/bin"
echo one >"$T/l1/etc/one"
echo tool >"$T/l1/usr/bin/tool"
make_layer "$T/l1" "$T/l1.tar"
sum="sha256:$(sha256sum "$T/l1.tar" | cut -d' ' -f1)"

ok "prepare" prepare a
ok "apply FILE" apply a "$T/l1.tar"
expect "apply prints the diff ID" "$out" "$sum"
ok "mount to check" mount a -o ro
expect "applied content" "$(cat "$out/etc/one")" "one"
ok "umount" umount a
ok "commit" commit l1 a

mkdir -p "$T/l2/etc"
echo two >"$T/l2/etc/two"
make_layer "$T/l2" "$T/l2.tar"
gzip -k "$T/l2.tar"
sum2="sha256:$(sha256sum "$T/l2.tar" | cut -d' ' -f1)"
ok "prepare on l1" prepare b l1
ctl --json=short apply b - <"$T/l2.tar.gz"
expect "apply - (stdin, gzip) exit code" "$rc" 0
expect "JSON apply: diff id of the uncompressed tar" "$(json '.diff_id')" "$sum2"
expect "JSON apply: bytes" "$(json '.bytes')" "$(stat -c %s "$T/l2.tar")"
expect "JSON apply: entries" "$(json '.entries >= 2')" "true"
ok "mount b" mount b -o ro
expect "both layers visible" "$(cat "$out/etc/one" "$out/etc/two")" "one
two"
ok "umount b" umount b

fails "apply to a committed snapshot" 1 '"l1"' apply l1 "$T/l1.tar"
fails "apply of a missing file" 1 'cannot open' apply b "$T/nope.tar"
ok "mount b for busy" mount b
fails "apply to a mounted snapshot" 1 '"b"' apply b "$T/l1.tar"
ok "umount b" umount b
ok "rm" rm b l1
finish
