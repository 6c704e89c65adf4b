#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 17: per-uid quotas enforced by the filesystem for writes through mounts, on a small
# loop filesystem this test makes under laminad's state directory, on one group per user
# that each new snapshot's data joins, limited to what the user's Bytes= leaves:
#   btrfs   with quotas on (btrfs quota enable): the user's level-1 qgroup, which each
#           new subvolume (btrfs snapshotter) joins when it is made;
#   ext4    with the quota and project features, mounted prjquota, and
#   xfs     mounted prjquota: the user's project, given to each new overlayfs snapshot's
#           directory (FS_IOC_FSSETXATTR), its limits set with quotactl_fd.
# A user at its quota gets EDQUOT writing through its own mount and QuotaExceeded on Apply;
# another user and root are not held back; df says who enforces; a user's snapshots share
# its limit; a Prepare and a Remove cost the same with 10 and 200 snapshots. ext4 and XFS need a
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
        # (until the rescan that enabling starts is done, no new subvolume joins a qgroup)
        btrfs quota rescan -W "$T/state" >/dev/null || harness_die "btrfs quota rescan -W failed"
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

harness_install_policy
alice=$(harness_add_user fsq-a)
bob=$(harness_add_user fsq-b)
harness_install_group_rule "$alice" "$bob"
printf '[Quota]\nBytes=8M\nInodes=infinity\n' >"$T/laminad.conf"
mkdir -p "$T/l"
head -c 12M /dev/urandom >"$T/l/big"
tar -C "$T/l" -cf "$T/big.tar" big
chmod 0755 "$T" && chmod 0644 "$T/big.tar"

# write USER DIR MIB: writes MIB MiB into DIR/data as USER; the dd's stderr in $T/dd.err.
write() {
        harness_as "$1" dd if=/dev/zero of="$2/data" bs=1M count="$3" conv=fsync status=none 2>"$T/dd.err"
}

# write_refused USER DIR MIB WHAT: write USER DIR MIB must fail with EDQUOT.
write_refused() {
        if write "$1" "$2" "$3"; then
                fail "$4: $1 wrote $3 MiB"
        elif grep -q "Disk quota exceeded" "$T/dd.err"; then
                pass "$4: $(cat "$T/dd.err")"
        else
                fail "$4: $1's write failed, but not with EDQUOT: $(cat "$T/dd.err")"
        fi
}

CTL_AS="harness_as $alice"
harness_wait_for 300 ctl_succeeds -q -s "$SN" prepare a && pass "alice: prepare (group rule active)" || fail "the group rule did not take effect: $err"
ok "alice: df" -s "$SN" --json=short df
printf '%s\n' "$(json '.[0].enforcement')" | grep -Eq "$SN: laminad and (btrfs qgroups|project quotas)" ||
        fail "df does not say the filesystem enforces the quotas on $SN: $out"
ok "alice: mount a" -s "$SN" mount a
amnt=$out
chown "$alice" "$amnt" # (an empty snapshot's root is root's) root may write through any mount
write_refused "$alice" "$amnt" 12 "alice: EDQUOT through her mount at Bytes=8M"
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
write_refused "$alice" "$cmnt" 6 "alice: c holds only what a left of her quota (4 MiB of her 8M)"
harness_as "$alice" rm -f "$cmnt/data"
# The filesystem counts a's data until it is freed (in the background after the Remove).
n_data=$(ls "$T/state/$SN/snapshots" | wc -l)
ok "alice: remove a" -s "$SN" -q rm a
a_freed() {
        [ "$(ls "$T/state/$SN/snapshots" | wc -l)" -lt "$n_data" ]
}
harness_wait_for 600 a_freed || fail "a's data was not freed after its Remove"
[ "$FS" != btrfs ] || { btrfs subvolume sync "$T/state" && btrfs filesystem sync "$T/state"; } >/dev/null
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

# The filesystem counts each user's data in one group (btrfs: a qgroup every new subvolume
# joins when it is made; ext4/XFS: a project): a Prepare and a Remove cost the same system
# calls whatever the user holds. Counted with strace on laminad's main thread (where both
# run; the freeing thread is left out) over one Prepare and one Remove of carol with 10,
# then 200 active snapshots.
command -v strace >/dev/null || harness_die "strace is missing (tools/install-deps.sh)"
carol=$(harness_add_user fsq-c)
harness_install_group_rule "$carol"
CTL_AS="harness_as $carol"
harness_wait_for 300 ctl_succeeds -q -s "$SN" prepare s1 || fail "carol's group rule did not take effect: $err"
# prepare_to N: carol holds active snapshots s1..sN.
held=1
prepare_to() {
        while [ "$held" -lt "$1" ]; do
                held=$((held + 1))
                ctl -q -s "$SN" prepare "s$held"
                [ "$rc" = 0 ] || { fail "carol: prepare s$held: $err"; return 1; }
        done
}
# counted VERB NAME: $calls, the ioctl, quotactl_fd and openat calls of laminad's main
# thread over carol's laminactl VERB NAME.
counted() {
        _pid=$(harness_laminad_pid)
        rm -f "$T/strace.out" "$T/strace.err"
        strace -c -e trace=ioctl,quotactl_fd,openat -o "$T/strace.out" -p "$_pid" 2>"$T/strace.err" &
        _strace=$!
        harness_record_pid strace "$_strace"
        harness_wait_for 300 grep -q attached "$T/strace.err" || fail "strace did not attach to laminad: $(cat "$T/strace.err")"
        ctl -q -s "$SN" "$1" "$2"
        [ "$rc" = 0 ] || fail "carol: $1 $2 under strace: $err"
        kill -INT "$_strace"
        wait "$_strace"
        calls=$(awk '$NF ~ /^(ioctl|quotactl_fd|openat)$/ { n += $4 } END { print n + 0 }' "$T/strace.out")
}
# same_cost VERB: the counts of VERB with 10 and with 200 snapshots are the same.
same_cost() {
        if [ "${calls10[$1]}" -gt 0 ] && [ "${calls200[$1]}" = "${calls10[$1]}" ]; then
                pass "a $1 makes ${calls10[$1]} ioctl/quotactl_fd/openat calls with 10 and with 200 snapshots"
        else
                fail "a $1's calls grow with the user's snapshots: ${calls10[$1]} with 10, ${calls200[$1]} with 200"
        fi
}
declare -A calls10 calls200
prepare_to 10
counted prepare m10
calls10[prepare]=$calls
counted rm m10
calls10[rm]=$calls
prepare_to 200
counted prepare m200
calls200[prepare]=$calls
counted rm m200
calls200[rm]=$calls
same_cost prepare
same_cost rm
# Two of the 200 together stay within carol's 8M: 3 MiB in one fits, 3 more in another not
# (what 200 subvolumes and the first write hold leave less than that).
ok "carol: mount s1" -s "$SN" mount s1
chown "$carol" "$out"
write "$carol" "$out" 3 && pass "carol: 3 MiB in s1" || fail "carol: 3 MiB in s1: $(cat "$T/dd.err")"
ok "carol: umount s1" -s "$SN" umount s1
[ "$FS" != btrfs ] || btrfs filesystem sync "$T/state" >/dev/null
ok "carol: mount s2" -s "$SN" mount s2
chown "$carol" "$out"
write_refused "$carol" "$out" 3 "carol: EDQUOT in s2: her snapshots share one limit (8M, s1's 3 MiB, 200 snapshots)"
ok "carol: umount s2" -s "$SN" umount s2
finish
