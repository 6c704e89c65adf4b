#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 17: a user's Apply never takes the filesystem below the root-reserved blocks. On a
# loop ext4 with 10 % reserved under the state directory, a layer larger than what users
# may take but smaller than what is free with root's reserve: an Apply into a user's
# namespace fails (ext4 gives reserved blocks only to its resuid, 0, and to
# CAP_SYS_RESOURCE; the writer of a user's layer has neither), root's Apply of the same
# layer succeeds.
set -eu
. "$LAMINA_SOURCE_DIR/tests/integration/lib/harness.sh"

CTL=("$LAMINA_BUILD_DIR/src/ctl/laminactl" --no-pager -q -s native)
# (native: the layer is written into a copy of an empty snapshot, so it takes its size)

[ "$(id -u)" = 0 ] || harness_skip "a test filesystem needs root"
[ -e /dev/loop-control ] || harness_skip "no loop devices (/dev/loop-control is missing)"
command -v mkfs.ext4 >/dev/null || harness_die "mkfs.ext4 is missing (tools/install-deps.sh)"

harness_setup --idle-timeout 600
# No per-user quota here: the filesystem's reserve is what must stop the user.
printf '[Quota]\nBytes=infinity\nInodes=infinity\n' >"$T/laminad.conf"
truncate -s 128M "$T/disk.img"
mkfs.ext4 -q -F -m 10 "$T/disk.img"
mount -o loop "$T/disk.img" "$T/state" || harness_skip "cannot mount a loop ext4 (no free loop device?)"

# free and available blocks, block size
blocks() {
        sync -f "$T/state"
        stat -f -c "$1" "$T/state"
}

"${CTL[@]}" --user 1000 prepare u >/dev/null
"${CTL[@]}" prepare r >/dev/null
bsize=$(blocks %S)
reserved=$(($(blocks %f) - $(blocks %a)))
[ "$reserved" -gt 1000 ] || harness_die "the test filesystem reserves only $reserved blocks"
# More than users may take, well less than is free counting root's reserve.
size=$(( ($(blocks %a) + reserved / 2) * bsize ))
mkdir -p "$T/big"
head -c "$size" /dev/urandom >"$T/big/data"
tar -C "$T/big" -cf "$T/big.tar" data
harness_log "a layer of $size bytes: $(blocks %a) blocks available to users, $reserved reserved for root"

if "${CTL[@]}" --user 1000 apply u "$T/big.tar" 2>"$T/err"; then
        harness_die "a user's Apply took root's reserved blocks (it succeeded)"
fi
harness_log "user's Apply: $(cat "$T/err")"
"${CTL[@]}" apply r "$T/big.tar" >/dev/null || harness_die "root's Apply of the same layer found no room"
harness_log "ok: only root's Apply may use the reserved blocks"
