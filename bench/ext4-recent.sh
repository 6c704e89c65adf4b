#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/ext4-recent.sh [DIR]: what removing a tree costs the next tree built in the same block
# groups of an ext4 without a journal (bench/README, Import, session 6), without lamina: GNU tar
# extracts the big layer of the Debian test image (8 743 entries, 170 MB; the ctl-debian
# tests' cache) into directories made in a top directory (chattr +T, as laminad's applying/),
# each made again under other names until ext4 places it where this script wants:
#   fresh     wherever ext4 puts it (then removed: its inodes were in groups G to H)
#   same      in G to H, right after the removal
#   synced    in G to H again, after the removal of "same" and a syncfs (inode tables
#             written back)
#   away      at least 8 groups from G to H, right after the removal of "synced"
#   later     in G to H, once 65 s have passed since the removal of "away"
#   written   in G to H, once 65 s have passed since the removal of "later" and a syncfs
#             right after it
# Each line: wall and system seconds of tar, the groups its inodes went to. Needs root and GNU
# tar; DIR (default: a new directory in /tmp) must be on the ext4 to measure.
set -euo pipefail
cache=${LAMINA_TEST_IMAGE_CACHE:-/var/cache/lamina-test-images}
archive=$(ls "$cache"/debian-*/debian-docker.tar 2>/dev/null | head -n 1)
[ -n "$archive" ] || { echo "no Debian image corpus; build it with: meson test -C build ctl-debian-overlayfs" >&2; exit 1; }
work=$(mktemp -d "${1:-/tmp}/ext4-recent.XXXXXX")
trap 'rm -rf "$work"' EXIT
layer=$(tar -tf "$archive" | grep -m1 -E '^[0-9a-f]{64}\.tar$')
tar -xf "$archive" -C "$work" "$layer"
ipg=$(python3 -c "import os; s = os.statvfs('$work'); print(s.f_files // (len(open('/proc/fs/ext4/' + '$(findmnt -n -o SOURCE -T "$work" | sed 's|^/dev/||')' + '/mb_groups').readlines()) - 1))")
mkdir "$work/top"
chattr +T "$work/top"

# place NAME LO HI [away]: makes top/NAME's directory in a group within [LO, HI] (- -: any),
# or with "away" at least 8 groups from it.
place() {
        python3 - "$work/top" "$ipg" "$@" <<'PY'
import os, random, sys
top, ipg, name, lo, hi = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
away = len(sys.argv) > 6
for i in range(50000):
    p = os.path.join(top, "%s-%x" % (name, random.getrandbits(48)))
    os.mkdir(p)
    g = (os.stat(p).st_ino - 1) // ipg
    inside = lo == "-" or int(lo) <= g <= int(hi)
    if (not away and inside) or (away and (g < int(lo) - 8 or g > int(hi) + 8)):
        os.rename(p, os.path.join(top, name))
        sys.exit(0)
    os.rmdir(p)
sys.exit("no placement of %s in 50000 tries" % name)
PY
}

run() { # NAME
        local t
        t=$( { /usr/bin/time -f '%e %S' tar -xf "$work/$layer" -C "$work/top/$1"; } 2>&1)
        printf '%-7s wall %5.2f s  system %5.2f s  groups:inodes %s\n' "$1" ${t} \
                "$(groups "$1" | tr '\n' ' ')"
}

groups() { # NAME: "group:inodes" per block group of top/NAME's inodes
        find "$work/top/$1" -printf '%i\n' | awk -v ipg="$ipg" '{ c[int(($1 - 1) / ipg)]++ }
                END { for (g in c) printf "%d:%d\n", g, c[g] }' | sort -n
}

place fresh - -
run fresh
lo=$(groups fresh | head -n 1 | cut -d: -f1)
hi=$(groups fresh | tail -n 1 | cut -d: -f1)
rm -rf "$work/top/fresh"
place same "$lo" "$hi"
run same
rm -rf "$work/top/same"
sync -f "$work/top"
place synced "$lo" "$hi"
run synced
rm -rf "$work/top/synced"
place away "$lo" "$hi" away
run away
rm -rf "$work/top/away"
sleep 65
place later "$lo" "$hi"
run later
rm -rf "$work/top/later"
sync -f "$work/top"
sleep 65
place written "$lo" "$hi"
run written
