#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A real image: Debian's static busybox as a two-layer OCI image layout (layer 2 adds
# symlinks and whites out a file of layer 1), imported with laminactl for SNAPSHOTTER ($1).
# The committed snapshots are named by the chain IDs computed from sha256sum of the
# uncompressed layer tars (import passes each diff_id as expected-diff-id, so the names
# prove Apply's digests equal ours); a snapshot prepared on the image runs busybox in a
# chroot. (tests/integration/ctl/test-ctl-import.sh covers re-import, sharing and bad
# digests with tiny layers; this one is about real executables.)
. "$LAMINA_SOURCE_DIR/tests/integration/ctl/ctl-lib.sh"
sn=${1:?usage: test-apply-busybox.sh SNAPSHOTTER}
busybox=/bin/busybox
[ -x "$busybox" ] && ldd "$busybox" 2>&1 | grep -q 'not a dynamic' ||
        harness_skip "$busybox is not a static busybox (install busybox-static)"
harness_setup

mkdir -p "$T/l1/bin" "$T/l1/etc" "$T/l2/bin" "$T/l2/etc" "$T/l2/tmp"
cp "$busybox" "$T/l1/bin/busybox"
chmod 0755 "$T/l1/bin/busybox"
echo "layer one" >"$T/l1/etc/motd"
echo "root:x:0:0:root:/root:/bin/sh" >"$T/l1/etc/passwd"
ln -s busybox "$T/l2/bin/sh"
ln -s busybox "$T/l2/bin/echo"
ln -s busybox "$T/l2/bin/cat"
echo lamina >"$T/l2/etc/hostname"
: >"$T/l2/etc/.wh.motd"
chmod 1777 "$T/l2/tmp"
two_layer_image "$T/img" "busybox:test"

ok "import" -s "$sn" --json=short import "$T/img"
expect "import reports the top chain ID" "$(json '[.snapshot, .layers, .imported]')" "[\"$c2\",2,2]"
ok "ls" -s "$sn" --json=short ls
expect "one committed snapshot per layer, named by the chain ID of sha256sum's digests" \
        "$(json 'map([.name, .parent, .kind]) | sort')" \
        "$(printf '%s\n' "[\"$c1\",null,\"committed\"]" "[\"$c2\",\"$c1\",\"committed\"]" | jq -cs sort)"

ok "prepare on the image and mount" -s "$sn" prepare --mount box "$c2"
root=$out
expect "busybox runs from the snapshot" "$(chroot "$root" /bin/busybox echo hello 2>&1)" "hello"
expect "layer 2's symlinks work" "$(chroot "$root" /bin/sh -c 'echo hello from sh; cat /etc/hostname' 2>&1)" \
        "hello from sh
lamina"
expect "layer 2 whited out /etc/motd" "$(chroot "$root" /bin/sh -c 'test -e /etc/motd && echo present || echo absent')" \
        "absent"
expect "no whiteout name is visible" "$(chroot "$root" /bin/busybox ls -a /etc | tr '\n' ' ')" \
        ". .. hostname passwd "
expect "the binary is layer 1's, byte for byte" "$(sha256sum <"$root/bin/busybox")" "$(sha256sum <"$busybox")"
chroot "$root" /bin/sh -c 'echo written >/tmp/new' || fail "writing in the active snapshot"
ok "umount" -s "$sn" umount box
ok "commit the container" -s "$sn" commit box-done box
ok "view the result" -s "$sn" view --mount box-view box-done
expect "the container's write was committed" "$(cat "$out/tmp/new")" "written"
ok "umount the view" -s "$sn" umount box-view
ok "rm" -s "$sn" rm box-view box-done "$c2" "$c1"
finish
