#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 17: per-uid quotas enforced by the filesystem for writes through mounts, on a small
# loop filesystem this test makes under laminad's state directory:
#   btrfs   with quotas on (btrfs quota enable): each snapshot's subvolume qgroup (btrfs
#           snapshotter), its exclusive bytes limited to what the user's Bytes= leaves;
#   ext4    with the quota and project features, mounted prjquota, and
#   xfs     mounted prjquota: a project per overlayfs snapshot (FS_IOC_FSSETXATTR), its
#           limits set with quotactl_fd.
# A user at its quota gets EDQUOT writing through its own mount and QuotaExceeded on Apply;
# another user and root are not held back; df says who enforces. ext4 and XFS need a
# kernel with CONFIG_QFMT_V2 and CONFIG_XFS_QUOTA: the test skips where the mount fails.
. "$LAMINA_SOURCE_DIR/tests/integration/ctl/ctl-lib.sh"

FS=${1:?filesystem}
case $FS in
btrfs) SN=btrfs ;;
ext4 | xfs) SN=overlayfs ;;
*) harness_die "unknown filesystem $FS" ;;
esac

[ "$(id -u)" = 0 ] || harness_skip "a test filesystem needs root"
[ -e /dev/loop-control ] || harness_skip "no loop devices (/dev/loop-control is missing)"
command -v "mkfs.$FS" >/dev/null || harness_die "mkfs.$FS is missing (tools/install-deps.sh)"

harness_setup --polkit --idle-timeout 600
img=$T/disk.img
case $FS in
btrfs)
        truncate -s 512M "$img" && mkfs.btrfs -q -f "$img" >/dev/null
        mount -o loop "$img" "$T/state" || harness_skip "cannot mount a loop btrfs (no free loop device?)"
        btrfs quota enable "$T/state" || harness_skip "btrfs quotas cannot be enabled here"
        ;;
ext4)
        truncate -s 256M "$img" && mkfs.ext4 -q -F -m 0 -O quota,project "$img"
        mount -o loop,prjquota "$img" "$T/state" ||
                harness_skip "cannot mount an ext4 with project quotas (kernel without CONFIG_QFMT_V2? $(dmesg 2>/dev/null | tail -n 1))"
        ;;
xfs)
        truncate -s 320M "$img" && mkfs.xfs -q -f "$img"
        mount -o loop,prjquota "$img" "$T/state" ||
                harness_skip "cannot mount an XFS with prjquota (kernel without CONFIG_XFS_QUOTA? $(dmesg 2>/dev/null | tail -n 1))"
        ;;
esac

harness_install_file "$LAMINA_SOURCE_DIR/polkit/org.lamina.snapshot1.policy" \
        /usr/share/polkit-1/actions/org.lamina.snapshot1.policy
alice=$(harness_add_user fsq-a)
bob=$(harness_add_user fsq-b)
for u in "$alice" "$bob"; do
        sed "s/isInGroup(\"lamina\")/isInGroup(\"$(id -gn "$u")\")/" \
                "$LAMINA_SOURCE_DIR/polkit/50-lamina-group.rules.example" >"$T/50-lamina-$u.rules"
        harness_install_file "$T/50-lamina-$u.rules" "/etc/polkit-1/rules.d/50-lamina-test-$u.rules"
done
printf '[Quota]\nBytes=8M\nInodes=infinity\n' >"$T/laminad.conf"
mkdir -p "$T/l"
head -c 12M /dev/urandom >"$T/l/big"
tar -C "$T/l" -cf "$T/big.tar" big
chmod 0755 "$T" && chmod 0644 "$T/big.tar"

# write USER DIR MIB: writes MIB MiB into DIR/data as USER; the dd's stderr in $T/dd.err.
write() {
        harness_as "$1" dd if=/dev/zero of="$2/data" bs=1M count="$3" conv=fsync status=none 2>"$T/dd.err"
}

CTL_AS="harness_as $alice"
rule_active() {
        ctl -q -s "$SN" prepare a
        [ "$rc" = 0 ]
}
harness_wait_for 300 rule_active && pass "alice: prepare (group rule active)" || fail "the group rule did not take effect: $err"
ok "alice: df" -s "$SN" --json=short df
printf '%s\n' "$(json '.[0].enforcement')" | grep -Eq "$SN: laminad and (btrfs qgroups|project quotas)" ||
        fail "df does not say the filesystem enforces the quotas on $SN: $out"
ok "alice: mount a" -s "$SN" mount a
amnt=$out
chown "$alice" "$amnt" # (an empty snapshot's root is root's) root may write through any mount
if write "$alice" "$amnt" 12; then
        fail "alice wrote 12 MiB through her mount past Bytes=8M"
elif grep -q "Disk quota exceeded" "$T/dd.err"; then
        pass "alice: EDQUOT through her mount at Bytes=8M: $(cat "$T/dd.err")"
else
        fail "alice's write failed, but not with EDQUOT: $(cat "$T/dd.err")"
fi
harness_as "$alice" rm -f "$amnt/data"
if write "$alice" "$amnt" 4; then
        pass "alice: 4 MiB within her quota"
else
        fail "alice: 4 MiB within her quota failed: $(cat "$T/dd.err")"
fi
ok "alice: umount" -s "$SN" umount a
# A second snapshot gets what is left (8M less a's 4 MiB); a Remove gives it back.
# (btrfs counts qgroups at each transaction commit; laminad reads them as last committed.)
[ "$FS" != btrfs ] || btrfs filesystem sync "$T/state" >/dev/null
ok "alice: prepare c" -s "$SN" -q prepare c
ok "alice: mount c" -s "$SN" mount c
cmnt=$out
chown "$alice" "$cmnt"
if write "$alice" "$cmnt" 6; then
        fail "alice wrote 6 MiB into c with 4 MiB of her 8M in a"
elif grep -q "Disk quota exceeded" "$T/dd.err"; then
        pass "alice: c holds only what a left of her quota"
else
        fail "alice's write into c failed, but not with EDQUOT: $(cat "$T/dd.err")"
fi
harness_as "$alice" rm -f "$cmnt/data"
ok "alice: remove a" -s "$SN" -q rm a
if write "$alice" "$cmnt" 6; then
        pass "alice: after removing a, c may take 6 MiB"
else
        fail "alice: removing a did not give c room: $(cat "$T/dd.err")"
fi
ok "alice: umount c" -s "$SN" umount c
fails "alice: an Apply of 12 MiB passes her quota" 1 "QuotaExceeded|Bytes=8388608" -s "$SN" -q apply c "$T/big.tar"

# bob has his own 8M; root has none.
CTL_AS="harness_as $bob"
ok "bob: prepare" -s "$SN" -q prepare b
ok "bob: mount" -s "$SN" mount b
chown "$bob" "$out"
write "$bob" "$out" 6 && pass "bob: 6 MiB" || fail "bob was held back by alice's quota: $(cat "$T/dd.err")"
ok "bob: umount" -s "$SN" umount b
CTL_AS=""
ok "root: prepare" -s "$SN" -q prepare r
ok "root: mount" -s "$SN" mount r
write root "$out" 20 && pass "root: 20 MiB, no quota" || fail "root was held back: $(cat "$T/dd.err")"
ok "root: umount" -s "$SN" umount r
finish
