# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the tests of a full filesystem under laminad's state directory: a small
# filesystem of type $fstype mounted at $state before laminad first starts, filled and
# emptied again. Source after harness.sh; set fstype, and state before make_fs.
#   full_disk_check FSTYPE   skips (or dies) unless this machine can make one
#   make_fs                  makes and mounts it at $state (the harness unmounts it)
#   fill                     takes every block, then every inode
#   unfill                   gives them back
#   stop_laminad             stops laminad and waits until it is gone

full_disk_check() {
        case $1 in
        tmpfs) ;;
        ext4 | xfs | btrfs)
                modprobe "$1" >/dev/null 2>&1 || :
                grep -q "[[:space:]]$1\$" /proc/filesystems || harness_skip "this kernel has no $1"
                [ -e /dev/loop-control ] || harness_skip "no loop devices (/dev/loop-control is missing)"
                command -v "mkfs.$1" >/dev/null || harness_die "mkfs.$1 is missing (tools/install-deps.sh)"
                ;;
        *) harness_die "unknown filesystem type $1" ;;
        esac
}

# Loop devices are set up with autoclear, so the harness's unmount also detaches them.
make_fs() {
        local img=$T/disk.img
        case $fstype in
        tmpfs) mount -t tmpfs -o size=32m,nr_inodes=4096,mode=0700 lamina-full-disk "$state" ;;
        ext4) truncate -s 32M "$img" && mkfs.ext4 -q -F -m 0 -N 4096 "$img" ;;
        xfs) truncate -s 300M "$img" && mkfs.xfs -q -f "$img" ;;
        btrfs) truncate -s 256M "$img" && mkfs.btrfs -q -f "$img" >/dev/null ;;
        esac
        if [ "$fstype" != tmpfs ]; then
                mount -o loop "$img" "$state" || harness_skip "cannot mount a loop $fstype (no free loop device?)"
        fi
        mountpoint -q "$state" || harness_die "$state is not mounted"
}

# Takes every block (preallocated files, halving the size on each failure) and then every
# inode that is left. Bounded: about 60 fallocate calls and 5000 files at most.
fill() {
        local n=0 chunk=$((1 << 30)) i=0
        mkdir -p "$state/fill"
        while [ "$chunk" -ge 4096 ]; do
                if fallocate -l "$chunk" "$state/fill/$n" 2>/dev/null; then
                        n=$((n + 1))
                else
                        rm -f "$state/fill/$n"
                        chunk=$((chunk / 2))
                fi
        done
        while [ "$i" -lt 5000 ] && : 2>/dev/null >"$state/fill/i$i"; do
                i=$((i + 1))
        done
        sync
        harness_log "filled $state: $(df -h --output=avail,iavail "$state" 2>/dev/null | tail -n 1 | xargs)"
}

unfill() {
        rm -rf "$state/fill"
        sync
        [ "$fstype" != btrfs ] || btrfs filesystem sync "$state" >/dev/null
}

stop_laminad() {
        local pid
        pid=$(harness_laminad_pid)
        [ -n "$pid" ] || harness_die "laminad is not running"
        harness_kill_pid "$pid"
        harness_wait_for 300 harness_name_gone org.lamina.snapshot1 || harness_die "laminad did not exit"
}
