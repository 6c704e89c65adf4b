#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device nodes depend on the CALLER (API.md: layers applied for a non-root caller may not
# create device nodes other than overlay whiteouts): an unprivileged user, authorized for
# manage-own by the guide's group rule under real polkitd, gets char and block devices (a
# literal 0/0 char device included) skipped: the layer applies without them, its other
# entries included, while whiteouts, opaque markers, FIFOs and setuid files apply; the
# same device layer applied by root makes the devices. Set-id bits stay on disk; the user's mount is nosuid,nodev. SNAPSHOTTER is $1.
. "$LAMINA_SOURCE_DIR/tests/integration/ctl/ctl-lib.sh"
sn=${1:?usage: test-apply-devices.sh SNAPSHOTTER}
command -v python3 >/dev/null || harness_skip "python3 is not installed (it writes the layers)"
harness_setup --polkit
harness_install_policy
user=$(harness_add_user dev)
harness_install_group_rule "$user"

# layer NAME TYPE:PATH[:MAJOR:MINOR|:MODE]...: a tar in $T/NAME.tar, readable by the user.
layer() {
        python3 - "$T/$1.tar" "${@:2}" <<'EOF'
import io, sys, tarfile
types = {"chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE,
         "file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE}
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for spec in sys.argv[2:]:
        kind, path, *rest = spec.split(":")
        ti = tarfile.TarInfo(path)
        ti.type = types[kind]
        ti.mode = 0o644 if kind in ("chr", "blk", "fifo", "file") else 0o755
        if kind in ("chr", "blk"):
            ti.devmajor, ti.devminor = int(rest[0]), int(rest[1])
        elif rest:
            ti.mode = int(rest[0], 8)
        t.addfile(ti, io.BytesIO(b"") if kind == "file" else None)
EOF
        chmod 0644 "$T/$1.tar"
}
layer chr dir:dev chr:dev/null:1:3 file:dev/kept
layer blk blk:dev/sda:8:0
layer zero chr:dev/wh:0:0
layer fine dir:d file:d/.wh..wh..opq file:.wh.gone fifo:p file:su:6755 file:plain
layer base dir:d file:d/x file:gone

# Root's image, which the user builds on (so the user's mount is an overlay or a copy).
ok "root: prepare the base" -s "$sn" prepare base-work
ok "root: apply the base" -s "$sn" apply base-work "$T/base.tar"
ok "root: commit the base" -s "$sn" commit base base-work

CTL_AS="harness_as $user"
harness_wait_for 300 ctl_succeeds -s "$sn" prepare u base && pass "user: prepare with the group rule" || fail "the group rule did not take effect: $err"
ok "user: a layer with a char device applies" -s "$sn" apply u "$T/chr.tar"
ok "user: a layer with a block device applies" -s "$sn" apply u "$T/blk.tar"
ok "user: a layer with a literal 0/0 char device applies" -s "$sn" apply u "$T/zero.tar"
ok "user: whiteouts, opaque markers, FIFOs and setuid files apply" -s "$sn" apply u "$T/fine.tar"
ok "user: mount" -s "$sn" mount u
mnt=$out
findmnt -rn -o OPTIONS --mountpoint "$mnt" | grep -q 'nosuid,nodev' || fail "the user's mount is not nosuid,nodev"
expect "setuid kept on disk, owned by root" "$(stat -c '%a %u' "$mnt/su")" "6755 0"
expect "the FIFO" "$(stat -c %F "$mnt/p")" "fifo"
expect "the devices were skipped, the file beside them kept" "$(ls -A "$mnt/dev")" "kept"
expect "no device node and no whiteout names in the tree" \
        "$(find "$mnt" \( -type c -o -type b -o -name '.wh.*' \) | wc -l)" 0
expect "the whiteout and the opaque marker took effect" "$(cd "$mnt" && ls -A d; ls -A | tr '\n' ' ')" \
        "d dev p plain su "
ok "user: umount" -s "$sn" umount u
ok "user: rm" -s "$sn" rm u

# The same layer from root: devices are fine.
CTL_AS=""
ok "root: prepare" -s "$sn" prepare r
ok "root: a char device applies" -s "$sn" apply r "$T/chr.tar"
ok "root: a block device applies" -s "$sn" apply r "$T/blk.tar"
ok "root: mount with dev" -s "$sn" mount r -o dev
expect "root's devices" "$(stat -c '%F %t:%T' "$out/dev/null" "$out/dev/sda" | tr '\n' ' ')" \
        "character special file 1:3 block special file 8:0 "
ok "root: umount" -s "$sn" umount r
ok "root: rm" -s "$sn" rm r base
finish
